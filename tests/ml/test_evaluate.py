"""run_candidate ("evaluation.candidate") end to end: tiny models and datasets pushed to a live inhouse with the real
client, loaded back through the hub with a real token, evaluated in-process."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import torch

from inhouse.ml.evaluate import run_candidate
from inhouse.ml.failures import WorkerFailure
from tests.ml.conftest import Recorder
from tests.support import tiny_models as tm
from tests.support.live import LiveServer

FAST = {"resamples": 200, "latency_samples": 3, "batch_sizes": [1, 4], "seed": 1}
COST_FIELDS = ("parameters", "size_bytes", "latency_p50_ms", "latency_p95_ms", "throughput_per_s",
               "best_batch_size", "cost_per_million_usd")


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def owner(server: LiveServer) -> tuple[str, str, Any]:
    name = server.make_user()
    token = server.make_token(name, "write")
    return name, token, server.api(token)


def payload(task: str, dataset: str, model: str, token: str | None, *, columns: dict[str, str] | None = None,
            **spec: Any) -> dict[str, Any]:
    return {"kind": "evaluation.candidate", "job_id": 1, "task_id": 1, "token": token,
            "limits": {"threads": 1, "memory_bytes": None},
            "spec": {"task": task, "dataset": {"repo": dataset, "split": "train", "columns": columns or {}},
                     "model": {"repo": model}, **FAST, **spec}}


def check_row(row: dict[str, Any], primary: str, variant: str = "original") -> None:
    assert row["variant"] == variant and row["status"] == "ok" and row["error"] is None, row
    assert row["primary_metric"] == primary and row["higher_is_better"] is True
    for name, est in row["metrics"].items():
        assert est["low"] <= est["value"] <= est["high"], (name, est)
    for name in COST_FIELDS:
        assert row["cost"][name] > 0, (name, row["cost"])
    assert row["cost"]["peak_memory_bytes"] >= 0
    assert row["cost"]["latency_p50_ms"] <= row["cost"]["latency_p95_ms"]


def check_result(result: dict[str, Any], examples: int, task: str, recorder: Recorder) -> None:
    assert result["examples"] == examples and result["task"] == task
    machine = result["machine"]
    assert machine["hostname"] and machine["cpu"] and machine["cores"] >= 1 and machine["torch"] == torch.__version__
    assert len(result["model"]["revision"]) == 40 and result["model"]["parameters"] > 0
    done = [d / t for d, t, _ in recorder.progress_events]
    assert done == sorted(done) and recorder.progress_events[-1][0] == recorder.progress_events[-1][1]


def test_text_classification_trained_beats_untrained(server: LiveServer, hub_endpoint: str,
                                                     recorder: Recorder) -> None:
    name, token, api = owner(server)
    tok = tm.tokenizer()
    train = tm.sentiment_rows(160, seed=1)
    trained = tm.train_classifier(tm.model("sequence-classification", seed=3), tok, train["text"], train["label"])
    untrained = tm.model("sequence-classification", seed=4)
    tm.push_model(api, f"{name}/trained", trained, tok)
    tm.push_model(api, f"{name}/untrained", untrained, tok)
    tm.push_dataset(api, f"{name}/reviews", tm.sentiment_rows(150, seed=2, label_names=True))

    results = {}
    for model in ("trained", "untrained"):
        recorder = Recorder()
        results[model] = run_candidate(payload("text-classification", f"{name}/reviews", f"{name}/{model}", token,
                                               max_examples=120), recorder)
        check_result(results[model], 120, "text-classification", recorder)
        (row,) = results[model]["rows"]
        check_row(row, "macro_f1")
        assert set(row["metrics"]) == {"accuracy", "macro_f1"}
    good = results["trained"]["rows"][0]["metrics"]["macro_f1"]
    bad = results["untrained"]["rows"][0]["metrics"]["macro_f1"]
    assert good["value"] > 0.7 and good["low"] > bad["high"], (good, bad)
    # size on disk = the snapshot's weight file; both have the same architecture
    assert results["trained"]["model"]["size_bytes"] == results["untrained"]["model"]["size_bytes"] > 10_000
    assert results["trained"]["dataset"]["rows"] == 150


def test_token_classification_with_class_label_tags(server: LiveServer, hub_endpoint: str,
                                                    recorder: Recorder) -> None:
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/ner", tm.model("token-classification"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/people", tm.ner_rows(40), features=tm.ner_features())
    result = run_candidate(payload("token-classification", f"{name}/people", f"{name}/ner", token), recorder)
    check_result(result, 40, "token-classification", recorder)
    (row,) = result["rows"]
    check_row(row, "entity_f1")
    assert set(row["metrics"]) == {"entity_f1", "entity_precision", "entity_recall"}
    assert all(0 <= m["value"] <= 1 for m in row["metrics"].values())


def test_question_answering(server: LiveServer, hub_endpoint: str, recorder: Recorder) -> None:
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/qa", tm.model("question-answering"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/places", tm.qa_rows(30), fmt="jsonl")
    result = run_candidate(payload("question-answering", f"{name}/places", f"{name}/qa", token), recorder)
    check_result(result, 30, "question-answering", recorder)
    (row,) = result["rows"]
    check_row(row, "f1")
    assert set(row["metrics"]) == {"exact_match", "f1"}
    assert all(0 <= m["value"] <= 1 for m in row["metrics"].values())


def test_sentence_similarity_and_retrieval(server: LiveServer, hub_endpoint: str, recorder: Recorder) -> None:
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/embedder", tm.model("base"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/pairs", tm.similarity_rows(40))
    tm.push_dataset(api, f"{name}/search", tm.retrieval_rows(30))

    sim = run_candidate(payload("sentence-similarity", f"{name}/pairs", f"{name}/embedder", token), recorder)
    check_result(sim, 40, "sentence-similarity", recorder)
    (row,) = sim["rows"]
    check_row(row, "spearman")
    assert -1 <= row["metrics"]["spearman"]["value"] <= 1

    recorder = Recorder()
    ret = run_candidate(payload("retrieval", f"{name}/search", f"{name}/embedder", token), recorder)
    check_result(ret, 30, "retrieval", recorder)
    (row,) = ret["rows"]
    check_row(row, "ndcg_at_10")
    assert set(row["metrics"]) == {"ndcg_at_10", "recall_at_1", "recall_at_10"}
    m = row["metrics"]
    assert 0 <= m["recall_at_1"]["value"] <= m["recall_at_10"]["value"] <= 1
    # queries share words with their document: even an untrained encoder's mean pooling ranks it above chance (1/30)
    assert m["recall_at_10"]["value"] > 10 / 30


def test_dataset_without_the_named_column_is_bad_input(server: LiveServer, hub_endpoint: str,
                                                       recorder: Recorder) -> None:
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/clf", tm.model("sequence-classification"), tm.tokenizer())
    rows = tm.sentiment_rows(20)
    tm.push_dataset(api, f"{name}/renamed", {"sentence": rows["text"], "label": rows["label"]})
    with pytest.raises(WorkerFailure) as caught:
        run_candidate(payload("text-classification", f"{name}/renamed", f"{name}/clf", token), recorder)
    assert caught.value.code == "bad-input"
    assert "'text'" in caught.value.message and "sentence, label" in caught.value.message, caught.value.message

    with pytest.raises(WorkerFailure) as caught:
        run_candidate(payload("text-classification", f"{name}/renamed", f"{name}/clf", token,
                              columns={"text": "body"}), recorder)
    assert caught.value.code == "bad-input" and "'body'" in caught.value.message

    # mapped explicitly, the same dataset evaluates
    result = run_candidate(payload("text-classification", f"{name}/renamed", f"{name}/clf", token,
                                   columns={"text": "sentence"}), recorder)
    assert result["rows"][0]["status"] == "ok" and result["dataset"]["columns"] == {"text": "sentence",
                                                                                      "label": "label"}


def test_model_of_the_wrong_task(server: LiveServer, hub_endpoint: str, recorder: Recorder) -> None:
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/ner", tm.model("token-classification"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/reviews", tm.sentiment_rows(20))
    with pytest.raises(WorkerFailure) as caught:
        run_candidate(payload("text-classification", f"{name}/reviews", f"{name}/ner", token), recorder)
    assert caught.value.code == "wrong-task"
    assert "BertForTokenClassification" in caught.value.message
    assert "sequence-classification" in caught.value.message and f"{name}/ner" in caught.value.message


def test_missing_and_unreadable_repos_are_not_found_in_the_same_words(server: LiveServer, hub_endpoint: str,
                                                                       recorder: Recorder) -> None:
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/clf", tm.model("sequence-classification"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/reviews", tm.sentiment_rows(20))
    api.create_repo(f"{name}/secret", private=True)
    tm.push_model(api, f"{name}/secret", tm.model("sequence-classification"), tm.tokenizer())
    stranger = server.make_token(server.make_user(), "read")
    public = server.api(token)
    public.create_repo(f"{name}/open-data", repo_type="dataset")
    tm.push_dataset(public, f"{name}/open-data", tm.sentiment_rows(20))

    messages = []
    for model in (f"{name}/secret", f"{name}/missing-{uuid.uuid4().hex[:6]}"):
        with pytest.raises(WorkerFailure) as caught:
            run_candidate(payload("text-classification", f"{name}/open-data", model, stranger), recorder)
        assert caught.value.code == "not-found", caught.value.message
        messages.append(caught.value.message.replace(model, "<repo>"))
    assert messages[0] == messages[1]

    with pytest.raises(WorkerFailure) as caught:
        run_candidate(payload("text-classification", f"{name}/no-such-data", f"{name}/clf", token), recorder)
    assert caught.value.code == "not-found"


def test_a_failing_variant_fails_only_its_row(server: LiveServer, hub_endpoint: str, recorder: Recorder,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from inhouse.ml.tasks.classification import TextClassification
    from inhouse.ml.tasks.encoder import EncoderFamily

    original_backend = EncoderFamily.backend

    def backend(self: EncoderFamily, loaded: Any, variant: str, settings: Any) -> Any:
        if variant == "onnx":
            raise RuntimeError("export exploded")
        return original_backend(self, loaded, "original", settings)  # int8 stands in as a copy of the original

    monkeypatch.setattr(TextClassification, "backend", backend)
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/clf", tm.model("sequence-classification"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/reviews", tm.sentiment_rows(30))
    result = run_candidate(payload("text-classification", f"{name}/reviews", f"{name}/clf", token,
                                   variants=["onnx", "int8"]), recorder)
    rows = {r["variant"]: r for r in result["rows"]}
    assert [r["variant"] for r in result["rows"]] == ["original", "onnx", "int8"]
    check_row(rows["original"], "macro_f1")
    check_row(rows["int8"], "macro_f1", "int8")
    assert rows["int8"]["metrics"] == rows["original"]["metrics"]
    assert rows["onnx"]["status"] == "failed" and rows["onnx"]["error"] == "RuntimeError: export exploded"
    assert rows["onnx"]["cost"] is None and rows["onnx"]["metrics"] == {}
    assert any("onnx" in message for level, message in recorder.logs if level == "warning")


def test_real_variants_are_rows_of_their_own(server: LiveServer, hub_endpoint: str, recorder: Recorder) -> None:
    name, token, api = owner(server)
    tok = tm.tokenizer()
    train = tm.sentiment_rows(160, seed=1)
    model = tm.train_classifier(tm.model("sequence-classification", seed=5), tok, train["text"], train["label"])
    tm.push_model(api, f"{name}/clf", model, tok)
    tm.push_dataset(api, f"{name}/reviews", tm.sentiment_rows(60, seed=2))
    result = run_candidate(payload("text-classification", f"{name}/reviews", f"{name}/clf", token,
                                   variants=["int8", "onnx", "onnx-int8"]), recorder)
    rows = {r["variant"]: r for r in result["rows"]}
    assert list(rows) == ["original", "int8", "onnx", "onnx-int8"]
    for variant, row in rows.items():
        check_row(row, "macro_f1", variant)
    # the fp32 export computes what the original does; the int8 forms stay close on a model this clear-cut
    assert rows["onnx"]["metrics"]["accuracy"]["value"] == rows["original"]["metrics"]["accuracy"]["value"]
    for variant in ("int8", "onnx-int8"):
        assert abs(rows[variant]["metrics"]["accuracy"]["value"]
                   - rows["original"]["metrics"]["accuracy"]["value"]) <= 0.1
    assert rows["onnx-int8"]["cost"]["size_bytes"] < rows["onnx"]["cost"]["size_bytes"]
    assert {r["cost"]["parameters"] for r in rows.values()} == {result["model"]["parameters"]}

