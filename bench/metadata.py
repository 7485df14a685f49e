"""Metadata latency with many repos: model_info, resolve HEAD and search, against nginx serving the same bytes.

    python bench/metadata.py                 # 10,000 repos, 2,000 requests per endpoint
    python bench/metadata.py --repos 500 --requests 200  # smoke check

The repos are created directly through the service layer (the same code `POST /api/repos/create` runs); a
sample of them gets a config.json and a README.md through the real client. Every measured request then goes
over HTTP to the live server, one at a time on one keep-alive connection (httpx, with a read token). The
baseline, measured in the same run and interleaved request by request with the same client, is nginx serving
the very bytes inhouse answered (the model_info JSON, config.json, the search result) as static files.
Targets (p50): model_info 10 ms, resolve HEAD 10 ms, search 50 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Callable

import httpx

from harness import inhouse, median, nginx, percentile, workdir

WORDS = ["bert", "llama", "mistral", "whisper", "resnet", "t5", "gpt2", "clip", "vit", "phi"]
SIZES = ["tiny", "small", "base", "large", "xl"]
TARGETS_MS = {"model_info": 10.0, "resolve HEAD": 10.0, "search": 50.0}


def create_repos(srv, n: int, users: int, private: bool) -> list[str]:  # type: ignore[no-untyped-def]
    """n repos spread over `users` namespaces, created through the repos service; returns their ids."""
    from inhouse.access.identity import authenticate
    from inhouse.services import repos as repo_service
    from inhouse.vocabulary import RepoType

    principals = []
    for _ in range(users):
        name = srv.make_user()
        principals.append(authenticate(srv.stores.db, srv.make_token(name, 'write')))
    ids = []
    t0 = time.perf_counter()
    for i in range(n):
        p = principals[i % users]
        name = f"{WORDS[i % len(WORDS)]}-{SIZES[(i // len(WORDS)) % len(SIZES)]}-{i:05d}"
        repo = repo_service.create(srv.stores, p, repo_type=RepoType.MODEL, namespace=None, name=name, private=private)
        ids.append(repo.repo_id)
        if (i + 1) % 2000 == 0:
            print(f"  {i + 1} repos created ({(i + 1) / (time.perf_counter() - t0):.0f}/s)", flush=True)
    return ids


def measure(pairs: list[tuple[Callable[[], httpx.Response], Callable[[], httpx.Response]]], warmup: int
            ) -> tuple[list[float], list[float]]:
    """Times each (inhouse, nginx) pair of requests, interleaved; returns the two latency lists in ms."""
    ours: list[float] = []
    theirs: list[float] = []
    for i, (a, b) in enumerate(pairs):
        for fn, out in ((a, ours), (b, theirs)):
            t0 = time.perf_counter()
            r = fn()
            dt = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                raise SystemExit(f"{r.request.method} {r.request.url} answered {r.status_code}: {r.text[:300]}")
            if i >= warmup:
                out.append(dt)
    return ours, theirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=int, default=10_000, help="repos to create (default 10,000)")
    ap.add_argument("--users", type=int, default=10, help="namespaces they are spread over (default 10)")
    ap.add_argument("--sample", type=int, default=100, help="repos that get config.json + README.md (default 100)")
    ap.add_argument("--requests", type=int, default=2000, help="measured requests per endpoint (default 2,000)")
    ap.add_argument("--private", action="store_true", help="make every repo private (reads are then audited)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    ap.add_argument("--database-url", default="", help="inhouse's database: a URL, or 'postgresql' for a fresh database on the "
                    "test PostgreSQL (default: SQLite in its data folder)")
    args = ap.parse_args()
    rng = random.Random(0)
    warmup = max(10, args.requests // 20)
    n = args.requests + warmup

    with workdir(args.workdir) as work:
        static = work / "static"
        static.mkdir()
        with inhouse(work, args.database_url) as srv:
            print(f"creating {args.repos} repos through the service layer …", flush=True)
            t0 = time.perf_counter()
            ids = create_repos(srv, args.repos, args.users, args.private)
            print(f"created {len(ids)} repos in {time.perf_counter() - t0:.1f} s", flush=True)

            from huggingface_hub import CommitOperationAdd

            sample = rng.sample(ids, min(args.sample, len(ids)))
            owner_tokens: dict[str, str] = {}
            for rid in sample:
                ns = rid.split("/")[0]
                if ns not in owner_tokens:
                    owner_tokens[ns] = srv.make_token(ns, "write")
                cfg = json.dumps({"model_type": rid.split("/")[1].split("-")[0], "hidden_size": 768}).encode()
                readme = f"---\nlicense: apache-2.0\ntags: [bench]\n---\n# {rid}\n".encode()
                srv.api(owner_tokens[ns]).create_commit(
                    rid, [CommitOperationAdd("config.json", cfg), CommitOperationAdd("README.md", readme)],
                    commit_message="add config")
            # public repos: one reader's token; private repos: each owner reads their own (with a read token)
            readers = {ns: srv.make_token(ns, "read") for ns in owner_tokens}
            headers = {} if args.private else {"authorization": f"Bearer {readers[sample[0].split('/')[0]]}"}

            with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as ih:
                def auth(rid: str) -> dict[str, str]:
                    if not args.private:
                        return {}
                    return {"authorization": f"Bearer {readers[rid.split('/')[0]]}"}

                # nginx serves the bytes inhouse answers, so both sides send the same payloads
                (static / "model_info.json").write_bytes(ih.get(f"/api/models/{sample[0]}",
                                                                headers=auth(sample[0])).content)
                (static / "config.json").write_bytes(ih.get(f"/{sample[0]}/resolve/main/config.json",
                                                            headers=auth(sample[0])).content)
                (static / "search.json").write_bytes(ih.get("/api/models", params={"search": WORDS[0], "limit": 20},
                                                            headers=auth(sample[0])).content)
                searched = json.loads((static / "search.json").read_bytes())
                if len(searched) != 20:
                    raise SystemExit(f"search for {WORDS[0]!r} returned {len(searched)} repos, expected 20")

                with nginx(static, work) as nginx_url, httpx.Client(base_url=nginx_url, timeout=30) as ng:
                    picks = [rng.choice(sample) for _ in range(n)]
                    words = [WORDS[i % len(WORDS)] for i in range(n)]
                    endpoints = {
                        "model_info": [(lambda r=r: ih.get(f"/api/models/{r}", headers=auth(r)),
                                        lambda: ng.get("/model_info.json")) for r in picks],
                        "resolve HEAD": [(lambda r=r: ih.head(f"/{r}/resolve/main/config.json", headers=auth(r)),
                                          lambda: ng.head("/config.json")) for r in picks],
                        "search": [(lambda w=w, r=r: ih.get("/api/models", params={"search": w, "limit": 20},
                                                            headers=auth(r)),
                                    lambda: ng.get("/search.json")) for w, r in zip(words, picks)],
                    }
                    results = {}
                    for label, pairs in endpoints.items():
                        t0 = time.perf_counter()
                        results[label] = measure(pairs, warmup)
                        print(f"  measured {label} ({time.perf_counter() - t0:.1f} s)", flush=True)
                    rare = [(lambda i=i: ih.get("/api/models", params={"search": f"-{i:05d}", "limit": 20},
                                                headers=auth(sample[0])),
                             lambda: ng.get("/search.json")) for i in rng.sample(range(args.repos), min(n, args.repos))]
                    results["search, one match"] = measure(rare, warmup)

    backend = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(f"\n{args.repos} repos ({'private' if args.private else 'public'}) on {backend}, {args.requests} sequential "
          f"requests per endpoint on one keep-alive connection, interleaved with nginx")
    print(f"{'endpoint':<20}{'inhouse p50':>12}{'p95':>9}{'nginx p50':>12}{'p95':>9}{'ratio p50':>11}"
          f"{'target p50':>12}")
    for label, (ours, theirs) in results.items():
        p50, p95 = median(ours), percentile(ours, 95)
        n50, n95 = median(theirs), percentile(theirs, 95)
        target = TARGETS_MS.get(label)
        verdict = "" if target is None else f"{target:>7.0f} ms {'met' if p50 <= target else 'MISSED'}"
        print(f"{label:<20}{p50:>9.2f} ms{p95:>6.2f} ms{n50:>9.2f} ms{n95:>6.2f} ms{p50 / n50:>10.1f}x{verdict:>15}")
    print("ratio p50 = inhouse p50 latency / nginx p50 latency for the same bytes (lower is better)")


if __name__ == "__main__":
    main()
