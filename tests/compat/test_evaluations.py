"""Right-sizing end to end: tiny models of two sizes trained briefly on a learnable task, pushed with the real
client to a live inhouse with a private dataset, evaluated through the job system (local worker subprocesses that
load with from_pretrained / load_dataset through the hub with a scoped token), with per-candidate errors, the
recommendation, Pareto pictures, the .eval_results written back (read with the real client), the audit trail of
the workers' downloads, the CLI and cancellation."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import tiny_models as tiny
from tests.support.live import LiveServer

WAIT_S = 420


@dataclass
class World:
    server: LiveServer
    owner: str
    token: str
    dataset: str
    small: str
    base: str
    wrong_task: str
    broken: str
    other_private: str


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait(server: LiveServer, token: str, evaluation_id: str, timeout: float = WAIT_S) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        ev = httpx.get(f"{server.url}/api/evaluations/{evaluation_id}", headers=headers(token), timeout=30).json()
        if ev["state"] in ("succeeded", "failed", "cancelled"):
            return ev
        time.sleep(0.5)
    raise AssertionError(f"evaluation {evaluation_id} did not end in {timeout} s: {ev}")


def submit(server: LiveServer, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/api/evaluations", json=body, headers=headers(token), timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("eval") / "data"
    server = LiveServer(data, env={"INHOUSE_WORKER_THREADS": "1", "INHOUSE_JOB_WORKERS": "1"}).start()
    try:
        owner = server.make_user()
        token = server.make_token(owner)
        api = server.api(token)
        tok = tiny.tokenizer()
        train = tiny.sentiment_rows(400, seed=1)
        small = tiny.train_classifier(tiny.model("sequence-classification", hidden=16, layers=1, heads=1,
                                                 intermediate=32), tok, train["text"], train["label"], epochs=2)
        base = tiny.train_classifier(tiny.model("sequence-classification"), tok, train["text"], train["label"],
                                     epochs=8)
        w = World(server, owner, token, f"{owner}/reviews", f"{owner}/bert-small", f"{owner}/bert-base",
                  f"{owner}/bert-ner", f"{owner}/bert-broken", "")
        tiny.push_model(api, w.small, small, tok)
        tiny.push_model(api, w.base, base, tok)
        tiny.push_model(api, w.wrong_task, tiny.model("token-classification"), tok)
        tiny.push_model(api, w.broken, tiny.model("sequence-classification", seed=3), tok)
        api.upload_file(path_or_fileobj=b"not a safetensors file", path_in_repo="model.safetensors",
                        repo_id=w.broken)  # the weights are garbage: loading it crashes that candidate only
        api.create_repo(w.dataset, repo_type="dataset", private=True)
        tiny.push_dataset(api, w.dataset, tiny.sentiment_rows(160, seed=7), split="test")
        stranger = server.make_user()
        w.other_private = f"{stranger}/secret-model"
        tiny.push_model(server.api(server.make_token(stranger)), w.other_private, small, tok)
        server.api(server.make_token(stranger)).update_repo_settings(w.other_private, private=True)
        yield w
    finally:
        server.close()


@pytest.fixture(scope="module")
def evaluation(world: World) -> dict[str, Any]:
    body = {"task": "text-classification", "dataset": {"repo": world.dataset, "split": "test"},
            "candidates": [world.small, world.base, world.wrong_task, world.broken, world.other_private,
                           f"{world.owner}/no-such-model"],
            "variants": ["int8", "onnx", "onnx-int8"], "maxExamples": 120, "resamples": 200, "tolerance": 0.05,
            "pricePerHour": 3.6}
    r = submit(world.server, world.token, body)
    assert r.status_code == 201, r.text
    return wait(world.server, world.token, r.json()["id"])


def rows_by(ev: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["model"], r["variant"]): r for r in ev["rows"]}


def test_the_evaluation_completes_with_a_row_per_candidate_and_variant(world: World, evaluation: dict[str, Any]) -> None:
    ev = evaluation
    assert ev["state"] == "succeeded", ev
    rows = rows_by(ev)
    for model in (world.small, world.base):
        for variant in ("original", "int8", "onnx", "onnx-int8"):
            r = rows[(model, variant)]
            assert r["status"] == "ok", r
            assert set(r["metrics"]) >= {"accuracy", "macro_f1"}
            q = r["quality"]
            assert 0.0 <= q["low"] <= q["value"] <= q["high"] <= 1.0
            cost = r["cost"]
            assert cost["parameters"] > 0 and cost["size_bytes"] > 0 and cost["peak_memory_bytes"] > 0
            assert 0 < cost["latency_p50_ms"] <= cost["latency_p95_ms"]
            assert cost["throughput_per_s"] > 0 and cost["best_batch_size"] >= 1
            # cost per million requests follows from the price per hour and the measured throughput
            assert cost["cost_per_million_usd"] == pytest.approx(3.6 / 3600 / cost["throughput_per_s"] * 1e6, rel=1e-6)
    # size matters: the bigger, longer-trained model is clearly better on this learnable task
    assert rows[(world.base, "original")]["quality"]["value"] > rows[(world.small, "original")]["quality"]["value"]
    # the machine that measured is named
    assert ev["machine"]["hostname"] and ev["machine"]["threads"] >= 1


def test_each_bad_candidate_fails_on_its_own_row_with_a_clear_error(world: World,
                                                                   evaluation: dict[str, Any]) -> None:
    rows = rows_by(evaluation)
    wrong = rows[(world.wrong_task, "original")]
    assert wrong["status"] == "failed" and wrong["error"].startswith("wrong-task")
    assert "BertForTokenClassification" in wrong["error"]
    broken = rows[(world.broken, "original")]
    assert broken["status"] == "failed" and broken["error"].split(":")[0] in ("crashed", "bad-input")
    hidden = rows[(world.other_private, "original")]
    missing = rows[(f"{world.owner}/no-such-model", "original")]
    assert hidden["status"] == missing["status"] == "failed"
    # a model you may not read looks exactly like one that does not exist
    assert hidden["error"].replace(world.other_private, "X") == missing["error"].replace(
        f"{world.owner}/no-such-model", "X")
    states = {c["model"]: c["state"] for c in evaluation["candidates"]}
    assert states[world.small] == states[world.base] == "succeeded"


def test_the_recommendation_and_the_pareto_front(world: World, evaluation: dict[str, Any]) -> None:
    rec = evaluation["recommendation"]
    labels = {r["label"] for r in evaluation["rows"]}
    assert rec["best"] in labels and rec["choice"] in labels
    assert rec["reason"].startswith("Recommend")
    assert evaluation["pareto"]["joint"]["labels"], evaluation["pareto"]
    assert set(evaluation["pareto"]["joint"]["labels"]) <= labels
    for fmt, magic in (("svg", b"<?xml"), ("png", b"\x89PNG")):
        r = httpx.get(f"{world.server.url}/api/evaluations/{evaluation['id']}/pareto.{fmt}?axis=memory",
                      headers=headers(world.token), timeout=60)
        assert r.status_code == 200 and r.content.startswith(magic), r.text[:200]
        assert "sandbox" in r.headers["content-security-policy"]


def test_results_are_written_back_in_the_hubs_format_and_verify(world: World, evaluation: dict[str, Any]) -> None:
    written = {e["model"]: e for e in evaluation["evalResults"]}
    assert written[world.small]["commit"] and written[world.base]["commit"]
    api = world.server.api(world.token)
    info = api.model_info(world.base, expand=["evalResults"])
    entries = info.eval_results
    assert entries and {e.task_id for e in entries} >= {"text-classification/macro_f1", "text-classification/accuracy"}
    raw = httpx.get(f"{world.server.url}/api/models/{world.base}", params={"expand[]": "evalResults"},
                    headers=headers(world.token)).json()["evalResults"]
    assert raw and all(item["verified"] for item in raw)
    board = api.get_dataset_leaderboard(world.dataset, base_model_only=False)
    assert {e.model_id for e in board} >= {world.small, world.base} and all(e.verified for e in board)


def test_workers_load_through_the_hub_with_a_scoped_token_that_is_audited_and_revoked(
        world: World, evaluation: dict[str, Any]) -> None:
    stores = world.server.stores
    from inhouse.services import users

    tokens = [t for t in users.list_tokens(stores, world.owner) if t.name.startswith(f"evaluation {evaluation['id']},")]
    assert len(tokens) == 4  # one per candidate that ran; none for the two nobody could read
    assert all(t.revoked_at is not None for t in tokens)
    candidates = {world.small, world.base, world.wrong_task, world.broken}
    for t in tokens:  # each reads exactly the dataset and its one model, nothing else
        names = {s.name for s in t.scopes}
        assert len(names) == 2 and f"datasets/{world.dataset}" in names and (names - {f"datasets/{world.dataset}"}) <= candidates
        assert all({p.value for p in s.permissions} == {"repo.content.read"} for s in t.scopes)
    assert {n for t in tokens for s in t.scopes for n in [s.name]} >= candidates
    from inhouse.services import audit as audit_service

    entries = list(audit_service.export(stores, None, audit_service.Filters(repo=f"datasets/{world.dataset}")))
    reads_by_task_tokens = [e for e in entries if e["token_id"] in {t.id for t in tokens}]
    # the dataset is private: every file the workers fetched is in the log, under the task's token and the owner
    assert reads_by_task_tokens, [e["action"] for e in entries][:20]
    assert all(e["actor"] == world.owner for e in reads_by_task_tokens)


def test_a_missing_column_fails_every_candidate_with_the_columns_named(world: World) -> None:
    r = submit(world.server, world.token, {
        "task": "text-classification", "dataset": {"repo": world.dataset, "split": "test",
                                                   "columns": {"text": "body"}},
        "candidates": [world.small], "maxExamples": 20, "resamples": 10, "writeResults": False})
    assert r.status_code == 201, r.text
    ev = wait(world.server, world.token, r.json()["id"])
    row = rows_by(ev)[(world.small, "original")]
    assert row["status"] == "failed" and row["error"].startswith("bad-input")
    assert "body" in row["error"] and "text" in row["error"] and "label" in row["error"]


def test_who_may_submit_and_see(world: World) -> None:
    url = world.server.url
    body = {"task": "text-classification", "dataset": {"repo": world.dataset, "split": "test"},
            "candidates": [world.small]}
    assert httpx.post(f"{url}/api/evaluations", json=body).status_code == 401
    reader = world.server.make_token(world.owner, "read")
    assert submit(world.server, reader, body).status_code == 403
    stranger = world.server.make_token(world.server.make_user())
    missing = submit(world.server, stranger, {**body, "dataset": {"repo": f"{world.owner}/nothing", "split": "t"}})
    hidden = submit(world.server, stranger, body)  # the private dataset: the same answer as a missing one
    assert missing.status_code == hidden.status_code == 404
    assert missing.json() == hidden.json() or missing.headers.get("x-error-code") == hidden.headers.get("x-error-code")
    mine = httpx.get(f"{url}/api/evaluations", headers=headers(world.token)).json()
    assert mine
    other = httpx.get(f"{url}/api/evaluations/{mine[0]['id']}", headers=headers(stranger))
    never = httpx.get(f"{url}/api/evaluations/99999999", headers=headers(stranger))
    assert other.status_code == never.status_code == 404
    assert other.json()["error"].replace(mine[0]["id"], "N") == never.json()["error"].replace("99999999", "N")
    board = f"{url}/api/leaderboards/text-classification/datasets/{world.dataset}"
    assert httpx.get(board, headers=headers(stranger)).status_code == 404
    assert httpx.get(f"{url}/api/leaderboards/text-classification/datasets/{world.owner}/nothing",
                     headers=headers(stranger)).status_code == 404


def test_the_leaderboard_gathers_evaluations_of_the_dataset_revision(world: World,
                                                                     evaluation: dict[str, Any]) -> None:
    r = httpx.get(f"{world.server.url}/api/leaderboards/text-classification/datasets/{world.dataset}",
                  params={"tolerance": "0.05"}, headers=headers(world.token), timeout=60)
    assert r.status_code == 200, r.text
    board = r.json()
    models = {(row["model"], row["variant"]) for row in board["rows"] if row["status"] == "ok"}
    assert (world.base, "onnx-int8") in models and (world.small, "original") in models
    assert board["recommendation"]["choice"]
    png = httpx.get(f"{world.server.url}/api/leaderboards/text-classification/datasets/{world.dataset}.png",
                    headers=headers(world.token), timeout=60)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_the_cli_follows_an_evaluation_with_a_progress_bar(world: World) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "inhouse", "eval", "run", "--endpoint", world.server.url, "--token", world.token,
         "--task", "text-classification", "--dataset", world.dataset, "--split", "test",
         "--model", world.small, "--model", world.base, "--max-examples", "40", "--resamples", "50",
         "--no-write-results"], capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    assert "submitted evaluation" in out.stderr
    assert "] 100.0%  2/2 candidates  succeeded" in out.stderr  # the bar's last state: full, both done
    assert world.small in out.stdout and world.base in out.stdout and "Recommend" in out.stdout


def test_cancelling_stops_the_workers(world: World) -> None:
    r = submit(world.server, world.token, {
        "task": "text-classification", "dataset": {"repo": world.dataset, "split": "test"},
        "candidates": [world.small, world.base], "variants": ["onnx", "onnx-int8", "int8"],
        "resamples": 5000, "writeResults": False})
    ev_id = r.json()["id"]
    deadline = time.time() + 120
    while time.time() < deadline:  # until its first worker runs
        ev = httpx.get(f"{world.server.url}/api/evaluations/{ev_id}", headers=headers(world.token)).json()
        if any(c["state"] == "running" for c in ev["candidates"]):
            break
        time.sleep(0.2)
    workers = _workers()
    assert workers, "a worker process should be running"
    c = httpx.post(f"{world.server.url}/api/evaluations/{ev_id}/cancel", headers=headers(world.token))
    assert c.status_code == 200, c.text
    ev = wait(world.server, world.token, ev_id, timeout=60)
    assert ev["state"] == "cancelled"
    deadline = time.time() + 30
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def _workers() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"inhouse.ml.worker" in cmd:
                found.append(int(proc.name))
    return found
