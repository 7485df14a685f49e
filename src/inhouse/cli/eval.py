"""`inhouse eval`: right-size a model for a task on your own data, against a running inhouse.

    inhouse eval run --task text-classification --dataset acme/tickets --split test \\
        --column text=body --column label=queue \\
        --model acme/bert-small --model acme/bert-base@v2 --variants int8,onnx-int8
    inhouse eval show 12          # the leaderboard, the Pareto front and the recommendation
    inhouse eval list | cancel 12 | pareto 12 --format svg -o front.svg
    inhouse eval save-variant 12 --model acme/bert-small --variant onnx-int8 --to acme/bert-small-onnx-int8

`run` submits the evaluation (`POST /api/evaluations`) and, unless --no-wait, follows it with a progress bar on
stderr until it ends, then prints the table and the recommendation (or, with --json, the evaluation as JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from inhouse.cli.client import Client, server_options
from inhouse.vocabulary import EVAL_COLUMNS, EvalTask, Variant

POLL_S = 1.0
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


def _column(text: str) -> tuple[str, str]:
    role, sep, column = text.partition("=")
    if not sep or not role or not column:
        raise argparse.ArgumentTypeError(f"use ROLE=COLUMN, e.g. text=body (got {text!r})")
    return role, column


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON body of `POST /api/evaluations` that `inhouse eval run`'s options describe."""
    dataset: dict[str, Any] = {"repo": args.dataset.partition("@")[0], "split": args.split,
                               "columns": dict(args.column)}
    if "@" in args.dataset:
        dataset["revision"] = args.dataset.partition("@")[2]
    if args.config:
        dataset["config"] = args.config
    body: dict[str, Any] = {"task": args.task, "dataset": dataset, "candidates": list(args.model),
                            "variants": [v for v in (args.variants or "").split(",") if v],
                            "writeResults": not args.no_write_results}
    for key, value in (("maxExamples", args.max_examples), ("tolerance", args.tolerance),
                       ("pricePerHour", args.price_per_hour), ("resamples", args.resamples), ("seed", args.seed),
                       ("maxNewTokens", args.max_new_tokens)):
        if value is not None:
            body[key] = value
    return body


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def progress_line(ev: dict[str, Any], width: int = 30) -> str:
    """One line of the progress bar: bar, percent, candidates done, ETA."""
    fraction = min(1.0, max(0.0, float(ev.get("progress") or 0.0)))
    filled = int(round(fraction * width))
    cands = ev.get("candidates") or []
    done = sum(1 for c in cands if c.get("state") in FINAL_STATES)
    eta = "" if ev.get("state") in FINAL_STATES else f" ETA {_duration(ev.get('etaSeconds'))}"
    return (f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}%  {done}/{len(cands)} candidates  "
            f"{ev.get('state', '?')}{eta}")


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _mb(n: Any) -> str:
    return "-" if n is None else f"{n / 1e6:.0f} MB"


def render(ev: dict[str, Any], out: TextIO) -> None:
    """The evaluation as a table, the Pareto front and the recommendation."""
    ds = ev.get("dataset") or {}
    print(f"evaluation {ev.get('id')}: {ev.get('task')} on {ds.get('repo')}@{str(ds.get('revision', ''))[:12]} "
          f"({ds.get('config') or 'default'}/{ds.get('split')}) — {ev.get('state')}", file=out)
    rows = ev.get("rows") or []
    joint = (ev.get("pareto") or {}).get("joint") or {}
    front = set(joint.get("labels") or []) if isinstance(joint, dict) else set(joint)  # {"axes", "labels"}
    header = f"{'candidate':44} {'quality':>22} {'p50 ms':>8} {'p95 ms':>8} {'memory':>9} {'$/1M req':>9}  status"
    print(header, file=out)
    for r in rows:
        q = r.get("quality") or {}
        cost = r.get("cost") or {}
        quality = (f"{q['value']:.3f} [{q['low']:.3f}-{q['high']:.3f}]" if q.get("value") is not None else "-")
        mark = "*" if r.get("label") in front else " "
        status = r.get("status", "")
        if r.get("error"):
            status += f": {str(r['error'])[:160]}"
        print(f"{mark}{str(r.get('label'))[:43]:43} {quality:>22} {_fmt(cost.get('latency_p50_ms'), '.2f'):>8} "
              f"{_fmt(cost.get('latency_p95_ms'), '.2f'):>8} {_mb(cost.get('peak_memory_bytes')):>9} "
              f"{_fmt(cost.get('cost_per_million_usd'), '.3f'):>9}  {status}", file=out)
    if rows:
        metric = next((r.get("primaryMetric") for r in rows if r.get("primaryMetric")), "quality")
        print(f"(* on the Pareto front; quality = {metric} with its 95% bootstrap interval)", file=out)
    rec = ev.get("recommendation")
    if rec:
        print(f"\n{rec.get('reason', '')}", file=out)
    machine = ev.get("machine")
    if machine:
        print(f"\nmeasured on {machine.get('hostname')} ({machine.get('cpu')}, {machine.get('threads')} threads)",
              file=out)


def follow(client: Client, evaluation_id: str, err: TextIO, *, poll_s: float = POLL_S) -> dict[str, Any]:
    """Polls the evaluation until it ends, drawing the progress bar on `err`; returns its last state."""
    while True:
        ev: dict[str, Any] = client.request("GET", f"/api/evaluations/{evaluation_id}")
        print(f"\r{progress_line(ev)}", end="", file=err, flush=True)
        if ev.get("state") in FINAL_STATES:
            print(file=err)
            return ev
        time.sleep(poll_s)


