"""Xet deduplication: what a fine-tuned variant of a model and a grown dataset cost, in stored and sent bytes.

    python bench/xet_dedup.py                                   # ~200 MB model, ~190 MB parquet
    python bench/xet_dedup.py --model-mib 16 --parquet-rows 200000   # smoke check

Both parts drive the real huggingface_hub + hf_xet (Xet on) in a child process with an empty HF_HOME for every
upload, so the client knows nothing of earlier uploads and finds the stored chunks only through the server's
global dedup query. The client talks to the server through a byte-counting relay on 127.0.0.1 (every byte it
writes to the server's sockets, all calls included); stored bytes come from `inhouse storage stats` (xorbs on
disk, compressed; chunk bytes = the same chunks uncompressed). The baseline of each part is its first upload,
measured in the same run.

(a) A safetensors model of float32 tensors, then a variant with 10% of its tensors (picked at random) changed
    (a small update added, as a fine-tune does), uploaded to a second repo of the same owner. Targets: stored bytes grow by
    ≤ 15% of the variant's size, and the client sends ≤ 20% of it.
(b) A parquet table written with content-defined chunking (pyarrow `use_content_defined_chunking=True`),
    uploaded to a dataset repo, then rewritten with 10% more rows appended and uploaded again as the same file.
    Target: ≥ 90% of the new version deduplicates (1 − new chunk bytes stored / new file size).
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import harness
from _xet_harness import CountingRelay, client_env, run_client, server, storage_stats
from harness import MiB, workdir

if TYPE_CHECKING:
    from tests.support.live import LiveServer

MODEL_STORED_TARGET = 15.0
MODEL_SENT_TARGET = 20.0
PARQUET_DEDUP_TARGET = 90.0


def model_tensors(total_bytes: int, seed: int) -> dict[str, Any]:
    """Transformer-like float32 tensors (~3 MiB per layer at width 256) adding up to about `total_bytes`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    d = 256
    shapes = {"attn.qkv.weight": (d, 3 * d), "attn.out.weight": (d, d), "mlp.up.weight": (d, 4 * d),
              "mlp.down.weight": (4 * d, d), "norm.weight": (d,)}
    per_layer = sum(int(np.prod(s)) * 4 for s in shapes.values())
    tensors: dict[str, object] = {"embed.weight": rng.standard_normal((1024, d), dtype=np.float32)}
    for i in range(max(1, (total_bytes - 1024 * d * 4) // per_layer)):
        for name, shape in shapes.items():
            tensors[f"layers.{i:03d}.{name}"] = rng.standard_normal(shape, dtype=np.float32)
    return tensors


def fine_tune(tensors: dict[str, Any], seed: int, share: float = 0.10) -> tuple[dict[str, Any], int, int]:
    """A copy with `share` of the tensors (chosen at random) nudged; returns it, the count and the bytes changed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    names = sorted(tensors)
    out = dict(tensors)
    changed_bytes = 0
    picked = rng.choice(len(names), size=max(1, round(len(names) * share)), replace=False)
    for i in sorted(picked.tolist()):
        t = tensors[names[i]]
        out[names[i]] = (t + rng.standard_normal(t.shape, dtype=np.float32) * np.float32(1e-3)).astype(np.float32)  # type: ignore[attr-defined]
        changed_bytes += t.nbytes  # type: ignore[attr-defined]
    return out, len(picked), changed_bytes


def parquet_table(rows: int, start: int = 0):  # type: ignore[no-untyped-def]
    """Rows [start, start + rows) of a deterministic table: row i has the same values in every version."""
    import numpy as np
    import pyarrow as pa

    ids = np.arange(start, start + rows, dtype=np.int64)
    mix = (ids * 2654435761) % (1 << 32)
    score = np.sin(ids.astype(np.float64) * 0.001) * 100 + (mix % 1000) / 1000
    label = pa.array([f"label-{m % 97:02d}-{m:08x}" for m in mix.tolist()])
    return pa.table({"id": ids, "score": score, "bucket": (mix % 13).astype(np.int32), "text": label})


def upload(relay: CountingRelay, token: str, work: Path, repo_id: str, path: Path, path_in_repo: str,
           repo_type: str | None = None) -> tuple[float, int]:
    """Uploads through the relay with a fresh client; returns (seconds, bytes the client sent)."""
    relay.reset()
    env = client_env(relay.url, token, work / f"client-{uuid.uuid4().hex[:8]}", xet=True)
    got = run_client(env, {"op": "upload", "repo_id": repo_id, "repo_type": repo_type, "path": str(path),
                           "path_in_repo": path_in_repo})
    if not got["xet"]:
        raise SystemExit("the client did not run with Xet on")
    return float(got["seconds"]), relay.sent  # type: ignore[arg-type]


def growth(before: dict[str, int], after: dict[str, int]) -> tuple[int, int]:
    """(stored bytes, uncompressed chunk bytes) added between two `inhouse storage stats`."""
    return after["stored_bytes"] - before["stored_bytes"], after["chunk_bytes"] - before["chunk_bytes"]


def pct(part: float, whole: float) -> float:
    return 100.0 * part / whole


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def bench_model(srv: LiveServer, relay: CountingRelay, token: str, user: str, work: Path, size: int) -> list[str]:
    from safetensors.numpy import save_file

    base = model_tensors(size, seed=1)
    variant, changed, changed_bytes = fine_tune(base, seed=2)
    base_path, variant_path = work / "base.safetensors", work / "variant.safetensors"
    save_file(base, str(base_path))  # type: ignore[arg-type]
    save_file(variant, str(variant_path))  # type: ignore[arg-type]
    del base, variant
    base_size, variant_size = base_path.stat().st_size, variant_path.stat().st_size
    print(f"(a) model: {base_size / MiB:.0f} MiB, variant changes {changed} tensors "
          f"({pct(changed_bytes, variant_size):.1f}% of its bytes)", flush=True)
    api = srv.api(token)
    base_repo, variant_repo = f"{user}/base-{uuid.uuid4().hex[:6]}", f"{user}/tuned-{uuid.uuid4().hex[:6]}"
    api.create_repo(base_repo)
    api.create_repo(variant_repo)

    s0 = storage_stats(srv)
    t_base, sent_base = upload(relay, token, work, base_repo, base_path, "model.safetensors")
    s1 = storage_stats(srv)
    t_var, sent_var = upload(relay, token, work, variant_repo, variant_path, "model.safetensors")
    s2 = storage_stats(srv)
    stored_base, chunks_base = growth(s0, s1)
    stored_var, chunks_var = growth(s1, s2)
    print(f"    base upload    {t_base:6.1f} s: sent {sent_base / MiB:7.1f} MiB ({pct(sent_base, base_size):5.1f}%), "
          f"stored +{stored_base / MiB:7.1f} MiB ({pct(stored_base, base_size):5.1f}%; chunks "
          f"+{chunks_base / MiB:.1f} MiB uncompressed)", flush=True)
    print(f"    variant upload {t_var:6.1f} s: sent {sent_var / MiB:7.1f} MiB ({pct(sent_var, variant_size):5.1f}%), "
          f"stored +{stored_var / MiB:7.1f} MiB ({pct(stored_var, variant_size):5.1f}%; chunks "
          f"+{chunks_var / MiB:.1f} MiB uncompressed = {pct(chunks_var, variant_size):.1f}%)", flush=True)
    grow, sent = pct(stored_var, variant_size), pct(sent_var, variant_size)
    return [
        f"(a) variant / base: stored growth {stored_var / stored_base:.3f}, bytes sent {sent_var / sent_base:.3f}",
        (f"(a) stored bytes grew by {grow:.1f}% of the variant's size   (target ≤ {MODEL_STORED_TARGET:.0f}%: "
         f"{verdict(grow <= MODEL_STORED_TARGET)})"),
        (f"(a) the client sent {sent:.1f}% of the variant's size   (target ≤ {MODEL_SENT_TARGET:.0f}%: "
         f"{verdict(sent <= MODEL_SENT_TARGET)})"),
    ]


def bench_parquet(srv: LiveServer, relay: CountingRelay, token: str, user: str, work: Path, rows: int) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if "use_content_defined_chunking" not in (pq.write_table.__doc__ or ""):
        raise SystemExit(f"pyarrow {pa.__version__} cannot write content-defined chunks: `pip install 'pyarrow>=21'`")
    v1, v2 = work / "v1.parquet", work / "v2.parquet"
    first = parquet_table(rows)
    pq.write_table(first, v1, use_content_defined_chunking=True)
    more = rows // 10
    pq.write_table(pa.concat_tables([first, parquet_table(more, start=rows)]), v2, use_content_defined_chunking=True)
    del first
    s1_size, s2_size = v1.stat().st_size, v2.stat().st_size
    print(f"(b) parquet: {rows} rows = {s1_size / MiB:.1f} MiB, then {rows + more} rows = {s2_size / MiB:.1f} MiB",
          flush=True)
    api = srv.api(token)
    repo = f"{user}/table-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo, repo_type="dataset")
    s0 = storage_stats(srv)
    t1, sent1 = upload(relay, token, work, repo, v1, "data/train.parquet", "dataset")
    s1 = storage_stats(srv)
    t2, sent2 = upload(relay, token, work, repo, v2, "data/train.parquet", "dataset")
    s2 = storage_stats(srv)
    stored1, chunks1 = growth(s0, s1)
    stored2, chunks2 = growth(s1, s2)
    print(f"    first upload   {t1:6.1f} s: sent {sent1 / MiB:6.1f} MiB, chunks +{chunks1 / MiB:6.1f} MiB "
          f"({pct(chunks1, s1_size):5.1f}% of it), stored +{stored1 / MiB:.1f} MiB", flush=True)
    print(f"    grown upload   {t2:6.1f} s: sent {sent2 / MiB:6.1f} MiB, chunks +{chunks2 / MiB:6.1f} MiB "
          f"({pct(chunks2, s2_size):5.1f}% of it), stored +{stored2 / MiB:.1f} MiB", flush=True)
    dedup = 100.0 - pct(chunks2, s2_size)
    ceiling = 100.0 - pct(more, rows + more)  # the appended rows are new whatever the storage does
    return [
        f"(b) grown / first: new chunk bytes {chunks2 / chunks1:.3f}, bytes sent {sent2 / sent1:.3f}",
        (f"(b) {dedup:.1f}% of the new version deduplicated (at most {ceiling:.1f}% can: the appended rows are new; "
         f"sent {pct(sent2, s2_size):.1f}% of it)   "
         f"(target ≥ {PARQUET_DEDUP_TARGET:.0f}%: {verdict(dedup >= PARQUET_DEDUP_TARGET)})"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-mib", type=int, default=200, help="model size in MiB (default 200)")
    ap.add_argument("--parquet-rows", type=int, default=8_000_000, help="rows of the first parquet version "
                    "(default 8,000,000 ≈ 190 MiB)")
    ap.add_argument("--only", choices=["model", "parquet"], help="run one part")
    ap.add_argument("--workdir", default=None, help="parent of the temporary folder (default: the system's)")
    args = ap.parse_args()

    lines: list[str] = []
    # the client reaches the server through the relay, on another port: the server must answer that Host
    with workdir(args.workdir) as work, server(work / "data", {"INHOUSE_ALLOWED_HOSTS": "127.0.0.1"}) as srv:
        relay = CountingRelay(srv.port)
        try:
            user = srv.make_user()
            token = srv.make_token(user, "write")
            if args.only != "parquet":
                lines += bench_model(srv, relay, token, user, work, args.model_mib * MiB)
            if args.only != "model":
                lines += bench_parquet(srv, relay, token, user, work, args.parquet_rows)
        finally:
            relay.close()
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    assert harness.ROOT  # imported first: project root on sys.path
    main()
