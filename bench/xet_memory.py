"""Server memory under Xet: peak RSS of the inhouse process tree while a large file goes up and down through Xet.

    python bench/xet_memory.py                   # 4 GiB
    python bench/xet_memory.py --size-mib 256    # smoke check

RSS (VmRSS from /proc, the server and all its children) is sampled every 50 ms (bench/memory.py's Sampler). The
real client (huggingface_hub + hf_xet, Xet on) runs in a child process of this script, not of the server, so its
memory is not counted. Phases: upload through Xet (xorbs streamed in and validated, the shard checked, the file's
SHA-256 recomputed from the stored xorbs), download through Xet (reconstruction + xorb ranges), and, for
comparison, the same file by plain HTTP (rebuilt from the xorbs by the server). The baseline, measured in the
same run, is the idle server's RSS. Target: peak < 300 MB during the Xet upload and download.
"""

from __future__ import annotations

import argparse
import shutil
import time
import uuid
from pathlib import Path

import harness
from _xet_harness import client_env, run_client, server, write_unique_file
from harness import MiB, sha256_file, workdir
from memory import Sampler

TARGET_MB = 300
MB = 1_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=4096, help="file size (default 4096 = 4 GiB)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()
    size = args.size_mib * MiB
    seconds: dict[str, float] = {}

    with workdir(args.workdir) as work:
        src = work / "big.bin"
        print(f"writing {args.size_mib} MiB of unique random bytes …", flush=True)
        oid = write_unique_file(src, size, seed=4)
        with server(work / "data") as srv:
            assert srv.proc is not None
            user = srv.make_user()
            token = srv.make_token(user, "write")
            repo_id = f"{user}/bench-{uuid.uuid4().hex[:6]}"
            srv.api(token).create_repo(repo_id)

            def call(xet: bool, request: dict[str, object]) -> dict[str, object]:
                home = work / f"client-{uuid.uuid4().hex[:8]}"
                try:
                    got = run_client(client_env(srv.url, token, home, xet=xet), {"repo_id": repo_id, **request})
                finally:
                    shutil.rmtree(home, ignore_errors=True)
                if got["xet"] != xet:
                    raise SystemExit("the client did not take the path asked for")
                return got

            with Sampler(srv.proc.pid) as sampler:
                time.sleep(1.0)
                for phase, xet in (("xet-upload", True), ("xet-download", True), ("http-download", False)):
                    sampler.phase = phase
                    if phase == "xet-upload":
                        got = call(True, {"op": "upload", "path": str(src), "path_in_repo": "big.bin"})
                        src.unlink()  # keep the disk free for the downloads
                    else:
                        cache = work / f"cache-{phase}"
                        got = call(xet, {"op": "download", "filename": "big.bin", "cache_dir": str(cache)})
                        sampler.phase = "checking"
                        if sha256_file(Path(str(got["path"]))) != oid:
                            raise SystemExit(f"{phase}: the downloaded file differs from the uploaded one")
                        shutil.rmtree(cache)
                    seconds[phase] = float(got["seconds"])  # type: ignore[arg-type]
                    print(f"{phase}: {seconds[phase]:.1f} s, peak RSS {sampler.peaks.get(phase, 0) / MB:.0f} MB",
                          flush=True)
                sampler.phase = "after"
                time.sleep(0.5)

    peaks = {k: v / MB for k, v in sampler.peaks.items()}
    idle = peaks.get("idle", 0.0)
    xet_peak = max(peaks.get("xet-upload", 0.0), peaks.get("xet-download", 0.0))
    print(f"\n{args.size_mib} MiB file, {sampler.samples} samples every 50 ms of the server's process tree")
    print(f"idle RSS {idle:.0f} MB (baseline); peak during Xet upload {peaks.get('xet-upload', 0):.0f} MB, "
          f"Xet download {peaks.get('xet-download', 0):.0f} MB, plain HTTP download {peaks.get('http-download', 0):.0f} MB")
    print(f"Xet peak over idle = {xet_peak / idle:.2f}x")
    print(f"peak RSS through Xet = {xet_peak:.0f} MB   (target < {TARGET_MB} MB: {'met' if xet_peak < TARGET_MB else 'MISSED'})")


if __name__ == "__main__":
    assert harness.ROOT  # imported first: project root on sys.path
    main()