def cmd_run(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    ev = client.request("POST", "/api/evaluations", request_body(args))
    print(f"submitted evaluation {ev['id']}", file=sys.stderr)
    if args.no_wait:
        print(json.dumps(ev, indent=2) if args.json else ev["id"])
        return 0
    try:
        ev = follow(client, str(ev["id"]), sys.stderr)
    except KeyboardInterrupt:
        print(f"\nstopped following; the evaluation goes on (cancel it with `inhouse eval cancel {ev['id']}`)",
              file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(ev, indent=2))
    else:
        render(ev, sys.stdout)
    return 0 if ev.get("state") == "succeeded" else 1


def cmd_show(args: argparse.Namespace) -> int:
    ev = Client.from_args(args).request("GET", f"/api/evaluations/{args.id}")
    if args.json:
        print(json.dumps(ev, indent=2))
    else:
        render(ev, sys.stdout)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for ev in Client.from_args(args).request("GET", "/api/evaluations"):
        ds = ev.get("dataset") or {}
        print(f"{ev['id']}\t{ev['state']}\t{ev['task']}\t{ds.get('repo')}\t{len(ev.get('candidates') or [])} "
              f"candidates\t{ev.get('createdAt')}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ev = Client.from_args(args).request("POST", f"/api/evaluations/{args.id}/cancel")
    print(f"evaluation {args.id}: {ev.get('state')}")
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    data = Client.from_args(args).request_bytes(
        "GET", f"/api/evaluations/{args.id}/pareto.{args.format}", query={"axis": args.axis})
    with open(args.output, "wb") as f:
        f.write(data)
    print(f"wrote {args.output}")
    return 0


def cmd_save_variant(args: argparse.Namespace) -> int:
    client = Client.from_args(args)
    job = client.request("POST", f"/api/evaluations/{args.id}/save-variant",
                         {"model": args.model, "variant": args.variant, "target": args.to, "private": not args.public})
    print(f"saving {args.model} ({args.variant}) to {args.to}: job {job['id']}", file=sys.stderr)
    print(job["id"])
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    server = server_options()
    ev = sub.add_parser("eval", help="evaluate candidate models on your data and recommend one (needs a server)")
    cmds = ev.add_subparsers(dest="eval_command", required=True)
    run = cmds.add_parser("run", parents=[server], help="submit an evaluation and follow it")
    run.add_argument("--task", required=True, choices=[t.value for t in EvalTask])
    run.add_argument("--dataset", required=True, metavar="NS/NAME[@REV]", help="the dataset repo (and revision)")
    run.add_argument("--split", default="test")
    run.add_argument("--config", default=None, help="the dataset's config (subset), if it has several")
    roles = "; ".join(f"{t.value}: {', '.join(c.roles)}" for t, c in EVAL_COLUMNS.items())
    run.add_argument("--column", action="append", default=[], type=_column, metavar="ROLE=COLUMN",
                     help=f"map a role to a dataset column (default: the column named like the role). Roles: {roles}")
    run.add_argument("--model", action="append", required=True, metavar="NS/NAME[@REV]",
                     help="a candidate model repo; repeat for each")
    run.add_argument("--variants", default="", metavar="LIST",
                     help=f"also evaluate cheaper forms: comma-separated from "
                          f"{', '.join(v.value for v in Variant if v is not Variant.ORIGINAL)}")
    run.add_argument("--max-examples", type=int, default=None)
    run.add_argument("--tolerance", type=float, default=None,
                     help="how far below the best quality (in the metric's units) still counts as good enough")
    run.add_argument("--price-per-hour", type=float, default=None, help="price of one hour of the hardware")
    run.add_argument("--resamples", type=int, default=None, help="bootstrap resamples for the 95%% intervals")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--max-new-tokens", type=int, default=None,
                     help="generative tasks: tokens generated per example (at most 512)")
    run.add_argument("--no-write-results", action="store_true",
                     help="do not write .eval_results/ files into the model repos")
    run.add_argument("--no-wait", action="store_true", help="print the id and return")
    run.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    run.set_defaults(func=cmd_run)
    show = cmds.add_parser("show", parents=[server], help="an evaluation's table and recommendation")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    cmds.add_parser("list", parents=[server], help="your evaluations").set_defaults(func=cmd_list)
    cancel = cmds.add_parser("cancel", parents=[server], help="cancel an evaluation (stops its workers)")
    cancel.add_argument("id")
    cancel.set_defaults(func=cmd_cancel)
    pareto = cmds.add_parser("pareto", parents=[server], help="save the Pareto front as a picture")
    pareto.add_argument("id")
    pareto.add_argument("--format", choices=["svg", "png"], default="svg")
    pareto.add_argument("--axis", choices=["latency", "memory", "cost"], default="latency")
    pareto.add_argument("-o", "--output", required=True)
    pareto.set_defaults(func=cmd_pareto)
    save = cmds.add_parser("save-variant", parents=[server], help="save an evaluated variant as a new model repo")
    save.add_argument("id")
    save.add_argument("--model", required=True, metavar="NS/NAME")
    save.add_argument("--variant", required=True, choices=[Variant.ONNX.value, Variant.ONNX_INT8.value])
    save.add_argument("--to", required=True, metavar="NS/NAME", help="the new model repo")
    save.add_argument("--public", action="store_true", help="make the new repo public (default private)")
    save.set_defaults(func=cmd_save_variant)

