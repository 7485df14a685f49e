"""CPU of finding each path's last commit (what paths-info and tree?expand=true answer with), new walk vs old.

    python bench/last_commits.py                       # 1,000 paths x 500 one-file commits, best of 3
    python bench/last_commits.py --commits 100 --rounds 1   # smoke check

A repo is built through the commit service on SQLite in a temporary folder: 1,000 files (half at the root,
half in ten folders) added in one commit, then one file changed per commit, root and nested in turn, so half
the paths are settled only by the walk reaching the commit that added them. The baseline, measured in the same
run on the same objects, is the algorithm services/files.last_commits ran before (two path lookups per pending
path per commit), copied below. Both are timed in CPU seconds (time.process_time), with the object store's
cache cold (a fresh ObjectStore) and warm (the same call again). The script also prints the new walk's cost
where the default budget binds: a folder of 1,000 files, ten of them changed in turn over 2,000 commits, all
1,000 asked for.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import workdir  # noqa: E402

from inhouse.access.identity import Principal, authenticate  # noqa: E402
from inhouse.config import Settings  # noqa: E402
from inhouse.services import commits, files, repos, users  # noqa: E402
from inhouse.services.commits import AddFile  # noqa: E402
from inhouse.services.context import Stores  # noqa: E402
from inhouse.storage.db import repos as repo_store  # noqa: E402
from inhouse.storage.git.store import ObjectStore  # noqa: E402
from inhouse.vocabulary import RepoType, TokenRole  # noqa: E402
from tests.support.last_commits import old_last_commits  # noqa: E402


def new_last_commits(stores: Stores, head: str, paths: list[str]) -> dict[str, str]:
    return {p: v.oid for p, v in files.last_commits(stores, head, paths).items()}


def principal(stores: Stores) -> Principal:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    _, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


def build(stores: Stores, p: Principal, paths: list[str], changes: list[str]) -> str:
    """A repo whose `paths` are added in one commit, then one of `changes` changed per commit; returns the head."""
    repo = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name=f"r{uuid.uuid4().hex[:8]}")
    commits.commit(stores, p, repo, revision="main", ops=[AddFile(x, b"0") for x in paths], summary="add all")
    t0 = time.perf_counter()
    for i, path in enumerate(changes):
        commits.commit(stores, p, repo, revision="main", ops=[AddFile(path, f"v{i}".encode())], summary=f"c{i}")
        if (i + 1) % 500 == 0:
            print(f"  {i + 1} commits ({(i + 1) / (time.perf_counter() - t0):.0f}/s)", flush=True)
    with stores.db.read() as conn:
        head = repo_store.get_ref(conn, repo.id, "refs/heads/main")
    assert head is not None
    return head


def cpu(fn: Callable[[], dict[str, str]]) -> tuple[float, dict[str, str]]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def timed(stores: Stores, algo: Callable[[Stores, str, list[str]], dict[str, str]], head: str, paths: list[str],
          rounds: int) -> tuple[float, float, dict[str, str]]:
    """(best cold CPU s, best warm CPU s, answer)."""
    colds, warms = [], []
    out: dict[str, str] = {}
    for _ in range(rounds):
        stores.objects = ObjectStore(stores.db.engine.dialect.name)  # empty caches
        c, out = cpu(lambda: algo(stores, head, paths))
        w, again = cpu(lambda: algo(stores, head, paths))
        assert again == out
        colds.append(c)
        warms.append(w)
    return min(colds), min(warms), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=1000, help="paths asked for (default 1,000: paths-info's limit)")
    ap.add_argument("--commits", type=int, default=500, help="one-file commits after the first (default 500)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per algorithm; the best is kept (default 3)")
    ap.add_argument("--budget-commits", type=int, default=2000,
                    help="commits of the budget case, 0 to skip it (default 2,000)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()

    with workdir(args.workdir) as work:
        stores = Stores.open(Settings(data_dir=work / "data"))
        try:
            p = principal(stores)
            half = args.paths // 2
            paths = [f"f{i:04d}.txt" for i in range(half)] + [f"d{i % 10}/g{i:04d}.txt" for i in range(half)]
            changes = [paths[i // 2] if i % 2 == 0 else paths[half + i // 2] for i in range(args.commits)]
            print(f"building {len(paths)} paths x {args.commits} commits …", flush=True)
            head = build(stores, p, paths, changes)

            old_cold, old_warm, old = timed(stores, old_last_commits, head, paths, args.rounds)
            new_cold, new_warm, new = timed(stores, new_last_commits, head, paths, args.rounds)
            assert new == old, "the two algorithms disagree"
            print(f"{len(paths)} paths x {args.commits + 2} commits, CPU s (best of {args.rounds}):")
            print(f"  old: cold {old_cold:.3f}  warm {old_warm:.3f}")
            print(f"  new: cold {new_cold:.3f}  warm {new_warm:.3f}")
            print(f"  ratio new/old: cold {new_cold / old_cold:.4f}  warm {new_warm / old_warm:.4f}"
                  f"  (old/new: {old_cold / new_cold:.0f}x, {old_warm / new_warm:.0f}x)")

            if args.budget_commits:
                flat = [f"f{i:04d}.txt" for i in range(1000)]
                print(f"building the budget case: 1,000 files in one folder x {args.budget_commits} commits …",
                      flush=True)
                head = build(stores, p, flat, [flat[i % 10] for i in range(args.budget_commits)])
                cold, warm, out = timed(stores, new_last_commits, head, flat, 1)
                print(f"budget case ({stores.settings.last_commit_max_commits} commits, "
                      f"{stores.settings.last_commit_max_tree_entries:,} tree entries): new cold {cold:.3f} "
                      f"warm {warm:.3f} CPU s, {len(out)} of 1,000 paths dated")
        finally:
            stores.close()


if __name__ == "__main__":
    main()
