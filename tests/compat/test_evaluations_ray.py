"""Evaluations on the Ray executor (a local Ray instance the server starts: one Ray task per candidate), and saving
a winning variant back to the hub as a new model repo with its lineage, through the same jobs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compat.test_evaluations import headers, rows_by, submit, wait
from tests.support import tiny_models as tiny
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("eval-ray") / "data"
    server = LiveServer(data, env={"INHOUSE_JOB_EXECUTOR": "ray", "INHOUSE_WORKER_THREADS": "1"}).start()
    try:
        yield server
    finally:
        server.close()


def wait_job(server: LiveServer, token: str, job_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = httpx.get(f"{server.url}/api/jobs/{job_id}", headers=headers(token), timeout=30).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end: {job}")


def test_an_evaluation_runs_on_ray_and_its_variant_is_saved_with_lineage(ray_server: LiveServer) -> None:
    owner = ray_server.make_user()
    token = ray_server.make_token(owner)
    api = ray_server.api(token)
    tok = tiny.tokenizer()
    train = tiny.sentiment_rows(300, seed=2)
    clf = tiny.train_classifier(tiny.model("sequence-classification"), tok, train["text"], train["label"], epochs=4)
    model = f"{owner}/bert-tickets"
    base_sha = tiny.push_model(api, model, clf, tok)
    dataset = f"{owner}/tickets"
    tiny.push_dataset(api, dataset, tiny.sentiment_rows(80, seed=9), split="test")

    r = submit(ray_server, token, {"task": "text-classification", "dataset": {"repo": dataset, "split": "test"},
                                   "candidates": [model], "variants": ["onnx-int8"], "resamples": 100})
    assert r.status_code == 201, r.text
    ev = wait(ray_server, token, r.json()["id"])
    assert ev["state"] == "succeeded" and ev["executor"] == "ray", ev
    rows = rows_by(ev)
    assert rows[(model, "original")]["status"] == rows[(model, "onnx-int8")]["status"] == "ok"
    assert rows[(model, "original")]["revision"] == base_sha

    target = f"{owner}/bert-tickets-onnx-int8"
    saved = httpx.post(f"{ray_server.url}/api/evaluations/{ev['id']}/save-variant", headers=headers(token),
                       json={"model": model, "variant": "onnx-int8", "target": target}, timeout=60)
    assert saved.status_code == 201, saved.text
    job = wait_job(ray_server, token, saved.json()["id"])
    assert job["state"] == "succeeded", job
    files = set(api.list_repo_files(target))
    assert "model.onnx" in files and "config.json" in files and "README.md" in files
    card = api.model_info(target).card_data
    assert card is not None and card.get("base_model") == model
    assert api.model_info(target).private  # private unless asked otherwise
    with open(api.hf_hub_download(target, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert base_sha in readme  # the base revision it was built from


def test_save_variant_refuses_what_was_not_measured_or_cannot_be_reloaded(ray_server: LiveServer) -> None:
    owner = ray_server.make_user()
    token = ray_server.make_token(owner)
    url = f"{ray_server.url}/api/evaluations/99999999/save-variant"
    r = httpx.post(url, headers=headers(token), json={"model": "a/b", "variant": "int8", "target": f"{owner}/x"})
    assert r.status_code == 400 and "from_pretrained" in r.json()["error"]
    r = httpx.post(url, headers=headers(token), json={"model": "a/b", "variant": "onnx", "target": f"{owner}/x"})
    assert r.status_code == 404
    r = httpx.post(url, headers=headers(token), json={"model": "a/b", "variant": "onnx"})
    assert r.status_code == 400
