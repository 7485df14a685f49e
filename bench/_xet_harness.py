"""What the Xet and audit benchmarks need beyond harness.py: the real client in a clean subprocess (Xet on or
off), servers with extra settings, truly unique large files, a byte-counting relay and storage figures.

Import `harness` first (it puts the project root on sys.path). harness.py forces HF_HUB_DISABLE_XET=1 into this
process's environment for issue 2's LFS benchmarks; here every client call runs in a child process started with
an environment built from scratch (`client_env`), so each call chooses Xet or LFS, with its own empty HF_HOME
(no Xet shard or chunk cache carried over from an earlier call), and times only the call itself.

Run as a script, this module is that child: `python _xet_harness.py '<json request>'` prints one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.live import LiveServer

MiB = 1 << 20
HERE = Path(__file__).resolve().parent


# unique content ------------------------------------------------------------------------------------------------------

def write_unique_file(path: Path, size: int, *, seed: int, chunk: int = 8 * MiB) -> str:
    """`size` random bytes with no repeated 64 KiB stretch (harness.write_random_file reuses one 8 MiB block, which
    Xet's content-defined chunks would deduplicate); streamed; returns the sha256."""
    import numpy as np

    rng = np.random.default_rng(seed)
    h = hashlib.sha256()
    written = 0
    with open(path, "wb") as f:
        while written < size:
            n = min(chunk, size - written)
            data = rng.bytes(n)
            h.update(data)
            f.write(data)
            written += n
    return h.hexdigest()


# the real client, in a clean child process -----------------------------------------------------------------------

def client_env(endpoint: str, token: str, home: Path, *, xet: bool) -> dict[str, str]:
    """An environment with nothing inherited but PATH/locale: the client sees only what a user would set."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
    env.update({
        "HOME": str(home), "HF_HOME": str(home / "hf"), "HF_ENDPOINT": endpoint, "HF_TOKEN": token,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_XET_TELEMETRY_ENABLED": "false",
        "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
        "PYTHONPATH": str(HERE.parent),
    })
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    return env


def run_client(env: dict[str, str], request: dict[str, object], *, timeout: float = 3600) -> dict[str, object]:
    """Runs one client call (see `_client_main`) in a child process; returns its JSON answer (with 'seconds')."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), json.dumps(request)], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"client call {request.get('op')} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _client_main(request: dict[str, object]) -> dict[str, object]:
    from huggingface_hub import HfApi, constants, hf_hub_download
    from huggingface_hub.utils import _runtime

    xet = not constants.HF_HUB_DISABLE_XET
    if xet and not _runtime.is_xet_available():
        raise SystemExit("hf_xet is not installed in this environment: `pip install hf_xet`")
    op = request["op"]
    repo_type = str(request["repo_type"]) if request.get("repo_type") else None
    out: dict[str, object] = {"xet": xet}
    if op == "upload":
        api = HfApi()
        t0 = time.perf_counter()
        info = api.upload_file(path_or_fileobj=str(request["path"]), path_in_repo=str(request["path_in_repo"]),
                               repo_id=str(request["repo_id"]), repo_type=repo_type,
                               commit_message=str(request.get("message") or "bench"))
        out["seconds"] = time.perf_counter() - t0
        out["commit"] = info.oid
    elif op == "download":
        t0 = time.perf_counter()
        got = hf_hub_download(str(request["repo_id"]), str(request["filename"]), repo_type=repo_type,
                              cache_dir=str(request["cache_dir"]))
        out["seconds"] = time.perf_counter() - t0
        out["path"] = str(Path(got).resolve())
    else:
        raise SystemExit(f"unknown op {op}")
    return out


# servers ----------------------------------------------------------------------------------------------------------

@contextmanager
def server(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """A real `python -m inhouse serve` (SQLite in `data_dir`) with extra INHOUSE_* settings in `env`."""
    from tests.support.live import LiveServer

    srv = LiveServer(data_dir, env=dict(env or {}))
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


def storage_stats(srv: LiveServer) -> dict[str, int]:
    """`inhouse storage stats --json` for the server's data folder (the figures the operator sees)."""
    proc = subprocess.run([sys.executable, "-m", "inhouse", "storage", "stats", "--json", "--data", str(srv.data_dir)],
                          env={**os.environ, "INHOUSE_DATABASE_URL": srv.database_url}, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


def xet_hash(srv: LiveServer, token: str, repo_id: str, path: str, *, prefix: str = "") -> str | None:
    import httpx

    r = httpx.head(f"{srv.url}/{prefix}{repo_id}/resolve/main/{path}", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return r.headers.get("X-Xet-Hash")


def wait_converted(srv: LiveServer, token: str, repo_id: str, path: str, *, timeout: float = 1800) -> float:
    """Waits until a file uploaded over LFS has been chunked into xorbs by the server; returns the seconds waited."""
    t0 = time.perf_counter()
    while xet_hash(srv, token, repo_id, path) is None:
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{repo_id}/{path} was not converted into xorbs within {timeout:.0f} s")
        time.sleep(0.2)
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """User + system CPU time of this process's finished children (the client calls) so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# a byte-counting relay in front of the server --------------------------------------------------------------------

class CountingRelay:
    """A TCP relay on 127.0.0.1 in front of `upstream_port` that counts the bytes each way.

    The client is pointed at the relay; inhouse builds its casUrl from the Host header the client sent, so the
    Xet traffic (xorbs, shards, dedup queries) goes through the relay too. `sent` is every byte the client wrote
    to the server's sockets: request lines, headers and bodies of all calls."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.sent = 0  # client -> server
        self.received = 0  # server -> client
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = 0

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        try:
            while n := src.recv_into(buf):
                dst.sendall(view[:n])
                with self._lock:
                    if up:
                        self.sent += n
                    else:
                        self.received += n
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()

    def close(self) -> None:
        self._closing = True
        self._listener.close()


if __name__ == "__main__":
    print(json.dumps(_client_main(json.loads(sys.argv[1]))))
