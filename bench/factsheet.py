"""A factsheet's cost stops growing with the repo: a repo far past the factsheet's bounds against one at them.

    python bench/factsheet.py                          # 5,000 commits and 10,000 files against 200 and 1,000
    python bench/factsheet.py --commits 1000 --files 3000 --rounds 3   # smoke check

Two model repos are built through the commit service on SQLite in a temporary folder: one at the bounds
(factsheets.MAX_COMMITS commits, factsheets.MAX_FILES files: every commit listed, every file looked up) and a large
one (`--commits` commits of one file each on top of one commit of `--files` files in 100 folders). Each factsheet
(JSON, Markdown, PDF) is exported `--rounds` times per repo; the script prints the median wall time of each and the
ratio large / at the bounds. The bounds (MAX_COMMITS listed, MAX_COUNTED more counted, MAX_FILES looked up in the
scan cache, MAX_FILES * 10 files walked) cap the work whatever the repo holds: what the large repo adds is counting
MAX_COUNTED commits past those listed and walking MAX_FILES * 10 tree entries, and that stops growing there. The
PDF's first export also imports fpdf2 (about 0.3 s), so it is exported once before the rounds.

On the development machine (2026-12-01; 5,002 commits / 10,001 files against 200 / 1,000): JSON 90 -> 175 ms
(1.95x), Markdown 68 -> 167 ms (2.43x), PDF 184 -> 233 ms (1.27x).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import workdir  # noqa: E402

from inhouse.access.identity import Principal, authenticate  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.services import repos, users  # noqa: E402
from inhouse.services.commits import AddFile, commit  # noqa: E402
from inhouse.services.context import Stores  # noqa: E402
from inhouse.services.governance import factsheet_render, factsheets  # noqa: E402
from inhouse.services.repo_access import RepoName  # noqa: E402
from inhouse.vocabulary import RepoType, TokenRole  # noqa: E402


def build(stores: Stores, p: Principal, name: str, n_commits: int, n_files: int) -> RepoName:
    repo = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name=name)
    commit(stores, p, repo, revision="main", summary="files",
           ops=[AddFile(f"d{i % 100}/f{i}.txt", str(i).encode()) for i in range(n_files)])
    for i in range(n_commits):
        commit(stores, p, repo, revision="main", ops=[AddFile(f"c{i % 50}.txt", str(i).encode())],
               summary=f"change {i}")
    return RepoName(RepoType.MODEL, "bench", name)


def median_s(stores: Stores, p: Principal, name: RepoName, fmt: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        factsheet_render.export(stores, p, name, None, fmt)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=5_000)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    with workdir(args.tmp) as d:
        stores = Stores.open(Settings(data_dir=d / "data", database_url=f"sqlite:///{d / 'inhouse.db'}"))
        try:
            users.create_user(stores, "bench")
            p = authenticate(stores.db, users.create_token(stores, "bench", role=TokenRole.WRITE)[1])
            t = time.perf_counter()
            n, f = factsheets.MAX_COMMITS, factsheets.MAX_FILES
            small = build(stores, p, "bounds", n - 2, f - 1)  # with the first commit and .gitattributes
            large = build(stores, p, "large", args.commits, args.files)
            print(f"built in {time.perf_counter() - t:.1f} s: at the bounds {n} commits / {f} files, large "
                  f"{args.commits + 2} commits / {args.files + 1} files")
            factsheet_render.export(stores, p, small, None, "pdf")  # imports fpdf2
            print(f"{'format':8} {'bounds p50':>10} {'large p50':>10} {'ratio':>7}")
            for fmt in ("json", "md", "pdf"):
                a = median_s(stores, p, small, fmt, args.rounds)
                b = median_s(stores, p, large, fmt, args.rounds)
                print(f"{fmt:8} {a * 1000:8.1f}ms {b * 1000:8.1f}ms {b / a:6.2f}x")
        finally:
            stores.close()


if __name__ == "__main__":
    main()
