"""Right-sized variants (inhouse.ml.variants): the int8, ONNX and ONNX int8 forms of tiny BERT models against the
original, the int8 form of generative models, and "variant.save" end to end through a live inhouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from inhouse.ml.engine import TorchBackend
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.variants import ENCODER_OUTPUTS, build_encoder_variant, quantize_generative, save_variant
from inhouse.ml.variants.save import parse_spec
from tests.ml.conftest import Recorder
from tests.support import tiny_models as tm
from tests.support.live import LiveServer

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def batch(tok: Any, texts: list[str]) -> dict[str, np.ndarray]:
    enc = tok(texts, padding=True, return_tensors="np")
    return {k: enc[k].astype(np.int64) for k in INPUTS}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread, as a worker with threads=1 runs: on shared cores more threads than are free made training
    the classifier five times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tok() -> Any:
    return tm.tokenizer()


@pytest.fixture(scope="module")
def classifier(tok: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A tiny sentiment classifier trained until it has learnt the task, saved with its tokenizer."""
    rows = tm.sentiment_rows(320, seed=0)
    clf = tm.train_classifier(tm.model("sequence-classification", seed=0), tok, rows["text"], rows["label"], epochs=5)
    folder = tmp_path_factory.mktemp("classifier")
    clf.save_pretrained(folder)
    tok.save_pretrained(folder)
    return clf, folder


