"""The evaluation service without workers (no dispatcher runs here, so jobs stay queued): resolving revisions,
per-candidate rejections, and the cap on a user's unfinished jobs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from inhouse.access.identity import authenticate
from inhouse.errors import NotFound, TooManyRequests
from inhouse.services import repos, users
from inhouse.services.context import Stores
from inhouse.services.evaluations import service
from inhouse.vocabulary import RepoType, TokenRole


@pytest.fixture
def capped(stores: Stores) -> Stores:
    s = Stores.open(replace(stores.settings, job_max_unfinished_per_user=2))
    yield s  # type: ignore[misc]
    s.close()


def _setup(stores: Stores, name: str):  # type: ignore[no-untyped-def]
    users.create_user(stores, name)
    _, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    p = authenticate(stores.db, secret)
    repos.create(stores, p, repo_type=RepoType.DATASET, namespace=name, name="data")
    repos.create(stores, p, repo_type=RepoType.MODEL, namespace=name, name="model")
    body = {"task": "text-classification", "dataset": {"repo": f"{name}/data", "split": "test"},
            "candidates": [f"{name}/model", f"{name}/nothing"]}
    return p, body


def test_revisions_are_resolved_and_unknown_candidates_get_a_failed_row(capped: Stores) -> None:
    p, body = _setup(capped, "cat")
    ev = service.submit(capped, p, body)
    assert ev["state"] == "queued" and len(ev["dataset"]["revision"]) == 40
    (task,) = [c for c in ev["candidates"] if c["model"] == "cat/model"]
    assert len(task["revision"]) == 40 and task["state"] == "queued"
    (row,) = ev["rows"]
    assert row["model"] == "cat/nothing" and row["status"] == "failed" and row["error"].startswith("not-found")
    with pytest.raises(NotFound):
        service.submit(capped, p, {**body, "candidates": ["cat/nothing"]})


def test_a_user_may_have_only_so_many_unfinished_jobs(capped: Stores) -> None:
    p, body = _setup(capped, "dan")
    first = service.submit(capped, p, body)
    service.submit(capped, p, body)
    with pytest.raises(TooManyRequests, match="INHOUSE_JOB_MAX_UNFINISHED_PER_USER"):
        service.submit(capped, p, body)
    service.cancel(capped, p, int(first["id"]))  # a queued job is cancelled at once
    assert service.submit(capped, p, body)["state"] == "queued"
    other, other_body = _setup(capped, "eve")  # the cap is per user
    assert service.submit(capped, other, other_body)["state"] == "queued"


def _row(model: str, split: str, metric: str, status: str = "ok", value: float = 0.5):  # type: ignore[no-untyped-def]
    from inhouse.storage.db.jobs import EvaluationResult

    return EvaluationResult(
        job_id=1, task_id=None, task="text-generation", dataset_repo_id="a/d", dataset_revision="c" * 40,
        dataset_config=None, dataset_split=split, model_repo_id=model, model_revision="d" * 40, variant="original",
        status=status, quality=value if status == "ok" else None,
        metrics={"primary": metric, "higher_is_better": metric != "perplexity",
                 "values": {metric: {"value": value, "low": value, "high": value}}} if status == "ok" else {})


def test_a_leaderboard_ranks_only_rows_measured_alike() -> None:
    rows = [_row("a/1", "test", "exact_match"), _row("a/2", "test", "exact_match"),
            _row("a/3", "test", "perplexity", value=12.0), _row("a/4", "validation", "exact_match"),
            _row("a/5", "test", "", status="failed")]
    group = service.comparable(rows)
    assert (group.split, group.metric) == ("test", "exact_match")
    assert {r.model_repo_id for r in group.rows} == {"a/1", "a/2", "a/5"}  # a failed row of that split stays listed
    assert {(o["split"], o["metric"]) for o in group.others} == {("test", "perplexity"), ("validation", "exact_match")}
    by_perplexity = service.comparable(rows, "perplexity")
    assert {r.model_repo_id for r in by_perplexity.rows} == {"a/3", "a/5"}
    with pytest.raises(NotFound, match="exact_match, perplexity"):
        service.comparable(rows, "bleu")


def test_another_users_evaluation_does_not_exist_for_them_and_a_read_token_changes_nothing(capped: Stores) -> None:
    from inhouse.errors import Forbidden, Unauthorized
    from inhouse.access.identity import Principal

    p, body = _setup(capped, "fay")
    ev_id = int(service.submit(capped, p, body)["id"])
    users.create_user(capped, "gus")
    other = authenticate(capped.db, users.create_token(capped, "gus", role=TokenRole.WRITE)[1])
    reader = authenticate(capped.db, users.create_token(capped, "fay", role=TokenRole.READ)[1])
    for call in (lambda q: service.get(capped, q, ev_id), lambda q: service.cancel(capped, q, ev_id),
                 lambda q: service.pareto_picture(capped, q, ev_id, axis="latency", fmt="svg"),
                 lambda q: service.save_variant(capped, q, ev_id, model="fay/model", variant="onnx",
                                                target="gus/copy")):
        with pytest.raises(NotFound) as hidden:
            call(other)
        with pytest.raises(NotFound) as missing:
            (lambda q: service.get(capped, q, 99_999_999))(other)
        assert hidden.value.message.replace(str(ev_id), "N") == missing.value.message.replace("99999999", "N")
        with pytest.raises(Unauthorized):
            call(Principal())
    with pytest.raises(Forbidden):
        service.cancel(capped, reader, ev_id)
    with pytest.raises(Forbidden):
        service.save_variant(capped, reader, ev_id, model="fay/model", variant="onnx", target="fay/copy")
    assert service.get(capped, p, ev_id)["state"] == "queued"  # nothing changed it
