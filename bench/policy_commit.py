"""Does an organisation's policy slow a commit with nothing to scan? Commit p50 under a realistic policy against the
same kind of organisation without one.

    python bench/policy_commit.py                          # 8 rounds of 40 commits per organisation
    python bench/policy_commit.py --rounds 2 --commits 10  # smoke check

One inhouse server, two organisations with the same members and one model repo each: "policy", whose policy
denies GPL licenses, refuses unsafe pickles, holds datasets with personal data for approval, refuses secrets and
requires card fields; and "none", without a policy (the default one: pickles flagged, nothing else). Each commit is
one NDJSON `POST /api/models/{repo}/commit/main` adding a small JSON file (what `HfApi.create_commit` sends after
its preupload call), on one keep-alive connection per organisation; requests go to the two repos in turn (which
goes first alternates between rounds), so both see the same server and machine load. The file is not a pickle,
not a dataset table and not the card, so under the policy it is only scanned for secrets (in the server's process)
and the evaluation is recorded: that is the cost measured. Printed: commit p50 and p95 per organisation and the
ratio of the p50s (target <= 1.1).
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import uuid
from typing import Any

import harness
from _xet_harness import server
from harness import percentile, workdir

TARGET = 1.1
MODES = ("policy", "none")
POLICY = """\
licenses:
  allow: [apache-2.0, mit, bsd-3-clause, llama3.1]
  deny: [gpl-3.0, agpl-3.0]
  unknown: approval
  missing: deny
  derived: deny
pickles:
  outcome: deny
  on_error: quarantine
personal_data:
  outcome: approval
  on_error: quarantine
  repo_types: [dataset]
secrets:
  outcome: deny
card:
  outcome: deny
  repo_types: [model]
  required:
    - name: intended use
      metadata: [intended_use]
      sections: [Intended uses, Intended use]
    - name: limitations
      sections: [Limitations, Bias, Risks and limitations]
"""


def ndjson_commit(n: int) -> bytes:
    payload = json.dumps({"step": n, "loss": 1.0 / (n + 1), "lr": 3e-4, "note": "metrics of a training run"}) + "\n"
    lines = [{"key": "header", "value": {"summary": f"bench commit {n}", "description": ""}},
             {"key": "file", "value": {"path": f"metrics/m{n % 50}.json", "encoding": "base64",
                                       "content": base64.b64encode(payload.encode()).decode()}}]
    return b"\n".join(json.dumps(x).encode() for x in lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8, help="rounds, each measuring both organisations (default 8)")
    ap.add_argument("--commits", type=int, default=40, help="commits per organisation per round (default 40)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()
    import httpx

    from inhouse.services import orgs

    samples: dict[str, list[float]] = {m: [] for m in MODES}
    with workdir(args.workdir) as work, server(work / "srv") as srv:
        user = srv.make_user()
        token = srv.make_token(user, "write")
        api = srv.api(token)
        clients: dict[str, tuple[httpx.Client, str]] = {}
        for mode in MODES:
            org = f"{mode}{uuid.uuid4().hex[:6]}"
            orgs.create_org(srv.stores, org, admin=user)
            if mode == "policy":
                r = httpx.put(f"{srv.url}/api/orgs/{org}/policy", json={"document": POLICY, "message": "bench"},
                              headers={"Authorization": f"Bearer {token}"}, timeout=60)
                r.raise_for_status()
            repo_id = f"{org}/bench"
            api.create_repo(repo_id)
            client = httpx.Client(base_url=srv.url, timeout=120, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
            clients[mode] = (client, f"/api/models/{repo_id}/commit/main")
        n = 0

        def commit(mode: str) -> float:
            nonlocal n
            n += 1
            client, path = clients[mode]
            body = ndjson_commit(n)
            t0 = time.perf_counter()
            resp = client.post(path, content=body)
            took = time.perf_counter() - t0
            resp.raise_for_status()
            return took

        for _ in range(10):  # warm up both (connections, the policy cache, first transactions); not measured
            for mode in MODES:
                commit(mode)
        for r in range(1, args.rounds + 1):
            order = MODES if r % 2 else MODES[::-1]
            for _ in range(args.commits):
                for mode in order:
                    samples[mode].append(commit(mode))
            last = {m: samples[m][-args.commits:] for m in MODES}
            print(f"round {r} ({order[0]} first): " + "; ".join(
                f"{m} p50 {percentile(last[m], 50) * 1e3:.2f} ms" for m in MODES), flush=True)
        with srv.stores.db.read() as conn:
            from sqlalchemy import func, select

            from inhouse.storage.db.schema import policy_evaluations
            recorded = conn.execute(select(func.count()).select_from(policy_evaluations)).scalar_one()
        for client, _ in clients.values():
            client.close()

    p50: dict[str, Any] = {m: percentile(samples[m], 50) for m in MODES}
    p95 = {m: percentile(samples[m], 95) for m in MODES}
    ratio = p50["policy"] / p50["none"]
    print(f"\n{args.rounds} rounds x {args.commits} commits per organisation, one server; "
          f"{recorded} policy evaluations recorded")
    for m in MODES:
        print(f"{m:>6}: commit p50 {p50[m] * 1e3:.2f} ms, p95 {p95[m] * 1e3:.2f} ms")
    print(f"commit p50 ratio, policy / none: {ratio:.3f}x   (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")


if __name__ == "__main__":
    assert harness.ROOT  # imported first: project root on sys.path
    main()