@pytest.fixture(scope="module")
def variants(classifier: tuple[Any, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("variants")
    return {name: build_encoder_variant(name, classifier[1], "text-classification", workdir)
            for name in ("int8", "onnx", "onnx-int8")}


@pytest.fixture(scope="module")
def held_out(tok: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rows = tm.sentiment_rows(200, seed=1)
    return batch(tok, rows["text"]), np.array(rows["label"])


def test_the_onnx_export_gives_the_torch_logits(classifier: tuple[Any, Path], variants: dict[str, Any],
                                                tok: Any) -> None:
    original = TorchBackend(classifier[0])
    onnx = variants["onnx"]
    assert onnx.name == "onnx" and set(onnx.input_names) == set(INPUTS)
    # batch and sequence sizes the export never saw, with and without padding
    for texts in (["good"], ["the film was awful", "nice"], [" ".join(["very"] * 40 + ["sad"])] * 3 + ["a"] * 2):
        inputs = batch(tok, texts)
        got, expected = onnx(inputs), original(inputs)
        assert set(got) == {"logits"} and got["logits"].shape == (len(texts), 2)
        np.testing.assert_allclose(got["logits"], expected["logits"], rtol=1e-4, atol=1e-5)


def test_the_int8_forms_agree_with_the_original_on_most_examples(classifier: tuple[Any, Path],
                                                                  variants: dict[str, Any],
                                                                  held_out: tuple[dict[str, np.ndarray],
                                                                                  np.ndarray]) -> None:
    inputs, labels = held_out
    reference = TorchBackend(classifier[0])(inputs)["logits"].argmax(-1)
    assert (reference == labels).mean() >= 0.85  # the model has learnt the task, so agreement means something
    for name in ("int8", "onnx-int8"):
        predicted = variants[name](inputs)["logits"].argmax(-1)
        agreement = float((predicted == reference).mean())
        assert agreement >= 0.9, (name, agreement)
        assert (predicted == labels).mean() >= (reference == labels).mean() - 0.05, name


def test_variants_are_smaller_and_say_so(classifier: tuple[Any, Path], variants: dict[str, Any]) -> None:
    weights = (classifier[1] / "model.safetensors").stat().st_size
    assert variants["int8"].size_bytes < weights
    assert variants["onnx"].size_bytes == variants["onnx"].path.stat().st_size
    assert variants["onnx-int8"].size_bytes < variants["onnx"].size_bytes
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in variants["int8"].model.modules())


def test_a_build_is_deterministic(classifier: tuple[Any, Path], variants: dict[str, Any], tok: Any,
                                  tmp_path: Path) -> None:
    again = build_encoder_variant("onnx-int8", classifier[1], "text-classification", tmp_path)
    assert again.path != variants["onnx-int8"].path and again.path.is_relative_to(tmp_path)
    assert again.path.read_bytes() == variants["onnx-int8"].path.read_bytes()
    inputs = batch(tok, ["the movie was good", "bad plot and a boring actor"])
    np.testing.assert_array_equal(again(inputs)["logits"], variants["onnx-int8"](inputs)["logits"])


@pytest.mark.parametrize("kind, task", [("token-classification", "token-classification"),
                                        ("question-answering", "question-answering"),
                                        ("base", "sentence-similarity")])
def test_every_encoder_head_exports_with_its_outputs(kind: str, task: str, tok: Any, tmp_path: Path) -> None:
    model = tm.model(kind, seed=1)
    model.save_pretrained(tmp_path / "model")
    onnx = build_encoder_variant("onnx", tmp_path / "model", task, tmp_path / "work")
    inputs = batch(tok, ["alice lives in paris .", "who lives in rome ? bob lives in rome . carol works at oslo ."])
    got, expected = onnx(inputs), TorchBackend(model)(inputs)
    assert set(got) == set(ENCODER_OUTPUTS[task])
    real = inputs["attention_mask"].astype(bool)  # padded positions are nobody's output
    for key in got:
        assert got[key].shape == expected[key].shape
        np.testing.assert_allclose(got[key][real], expected[key][real], rtol=1e-4, atol=1e-5)


def test_unknown_variants_and_generative_tasks_are_bad_input(classifier: tuple[Any, Path], tmp_path: Path) -> None:
    with pytest.raises(WorkerFailure, match="choose one of int8, onnx, onnx-int8") as e:
        build_encoder_variant("fp16", classifier[1], "text-classification", tmp_path)
    assert e.value.code == "bad-input"
    with pytest.raises(WorkerFailure, match="quantize_generative") as e:
        build_encoder_variant("onnx", classifier[1], "summarization", tmp_path)
    assert e.value.code == "bad-input"


# generative models ----------------------------------------------------------------------------------------------------

def test_quantize_generative_quantizes_a_gpt2_throughout_and_it_still_generates() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)).eval()
    q = quantize_generative(lm)
    assert any(isinstance(m, Conv1D) for m in lm.modules())  # the original is left as it was
    assert not any(isinstance(m, Conv1D) for m in q.modules())
    quantized = [m for m in q.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(quantized) == 2 * 4 + 1  # per block: attention in/out, MLP in/out; then the head
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        a, b = lm(ids).logits.flatten(), q(ids).logits.flatten()
        assert float(torch.nn.functional.cosine_similarity(a, b, dim=0)) > 0.99
        out = q.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape == (2, 14)


def test_quantize_generative_quantizes_a_seq2seq_model() -> None:
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    cfg = BartConfig(vocab_size=64, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=32)
    model = BartForConditionalGeneration(cfg).eval()
    q = quantize_generative(model)
    assert sum(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in q.modules()) >= 10
    assert not any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.modules())
    ids = torch.randint(4, 64, (1, 8), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        out = q.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape[0] == 1 and 2 <= out.shape[1] <= 7


# saving to the hub ----------------------------------------------------------------------------------------------------

def save_spec(**changes: Any) -> dict[str, Any]:
    spec = {"base": {"repo": "alice/base", "revision": None}, "task": "text-classification", "variant": "onnx-int8",
            "target_repo": "alice/base-onnx-int8", "private": False}
    return {**spec, **changes}


def test_saving_the_torch_int8_form_is_refused_with_the_way_out(recorder: Recorder) -> None:
    payload = {"kind": "variant.save", "endpoint": "http://127.0.0.1:9", "token": None,
               "spec": save_spec(variant="int8")}
    with pytest.raises(WorkerFailure) as e:
        save_variant(payload, recorder)
    assert e.value.code == "bad-input"
    assert "from_pretrained" in e.value.message and "onnx-int8" in e.value.message
    assert recorder.progress_events == []  # refused before anything was downloaded


@pytest.mark.parametrize("changes, words", [
    ({"variant": "fp16"}, "spec.variant must be one of onnx, onnx-int8"),
    ({"task": "summarization"}, "spec.task must be one of"),
    ({"target_repo": "no-namespace"}, "spec.target_repo must be a model repo id"),
    ({"target_repo": "alice/base"}, "not the base model's own"),
    ({"base": {"repo": "alice/base", "revision": 3}}, "spec.base.revision"),
    ({"private": "yes"}, "spec.private"),
])
def test_a_bad_save_spec_names_what_is_wrong(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(WorkerFailure, match=words) as e:
        parse_spec(save_spec(**changes))
    assert e.value.code == "bad-input"


def run_worker(server: LiveServer, token: str, spec: dict[str, Any], cache: Path) -> list[dict[str, Any]]:
    payload = {"kind": "variant.save", "job_id": 1, "task_id": 1, "endpoint": server.url, "token": token,
               "spec": spec, "limits": {"memory_bytes": None, "threads": 1}, "cache_dir": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "inhouse.ml.worker"], input=json.dumps(payload).encode(),
                          capture_output=True, timeout=300, env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert events and events[-1]["event"] in ("result", "error"), (events[-3:], proc.stderr[-3000:])
    return events


def test_a_saved_variant_loads_back_from_the_hub_with_its_lineage(server: LiveServer, classifier: tuple[Any, Path],
                                                                  variants: dict[str, Any], tok: Any,
                                                                  tmp_path: Path) -> None:
    from huggingface_hub import ModelCard, snapshot_download
    import onnxruntime

    user = server.make_user()
    token = server.make_token(user, "write")
    api = server.api(token)
    base = f"{user}/tiny-sentiment"
    base_sha = tm.push_model(api, base, classifier[0], tok)
    target = f"{user}/tiny-sentiment-onnx-int8"
    api.create_repo(target, private=True)
    events = run_worker(server, token, save_spec(base={"repo": base, "revision": "main"}, target_repo=target),
                        tmp_path / "cache")
    assert events[-1]["event"] == "result", events[-1]
    result = events[-1]["result"]
    assert result["base"] == {"repo": base, "revision": base_sha} and result["repo"] == target
    assert result["check"]["argmax_agreement"] >= 0.75
    assert [e["done"] for e in events if e["event"] == "progress"][-1] == 5

    folder = Path(snapshot_download(target, endpoint=server.url, token=token, cache_dir=tmp_path / "download"))
    assert {"model.onnx", "config.json", "tokenizer.json", "README.md"} <= {p.name for p in folder.iterdir()}
    assert not list(folder.glob("*.safetensors"))
    assert result["commit"] == api.model_info(target).sha
    # the saved file is the variant an evaluation builds: the same bytes, and the same outputs when loaded back
    assert (folder / "model.onnx").read_bytes() == variants["onnx-int8"].path.read_bytes()
    assert result["size_bytes"] == variants["onnx-int8"].size_bytes
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = batch(tok, tm.sentiment_rows(20, seed=3)["text"])
    (saved,) = session.run(["logits"], {i.name: inputs[i.name] for i in session.get_inputs()})
    np.testing.assert_allclose(saved, variants["onnx-int8"](inputs)["logits"], rtol=1e-6, atol=1e-6)

    text = (folder / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["base_model"] == base and meta["base_model_relation"] == "quantized"
    assert {"onnx", "inhouse-variant"} <= set(meta["tags"])
    assert base_sha in text and "quantize_dynamic" in text
    assert ModelCard(text).data.base_model == base


def test_saving_from_a_base_the_token_cannot_read_is_not_found(server: LiveServer, hub_endpoint: str,
                                                               classifier: tuple[Any, Path], tok: Any,
                                                               recorder: Recorder) -> None:
    owner, token = server.make_repo(private=True)  # someone else's private repo
    tm.push_model(server.api(token), owner, classifier[0], tok)
    user = server.make_user()
    mine = server.make_token(user, "write")
    server.api(mine).create_repo(f"{user}/copy")
    payload = {"kind": "variant.save", "endpoint": hub_endpoint, "token": mine,
               "spec": save_spec(base={"repo": owner, "revision": None}, target_repo=f"{user}/copy")}
    with pytest.raises(WorkerFailure) as e:
        save_variant(payload, recorder)
    assert e.value.code == "not-found"
    assert owner in e.value.message and "not found or you cannot read it" in e.value.message
    assert server.api(mine).list_repo_files(f"{user}/copy") == [".gitattributes"]
