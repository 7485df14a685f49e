"""The cost of counting downloads on the download path: a counted request against the same request uncounted.

    python bench/download_count.py                      # 5 rounds x 300 requests of each kind
    python bench/download_count.py --rounds 1 --requests 50    # smoke check

One inhouse server, one public model repo holding `config.json` (a query file: every GET or HEAD of it is a
download, one upsert of the day's row in repo_downloads plus the all-time count, services/downloads.py) and
`other.json` with the very same bytes (not a query file: nothing is written). Requests alternate between the two
on one keep-alive connection, as huggingface_hub makes them, GET and HEAD; printed: p50 and p95 of each and the
ratio of the p50s (target <= 1.10: counting must stay cheap next to serving the file), and a check that the repo
counted exactly the requests made for config.json.
"""

from __future__ import annotations

import argparse
import time
import uuid

import harness
from _xet_harness import server
from harness import percentile, workdir

TARGET = 1.10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--requests", type=int, default=300, help="requests of each kind per round (default 300)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()
    import httpx

    with workdir(args.workdir) as work, server(work / "data") as srv:
        user = srv.make_user()
        token = srv.make_token(user, "write")
        repo_id = f"{user}/counted-{uuid.uuid4().hex[:6]}"
        api = srv.api(token)
        api.create_repo(repo_id)
        body = b'{"hidden_size": 768, "num_layers": 12}\n' * 25
        for name in ("config.json", "other.json"):
            api.upload_file(path_or_fileobj=body, path_in_repo=name, repo_id=repo_id)
        client = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        base = f"/{repo_id}/resolve/main"
        for _ in range(50):  # warm up
            client.get(f"{base}/config.json").raise_for_status()
            client.get(f"{base}/other.json").raise_for_status()
        before = api.model_info(repo_id).downloads_all_time or 0

        times: dict[tuple[str, str], list[float]] = {(m, f): [] for m in ("GET", "HEAD")
                                                     for f in ("config.json", "other.json")}
        made = 0
        for r in range(args.rounds):
            order = ("config.json", "other.json") if r % 2 == 0 else ("other.json", "config.json")
            for _ in range(args.requests):
                for method in ("GET", "HEAD"):
                    for name in order:
                        t0 = time.perf_counter()
                        client.request(method, f"{base}/{name}").raise_for_status()
                        times[(method, name)].append(time.perf_counter() - t0)
                        made += name == "config.json"
        counted = (api.model_info(repo_id).downloads_all_time or 0) - before
        client.close()

    print(f"download counting: {args.rounds} rounds x {args.requests} requests of each kind, one connection")
    worst = 0.0
    for method in ("GET", "HEAD"):
        on, off = times[(method, "config.json")], times[(method, "other.json")]
        p50_on, p50_off = percentile(on, 50), percentile(off, 50)
        ratio = p50_on / p50_off
        worst = max(worst, ratio)
        print(f"  {method:4} counted config.json p50 {p50_on * 1000:6.2f} ms p95 {percentile(on, 95) * 1000:6.2f} ms | "
              f"uncounted other.json p50 {p50_off * 1000:6.2f} ms p95 {percentile(off, 95) * 1000:6.2f} ms | "
              f"ratio {ratio:.2f}")
    print(f"  counted {counted} downloads for {made} requests of config.json "
          f"({'exact' if counted == made else 'MISMATCH'})")
    print(f"worst p50 ratio {worst:.2f} (target <= {TARGET}): {'met' if worst <= TARGET else 'missed'}")


if __name__ == "__main__":
    assert harness.ROOT  # imported first: project root on sys.path
    main()
