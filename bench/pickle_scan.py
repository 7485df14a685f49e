"""Pickle scanning of a PyTorch checkpoint against reading the file once (`cat FILE > /dev/null`), in the same run,
and the scanner process's peak memory for a small and a large checkpoint (memory flat).

For each size (--sizes, default 100 MiB and 1 GiB) and each shape (--shapes, default: a few large tensors and
many small ones) a checkpoint is written with torch.save (zip format, and --legacy for the legacy format too) into
a temp folder, adopted into a fresh data folder's large-file store as the server keeps uploads, and then, after
one read that warms the page cache for both:
  - baseline: `cat FILE > /dev/null` (best of --rounds);
  - inhouse: services/governance/scans.run_scans of that file (the server's path: cache lookup, the scanner
    process `python -m inhouse.scanners` with its limits, the result written to file_scans), best of --rounds,
    the cached result removed before each round so that every round scans.
Then one more scan, untimed, with the scanner process's peak resident memory (VmHWM) read from /proc while it runs.
Each checkpoint is written and measured in a child process of its own. Everything written is removed afterwards.

    python bench/pickle_scan.py                           # 100 MiB and 1 GiB, zip and legacy, 3 rounds
    python bench/pickle_scan.py --sizes 64 --rounds 1     # smoke
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
SHAPES = {"large": 64 * MiB, "small": 256 * 1024}  # bytes per tensor


def write_checkpoint(path: Path, size: int, tensor_bytes: int, legacy: bool) -> int:
    import torch

    n = max(1, size // tensor_bytes)
    per = tensor_bytes // 4
    sd = collections.OrderedDict((f"layers.{i}.weight", torch.ones(per, dtype=torch.float32)) for i in range(n))
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    return n


def cat(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(f"cat '{path}' > /dev/null", shell=True, check=True)
    return time.perf_counter() - started


class ScannerPeak:
    """The largest VmHWM (peak resident set since exec) seen of this process's scanner processes, read from /proc
    every few milliseconds while they run. (ru_maxrss of RUSAGE_CHILDREN would count the pages a child had before
    exec, i.e. this process's own, torch included.)"""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "ScannerPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = str(os.getpid())
        while not self._stop.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/status") as f:
                        status = dict(line.split(":", 1) for line in f if ":" in line)
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if status.get("PPid", "").strip() == me and b"inhouse.scanners" in cmdline and "VmHWM" in status:
                    self.peak_kib = max(self.peak_kib, int(status["VmHWM"].split()[0]))
            time.sleep(0.002)


def one(size_mib: int, shape: str, legacy: bool, rounds: int, parent: str | None) -> dict[str, Any]:
    """Runs in its own process: one checkpoint, its timings and the peak RSS of this process's children."""
    from sqlalchemy import delete

    from inhouse.config import Settings
    from inhouse.services.context import Stores
    from inhouse.services.governance import scans
    from inhouse.services.governance.policy_doc import DEFAULT_POLICY
    from inhouse.storage.db.schema import file_scans
    from inhouse.vocabulary import RepoType, Scanner

    folder = Path(tempfile.mkdtemp(prefix="pickle-scan-", dir=parent))
    try:
        stores = Stores.open(Settings(data_dir=folder / "data"))
        ckpt = folder / "model.bin"
        tensors = write_checkpoint(ckpt, size_mib * MiB, SHAPES[shape], legacy)
        size = ckpt.stat().st_size
        upload = stores.blobs.begin()  # stored as an upload is: hashed while copied into the large-file store
        with ckpt.open("rb") as f:
            while chunk := f.read(8 * MiB):
                upload.write(chunk)
        oid = upload.commit(expected_size=size)
        ckpt.unlink()
        path = stores.blobs.local_path(oid)
        assert path is not None
        target = scans.ScanTarget("pytorch_model.bin", f"sha256:{oid}", size, None)
        cat(path)  # warms the page cache for both
        cat_s, scan_s = [], []
        result = None
        for _ in range(rounds):
            cat_s.append(cat(path))
            with stores.db.write() as conn:
                conn.execute(delete(file_scans))
            started = time.perf_counter()
            result = scans.run_scans(stores, [target], DEFAULT_POLICY, RepoType.MODEL)[target.content_key]
            scan_s.append(time.perf_counter() - started)
        with stores.db.write() as conn:
            conn.execute(delete(file_scans))
        with ScannerPeak() as peak:  # one more scan, watched (the polling costs CPU: not a timed round)
            result = scans.run_scans(stores, [target], DEFAULT_POLICY, RepoType.MODEL)[target.content_key]
        assert result is not None
        r = result[Scanner.PICKLE]
        assert r.status == "clean", r
        stores.close()
        return {"size_mib": round(size / MiB), "shape": shape, "tensors": tensors,
                "format": r.findings["format"], "cat_s": min(cat_s), "scan_s": min(scan_s),
                "ratio": min(scan_s) / min(cat_s),
                "scanner_peak_rss_mib": peak.peak_kib / 1024}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1024", help="checkpoint sizes in MiB, comma-separated")
    ap.add_argument("--shapes", default="large,small", help=f"tensor shapes: {', '.join(SHAPES)}")
    ap.add_argument("--legacy", action=argparse.BooleanOptionalAction, default=True,
                    help="also the legacy (non-zip) torch format")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=None, help="where the temp folder goes (default: the system's)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # size,shape,legacy: the child's part
    args = ap.parse_args()
    if args.one:
        size, shape, legacy = args.one.split(",")
        print(json.dumps(one(int(size), shape, legacy == "1", args.rounds, args.workdir)))
        return
    print(f"{'size':>6} {'format':>12} {'tensors':>7} {'cat s':>7} {'scan s':>7} {'ratio':>6} "
          f"{'scanner peak RSS':>16}")
    for size in [int(s) for s in args.sizes.split(",")]:
        for shape in args.shapes.split(","):
            for legacy in ([False, True] if args.legacy else [False]):
                cmd = [sys.executable, __file__, "--one", f"{size},{shape},{int(legacy)}",
                       "--rounds", str(args.rounds)] + (["--workdir", args.workdir] if args.workdir else [])
                out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                     env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"{r['size_mib']:>4}Mi {r['format']:>12} {r['tensors']:>7} {r['cat_s']:>7.3f} "
                      f"{r['scan_s']:>7.3f} {r['ratio']:>5.2f}x {r['scanner_peak_rss_mib']:>13.1f} MiB",
                      flush=True)
    print("target: scan <= 3x cat of the same file; peak RSS about the same for every size (memory flat)")


if __name__ == "__main__":
    main()
