"""`inhouse jobs list | show | logs | cancel`: background jobs (evaluations, variant saves) on a running server,
over its JSON API (standard library only, cli/client.py)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from inhouse.cli.client import Client, server_options

FOLLOW_POLL_S = 1.0


def _percent(job: dict[str, Any]) -> str:
    return f"{100 * float(job.get('progress') or 0):.0f}%"


def _eta(job: dict[str, Any]) -> str:
    eta = job.get("etaSeconds")
    return "-" if eta is None else f"{float(eta):.0f}s"


def cmd_list(args: argparse.Namespace) -> int:
    query = {"limit": str(args.limit)}
    if args.all:
        query["all"] = "1"
    for job in Client.from_args(args).request("GET", "/api/jobs", query=query):
        print(f"{job['id']}\t{job['kind']}\t{job['state']}\t{_percent(job)}\teta={_eta(job)}\t{job['owner']}"
              f"\t{job['createdAt']}\t{job.get('message') or ''}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    job = Client.from_args(args).request("GET", f"/api/jobs/{args.id}")
    print(f"job {job['id']} ({job['kind']}) {job['state']} {_percent(job)} eta={_eta(job)}")
    print(f"  asked by {job['owner']} at {job['createdAt']}; started {job['startedAt'] or '-'}; "
          f"finished {job['finishedAt'] or '-'}; executor {job['executor']}")
    if job.get("error"):
        print(f"  error: {job['error']}")
    for t in job.get("tasks") or []:
        line = f"  task {t['seq']} {t['name']}: {t['state']} {100 * float(t['progress'] or 0):.0f}%"
        if t.get("error"):
            line += f" ({t['errorCode']}) {t['error']}"
        print(line)
    return 0 if job["state"] != "failed" else 1


def cmd_logs(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    after = args.after
    while True:
        lines = client.request("GET", f"/api/jobs/{args.id}/logs", query={"after": str(after)})
        for line in lines:
            print(f"{line['at']} {line['level']:<7} {line['message']}")
            after = max(after, int(line["id"]))
        if not args.follow:
            return 0
        if not lines:
            job = client.request("GET", f"/api/jobs/{args.id}")
            if job["state"] in ("succeeded", "failed", "cancelled"):
                print(f"job {args.id} {job['state']}", file=sys.stderr)
                return 0
            time.sleep(FOLLOW_POLL_S)


def cmd_cancel(args: argparse.Namespace) -> int:
    job = Client.from_args(args).request("POST", f"/api/jobs/{args.id}/cancel")
    print(f"job {job['id']}: cancel requested ({job['state']})")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    server = server_options()
    jobs = sub.add_parser("jobs", help="background jobs on a server: list, show, logs, cancel")
    cmds = jobs.add_subparsers(dest="jobs_command", required=True)
    ls = cmds.add_parser("list", parents=[server], help="your jobs, newest first")
    ls.add_argument("--all", action="store_true", help="everyone's jobs (site admins)")
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=cmd_list)
    show = cmds.add_parser("show", parents=[server], help="a job's state, progress and tasks")
    show.add_argument("id", type=int)
    show.set_defaults(func=cmd_show)
    logs = cmds.add_parser("logs", parents=[server], help="a job's log lines")
    logs.add_argument("id", type=int)
    logs.add_argument("--after", type=int, default=0, help="only lines with an id above this")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the job ends")
    logs.set_defaults(func=cmd_logs)
    cancel = cmds.add_parser("cancel", parents=[server], help="stop a job and its workers")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(func=cmd_cancel)
