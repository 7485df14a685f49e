"""Xet vs. Git LFS throughput: a 1 GiB file up and down through each path of the same server, in the same run.

    python bench/xet_throughput.py                          # 1 GiB, 3 rounds
    python bench/xet_throughput.py --size-mib 64 --rounds 1  # smoke check

The real client (huggingface_hub + hf_xet) runs in a child process with a clean environment and an empty HF_HOME
per call; the time is that of the call alone (`upload_file`, `hf_hub_download`), taken inside the child.
* Xet: the default client. Up: chunking, xorb and shard uploads to the CAS, commit. Down: reconstruction, xorb
  ranges.
* LFS: the same client with HF_HUB_DISABLE_XET=1. Up: preupload, LFS batch, multipart PUTs, commit (the server
  then chunks the file into xorbs in the background: that time is reported apart, and waited for before the next
  measurement). Down: plain HTTP GET of /resolve, the bytes rebuilt from the xorbs by the server.
Every upload is a fresh file of unique random bytes (nothing deduplicates); both downloads of a round fetch the
same file. The order of the two paths alternates between rounds. Also printed: the CPU time each upload cost
the client and the server (on a machine with few cores, wall time follows it). Target: Xet/LFS ≥ 1 both ways.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import uuid
from pathlib import Path

import harness
from _xet_harness import (
    children_cpu_seconds,
    client_env,
    cpu_seconds,
    run_client,
    server,
    wait_converted,
    write_unique_file,
)
from harness import MiB, mb_s, sha256_file, workdir

TARGET = 1.0
PATHS = ("xet", "lfs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024 = 1 GiB)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each with both paths up and down (default 3)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()
    size = args.size_mib * MiB
    up: dict[str, list[float]] = {p: [] for p in PATHS}
    down: dict[str, list[float]] = {p: [] for p in PATHS}
    convert: list[float] = []
    cpu: dict[str, list[float]] = {f"{k}-{p}": [] for k in ("client", "server") for p in PATHS}
    convert_cpu: list[float] = []

    with workdir(args.workdir) as work, server(work / "data") as srv:
        user = srv.make_user()
        token = srv.make_token(user, "write")
        repo_id = f"{user}/bench-{uuid.uuid4().hex[:6]}"
        srv.api(token).create_repo(repo_id)
        assert srv.proc is not None
        pid = srv.proc.pid

        def call(path: str, request: dict[str, object]) -> dict[str, object]:
            home = work / f"client-{uuid.uuid4().hex[:8]}"
            try:
                got = run_client(client_env(srv.url, token, home, xet=path == "xet"), {"repo_id": repo_id, **request})
            finally:
                shutil.rmtree(home, ignore_errors=True)
            if got["xet"] != (path == "xet"):
                raise SystemExit(f"the client did not take the {path} path")
            return got

        for r in range(1, args.rounds + 1):
            order = PATHS if r % 2 else PATHS[::-1]
            sha: dict[str, str] = {}
            for path in order:
                src = work / f"{path}-{r}.bin"
                sha[path] = write_unique_file(src, size, seed=r * 10 + PATHS.index(path))
                name = f"{path}-{r}.bin"
                c0, s0 = children_cpu_seconds(), cpu_seconds(pid)
                got = call(path, {"op": "upload", "path": str(src), "path_in_repo": name, "message": name})
                cpu[f"client-{path}"].append(children_cpu_seconds() - c0)
                cpu[f"server-{path}"].append(cpu_seconds(pid) - s0)
                src.unlink()
                up[path].append(float(got["seconds"]))  # type: ignore[arg-type]
                if path == "lfs":
                    s0 = cpu_seconds(pid)
                    convert.append(wait_converted(srv, token, repo_id, name))
                    convert_cpu.append(cpu_seconds(pid) - s0)
            for path in order:  # both fetch the file that went up through Xet this round
                cache = work / f"cache-{path}"
                got = call(path, {"op": "download", "filename": f"xet-{r}.bin", "cache_dir": str(cache)})
                down[path].append(float(got["seconds"]))  # type: ignore[arg-type]
                if sha256_file(Path(str(got["path"]))) != sha["xet"]:
                    raise SystemExit(f"the {path} download differs from the uploaded file")
                shutil.rmtree(cache)
            print(f"round {r} ({order[0]} first): "
                  f"up Xet {mb_s(size, up['xet'][-1]):5.0f} MiB/s, LFS {mb_s(size, up['lfs'][-1]):5.0f} MiB/s "
                  f"(+ {convert[-1]:.1f} s server-side conversion into xorbs); "
                  f"down Xet {mb_s(size, down['xet'][-1]):5.0f} MiB/s, plain HTTP {mb_s(size, down['lfs'][-1]):5.0f} "
                  f"MiB/s", flush=True)

    med = {f"{way}-{p}": mb_s(size, statistics.median(d[p])) for way, d in (("up", up), ("down", down)) for p in PATHS}
    print(f"\nmedian of {args.rounds}, {args.size_mib} MiB:")
    print(f"  up:   Xet {med['up-xet']:.0f} MiB/s, LFS {med['up-lfs']:.0f} MiB/s "
          f"(the server then spends a median {statistics.median(convert):.1f} s converting the LFS upload into xorbs)")
    print(f"  down: Xet {med['down-xet']:.0f} MiB/s, plain HTTP {med['down-lfs']:.0f} MiB/s")
    until_stored = [u + c for u, c in zip(up["lfs"], convert)]
    print(f"  up until the content is stored as xorbs: Xet {med['up-xet']:.0f} MiB/s, LFS + conversion "
          f"{mb_s(size, statistics.median(until_stored)):.0f} MiB/s: Xet/LFS = "
          f"{med['up-xet'] / mb_s(size, statistics.median(until_stored)):.2f}")
    m = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"  CPU seconds per upload (median; client includes its Python start-up): Xet client {m['client-xet']:.1f} + "
          f"server {m['server-xet']:.1f}; LFS client {m['client-lfs']:.1f} + server {m['server-lfs']:.1f}, then "
          f"{statistics.median(convert_cpu):.1f} converting")
    for way in ("up", "down"):
        ratio = med[f"{way}-xet"] / med[f"{way}-lfs"]
        rounds = [b / a for a, b in zip((up if way == "up" else down)["xet"], (up if way == "up" else down)["lfs"])]
        print(f"{way:4s} ratio Xet/LFS = {ratio:.2f} (per round {', '.join(f'{x:.2f}' for x in rounds)})   "
              f"(target ≥ {TARGET:.0f}: {'met' if ratio >= TARGET else 'MISSED'})")


if __name__ == "__main__":
    assert harness.ROOT  # imported first: project root on sys.path
    main()
