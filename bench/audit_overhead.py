"""The cost of authorization + audit on reads of a private repo: the same server with the audit log on and off.

    python bench/audit_overhead.py                                   # 10 rounds, 64 MiB download
    python bench/audit_overhead.py --rounds 2 --requests 20 --download-mib 4   # smoke check

Two inhouse servers from the same code, one default (every read of a private repo is written to the hash-chained
audit log in its own transaction), one with INHOUSE_AUDIT_ENABLED=false (the baseline; the permission check still
runs). Each holds the same private repo: a small regular file and a large file stored in xorbs. Measured with
one keep-alive HTTP connection per server, as the client makes them (what huggingface_hub sends):
* HEAD /{repo}/resolve/main/{large file}: the metadata call before every download (p50 latency);
* GET of the small file (p50 latency);
* GET of the large file, streamed and discarded (median throughput).
Requests go to the two servers in turn (audit on, audit off, on, off, …; which goes first alternates between
rounds), so that both see the same load on the machine. Also printed: each server's CPU time per request (from
/proc), a figure that other work on a shared machine disturbs less than latency. Target: overhead ≤ 15% on each.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import TYPE_CHECKING

import harness
from _xet_harness import cpu_seconds, server, wait_converted, write_unique_file
from harness import MiB, mb_s, percentile, workdir

if TYPE_CHECKING:
    from tests.support.live import LiveServer

TARGET = 15.0
MODES = ("audit-on", "audit-off")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10, help="rounds, each measuring both servers (default 10)")
    ap.add_argument("--requests", type=int, default=100, help="HEADs and small GETs per server per round (default 100)")
    ap.add_argument("--downloads", type=int, default=3, help="large GETs per server per round (default 3)")
    ap.add_argument("--download-mib", type=int, default=64, help="size of the large file (default 64 MiB)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()
    import httpx

    size = args.download_mib * MiB
    cpu: dict[str, dict[str, float]] = {m: {"HEAD": 0.0, "small": 0.0, "large": 0.0} for m in MODES}
    head: dict[str, list[float]] = {m: [] for m in MODES}
    small: dict[str, list[float]] = {m: [] for m in MODES}
    large: dict[str, list[float]] = {m: [] for m in MODES}
    audited: dict[str, int] = {}

    with workdir(args.workdir) as work, \
            server(work / "on") as on, server(work / "off", {"INHOUSE_AUDIT_ENABLED": "false"}) as off:
        big = work / "weights.bin"
        write_unique_file(big, size, seed=7)
        targets = {}
        for mode, srv in zip(MODES, (on, off)):
            user = srv.make_user()
            token = srv.make_token(user, "write")
            repo_id = f"{user}/private-{uuid.uuid4().hex[:6]}"
            api = srv.api(token)
            api.create_repo(repo_id, private=True)
            api.upload_file(path_or_fileobj=b'{"hidden_size": 768}\n' * 40, path_in_repo="config.json",
                            repo_id=repo_id)
            api.upload_file(path_or_fileobj=str(big), path_in_repo="weights.bin", repo_id=repo_id)
            wait_converted(srv, token, repo_id, "weights.bin")
            client = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
            targets[mode] = (srv, client, f"/{repo_id}/resolve/main")
        big.unlink()
        for mode in MODES:  # warm up: connections, caches, first transactions
            _, client, base = targets[mode]
            for _ in range(20):
                client.head(f"{base}/weights.bin").raise_for_status()
                client.get(f"{base}/config.json").raise_for_status()
        audited_before = {m: count_audit(targets[m][0]) for m in MODES}

        def timed(mode: str, method: str, name: str) -> float:
            _, client, base = targets[mode]
            t0 = time.perf_counter()
            n = 0
            with client.stream(method, f"{base}/{name}") as resp:
                resp.raise_for_status()
                for piece in resp.iter_raw(1 << 20):
                    n += len(piece)
            took = time.perf_counter() - t0
            if method == "GET" and name == "weights.bin" and n != size:
                raise SystemExit(f"{mode}: got {n} bytes of {size}")
            return took

        for r in range(1, args.rounds + 1):
            order = MODES if r % 2 else MODES[::-1]
            # request by request, the two servers one after the other: both see the same machine load
            for kind, samples, count, method, name in (("HEAD", head, args.requests, "HEAD", "weights.bin"),
                                                        ("small", small, args.requests, "GET", "config.json"),
                                                        ("large", large, args.downloads, "GET", "weights.bin")):
                cpu0 = {m: cpu_seconds(targets[m][0].proc.pid) for m in MODES}
                for _ in range(count):
                    for mode in order:
                        samples[mode].append(timed(mode, method, name))
                for m in MODES:
                    cpu[m][kind] += cpu_seconds(targets[m][0].proc.pid) - cpu0[m]
            print(f"round {r:2d} ({order[0]} first): " + "; ".join(
                f"{m} HEAD p50 {percentile(head[m][-args.requests:], 50) * 1e3:.2f} ms, "
                f"GET small p50 {percentile(small[m][-args.requests:], 50) * 1e3:.2f} ms, "
                f"GET {args.download_mib} MiB {mb_s(size, statistics.median(large[m][-args.downloads:])):.0f} MiB/s"
                for m in MODES), flush=True)
        for mode in MODES:
            targets[mode][1].close()
            audited[mode] = count_audit(targets[mode][0]) - audited_before[mode]

    expected = args.rounds * (2 * args.requests + args.downloads)
    print(f"\naudit entries written during the rounds: audit-on {audited['audit-on']} (expected {expected}), "
          f"audit-off {audited['audit-off']}")
    if audited["audit-on"] < expected or audited["audit-off"] != 0:
        raise SystemExit("the audit-on server did not record every read, or the audit-off server recorded some")
    rows = [
        ("HEAD resolve p50 latency", percentile(head["audit-on"], 50), percentile(head["audit-off"], 50), "ms"),
        ("GET small file p50 latency", percentile(small["audit-on"], 50), percentile(small["audit-off"], 50), "ms"),
        (f"GET {args.download_mib} MiB median time", statistics.median(large["audit-on"]),
         statistics.median(large["audit-off"]), "ms"),
    ]
    print(f"{args.rounds} rounds: {args.rounds * args.requests} HEADs and small GETs, "
          f"{args.rounds * args.downloads} large GETs per server")
    for (name, with_audit, without, unit), kind in zip(rows, ("HEAD", "small", "large")):
        over = 100.0 * (with_audit / without - 1)
        extra = ""
        if name.startswith("GET") and "MiB" in name:
            extra = f" ({mb_s(size, with_audit):.0f} vs {mb_s(size, without):.0f} MiB/s)"
        print(f"{name}: audit on {with_audit * 1e3:.2f} {unit}, off {without * 1e3:.2f} {unit}{extra}: "
              f"overhead {over:+.1f}%   (target ≤ {TARGET:.0f}%: {'met' if over <= TARGET else 'MISSED'})")
        n = args.rounds * (args.downloads if kind == "large" else args.requests)
        c_on, c_off = cpu["audit-on"][kind] / n, cpu["audit-off"][kind] / n
        print(f"    server CPU per request: audit on {c_on * 1e3:.2f} ms, off {c_off * 1e3:.2f} ms: "
              f"{100.0 * (c_on / c_off - 1):+.1f}%")


def count_audit(srv: LiveServer) -> int:
    from inhouse.storage.db.schema import audit_log
    from sqlalchemy import func, select

    with srv.stores.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


if __name__ == "__main__":
    assert harness.ROOT  # imported first: project root on sys.path
    main()
