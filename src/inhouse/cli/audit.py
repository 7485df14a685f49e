"""`inhouse audit verify | export | checkpoint`: the audit log from the server's shell."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inhouse.services.context import Stores  # at run time it is imported by the command, as the services are


def _stores(args: argparse.Namespace) -> Stores:
    from inhouse.cli.main import _stores as open_stores

    return open_stores(args)


def cmd_verify(args: argparse.Namespace) -> int:
    from inhouse.services import audit

    stores = _stores(args)
    try:
        report = audit.verify(stores)
    finally:
        stores.close()
    if report.ok:
        print(f"OK: {report.entries} entries, {report.checkpoints} checkpoints")
        return 0
    for problem in report.problems:
        print(problem)
    print(f"FAILED: {len(report.problems)} problem(s) in {report.entries} entries, {report.checkpoints} checkpoints",
          file=sys.stderr)
    return 1


def cmd_export(args: argparse.Namespace) -> int:
    from inhouse.services import audit

    filters = audit.Filters(actor=args.actor, repo=args.repo, action=args.action,
                            since=audit.parse_time(args.since, "--since"), until=audit.parse_time(args.until, "--until"))
    stores = _stores(args)
    try:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(args.output, "w", encoding="utf-8")) if args.output else sys.stdout
            n = 0
            for entry in audit.export(stores, None, filters):
                out.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
                n += 1
    finally:
        stores.close()
    if args.output:
        print(f"exported {n} entries to {args.output}", file=sys.stderr)
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from inhouse.services import audit

    stores = _stores(args)
    try:
        cp = audit.checkpoint(stores, force=args.force)
        book = stores.audit.book.file
    finally:
        stores.close()
    if cp is None:
        print("nothing to sign: the log is empty or its head is already checkpointed (--force signs it again)")
    else:
        print(f"signed entry #{cp.seq} ({cp.hash[:16]}…) into {book}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    audit_p = sub.add_parser("audit", help="verify, export and checkpoint the audit log").add_subparsers(
        dest="audit_command", required=True)
    v = audit_p.add_parser("verify", parents=[common], help="check the hash chain and the signed checkpoints; "
                           "exit 1 and one line per problem if anything was modified, deleted, inserted or reordered")
    v.set_defaults(func=cmd_verify)
    e = audit_p.add_parser("export", parents=[common], help="write entries as JSON Lines (stdout by default)")
    e.add_argument("--actor", default=None, help="user name")
    e.add_argument("--repo", default=None, help="ns/name for a model, datasets/ns/name for a dataset")
    e.add_argument("--action", default=None, help="e.g. file.download, or repo.* for a family")
    e.add_argument("--since", default=None, help="ISO date or time, inclusive (UTC unless it names a zone)")
    e.add_argument("--until", default=None, help="ISO date or time, exclusive")
    e.add_argument("--output", type=Path, default=None, help="write to this file instead of stdout")
    e.set_defaults(func=cmd_export)
    c = audit_p.add_parser("checkpoint", parents=[common], help="sign the log's head into "
                           "DATA/audit/checkpoints.jsonl (the server also does it periodically and at shutdown)")
    c.add_argument("--force", action="store_true", help="sign even if the head did not move")
    c.set_defaults(func=cmd_checkpoint)
