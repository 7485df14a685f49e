"""The encoder engine: length-sorted buckets, batched runs equal to unbatched ones and to a transformers pipeline's
predictions, mean pooling, the peak-memory sampler, cost measurement and the machine description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inhouse.ml import engine
from inhouse.ml.engine import PeakMemory, TorchBackend, length_buckets, mean_pool, measure_cost, run_batched
from tests.support import tiny_models as tm


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def test_length_buckets_sort_longest_first_and_respect_both_limits() -> None:
    lengths = [5, 1, 9, 3, 9, 2, 7, 4, 8, 6]
    buckets = length_buckets(lengths, 3, max_tokens=20)
    assert sorted(i for b in buckets for i in b) == list(range(10))
    flat = [i for b in buckets for i in b]
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert flat[:2] == [2, 4]  # ties keep index order
    for b in buckets:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * lengths[b[0]] <= 20)
    assert length_buckets([100], 8, max_tokens=10) == [[0]]  # one over-long example still gets a batch
    with pytest.raises(ValueError):
        length_buckets([1], 0)


class Recording:
    """A backend that records the shape of each batch and answers the sum of its real token ids."""

    name = "recording"
    input_names = ("input_ids", "attention_mask")

    def __init__(self) -> None:
        self.widths: list[tuple[int, int]] = []

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        self.widths.append(ids.shape)
        return {"logits": (ids * mask).sum(axis=1, keepdims=True).astype(np.float32),
                "start_logits": ids.astype(np.float32)}


def test_run_batched_restores_order_and_pads_only_to_each_bucket() -> None:
    rows = [[1] * n for n in (3, 10, 2, 7, 10, 1)]
    rows = [[i + 1] * len(r) for i, r in enumerate(rows)]
    backend = Recording()
    out = run_batched(backend, {"input_ids": rows}, 2, pad_id=0)
    assert [float(o["logits"][0]) for o in out] == [float(sum(r)) for r in rows]
    assert [o["start_logits"].tolist() for o in out] == [[float(x) for x in r] for r in rows]  # cut to own length
    assert backend.widths == [(2, 10), (2, 7), (2, 2)]


def test_batched_torch_outputs_equal_one_by_one() -> None:
    tok, model = tm.tokenizer(), tm.model("token-classification", seed=2)
    texts = tm.sentiment_rows(9, seed=5)["text"]
    enc = tok(texts, truncation=True, max_length=64)
    out = run_batched(TorchBackend(model), enc, 4, pad_id=tok.pad_token_id)
    for text, o in zip(texts, out, strict=True):
        with torch.no_grad():
            alone = model(**tok(text, return_tensors="pt")).logits[0].numpy()
        assert o["logits"].shape == alone.shape
        np.testing.assert_allclose(o["logits"], alone, atol=1e-5)


def test_predictions_equal_a_transformers_pipeline_with_truncation() -> None:
    from transformers import pipeline

    from inhouse.ml.tasks.base import LoadedModel, TaskData
    from inhouse.ml.tasks.classification import TEXT_CLASSIFICATION
    from inhouse.ml.tasks.encoder import max_length

    tok = tm.tokenizer()
    train = tm.sentiment_rows(160, seed=1)
    model = tm.train_classifier(tm.model("sequence-classification", seed=1), tok, train["text"], train["label"])
    rows = tm.sentiment_rows(40, seed=9, label_names=True)
    rows["text"][3] = " ".join(["good"] * 80 + ["bad"] * 10)  # longer than the model's 64 positions: truncated
    loaded = LoadedModel("r", "0" * 40, Path("."), model.config, model, tok, parameters=1, size_bytes=1)
    assert max_length(loaded) == 64
    prepared = TEXT_CLASSIFICATION.prepare(loaded, TaskData(columns=rows))
    out = run_batched(TorchBackend(model), prepared.encodings, 16, pad_id=tok.pad_token_id)
    ours = [model.config.id2label[int(np.argmax(o["logits"]))] for o in out]
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device="cpu")
    theirs = [r["label"] for r in pipe(rows["text"], truncation=True)]
    assert ours == theirs
    assert len(set(ours)) == 2  # a trained model: both classes appear, so the comparison means something


def test_mean_pool_ignores_padding() -> None:
    tok, model = tm.tokenizer(), tm.model("base", seed=3)
    texts = ["good movie", "the plot of this film was very boring and the actor was sad"]
    out = run_batched(TorchBackend(model), tok(texts), 8, pad_id=tok.pad_token_id, reduce=mean_pool)
    with torch.no_grad():
        alone = model(**tok(texts[0], return_tensors="pt")).last_hidden_state[0].mean(dim=0).numpy()
    np.testing.assert_allclose(out[0]["embedding"], alone, atol=1e-5)


def test_peak_memory_counts_what_the_block_allocates() -> None:
    before = np.ones(48 * 1024 * 1024 // 8)  # allocated before the block: not counted
    with PeakMemory() as quiet:
        pass
    assert quiet.peak_bytes < 24 * 1024 * 1024
    with PeakMemory() as mem:
        held = np.ones(64 * 1024 * 1024 // 8)  # touched pages: resident
    assert mem.peak_bytes >= 56 * 1024 * 1024
    del before, held


def test_measure_cost_reports_latency_throughput_and_cost() -> None:
    calls = {"single": 0, "batch": {}}

    def single() -> None:
        calls["single"] += 1
        sum(range(2000))

    def batch(n: int) -> None:
        calls["batch"][n] = calls["batch"].get(n, 0) + 1
        sum(range(2000 * n))

    t = measure_cost(single, batch, batch_sizes=[4, 1, 4], latency_samples=7, price_per_hour=3.6,
                     min_batch_time_s=0.0, min_batch_runs=2)
    assert calls["single"] == 8  # one warm-up + 7 timed
    assert calls["batch"] == {1: 3, 4: 3}
    assert 0 < t["latency_p50_ms"] <= t["latency_p95_ms"]
    assert set(t["throughput_by_batch_size"]) == {"1", "4"}
    assert t["throughput_per_s"] == max(t["throughput_by_batch_size"].values())
    assert t["throughput_by_batch_size"][str(t["best_batch_size"])] == t["throughput_per_s"]
    assert t["cost_per_million_usd"] == pytest.approx(3.6 / 3600 / t["throughput_per_s"] * 1e6)


def test_machine_names_the_hardware_and_runtimes() -> None:
    m = engine.machine()
    assert m["cores"] >= 1 and m["threads"] == 1 and m["cpu"] and m["hostname"]
    assert m["torch"] == torch.__version__ and m["python"].count(".") == 2
