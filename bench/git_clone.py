"""`git clone` from inhouse against `git clone` of the same repo from `git http-backend`, in the same run.

    python bench/git_clone.py                          # 1,000 commits x 1,000 files, best of 5, protocol v2
    python bench/git_clone.py --commits 100 --rounds 1 # smoke check
    python bench/git_clone.py --database-url postgresql
    python bench/git_clone.py --commits 200 --file-kib 512 --rounds 2   # ~600 MB of blobs: the memory figure

The repo is built through the commit service (services/commits.commit, the code every API commit runs) on the
live server's database: one commit adds `--files` small files (half at the root, half in ten folders), then one
file changes per commit until the history has `--commits` commits. The baseline is that very repo, cloned from
inhouse once with `git clone --mirror` and repacked by `git gc` (how a git server keeps a repo), served by
`git http-backend` through a small threaded WSGI→CGI shim on loopback (the CGI environment, Git-Protocol header
included, so both sides speak protocol v2). Each round clones from both servers with the real `git` binary into
a fresh folder (checkout included, as a user's clone), alternating which goes first; the script prints the best
and median time of each and the ratio inhouse / http-backend (target ≤ 2×) three ways: best against best, median
against median, and the median of the per-round ratios (the steadiest on a busy machine: both clones of a round
see the same load). It also prints the CPU seconds each clone costs, client and server together (the inhouse
process, or the CGI shim and every `git http-backend` it ran): a figure that other work on the machine does not
move. It checks both clones hold the same head, the same history and the same files.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import free_port, inhouse, median, rss_tree_bytes, workdir  # noqa: E402

from inhouse.access.identity import authenticate  # noqa: E402
from inhouse.services import commits, repos, users  # noqa: E402
from inhouse.services.commits import AddFile  # noqa: E402
from inhouse.vocabulary import RepoType, TokenRole  # noqa: E402
from tests.support.gitcli import Git, repo_url  # noqa: E402


def _content(path: str, version: int, kib: int) -> bytes:
    """A small text file, or with `kib` > 0 that many KiB of incompressible bytes after it (a heavier repo)."""
    head = f"{path} v{version}\n".encode()
    return head + (random.Random(f"{path}/{version}").randbytes(kib * 1024) if kib else b"")


def build(srv, files: int, n_commits: int, kib: int = 0) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(repo id, write token) of a repo with `files` files and `n_commits` commits (the first adds them all)."""
    stores = srv.stores
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    _, token = users.create_token(stores, name, role=TokenRole.WRITE)
    p = authenticate(stores.db, token, ip="127.0.0.1", request_id=uuid.uuid4().hex)
    repo = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name="clone-bench")
    paths = [f"f{i:04d}.txt" if i % 2 == 0 else f"d{i % 10}/f{i:04d}.txt" for i in range(files)]
    commits.commit(stores, p, repo, revision="main", ops=[AddFile(x, _content(x, 0, kib)) for x in paths],
                   summary="add all")
    t0 = time.perf_counter()
    for i in range(n_commits - 2):  # the repo's initial commit and "add all" are two
        path = paths[(i * 7) % len(paths)]
        commits.commit(stores, p, repo, revision="main", ops=[AddFile(path, _content(path, i + 1, kib))],
                       summary=f"change {path}")
        if (i + 1) % 250 == 0:
            print(f"  built {i + 3} commits ({time.perf_counter() - t0:.0f} s)", flush=True)
    return f"{name}/clone-bench", token


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def http_backend_app(project_root: Path):  # type: ignore[no-untyped-def]
    """A WSGI app that runs `git http-backend` as CGI for each request and streams its output."""

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": environ.get("CONTENT_LENGTH", "") or "0",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
        }
        if environ.get("HTTP_GIT_PROTOCOL"):
            env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        if environ.get("HTTP_CONTENT_ENCODING"):
            env["HTTP_CONTENT_ENCODING"] = environ["HTTP_CONTENT_ENCODING"]
        length = int(env["CONTENT_LENGTH"] or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        proc = subprocess.Popen(["git", "http-backend"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(body)
        proc.stdin.close()
        status, headers = "200 OK", []
        while True:
            line = proc.stdout.readline().rstrip(b"\r\n")
            if not line:
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.lower() == "status":
                status = value.strip()
            else:
                headers.append((key.strip(), value.strip()))
        start_response(status, headers)

        def stream() -> Iterator[bytes]:
            assert proc.stdout is not None
            while chunk := proc.stdout.read(65536):
                yield chunk
            proc.wait()

        return stream()

    return app


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used, its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(server_pid: int) -> float:
    """CPU seconds so far of: this process (the CGI shim's threads), its finished children (git clone with its
    helpers, every git http-backend), and the inhouse server."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + _proc_cpu(server_pid)


def clone(git: Git, url: str, dest: Path, server_pid: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of client and both servers) of one clone into a fresh `dest`."""
    shutil.rmtree(dest, ignore_errors=True)
    c0, t0 = _cpu(server_pid), time.perf_counter()
    git.run("clone", "--quiet", url, str(dest))
    return time.perf_counter() - t0, _cpu(server_pid) - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--file-kib", type=int, default=0,
                    help="KiB of incompressible bytes in each file (0: small text files); for the memory figure")
    ap.add_argument("--protocol", choices=("0", "2"), default="2")
    ap.add_argument("--database-url", default="", help='"" (SQLite), "postgresql" (a fresh test database) or a URL')
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    with workdir(args.workdir) as work, inhouse(work, args.database_url) as srv:
        print(f"building {args.commits} commits x {args.files} files through the commit service ...", flush=True)
        repo_id, token = build(srv, args.files, args.commits, args.file_kib)
        git = Git(work)
        git.run("config", "--global", "protocol.version", args.protocol)
        ours = repo_url(srv, repo_id, token)
        # the baseline: the same repo, mirrored and repacked as a git server keeps it
        project = work / "git-root"
        project.mkdir()
        git.run("clone", "--quiet", "--mirror", ours, str(project / "repo.git"))
        git.run("repack", "-a", "-d", "-f", "--quiet", cwd=project / "repo.git")  # with deltas, as a git server
        git.run("gc", "--quiet", cwd=project / "repo.git")
        port = free_port()
        server = make_server("127.0.0.1", port, http_backend_app(project), server_class=_ThreadingWSGIServer,
                             handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        theirs = f"http://127.0.0.1:{port}/repo.git"
        try:
            times: dict[str, list[float]] = {"inhouse": [], "http-backend": []}
            cpu: dict[str, list[float]] = {"inhouse": [], "http-backend": []}
            assert srv.proc is not None
            pid = srv.proc.pid
            clone(git, ours, work / "warm-inhouse", pid)  # one warm-up each (page cache, imports)
            clone(git, theirs, work / "warm-backend", pid)
            idle_rss, peak_rss, sampling = rss_tree_bytes(pid), [0], [True]

            def sample() -> None:  # the server's resident memory through the rounds, every 20 ms
                while sampling[0]:
                    peak_rss[0] = max(peak_rss[0], rss_tree_bytes(pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            for r in range(args.rounds):
                order = [("inhouse", ours), ("http-backend", theirs)]
                if r % 2:
                    order.reverse()
                for label, url in order:
                    wall, used = clone(git, url, work / f"c-{label}", pid)
                    times[label].append(wall)
                    cpu[label].append(used)
            sampling[0] = False
            sampler.join()
        finally:
            server.shutdown()
        a, b = work / "c-inhouse", work / "c-http-backend"
        head_a, head_b = git.out("rev-parse", "HEAD", cwd=a), git.out("rev-parse", "HEAD", cwd=b)
        assert head_a == head_b, (head_a, head_b)
        assert git.out("rev-list", "--count", "HEAD", cwd=a) == str(args.commits)
        diff = subprocess.run(["diff", "-r", "--exclude=.git", str(a), str(b)], capture_output=True)
        assert diff.returncode == 0, diff.stdout[:2000]
        size_a = sum(f.stat().st_size for f in (a / ".git" / "objects" / "pack").glob("*.pack"))
        size_b = sum(f.stat().st_size for f in (b / ".git" / "objects" / "pack").glob("*.pack"))
        best_a, best_b = min(times["inhouse"]), min(times["http-backend"])
        print(f"git clone, {args.commits} commits x {args.files} files, protocol v{args.protocol}, "
              f"best of {args.rounds} (median):")
        print(f"  git http-backend  {best_b:.3f} s ({median(times['http-backend']):.3f} s), pack {size_b / 1e6:.1f} MB")
        print(f"  inhouse           {best_a:.3f} s ({median(times['inhouse']):.3f} s), pack {size_a / 1e6:.1f} MB")
        per_round = [x / y for x, y in zip(times["inhouse"], times["http-backend"])]
        print(f"  ratio inhouse / http-backend: {best_a / best_b:.2f}x best, "
              f"{median(times['inhouse']) / median(times['http-backend']):.2f}x median, "
              f"{median(per_round):.2f}x median of the per-round ratios (target <= 2x)")
        print(f"  inhouse server RSS: {idle_rss / 1e6:.0f} MB after the warm-up clone, peak {peak_rss[0] / 1e6:.0f} MB "
              f"through the rounds")
        cpu_a, cpu_b = median(cpu["inhouse"]), median(cpu["http-backend"])
        print(f"  CPU seconds per clone (client + server), median: http-backend {cpu_b:.3f}, inhouse {cpu_a:.3f}: "
              f"ratio {cpu_a / cpu_b:.2f}x (steady whatever else the machine runs)")


if __name__ == "__main__":
    main()
