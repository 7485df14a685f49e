"""Download throughput: `hf_hub_download` of a large LFS file from inhouse vs. the same client code from nginx.

    python bench/download.py                 # 1 GiB, best of 3
    python bench/download.py --size-mib 64 --rounds 1    # smoke check

Both sides are downloaded by huggingface_hub's own `http_get` (the code `hf_hub_download` runs) into a file
in the same folder, so the client is identical; nginx serves the same bytes with sendfile. Target: ratio ≥ 0.8.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from harness import MiB, inhouse, mb_s, nginx, sha256_file, wait_converted, workdir, write_random_file

from huggingface_hub import hf_hub_download  # noqa: E402  (after harness: env first)
from huggingface_hub.file_download import http_get  # noqa: E402

TARGET = 0.8


def timed_http_get(url: str, dest: Path, size: int, headers: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    with open(dest, "wb") as f:
        http_get(url, f, headers=headers, expected_size=size)
    dt = time.perf_counter() - t0
    got = dest.stat().st_size
    if got != size:
        raise SystemExit(f"downloaded {got} bytes from {url}, expected {size}")
    return dt


def timed_curl(url: str, size: int, headers: dict[str, str] | None = None) -> float:
    """curl into /dev/null: what the server can send when the client is not the bottleneck."""
    cmd = ["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", url]
    for k, v in (headers or {}).items():
        cmd[1:1] = ["-H", f"{k}: {v}"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    dt = time.perf_counter() - t0
    if int(out) != size:
        raise SystemExit(f"curl got {out} bytes from {url}, expected {size}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024 = 1 GiB)")
    ap.add_argument("--rounds", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    ap.add_argument("--download-dir", default=None,
                    help="where the downloads are written, e.g. /dev/shm to keep disk writeback out of the "
                         "figures (default: the temporary folder)")
    args = ap.parse_args()
    size = args.size_mib * MiB

    with workdir(args.workdir) as work:
        static = work / "static"
        static.mkdir()
        src = static / "model.bin"
        print(f"writing a {args.size_mib} MiB random file …", flush=True)
        oid = write_random_file(src, size)

        with inhouse(work) as srv, nginx(static, work) as nginx_url:
            user = srv.make_user()
            token = srv.make_token(user, "write")
            api = srv.api(token)
            repo_id = f"{user}/bench-{uuid.uuid4().hex[:6]}"
            api.create_repo(repo_id)
            t0 = time.perf_counter()
            api.upload_file(path_or_fileobj=str(src), path_in_repo="model.bin", repo_id=repo_id)
            print(f"uploaded to inhouse over the LFS path in {time.perf_counter() - t0:.1f} s", flush=True)
            waited = wait_converted(srv, timeout=600)
            print(f"the server moved it into xorbs {waited:.1f} s later; downloads read it from there", flush=True)

            resolve_url = f"{srv.url}/{repo_id}/resolve/main/model.bin"
            auth = {"authorization": f"Bearer {token}"}
            down = Path(tempfile.mkdtemp(prefix="inhouse-bench-dl-", dir=args.download_dir or work))
            dest = down / "download.tmp"
            best = {"nginx": float("inf"), "inhouse": float("inf"), "hf_hub_download": float("inf"),
                    "curl nginx": float("inf"), "curl inhouse": float("inf")}
            use_curl = shutil.which("curl") is not None
            per_round: list[float] = []

            def via_nginx(r: int) -> float:
                dt = timed_http_get(f"{nginx_url}/model.bin", dest, size)
                dest.unlink()
                return dt

            def via_inhouse(r: int) -> float:
                dt = timed_http_get(resolve_url, dest, size, auth)
                if r == 1 and sha256_file(dest) != oid:
                    raise SystemExit("the bytes downloaded from inhouse differ from the uploaded file")
                dest.unlink()
                return dt

            def via_hf_hub_download(r: int) -> float:
                cache = down / f"cache-{r}"
                t0 = time.perf_counter()
                path = hf_hub_download(repo_id, "model.bin", endpoint=srv.url, token=token, cache_dir=cache,
                                       force_download=True)
                dt = time.perf_counter() - t0
                if Path(path).stat().st_size != size:
                    raise SystemExit("hf_hub_download returned a file of the wrong size")
                shutil.rmtree(cache)
                return dt

            order = [("nginx", via_nginx), ("inhouse", via_inhouse), ("hf_hub_download", via_hf_hub_download)]
            try:
                for r in range(1, args.rounds + 1):
                    # rotate who goes first: a download can find the previous one's pages still being written back
                    k = (r - 1) % len(order)
                    t = {name: fn(r) for name, fn in order[k:] + order[:k]}
                    if use_curl:
                        best["curl nginx"] = min(best["curl nginx"], timed_curl(f"{nginx_url}/model.bin", size))
                        best["curl inhouse"] = min(best["curl inhouse"], timed_curl(resolve_url, size, auth))
                    per_round.append(t["nginx"] / t["hf_hub_download"])
                    for name in t:
                        best[name] = min(best[name], t[name])
                    print(f"round {r}: nginx {mb_s(size, t['nginx']):7.0f} MiB/s   inhouse http_get "
                          f"{mb_s(size, t['inhouse']):7.0f} MiB/s   inhouse hf_hub_download "
                          f"{mb_s(size, t['hf_hub_download']):7.0f} MiB/s", flush=True)
            finally:
                shutil.rmtree(down, ignore_errors=True)

    nginx_tp = mb_s(size, best["nginx"])
    hf_tp = mb_s(size, best["hf_hub_download"])
    get_tp = mb_s(size, best["inhouse"])
    print(f"\nbest of {args.rounds}, {args.size_mib} MiB: nginx {nginx_tp:.0f} MiB/s, inhouse http_get {get_tp:.0f} "
          f"MiB/s, inhouse hf_hub_download {hf_tp:.0f} MiB/s")
    if best["curl nginx"] < float("inf"):
        cn, ci = mb_s(size, best["curl nginx"]), mb_s(size, best["curl inhouse"])
        print(f"server capacity, curl into /dev/null: nginx {cn:.0f} MiB/s, inhouse {ci:.0f} MiB/s, "
              f"ratio inhouse/nginx = {ci / cn:.2f}")
    print(f"same client code (http_get) ratio inhouse/nginx = {get_tp / nginx_tp:.2f}")
    print(f"per-round ratios (hf_hub_download/nginx) {', '.join(f'{x:.2f}' for x in per_round)}; "
          f"median {statistics.median(per_round):.2f}")
    ratio = hf_tp / nginx_tp
    print(f"download ratio (inhouse/nginx throughput) = {ratio:.2f}   "
          f"(hf_hub_download from inhouse vs http_get from nginx; target ≥ {TARGET}: "
          f"{'met' if ratio >= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
