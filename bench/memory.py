"""Server memory: peak RSS of the inhouse process tree while a large file is uploaded, then downloaded.

    python bench/memory.py                   # 4 GiB
    python bench/memory.py --size-mib 256    # smoke check

RSS (VmRSS from /proc, the server and all its children) is sampled every 50 ms, through the upload, the
server's background conversion of the file into xorbs, and the download (from the xorbs). The file is written in
8 MiB chunks and both client calls stream from and to disk (upload over the LFS path, HF_HUB_DISABLE_XET=1).
The baseline, measured in the same run, is the idle server's RSS. Target: peak < 300 MB.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from pathlib import Path

from harness import MiB, inhouse, rss_tree_bytes, sha256_file, wait_converted, workdir, write_random_file

TARGET_MB = 300
MB = 1_000_000


class Sampler:
    """Samples the RSS of a process tree every `interval` seconds, tracking the peak per phase."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid = pid
        self.interval = interval
        self.phase = "idle"
        self.peaks: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_tree_bytes(self.pid)
            self.samples += 1
            if rss > self.peaks.get(self.phase, 0):
                self.peaks[self.phase] = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=4096, help="file size (default 4096 = 4 GiB)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    ap.add_argument("--database-url", default="", help="inhouse's database: a URL, or 'postgresql' for a fresh database on the "
                    "test PostgreSQL (default: SQLite in its data folder)")
    args = ap.parse_args()
    size = args.size_mib * MiB

    with workdir(args.workdir) as work:
        src = work / "big.bin"
        print(f"writing a {args.size_mib} MiB random file (streamed) …", flush=True)
        oid = write_random_file(src, size)
        with inhouse(work, args.database_url) as srv:
            assert srv.proc is not None
            user = srv.make_user()
            token = srv.make_token(user, "write")
            api = srv.api(token)
            repo_id = f"{user}/bench-{uuid.uuid4().hex[:6]}"
            api.create_repo(repo_id)
            from huggingface_hub import hf_hub_download

            with Sampler(srv.proc.pid) as sampler:
                time.sleep(1.0)
                sampler.phase = "upload"
                t0 = time.perf_counter()
                api.upload_file(path_or_fileobj=str(src), path_in_repo="big.bin", repo_id=repo_id)
                t_up = time.perf_counter() - t0
                print(f"uploaded in {t_up:.1f} s", flush=True)
                src.unlink()  # keep the disk free: the download goes next to it
                sampler.phase = "convert"
                t_conv = wait_converted(srv, timeout=1800)
                print(f"converted into xorbs by the server in {t_conv:.1f} s more", flush=True)
                sampler.phase = "download"
                t0 = time.perf_counter()
                path = hf_hub_download(repo_id, "big.bin", endpoint=srv.url, token=token, cache_dir=work / "cache")
                t_down = time.perf_counter() - t0
                print(f"downloaded in {t_down:.1f} s", flush=True)
                sampler.phase = "after"
                time.sleep(0.5)
            if sha256_file(Path(path)) != oid:
                raise SystemExit("the downloaded file differs from the uploaded one")

    idle = sampler.peaks.get("idle", 0) / MB
    up = sampler.peaks.get("upload", 0) / MB
    conv = sampler.peaks.get("convert", 0) / MB
    down = sampler.peaks.get("download", 0) / MB
    peak = max(sampler.peaks.values()) / MB
    print(f"\n{args.size_mib} MiB file, {sampler.samples} samples every 50 ms of the server's process tree")
    print(f"idle RSS {idle:.0f} MB (baseline), peak during upload {up:.0f} MB, while converting into xorbs "
          f"{conv:.0f} MB, during download {down:.0f} MB")
    print(f"peak over idle = {peak / idle:.2f}x")
    print(f"peak RSS = {peak:.0f} MB   (target < {TARGET_MB} MB: {'met' if peak < TARGET_MB else 'MISSED'})")


if __name__ == "__main__":
    main()
