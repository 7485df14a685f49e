"""`inhouse storage gc | stats`: large-file storage (xorbs, LFS blobs waiting for conversion) from the shell."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inhouse.services.context import Stores  # at run time it is imported by the command, as the services are


def _stores(args: argparse.Namespace) -> Stores:
    from inhouse.cli.main import _stores as open_stores

    return open_stores(args)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def cmd_gc(args: argparse.Namespace) -> int:
    from inhouse.services.largefiles import storage_gc

    stores = _stores(args)
    try:
        report = storage_gc.collect(stores, grace_s=args.grace_minutes * 60)
    finally:
        stores.close()
    if args.json:
        print(json.dumps(asdict(report)))
        return 0
    print(f"marked {report.commits} commits from {report.refs} refs; "
          f"forgot {report.lfs_objects_forgotten} large files no ref needs")
    print(f"deleted {report.files_deleted} Xet files, {report.xorbs_deleted} xorbs "
          f"({_size(report.xorb_bytes_freed)}), {report.orphan_xorb_files_deleted} unrecorded xorb files, "
          f"{report.blobs_deleted} LFS blobs ({_size(report.blob_bytes_freed)})")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from inhouse.services.largefiles import storage_gc

    stores = _stores(args)
    try:
        s = storage_gc.stats(stores)
    finally:
        stores.close()
    if args.json:
        print(json.dumps({**asdict(s), "stored_bytes": s.stored_bytes, "dedup_ratio": s.dedup_ratio}))
        return 0
    print(f"stored:  {_size(s.stored_bytes)} ({s.xorbs} xorbs holding {_size(s.chunk_bytes)} of chunks, "
          f"{s.pending_blobs} LFS uploads waiting for conversion: {_size(s.pending_blob_bytes)})")
    print(f"logical: {_size(s.logical_bytes)} ({s.logical_files} large files named by the refs' heads, "
          "once per repo)")
    print(f"dedup ratio: {s.dedup_ratio:.2f} (logical / stored)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    storage_p = sub.add_parser("storage", help="large-file storage: garbage collection and usage").add_subparsers(
        dest="storage_command", required=True)
    gc = storage_p.add_parser("gc", parents=[common], help="delete xorbs, Xet files and LFS blobs that no ref of "
                              "any repo needs any more (safe while the server runs)")
    gc.add_argument("--grace-minutes", type=float, default=60.0,
                    help="keep everything uploaded or used within this many minutes (default 60), so that uploads "
                         "not committed yet survive")
    gc.add_argument("--json", action="store_true", help="print the counts as JSON")
    gc.set_defaults(func=cmd_gc)
    st = storage_p.add_parser("stats", parents=[common], help="stored bytes vs logical bytes, and the dedup ratio")
    st.add_argument("--json", action="store_true", help="print the figures as JSON")
    st.set_defaults(func=cmd_stats)
