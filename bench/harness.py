"""What every benchmark needs: client env, a live inhouse, nginx as the baseline, big files, RSS, statistics.

Import this module before `huggingface_hub`: the client reads its environment variables at import time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.support.live, the project's one way of starting a real server

# Until inhouse speaks Xet (issue 3), large files go over the Git LFS path.
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")

from tests.support.live import LiveServer, free_port  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30


# working folder --------------------------------------------------------------------------------------------------

@contextmanager
def workdir(parent: str | None, keep: bool = False) -> Iterator[Path]:
    """A temporary folder for the run's files, removed at the end (unless `keep`)."""
    d = Path(tempfile.mkdtemp(prefix="inhouse-bench-", dir=parent))
    try:
        yield d
    finally:
        if keep:
            print(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


# inhouse -----------------------------------------------------------------------------------------------------------

@contextmanager
def inhouse(work: Path, database_url: str = "") -> Iterator[LiveServer]:
    """A real `python -m inhouse serve` on a free loopback port, stopped at the end.

    database_url: "" for SQLite in the data folder, "postgresql" for a fresh database on the test PostgreSQL
    (INHOUSE_TEST_PG, dropped at the end), or any URL inhouse accepts."""
    fresh_pg = database_url == "postgresql"
    if fresh_pg:
        from tests.support.live import new_pg_database

        database_url = new_pg_database()
    srv = LiveServer(work / "inhouse" / "data", database_url=database_url)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        srv.start()
        yield srv
    finally:
        srv.close()
        if fresh_pg:
            from tests.support.live import drop_pg_database

            drop_pg_database(database_url)


def wait_converted(srv: LiveServer, timeout: float) -> float:
    """Waits until the server's background converter has moved every LFS blob into xorbs (the steady state of an
    uploaded file); returns the seconds waited. Raises when `timeout` passes first."""
    from inhouse.services.largefiles import xet_convert

    t0 = time.perf_counter()
    while xet_convert.pending(srv.stores):
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"the server did not convert its LFS blobs into xorbs within {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - t0


# nginx -------------------------------------------------------------------------------------------------------------

def require_nginx() -> str:
    path = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if path is None:
        sys.exit("nginx is the baseline of this benchmark and is not installed: "
                 "`apt-get update && apt-get install -y nginx` (Debian), then run this again.")
    return path


@contextmanager
def nginx(root: Path, work: Path) -> Iterator[str]:
    """nginx serving `root` on a free 127.0.0.1 port, as a foreground subprocess; yields its base URL."""
    binary = require_nginx()
    prefix = work / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = ""
    if os.geteuid() == 0:  # workers would run as nobody, who cannot read a private temp folder
        import pwd

        user = f"user {pwd.getpwuid(0).pw_name};"
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    types {{ application/json json; }}
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
""")
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.time() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise RuntimeError("nginx did not start within 10 s") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# big files -----------------------------------------------------------------------------------------------------------

def write_random_file(path: Path, size: int, *, seed: int = 0, chunk: int = 8 * MiB) -> str:
    """Writes `size` incompressible bytes, streamed (never more than two chunks in memory); returns their sha256.

    One random block is reused with a distinct 16-byte prefix per chunk: unique content (no dedup) at disk speed.
    """
    block = bytearray(os.urandom(chunk))
    h = hashlib.sha256()
    written = 0
    with open(path, "wb") as f:
        i = 0
        while written < size:
            n = min(chunk, size - written)
            block[:16] = (seed.to_bytes(8, "little") + i.to_bytes(8, "little"))
            data = memoryview(block)[:n]
            h.update(data)
            f.write(data)
            written += n
            i += 1
    return h.hexdigest()


def sha256_file(path: Path, chunk: int = 8 * MiB) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(chunk):
            h.update(data)
    return h.hexdigest()


# processes -----------------------------------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def rss_tree_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants (VmRSS from /proc), in bytes."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
        stack.extend(_children(p))
    return total


# statistics -----------------------------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on sorted values."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values)


def mb_s(size: int, seconds: float) -> float:
    return size / MiB / seconds
