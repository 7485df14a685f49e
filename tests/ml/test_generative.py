"""The generative task families (inhouse.ml.tasks.generative, seq2seq, causal, sequences) on tiny models built and
trained here: a word-level tokenizer, a tiny T5 that learns a made-up dictionary and a tiny Llama that learns a cycle
of words (tests/support/tiny_generative.py). Hand computations check the sliding-window perplexity; trained models
must beat untrained copies; batching must not change a prediction; the families return metrics in range with cost
callables; and one evaluation per model kind runs end to end through a live inhouse in a worker process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import generation
from inhouse.ml.tasks import causal, generative, seq2seq
from inhouse.ml.tasks.base import LoadedModel, RunSettings, TaskData, VariantSkipped, no_progress
from inhouse.ml.tasks.sequences import length_buckets, pad_batch, sane_max_length
from tests.support import tiny_generative as tg
from tests.support import tiny_models
from tests.support.live import LiveServer

SETTINGS = RunSettings(resamples=200, seed=0, batch_size=8, max_new_tokens=12)  # answers are at most 10 tokens


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tok() -> Any:
    return tg.tokenizer()


@pytest.fixture(scope="module")
def lm(tok: Any) -> Any:
    return tg.train_causal(tg.causal_lm(seed=0), tok, tg.text_rows(200, seed=1)["text"], steps=150)


@pytest.fixture(scope="module")
def untrained_lm() -> Any:
    return tg.causal_lm(seed=0)


@pytest.fixture(scope="module")
def s2s(tok: Any) -> Any:
    rows = tg.dictionary_rows(300, seed=4)
    return tg.train_seq2seq(tg.seq2seq_lm(seed=0, layers=1), tok, rows["source"], rows["target"], steps=100, lr=3e-2,
                            batch_size=16)


def loaded(model: Any, tok: Any, folder: Path) -> LoadedModel:
    return LoadedModel(repo="local/tiny", revision="0" * 40, model_dir=folder, config=model.config, model=model,
                       tokenizer=tok, parameters=sum(p.numel() for p in model.parameters()), size_bytes=0)


# shared helpers -------------------------------------------------------------------------------------------------------

def test_length_buckets_sort_longest_first_and_respect_both_bounds() -> None:
    lengths = [3, 9, 1, 9, 4, 7, 2]
    buckets = length_buckets(lengths, 3)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    assert [[lengths[i] for i in b] for b in buckets] == [[9, 9, 7], [4, 3, 2], [1]]
    bounded = length_buckets(lengths, 3, max_tokens=18)  # 2 rows of 9, then rows × longest ≤ 18
    assert all(len(b) * max(lengths[i] for i in b) <= 18 for b in bounded)
    assert length_buckets([50], 4, max_tokens=10) == [[0]]  # an over-long row still gets a batch of its own
    with pytest.raises(ValueError):
        length_buckets(lengths, 0)


def test_pad_batch_pads_on_the_side_asked_and_masks_padding() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], 0, side="left")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad_batch([[5, 6, 7], [8]], 2, side="right")
    assert ids.tolist() == [[5, 6, 7], [8, 2, 2]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_sane_max_length_ignores_sentinels() -> None:
    assert sane_max_length(512) == 512
    assert sane_max_length(int(1e30)) is None and sane_max_length(None) is None and sane_max_length(True) is None


@pytest.mark.parametrize("max_length,stride", [(5, 2), (5, 4), (2, 1), (8, 3)])
def test_windows_score_every_token_once_with_enough_context(max_length: int, stride: int) -> None:
    for n in range(0, 25):
        ws = causal.windows(list(range(n)), 0, max_length=max_length, stride=stride)
        targets = [w.ids[0] + p for w in ws for p in range(w.first, len(w.ids))]  # ids are absolute positions
        assert sorted(targets) == list(range(1, n)) and len(set(targets)) == len(targets)
        assert all(len(w.ids) <= max_length for w in ws)
        assert all(w.first >= max_length - stride for w in ws[1:])  # left context after the first window
    with pytest.raises(ValueError):
        causal.windows([1, 2, 3], 0, max_length=4, stride=4)


# causal LM: perplexity and continuations ------------------------------------------------------------------------------

def hand_nll(model: Any, ids: list[int], max_length: int, stride: int) -> float:
    """The sliding-window NLL computed one target at a time: target p is predicted from ids[begin:p], where the
    window that scores p ends at the first of max_length, max_length + stride, ... that passes p."""
    total = 0.0
    for p in range(1, len(ids)):
        k = max(0, math.ceil((p + 1 - max_length) / stride))
        end = min(max_length + k * stride, len(ids))
        begin = max(0, end - max_length)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids[begin:p]])).logits[0, -1]
        total -= float(torch.log_softmax(logits.float(), dim=-1)[ids[p]])
    return total


def test_perplexity_sums_match_a_hand_computation_over_padded_batches(lm: Any, tok: Any) -> None:
    texts = tg.text_rows(6, seed=7)["text"] + ["alpha", ""]
    encoded = causal.encode(tok, texts)
    assert all(ids[0] == tok.bos_token_id for ids in encoded)
    sums, counts = causal.negative_log_likelihoods(lm, encoded, batch_size=4, max_length=8, stride=3)
    assert counts == [len(ids) - 1 for ids in encoded]  # BOS prepended: every text token is scored
    assert counts[-1] == 0 and sums[-1] == 0.0
    for ids, got in zip(encoded, sums, strict=True):
        assert got == pytest.approx(hand_nll(lm, ids, 8, 3), rel=1e-4, abs=1e-4)
    # one window per text: the model's own loss
    whole, _ = causal.negative_log_likelihoods(lm, encoded[:1], batch_size=1, max_length=64)
    with torch.no_grad():
        ids = torch.tensor([encoded[0]])
        loss = float(lm(input_ids=ids, labels=ids).loss)
    assert whole[0] == pytest.approx(loss * (len(encoded[0]) - 1), rel=1e-4)


def test_trained_lm_has_lower_perplexity_than_an_untrained_copy(lm: Any, untrained_lm: Any, tok: Any) -> None:
    encoded = causal.encode(tok, tg.text_rows(40, seed=2)["text"])
    scores = {}
    for name, model in (("trained", lm), ("untrained", untrained_lm)):
        sums, counts = causal.negative_log_likelihoods(model, encoded, batch_size=8)
        scores[name] = generation.score_perplexity(sums, counts, resamples=200, seed=0)["perplexity"]
    assert scores["trained"].value < 3 < 10 < scores["untrained"].value
    assert scores["trained"].high < scores["untrained"].low  # apart beyond their 95% intervals


def test_continuations_stop_at_the_newline_and_do_not_depend_on_batching(lm: Any, untrained_lm: Any,
                                                                         tok: Any) -> None:
    rows = tg.prompt_rows(30, seed=3)
    preds = causal.continuations(lm, tok, rows["prompt"], max_new_tokens=16, batch_size=8)
    assert causal.continuations(lm, tok, rows["prompt"], max_new_tokens=16, batch_size=1) == preds
    assert all("\n" not in p for p in preds)
    exact = generation.score_exact(preds, rows["answer"], resamples=200, seed=0)["exact_match"].value
    untrained = causal.continuations(untrained_lm, tok, rows["prompt"], max_new_tokens=16, batch_size=8)
    assert exact >= 0.9
    assert generation.score_exact(untrained, rows["answer"], resamples=200, seed=0)["exact_match"].value < 0.2
    # the token bound cuts a continuation short; an empty prompt is continued from BOS alone
    assert causal.continuations(lm, tok, ["alpha"], max_new_tokens=2, batch_size=1) == ["bravo charlie"]
    empty, _ = causal.continuations(lm, tok, ["", "alpha"], max_new_tokens=12, batch_size=2)
    assert empty.split()[-1] == "juliet"  # some line of the cycle, to its end


# sequence-to-sequence -------------------------------------------------------------------------------------------------

def test_seq2seq_generation_learns_the_dictionary_and_does_not_depend_on_batching(s2s: Any, tok: Any) -> None:
    rows = tg.dictionary_rows(40, seed=5)
    preds = seq2seq.generate_texts(s2s, tok, rows["source"], max_new_tokens=4, batch_size=8)
    assert seq2seq.generate_texts(s2s, tok, rows["source"], max_new_tokens=4, batch_size=1) == preds
    assert sum(p == t for p, t in zip(preds, rows["target"], strict=True)) >= 30
    untrained = seq2seq.generate_texts(tg.seq2seq_lm(seed=0, layers=1), tok, rows["source"], max_new_tokens=4,
                                       batch_size=8)
    assert sum(p == t for p, t in zip(untrained, rows["target"], strict=True)) <= 5
    long = seq2seq.generate_texts(tg.seq2seq_lm(seed=1, layers=1), tok, ["alpha bravo"], max_new_tokens=3,
                                  batch_size=1)
    assert len(long[0].split()) <= 3
    assert seq2seq.generate_texts(s2s, tok, ["", "alpha"], max_new_tokens=4, batch_size=2)[1] == "bravo"


def test_seq2seq_truncates_sources_to_the_model_input_length(s2s: Any) -> None:
    short = tg.tokenizer(model_max_length=4)
    assert seq2seq.max_input_tokens(s2s, short) == 4
    assert len(seq2seq.encode_sources(short, ["alpha bravo charlie delta echo foxtrot"], prefix="",
                                      max_tokens=4)[0]) == 4


# the families ---------------------------------------------------------------------------------------------------------

def test_translation_family_scores_original_and_int8_and_skips_onnx(s2s: Any, tok: Any, tmp_path: Path) -> None:
    rows = tg.dictionary_rows(40, seed=6)
    data = TaskData(columns=rows)
    candidate = loaded(s2s, tok, tmp_path)
    seen: list[tuple[int, int, str]] = []
    run = generative.TRANSLATION.run_variant(candidate, "original", data, SETTINGS, lambda *a: seen.append(a))
    assert set(run.metrics) == {"chrf", "bleu"}
    assert all(0 <= e.low <= e.value <= e.high <= 100 for e in run.metrics.values())
    assert run.metrics["chrf"].value > 60
    assert seen[-1][0] == seen[-1][1] == 40 and "generating" in seen[-1][2]
    untrained = generative.TRANSLATION.run_variant(loaded(tg.seq2seq_lm(seed=0, layers=1), tok, tmp_path), "original",
                                                   data, SETTINGS, no_progress)
    assert untrained.metrics["chrf"].value < run.metrics["chrf"].value
    single, batch = run.single(), run.batch(3)
    assert isinstance(single, list) and len(single) == 1 and isinstance(batch, list) and len(batch) == 3
    int8 = generative.TRANSLATION.run_variant(candidate, "int8", data, SETTINGS, no_progress)
    assert run.size_bytes is None and int8.size_bytes is not None and 0 < int8.size_bytes
    assert set(int8.metrics) == {"chrf", "bleu"} and 0 <= int8.metrics["chrf"].value <= 100
    assert any(type(m).__name__ == "Linear" and "quantized" in type(m).__module__ for m in
               generative.quantize_int8(s2s).modules())
    for variant in ("onnx", "onnx-int8"):
        with pytest.raises(VariantSkipped, match="not offered for generative models"):
            generative.TRANSLATION.run_variant(candidate, variant, data, SETTINGS, no_progress)


def test_summarization_family_reads_text_and_summary(s2s: Any, tok: Any, tmp_path: Path) -> None:
    rows = tg.dictionary_rows(30, seed=8, source="text", target="summary")
    run = generative.SUMMARIZATION.run_variant(loaded(s2s, tok, tmp_path), "original", TaskData(columns=rows),
                                               SETTINGS, no_progress)
    assert set(run.metrics) == {"rouge1", "rouge2", "rougeL"}
    assert all(0 <= e.low <= e.value <= e.high <= 1 for e in run.metrics.values())
    assert run.metrics["rougeL"].value >= 0.7
    assert generative.SUMMARIZATION.primary == "rougeL" and generative.TRANSLATION.primary == "chrf"


def test_summarization_uses_a_t5_task_prefix(s2s: Any) -> None:
    config = s2s.config.__class__(task_specific_params={"summarization": {"prefix": "summarize: "},
                                                       "translation_en_to_de": {"prefix": "translate en to de: "},
                                                       "translation_en_to_fr": {"prefix": "translate en to fr: "}})
    assert generative.SUMMARIZATION.prefix(config) == "summarize: "
    assert generative.TRANSLATION.prefix(config) == ""  # two language pairs: no way to choose
    config.task_specific_params = {"translation_en_to_de": {"prefix": "translate en to de: "}}
    assert generative.TRANSLATION.prefix(config) == "translate en to de: "


def test_text_generation_family_reports_what_the_columns_allow(lm: Any, untrained_lm: Any, tok: Any,
                                                               tmp_path: Path) -> None:
    texts = tg.text_rows(20, seed=9)["text"]
    prompts = tg.prompt_rows(20, seed=10)
    both = TaskData(columns={"text": texts, **prompts})
    candidate = loaded(lm, tok, tmp_path)
    run = generative.TEXT_GENERATION.run_variant(candidate, "original", both, SETTINGS, no_progress)
    assert set(run.metrics) == {"perplexity", "exact_match"}
    assert 1 <= run.metrics["perplexity"].value < 3 and run.metrics["exact_match"].value >= 0.9
    single, batch = run.single(), run.batch(3)
    assert isinstance(single, list) and len(single) == 1 and isinstance(batch, list) and len(batch) == 3
    only_text = generative.TEXT_GENERATION.run_variant(candidate, "original", TaskData(columns={"text": texts}),
                                                       SETTINGS, no_progress)
    assert set(only_text.metrics) == {"perplexity"}
    scored = only_text.batch(4)
    assert isinstance(scored, tuple) and len(scored[0]) == len(scored[1]) == 4
    only_prompts = generative.TEXT_GENERATION.run_variant(candidate, "original", TaskData(columns=dict(prompts)),
                                                          SETTINGS, no_progress)
    assert set(only_prompts.metrics) == {"exact_match"}
    untrained = generative.TEXT_GENERATION.run_variant(loaded(untrained_lm, tok, tmp_path), "original", both,
                                                       SETTINGS, no_progress)
    int8 = generative.TEXT_GENERATION.run_variant(candidate, "int8", both, SETTINGS, no_progress)
    assert int8.metrics["perplexity"].value == pytest.approx(run.metrics["perplexity"].value, rel=0.5)
    assert int8.metrics["perplexity"].value < untrained.metrics["perplexity"].value


def test_the_request_bounds_new_tokens_up_to_a_hard_cap(lm: Any, tok: Any, tmp_path: Path) -> None:
    assert generative.new_token_limit(RunSettings(), 32) == 32
    assert generative.new_token_limit(RunSettings(max_new_tokens=5), 32) == 5
    assert generative.new_token_limit(RunSettings(max_new_tokens=10**6), 32) == generative.MAX_NEW_TOKENS
    data = TaskData(columns={"prompt": ["alpha"], "answer": ["bravo charlie"]})
    settings = RunSettings(resamples=50, max_new_tokens=2)
    run = generative.TEXT_GENERATION.run_variant(loaded(lm, tok, tmp_path), "original", data, settings, no_progress)
    assert run.metrics["exact_match"].value == 1.0  # two tokens are the whole answer
    settings = RunSettings(resamples=50, max_new_tokens=1)
    run = generative.TEXT_GENERATION.run_variant(loaded(lm, tok, tmp_path), "original", data, settings, no_progress)
    assert run.metrics["exact_match"].value == 0.0


def test_check_fit_refuses_models_of_other_tasks() -> None:
    from transformers import BertConfig

    t5 = tg.seq2seq_lm().config
    llama = tg.causal_lm().config
    generative.SUMMARIZATION.check_fit(t5)
    generative.TEXT_GENERATION.check_fit(llama)
    generative.TEXT_GENERATION.check_fit(BertConfig(architectures=["BertLMHeadModel"]))
    for family, config in ((generative.TEXT_GENERATION, t5), (generative.TRANSLATION, llama),
                           (generative.TEXT_GENERATION, BertConfig(architectures=["BertForSequenceClassification"]))):
        with pytest.raises(WorkerFailure) as e:
            family.check_fit(config)
        assert e.value.code == "wrong-task" and family.name in e.value.message


def test_int8_quantises_gpt2_conv1d_layers_as_the_linear_layers_they_are(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.pytorch_utils import Conv1D

    no_pad = tg.tokenizer(pad=False)
    assert no_pad.pad_token_id is None  # as GPT-2's own tokenizer
    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(no_pad), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                      bos_token_id=no_pad.bos_token_id, eos_token_id=no_pad.eos_token_id)).eval()
    ids = torch.tensor([causal.encode(no_pad, ["alpha bravo charlie delta"])[0]])
    with torch.no_grad():
        reference = gpt2(input_ids=ids).logits
        int8 = generative.quantize_int8(gpt2)
        quantized = [m for m in int8.modules() if "quantized" in type(m).__module__ and type(m).__name__ == "Linear"]
        assert len(quantized) == 4 * 2 + 1  # attention in/out and MLP in/out per layer, and the LM head
        assert torch.allclose(int8(input_ids=ids).logits, reference, atol=0.1)
    assert any(isinstance(m, Conv1D) for m in gpt2.modules())  # the original is left as it was
    # the family runs on it, padding with EOS
    data = TaskData(columns={"text": tg.text_rows(8, seed=15)["text"], **tg.prompt_rows(8, seed=16)})
    for variant in ("original", "int8"):
        run = generative.TEXT_GENERATION.run_variant(loaded(gpt2, no_pad, tmp_path), variant, data, SETTINGS,
                                                     no_progress)
        assert set(run.metrics) == {"perplexity", "exact_match"} and run.metrics["perplexity"].value > 1
    with pytest.raises(VariantSkipped, match="no linear layers"):
        generative.quantize_int8(torch.nn.Sequential(torch.nn.Embedding(10, 4)))


def test_a_column_that_is_not_text_is_bad_input(s2s: Any, tok: Any, tmp_path: Path) -> None:
    data = TaskData(columns={"source": ["alpha", ["bravo"]], "target": ["bravo", "charlie"]})
    with pytest.raises(WorkerFailure) as e:
        generative.TRANSLATION.run_variant(loaded(s2s, tok, tmp_path), "original", data, SETTINGS, no_progress)
    assert e.value.code == "bad-input" and "row 1" in e.value.message and "'source'" in e.value.message


# through the hub ------------------------------------------------------------------------------------------------------

def run_worker(server: LiveServer, token: str, spec: dict[str, Any], cache: Path) -> list[dict[str, Any]]:
    payload = {"kind": "evaluation.candidate", "job_id": 1, "task_id": 1, "endpoint": server.url, "token": token,
               "spec": spec, "limits": {"memory_bytes": None, "threads": 1}, "cache_dir": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "inhouse.ml.worker"], input=json.dumps(payload).encode(),
                          capture_output=True, timeout=300, env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert events and events[-1]["event"] == "result", (events[-3:], proc.stderr[-3000:])
    return events


def spec(task: str, dataset: str, model: str, variants: list[str], **columns: str) -> dict[str, Any]:
    return {"task": task, "dataset": {"repo": dataset, "revision": None, "config": None, "split": "train",
                                      "columns": columns or None},
            "model": {"repo": model, "revision": None}, "variants": variants, "max_examples": 40, "resamples": 100,
            "seed": 0, "price_per_hour": 2.0, "latency_samples": 3, "batch_sizes": [1, 4], "batch_size": 8,
            "max_new_tokens": 12}


def test_text_generation_runs_end_to_end_through_the_hub(server: LiveServer, lm: Any, tok: Any,
                                                          tmp_path: Path) -> None:
    """One worker process (the real path: load_dataset and from_pretrained through inhouse with the payload's token)
    evaluates the pushed causal LM with its int8 and ONNX variants."""
    api_user = server.make_user()
    token = server.make_token(api_user, "write")
    api = server.api(token)
    lm_repo = f"{api_user}/tiny-llama"
    tiny_models.push_model(api, lm_repo, lm, tok)
    texts = tg.text_rows(30, seed=11)["text"]
    prompts = tg.prompt_rows(30, seed=12)
    tiny_models.push_dataset(api, f"{api_user}/cycles", {"body": texts, **prompts})

    events = run_worker(server, token, spec("text-generation", f"{api_user}/cycles", lm_repo, ["int8", "onnx"],
                                            text="body"), tmp_path / "cache")
    result = events[-1]["result"]
    rows = {r["variant"]: r for r in result["rows"]}
    assert result["examples"] == 30 and rows["original"]["status"] == "ok" and rows["int8"]["status"] == "ok"
    assert rows["original"]["primary_metric"] == "exact_match" and rows["original"]["higher_is_better"] is True
    assert rows["original"]["metrics"]["exact_match"]["value"] >= 0.9
    assert rows["original"]["metrics"]["perplexity"]["value"] < 3
    assert rows["int8"]["metrics"]["perplexity"]["value"] < 10
    assert rows["original"]["cost"]["latency_p50_ms"] > 0 and rows["original"]["cost"]["throughput_per_s"] > 0
    assert rows["onnx"]["status"] == "skipped" and "not offered" in rows["onnx"]["error"]
    assert 0 < rows["int8"]["cost"]["size_bytes"] != rows["original"]["cost"]["size_bytes"]
    assert any(e["event"] == "progress" and "generating" in e.get("stage", "") for e in events)


def test_seq2seq_models_load_from_a_saved_snapshot(s2s: Any, tok: Any, tmp_path: Path) -> None:
    """What the worker does after downloading a snapshot: the family's Auto class and tokenizer from the folder give
    the same predictions as the model that was saved."""
    s2s.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model, tokenizer = generative.TRANSLATION.load(tmp_path)
    assert type(model).__name__ == "T5ForConditionalGeneration" and not model.training
    sources = tg.dictionary_rows(10, seed=14)["source"]
    assert (seq2seq.generate_texts(model, tokenizer, sources, max_new_tokens=4, batch_size=4)
            == seq2seq.generate_texts(s2s, tok, sources, max_new_tokens=4, batch_size=4))
    generative.TRANSLATION.check_fit(model.config)
