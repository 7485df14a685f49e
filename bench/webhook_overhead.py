"""Does webhook delivery slow the commit it follows? Commit p50 with ten webhooks configured against none.

    python bench/webhook_overhead.py                                  # 8 rounds of 40 commits per server
    python bench/webhook_overhead.py --rounds 2 --commits 10          # smoke check

Two inhouse servers from the same code, in the same run: "hooks", whose committing user has ten webhooks watching
their namespace (each event is written to the outbox in the commit's transaction, ten rows, and sent by the server's
webhook worker process), and "none", without webhooks (the baseline). The ten receivers are slow: a loopback HTTP
server that sleeps --slow-ms before answering each delivery, so deliveries are in flight (and the worker records
their results in the database) while the commits are measured. Each commit is one NDJSON `POST
/api/models/{repo}/commit/main` adding a small file (what `HfApi.create_commit` sends after its preupload call), on
one keep-alive connection per server; requests go to the two servers in turn (which goes first alternates between
rounds), so both see the same machine load. Printed: commit p50 and p95 on each server, the ratio of the p50s
(target ≤ 1.1), each server's CPU per commit (and its webhook worker process's), and, after the rounds, how long the
receivers took to get every event (each checked: signature, count, order per webhook).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import harness
from _xet_harness import cpu_seconds, server
from harness import percentile, workdir

TARGET = 1.1
HOOKS = 10
SECRET = "bench-secret"
MODES = ("hooks", "none")


class SlowReceivers:
    """One threaded loopback server standing in for the ten receivers (one path each); each answer waits."""

    def __init__(self, slow_s: float):
        self.lock = threading.Lock()
        self.got: dict[str, list[str]] = {}
        self.bad = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(slow_s)
                sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(self.headers.get("X-Inhouse-Signature-256", ""), sig)
                sha = json.loads(body)["updatedRefs"][0]["newSha"] if ok else ""
                with outer.lock:
                    if ok:
                        outer.got.setdefault(self.path, []).append(sha)
                    else:
                        outer.bad += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.got.values())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def children_cpu(pid: int) -> float:
    """CPU seconds so far of the live child processes of `pid` (the hooks server's webhook worker)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                total += cpu_seconds(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return total


def ndjson_commit(n: int) -> bytes:
    lines = [{"key": "header", "value": {"summary": f"bench commit {n}", "description": ""}},
             {"key": "file", "value": {"path": f"data/f{n % 50}.txt", "encoding": "base64",
                                       "content": base64.b64encode(f"content {n}\n".encode()).decode()}}]
    return b"\n".join(json.dumps(x).encode() for x in lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8, help="rounds, each measuring both servers (default 8)")
    ap.add_argument("--commits", type=int, default=40, help="commits per server per round (default 40)")
    ap.add_argument("--slow-ms", type=int, default=50, help="how long each receiver takes to answer (default 50)")
    ap.add_argument("--workers", type=int, default=None, help="INHOUSE_WEBHOOK_WORKERS of the hooks server "
                    "(default: the server's default)")
    ap.add_argument("--stalled", action="store_true", help="diagnostic: the receivers refuse connections and the "
                    "next attempt is hours away, so nothing is sent while commits are measured: the in-transaction "
                    "cost alone (the events are not waited for)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()
    import httpx

    receivers = SlowReceivers(args.slow_ms / 1000.0)
    hooks_env = {"INHOUSE_WEBHOOK_WORKERS": str(args.workers)} if args.workers else {}
    target = receivers.base
    if args.stalled:
        hooks_env["INHOUSE_WEBHOOK_RETRY_BASE_MS"] = str(3600 * 1000)
        target = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused
    samples: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, float] = {m: 0.0 for m in MODES}
    worker_cpu: dict[str, float] = {m: 0.0 for m in MODES}  # the server's child processes (the webhook worker)
    shas: list[str] = []
    try:
        with workdir(args.workdir) as work, server(work / "hooks", hooks_env) as with_hooks, server(work / "none") as none:
            targets: dict[str, tuple[Any, httpx.Client, str]] = {}
            for mode, srv in zip(MODES, (with_hooks, none)):
                user = srv.make_user()
                token = srv.make_token(user, "write")
                api = srv.api(token)
                repo_id = f"{user}/bench"
                api.create_repo(repo_id)
                if mode == "hooks":
                    for i in range(HOOKS):
                        api.create_webhook(url=f"{target}/hook{i}", watched=[{"type": "user", "name": user}],
                                           domains=["repo"], secret=SECRET)
                client = httpx.Client(base_url=srv.url, timeout=120, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
                targets[mode] = (srv, client, f"/api/models/{repo_id}/commit/main")
            n = 0

            def commit(mode: str) -> float:
                nonlocal n
                n += 1
                _, client, path = targets[mode]
                body = ndjson_commit(n)
                t0 = time.perf_counter()
                resp = client.post(path, content=body)
                took = time.perf_counter() - t0
                resp.raise_for_status()
                if mode == "hooks":
                    shas.append(resp.json()["commitOid"])
                return took

            for _ in range(10):  # warm up both (connections, caches, first transactions); not measured
                for mode in MODES:
                    commit(mode)
            # the hooks server starts its webhook worker process with its first event: wait until the worker has
            # sent one (stalled: a few seconds), so that its start (about 0.5 s of CPU, once per server start) is
            # not counted in the first round
            t_up = time.perf_counter()
            while time.perf_counter() - t_up < (3 if args.stalled else 60) and (args.stalled or not receivers.count()):
                time.sleep(0.05)
            for r in range(1, args.rounds + 1):
                order = MODES if r % 2 else MODES[::-1]
                cpu0 = {m: cpu_seconds(targets[m][0].proc.pid) for m in MODES}
                wcpu0 = {m: children_cpu(targets[m][0].proc.pid) for m in MODES}
                for _ in range(args.commits):
                    for mode in order:
                        samples[mode].append(commit(mode))
                for m in MODES:
                    cpu[m] += cpu_seconds(targets[m][0].proc.pid) - cpu0[m]
                    worker_cpu[m] += children_cpu(targets[m][0].proc.pid) - wcpu0[m]
                last = {m: samples[m][-args.commits:] for m in MODES}
                print(f"round {r} ({order[0]} first): " + "; ".join(
                    f"{m} p50 {percentile(last[m], 50) * 1e3:.2f} ms" for m in MODES)
                      + f"; delivered so far {receivers.count()}/{len(shas) * HOOKS}", flush=True)
            for _, client, _ in targets.values():
                client.close()
            t0 = time.perf_counter()
            expected = 0 if args.stalled else len(shas) * HOOKS
            while receivers.count() < expected and time.perf_counter() - t0 < 600:
                time.sleep(0.1)
            drained = time.perf_counter() - t0
    finally:
        receivers.close()

    total = args.rounds * args.commits
    p50 = {m: percentile(samples[m], 50) for m in MODES}
    p95 = {m: percentile(samples[m], 95) for m in MODES}
    ratio = p50["hooks"] / p50["none"]
    print(f"\n{args.rounds} rounds x {args.commits} commits per server; {HOOKS} webhooks, receivers answering in "
          f"{args.slow_ms} ms")
    for m in MODES:
        print(f"{m:>5}: commit p50 {p50[m] * 1e3:.2f} ms, p95 {p95[m] * 1e3:.2f} ms, server CPU per commit "
              f"{cpu[m] / total * 1e3:.2f} ms (+ its child processes, the webhook worker: "
              f"{worker_cpu[m] / total * 1e3:.2f} ms)")
    print(f"commit p50 ratio, ten webhooks / none: {ratio:.3f}x   (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")
    if args.stalled:
        return
    in_order = all(v == shas for v in receivers.got.values()) and len(receivers.got) == HOOKS
    print(f"deliveries: {receivers.count()} of {expected} (bad signatures {receivers.bad}), each webhook in commit "
          f"order: {in_order}; the last arrived {drained:.1f} s after the last commit")
    if receivers.count() != expected or receivers.bad or not in_order:
        raise SystemExit("some deliveries were lost, doubled, badly signed or out of order")


if __name__ == "__main__":
    assert harness.ROOT  # imported first: project root on sys.path
    main()
