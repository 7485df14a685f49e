"""The Hub's eval results through the real huggingface_hub client: `model_info(expand=["evalResults"])` and
`get_dataset_leaderboard`, against a live inhouse.

Results inhouse signed (written through the commit service, or uploaded by the client) show verified; a
hand-written file, a forged or edited token, or a signed file copied into another repo show unverified. A renamed
model keeps its verified results. A private model's results appear only to who may read it; a private dataset's
leaderboard is RepositoryNotFound to others, like a missing one, and its read is audited. Hostile files come back
as {"filename", "error"} items the client skips, and markup in notes comes back as JSON text.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
import yaml
from huggingface_hub import CommitOperationAdd, DatasetLeaderboardEntry, EvalResultEntry
from huggingface_hub.errors import RepositoryNotFoundError
from sqlalchemy import select

from inhouse.access.identity import authenticate
from inhouse.services.evaluations import eval_results as er
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.schema import audit_log
from inhouse.vocabulary import RepoType
from tests.support.live import LiveServer

DS_SHA = "b" * 40


def _record(server: LiveServer, repo_id: str, repo_type: RepoType = RepoType.MODEL) -> RepoRecord:
    ns, name = repo_id.split("/")
    with server.stores.db.read() as conn:
        hit = repo_store.find_repo(conn, repo_type, ns, name)
    assert hit is not None
    return hit[0]


def _signed(server: LiveServer, model: str, dataset: str, values: dict[str, float], *,
            task: str = "text-classification", evaluation_id: int = 41) -> list[dict[str, Any]]:
    rec = _record(server, model)
    return er.entries_for_candidate(
        server.stores, evaluation_id=evaluation_id, task=task, dataset_id=dataset, dataset_revision=DS_SHA,
        config="default", split="test", model_repo_pk=rec.id, model_revision=str(rec.head_sha), variant="original",
        metrics={m: {"value": v, "low": v - 0.02, "high": v + 0.02} for m, v in values.items()},
        evaluated_at=1768473000.0)


def _upload(api: Any, repo_id: str, name: str, content: bytes | str) -> None:
    body = content.encode() if isinstance(content, str) else content
    api.upload_file(path_or_fileobj=body, path_in_repo=f".eval_results/{name}", repo_id=repo_id)


def _raw_eval_results(server: LiveServer, repo_id: str, token: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/api/models/{repo_id}", params={"expand": "evalResults"},
                  headers={"Authorization": f"Bearer {token}"}, follow_redirects=True, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return list(r.json().get("evalResults", []))


def test_model_info_and_leaderboards_show_what_inhouse_verified(server: LiveServer, caplog: Any) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    dataset = f"{owner}/tickets-{uuid.uuid4().hex[:6]}"
    api.create_repo(dataset, repo_type="dataset")
    signed, tuned, private, hand, forged = (f"{owner}/{n}-{uuid.uuid4().hex[:6]}"
                                            for n in ("small", "tuned", "secret", "hand", "forged"))
    for repo in (signed, tuned, private, hand, forged):
        api.create_repo(repo, private=repo == private)
    api.upload_file(path_or_fileobj=b"---\nbase_model: some/base\n---\n# tuned\n", path_in_repo="README.md",
                    repo_id=tuned)

    # signed: written in-process through the commit service, as the evaluation job does
    principal = authenticate(server.stores.db, token)
    signed_entries = _signed(server, signed, dataset, {"accuracy": 0.81, "macro_f1": 0.79})
    sha = er.write_eval_results(server.stores, principal, RepoName(RepoType.MODEL, *signed.split("/")),
                                "inhouse-41", signed_entries)
    assert api.model_info(signed).sha == sha
    # signed too, uploaded by the client like any file
    _upload(api, tuned, "inhouse-41.yaml", er.dump_entries(_signed(server, tuned, dataset, {"accuracy": 0.95})))
    _upload(api, private, "inhouse-41.yaml", er.dump_entries(_signed(server, private, dataset, {"accuracy": 0.99})))
    # hand-written, with markup in its notes
    _upload(api, hand, "mine.yaml", yaml.safe_dump([{
        "dataset": {"id": dataset, "task_id": "text-classification/accuracy", "revision": DS_SHA},
        "value": 0.97, "notes": "<script>alert('x')</script>"}]))
    # forged: a real token of another repo, with the value raised
    stolen = _signed(server, signed, dataset, {"accuracy": 0.81})
    stolen[0]["value"] = 0.98
    _upload(api, forged, "inhouse-41.yaml", er.dump_entries(stolen))

    # model_info(expand=["evalResults"]) on the real client
    info = api.model_info(signed, expand=["evalResults"])
    assert info.eval_results is not None
    assert [(e.dataset_id, e.task_id, e.value, e.dataset_revision, e.source_name) for e in info.eval_results] == [
        (dataset, "text-classification/accuracy", 0.81, DS_SHA, "inhouse evaluation 41"),
        (dataset, "text-classification/macro_f1", 0.79, DS_SHA, "inhouse evaluation 41")]
    assert all(isinstance(e, EvalResultEntry) and e.verify_token for e in info.eval_results)
    assert info.eval_results[0].notes == "config: default; split: test; variant: original; 95% CI [0.79, 0.83]"
    # the raw answer carries verified, per entry
    assert [(i["filename"], i["verified"]) for i in _raw_eval_results(server, signed, token)] == [
        (".eval_results/inhouse-41.yaml", True), (".eval_results/inhouse-41.yaml", True)]
    assert [i["verified"] for i in _raw_eval_results(server, tuned, token)] == [True]
    assert [i["verified"] for i in _raw_eval_results(server, hand, token)] == [False]
    assert [i["verified"] for i in _raw_eval_results(server, forged, token)] == [False]
    [hand_item] = _raw_eval_results(server, hand, token)
    assert hand_item["data"]["notes"] == "<script>alert('x')</script>"  # data, as sent: never rendered
    # other expanded properties still come with it; without the expand, no evalResults
    both = api.model_info(signed, expand=["evalResults", "sha", "siblings", "cardData"])
    assert both.sha == sha and both.eval_results is not None and len(both.eval_results) == 2
    assert ".eval_results/inhouse-41.yaml" in [s.rfilename for s in both.siblings or []]
    assert api.model_info(signed).eval_results is None
    assert api.model_info(signed, expand=["sha"]).eval_results is None
    # at an older revision, the results of that revision (none yet)
    first = api.list_repo_commits(signed)[-1].commit_id
    assert api.model_info(signed, revision=first, expand=["evalResults"]).eval_results is None

    # the leaderboard, all models (base_model_only=False), as the owner
    board = api.get_dataset_leaderboard(dataset, base_model_only=False)
    assert all(isinstance(e, DatasetLeaderboardEntry) for e in board)
    acc = [(e.rank, e.model_id, e.value, e.verified) for e in board
           if getattr(e, "taskId", None) == "text-classification/accuracy"]
    assert acc == [(1, private, 0.99, True), (2, forged, 0.98, False), (3, hand, 0.97, False),
                   (4, tuned, 0.95, True), (5, signed, 0.81, True)]
    top = board[0]
    assert top.author.username == owner and top.filename == ".eval_results/inhouse-41.yaml"
    assert top.source == {"url": "/api/evaluations/41", "name": "inhouse evaluation 41", "isExternal": False}
    assert [e.notes for e in board if e.model_id == hand] == ["<script>alert('x')</script>"]
    assert [(e.model_id, e.rank) for e in board if getattr(e, "taskId", None) == "text-classification/macro_f1"] \
        == [(signed, 1)]
    # by default (as on the Hub), models that declare a base model are left out
    default = {e.model_id for e in api.get_dataset_leaderboard(dataset)}
    assert tuned not in default and {signed, private, hand, forged} <= default
    assert {e.model_id for e in api.get_dataset_leaderboard(dataset, base_model_only=True)} == default

    # another user: no private model, and the same answer whichever way the dataset is asked for
    other = server.make_user()
    other_api = server.api(server.make_token(other, "read"))
    seen = {e.model_id for e in other_api.get_dataset_leaderboard(dataset, base_model_only=False)}
    assert private not in seen and {signed, tuned, hand, forged} <= seen
    anonymous = {e.model_id for e in server.api().get_dataset_leaderboard(dataset, base_model_only=False)}
    assert anonymous == seen

    # a renamed model keeps its verified results (the token binds the repo's numeric id, not its name)
    renamed = f"{owner}/renamed-{uuid.uuid4().hex[:6]}"
    api.move_repo(signed, renamed)
    assert [i["verified"] for i in _raw_eval_results(server, renamed, token)] == [True, True]
    assert [(e.model_id, e.verified) for e in api.get_dataset_leaderboard(dataset, base_model_only=False)
            if e.value == 0.81] == [(renamed, True)]


def test_a_dataset_nobody_may_see_has_no_leaderboard_and_its_reads_are_audited(server: LiveServer) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    dataset = f"{owner}/private-ds-{uuid.uuid4().hex[:6]}"
    api.create_repo(dataset, repo_type="dataset", private=True)
    model = f"{owner}/m-{uuid.uuid4().hex[:6]}"
    api.create_repo(model)
    _upload(api, model, "inhouse-7.yaml", er.dump_entries(_signed(server, model, dataset, {"accuracy": 0.5},
                                                                  evaluation_id=7)))
    assert [(e.model_id, e.verified) for e in api.get_dataset_leaderboard(dataset)] == [(model, True)]
    outsider = server.api(server.make_token(server.make_user(), "write"))
    for caller in (outsider, server.api()):
        for target in (dataset, f"{owner}/no-such-dataset"):
            with pytest.raises(RepositoryNotFoundError):
                caller.get_dataset_leaderboard(target)
    # a model repo id is not a dataset
    with pytest.raises(RepositoryNotFoundError):
        api.get_dataset_leaderboard(model)

    def audited(tok: str | None) -> list[tuple[str, str]]:
        r = httpx.get(f"{server.url}/api/datasets/{dataset}/leaderboard",
                      headers={"Authorization": f"Bearer {tok}"} if tok else {}, timeout=30)
        with server.stores.db.read() as conn:
            rows = conn.execute(select(audit_log.c.action, audit_log.c.outcome)
                                .where(audit_log.c.request_id == r.headers["X-Request-Id"])).all()
        return [(a, o) for a, o in rows]

    assert audited(token) == [("repo.leaderboard", "ok")]
    assert audited(server.make_token(server.make_user(), "read")) == [("access.read", "denied")]


def test_hostile_files_are_bounded_and_reported_as_errors(server: LiveServer, caplog: Any) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    model = f"{owner}/hostile-{uuid.uuid4().hex[:6]}"
    api.create_repo(model)
    dataset = f"{owner}/ds-{uuid.uuid4().hex[:6]}"
    api.create_repo(dataset, repo_type="dataset")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    api.create_commit(model, commit_message="hostile eval results", operations=[
        CommitOperationAdd(".eval_results/a-bomb.yaml", bomb.encode()),
        CommitOperationAdd(".eval_results/b-deep.yaml", ("[" * 5000 + "]" * 5000).encode()),
        CommitOperationAdd(".eval_results/c-big.yaml", b"# " + b"x" * (er.MAX_FILE_BYTES + 10)),
        CommitOperationAdd(".eval_results/d-good.yaml", yaml.safe_dump([{
            "dataset": {"id": dataset, "task_id": "default"}, "value": 1.5}]).encode()),
        CommitOperationAdd(".eval_results/e-shape.yaml", b"dataset: {id: x/y}\n"),
        CommitOperationAdd(".eval_results/notes.txt", b"not yaml, not read"),
    ])
    items = _raw_eval_results(server, model, token)
    errors = {i["filename"]: i["error"] for i in items if "error" in i}
    assert set(errors) == {".eval_results/a-bomb.yaml", ".eval_results/b-deep.yaml", ".eval_results/c-big.yaml",
                           ".eval_results/e-shape.yaml"}
    assert "aliases" in errors[".eval_results/a-bomb.yaml"]
    assert "bytes" in errors[".eval_results/c-big.yaml"]
    assert [(i["filename"], i["data"]["value"], i["verified"]) for i in items if "data" in i] == [
        (".eval_results/d-good.yaml", 1.5, False)]
    # the client skips the error items with a warning and keeps the good entry
    with caplog.at_level(logging.WARNING):
        info = api.model_info(model, expand=["evalResults"])
    assert [(e.dataset_id, e.value) for e in info.eval_results or []] == [(dataset, 1.5)]
    assert any("a-bomb.yaml" in r.getMessage() for r in caplog.records)
    assert [(e.model_id, e.value, e.verified) for e in api.get_dataset_leaderboard(dataset)] == [(model, 1.5, False)]
