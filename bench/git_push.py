"""`git push` to inhouse against `git push` of the same commits to `git http-backend`, in the same run.

    python bench/git_push.py                          # 1,000 commits over 1,000 files, best of 3
    python bench/git_push.py --commits 100 --rounds 1 # smoke check
    python bench/git_push.py --database-url postgresql

Each round makes a fresh inhouse repo and clones it; `git fast-import` then writes `--commits` commits on top of its
head: the first adds `--files` small text files (half at the root, half in ten folders), each later one changes one
file. A bare repo seeded with the clone's head (`http.receivepack` on) is served by `git http-backend` through the
CGI shim of bench/git_clone.py. The same commits are pushed to both with the real `git` binary, alternating which
goes first; the script prints the best and median time of each and the ratio inhouse / http-backend, and checks that
both ends hold the pushed head. inhouse does more per push than git's receive-pack: every object checked as fsck
does, every changed path validated, LFS pointers looked up, the objects and refs written in one database
transaction, the push audited.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from git_clone import _QuietHandler, _ThreadingWSGIServer, http_backend_app  # noqa: E402
from harness import free_port, inhouse, median, workdir  # noqa: E402
from wsgiref.simple_server import make_server  # noqa: E402

from tests.support.gitcli import Git, repo_url  # noqa: E402


def fast_import_stream(base: str, files: int, commits: int) -> bytes:
    """`git fast-import` input: `commits` commits on refs/heads/main on top of `base`."""
    out: list[bytes] = []
    when = 1_700_000_000

    def blob_line(path: str, text: str) -> None:
        data = text.encode()
        out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    def path(i: int) -> str:
        return f"f{i:04d}.txt" if i % 2 == 0 else f"d{i % 10}/f{i:04d}.txt"

    for c in range(commits):
        msg = f"commit {c}".encode()
        out.append(f"commit refs/heads/main\ncommitter Bench <b@example.com> {when + c} +0000\n"
                   f"data {len(msg)}\n".encode() + msg + b"\n")
        if c == 0:
            out.append(f"from {base}\n".encode())
            for i in range(files):
                blob_line(path(i), f"file {i}\n" + "some text of a small file\n" * 10)
        else:
            i = (c * 7919) % files
            blob_line(path(i), f"file {i}, version {c}\n" + "some text of a small file\n" * 10)
        out.append(b"\n")
    return b"".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--database-url", default="", help='"" (SQLite), "postgresql" (a fresh test database) or a URL')
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    with workdir(args.workdir) as work, inhouse(work, args.database_url) as srv:
        git = Git(work)
        project = work / "git-root"
        project.mkdir()
        port = free_port()
        server = make_server("127.0.0.1", port, http_backend_app(project), server_class=_ThreadingWSGIServer,
                             handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        times: dict[str, list[float]] = {"inhouse": [], "http-backend": []}
        objects = 0
        try:
            for r in range(args.rounds):
                repo_id, token = srv.make_repo()
                local = work / f"local{r}"
                git.run("clone", "--quiet", repo_url(srv, repo_id, token), str(local))
                base = git.out("rev-parse", "HEAD", cwd=local)
                bare = project / f"r{r}.git"
                git.run("init", "--quiet", "--bare", str(bare))
                git.run("config", "http.receivepack", "true", cwd=bare)
                git.run("push", "--quiet", str(bare), "main", cwd=local)
                stream = fast_import_stream(base, args.files, args.commits)
                subprocess.run(["git", "fast-import", "--quiet"], cwd=local, input=stream, env=git.env, check=True)
                git.run("reset", "--quiet", "--hard", "main", cwd=local)
                head = git.out("rev-parse", "HEAD", cwd=local)
                objects = int(git.out("rev-list", "--objects", "--count", f"{base}..{head}", cwd=local))
                order = [("inhouse", "origin"), ("http-backend", f"http://127.0.0.1:{port}/r{r}.git")]
                if r % 2:
                    order.reverse()
                for label, remote in order:
                    t0 = time.perf_counter()
                    git.run("push", "--quiet", remote, "main", cwd=local)
                    times[label].append(time.perf_counter() - t0)
                assert srv.api(token).repo_info(repo_id).sha == head
                assert git.out("rev-parse", "main", cwd=bare) == head
        finally:
            server.shutdown()
        best_a, best_b = min(times["inhouse"]), min(times["http-backend"])
        print(f"git push, {args.commits} commits over {args.files} files ({objects} objects), best of {args.rounds} "
              "(median):")
        print(f"  git http-backend  {best_b:.3f} s ({median(times['http-backend']):.3f} s)")
        print(f"  inhouse           {best_a:.3f} s ({median(times['inhouse']):.3f} s)")
        per_round = [x / y for x, y in zip(times["inhouse"], times["http-backend"])]
        print(f"  ratio inhouse / http-backend: {best_a / best_b:.2f}x best, "
              f"{median(times['inhouse']) / median(times['http-backend']):.2f}x median, "
              f"{median(per_round):.2f}x median of the per-round ratios")


if __name__ == "__main__":
    main()
