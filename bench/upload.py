"""Upload throughput: `HfApi.upload_file` of a large file over the LFS path vs. hashing + writing it locally.

    python bench/upload.py                   # 1 GiB, best of 3
    python bench/upload.py --size-mib 64 --rounds 1      # smoke check

inhouse: the whole `upload_file` call (client sha256, preupload, LFS batch, multipart PUTs, complete, verify,
commit) with HF_HUB_DISABLE_XET=1. Baseline: read the same file, sha256 it and write it to a local file, then
fsync (what inhouse's verified store does with every object). Each round changes the file's first bytes so
that no upload is skipped as already stored. Target: ratio ≥ 0.6.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time
import uuid
from pathlib import Path

from harness import MiB, inhouse, mb_s, wait_converted, workdir, write_random_file

TARGET = 0.6


def hash_and_write(src: Path, dest: Path, *, fsync: bool, chunk: int = 8 * MiB) -> tuple[float, str]:
    t0 = time.perf_counter()
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(src, "rb", buffering=0) as fin, open(dest, "wb", buffering=0) as fout:
        while n := fin.readinto(buf):
            h.update(view[:n])
            fout.write(view[:n])
        if fsync:
            os.fsync(fout.fileno())
    return time.perf_counter() - t0, h.hexdigest()


def stamp(path: Path, r: int) -> None:
    """Makes round `r`'s content unique (the LFS store would skip an object it already holds)."""
    with open(path, "r+b") as f:
        f.write(f"round-{r:08d}-{uuid.uuid4().hex}".encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024 = 1 GiB)")
    ap.add_argument("--rounds", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    ap.add_argument("--database-url", default="", help="inhouse's database: a URL, or 'postgresql' for a fresh database on the "
                    "test PostgreSQL (default: SQLite in its data folder)")
    args = ap.parse_args()
    size = args.size_mib * MiB

    with workdir(args.workdir) as work:
        src = work / "model.bin"
        print(f"writing a {args.size_mib} MiB random file …", flush=True)
        write_random_file(src, size)
        dest = work / "copy.bin"
        best = {"local": float("inf"), "local-nofsync": float("inf"), "inhouse": float("inf")}
        per_round: list[float] = []
        with inhouse(work, args.database_url) as srv:
            user = srv.make_user()
            api = srv.api(srv.make_token(user, "write"))
            repo_id = f"{user}/bench-{uuid.uuid4().hex[:6]}"
            api.create_repo(repo_id)
            for r in range(1, args.rounds + 1):
                stamp(src, r)
                t_local, oid = hash_and_write(src, dest, fsync=True)
                dest.unlink()
                t_nofsync, _ = hash_and_write(src, dest, fsync=False)
                dest.unlink()

                t0 = time.perf_counter()
                api.upload_file(path_or_fileobj=str(src), path_in_repo="model.bin", repo_id=repo_id,
                                commit_message=f"round {r}")
                t_up = time.perf_counter() - t0
                info = api.get_paths_info(repo_id, ["model.bin"])[0]
                if info.lfs is None or info.lfs.sha256 != oid or info.size != size:
                    raise SystemExit(f"inhouse holds {info} after round {r}, expected LFS sha256 {oid}")
                # the server converts the upload into xorbs in the background: let it finish outside the timings
                wait_converted(srv, timeout=600)
                best["local"] = min(best["local"], t_local)
                best["local-nofsync"] = min(best["local-nofsync"], t_nofsync)
                best["inhouse"] = min(best["inhouse"], t_up)
                per_round.append(t_local / t_up)
                print(f"round {r}: local hash+write+fsync {mb_s(size, t_local):6.0f} MiB/s   "
                      f"(without fsync {mb_s(size, t_nofsync):6.0f} MiB/s)   "
                      f"inhouse upload_file {mb_s(size, t_up):6.0f} MiB/s", flush=True)

    local, nofsync, up = (mb_s(size, best[k]) for k in ("local", "local-nofsync", "inhouse"))
    print(f"\nbest of {args.rounds}, {args.size_mib} MiB: local hash+write+fsync {local:.0f} MiB/s "
          f"(without fsync {nofsync:.0f} MiB/s), inhouse upload_file {up:.0f} MiB/s")
    print(f"ratio against hash+write without fsync = {up / nofsync:.2f}")
    print(f"per-round ratios {', '.join(f'{x:.2f}' for x in per_round)}; median {statistics.median(per_round):.2f}")
    ratio = up / local
    print(f"upload ratio (inhouse/local hash+write throughput) = {ratio:.2f}   "
          f"(target ≥ {TARGET}: {'met' if ratio >= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
