"""services/evaluations/eval_results.py: the Hub's `.eval_results` format as inhouse reads, signs and writes it.

Tokens: what a verifyToken binds is checked field by field (each edited field unverifies), tokens signed with
another server's secret or for another feature are refused, malformed ones never raise. Files: every bound holds
against hostile YAML (aliases bomb, deep nesting, oversize, LFS pointers, not UTF-8, wrong shapes). Through the
services (SQLite and PostgreSQL): written entries read back verified, a copy in another repo does not, a rename
keeps them verified, and a leaderboard hides a private model from who may not see it.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from inhouse.access.identity import Principal, authenticate
from inhouse.config import Settings
from inhouse.errors import BadRequest, Forbidden, RepoNotFound
from inhouse.services import repos, users
from inhouse.services.context import Stores
from inhouse.services.evaluations import eval_results as er
from inhouse.services.repo_access import RepoName
from inhouse.services.signing import Signer, load_or_create_secret
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.vocabulary import RepoType, TokenRole

SHA = "a" * 40
DS_SHA = "b" * 40


def _key(tmp_path: Path, name: str = "data") -> er.TokenKey:
    return er.token_key(Settings(data_dir=tmp_path / name))


def _claims(**over: Any) -> er.Claims:
    base: dict[str, Any] = dict(model_repo=7, model_revision=SHA, dataset_id="acme/tickets", dataset_revision=DS_SHA,
                                task_id="text-classification/accuracy", value="0.8734", date="2026-01-15T10:30:00Z",
                                source_url="/api/evaluations/12", evaluation_id=12)
    base.update(over)
    return er.Claims(**base)


def _entry(token: str | None, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "dataset": {"id": "acme/tickets", "task_id": "text-classification/accuracy", "revision": DS_SHA},
        "value": 0.8734, "date": "2026-01-15T10:30:00Z",
        "source": {"url": "/api/evaluations/12", "name": "inhouse evaluation 12"},
    }
    if token is not None:
        d["verifyToken"] = token
    d.update(over)
    return d


def _verify(key: er.TokenKey, data: dict[str, Any], repo_pk: int = 7, commits: tuple[str, ...] = (SHA,)) -> bool:
    return er.verify_entry(key, data, repo_pk=repo_pk, has_commit=lambda sha: sha in commits)


# --- tokens ---------------------------------------------------------------------------------------------------------

def test_a_token_verifies_the_entry_it_was_signed_for_and_nothing_else(tmp_path: Path) -> None:
    key = _key(tmp_path)
    token = er.sign_token(key, _claims())
    assert token.startswith("v1.") and token.count(".") == 2 and len(token) < er.MAX_TOKEN_CHARS
    assert _verify(key, _entry(token))
    assert er.read_token(key, token) == _claims()
    # each bound field, edited in the entry, unverifies it
    edits: list[dict[str, Any]] = [
        {"value": 0.8735}, {"value": 0.9}, {"date": "2026-01-16T10:30:00Z"},
        {"dataset": {"id": "acme/other", "task_id": "text-classification/accuracy", "revision": DS_SHA}},
        {"dataset": {"id": "acme/tickets", "task_id": "text-classification/macro_f1", "revision": DS_SHA}},
        {"dataset": {"id": "acme/tickets", "task_id": "text-classification/accuracy", "revision": "c" * 40}},
        {"dataset": {"id": "acme/tickets", "task_id": "text-classification/accuracy"}},
        {"source": {"url": "https://evil.example/api/evaluations/12", "name": "inhouse evaluation 12"}},
        {"source": {"url": "/api/evaluations/12", "name": "inhouse evaluation 13"}},
    ]
    for edit in edits:
        assert not _verify(key, _entry(token, **edit)), edit
    # the value is bound by its number, not its spelling: 0.87340 in YAML is the same float
    assert _verify(key, _entry(token, value=float("0.87340")))
    # another repo (a copy of the file), or a model revision the repo does not hold
    assert not _verify(key, _entry(token), repo_pk=8)
    assert not _verify(key, _entry(token), commits=())


def test_tokens_of_another_server_or_feature_or_malformed_never_verify(tmp_path: Path) -> None:
    key, other = _key(tmp_path, "one"), _key(tmp_path, "two")
    assert key != other
    assert not _verify(key, _entry(er.sign_token(other, _claims())))
    # the same server secret signing for another purpose (a signed link) is not an eval-results token
    secret = load_or_create_secret(tmp_path / "one")
    exp, sig = Signer(secret).sign("v1.anything", 3600)
    payload = base64.urlsafe_b64encode(json.dumps(_claims().to_json()).encode()).rstrip(b"=").decode()
    raw_mac = base64.urlsafe_b64encode(
        __import__("hmac").new(secret, f"v1.{payload}".encode(), "sha256").digest()).rstrip(b"=").decode()
    for forged in (f"v1.{payload}.{sig}", f"v1.{payload}.{raw_mac}"):
        assert not _verify(key, _entry(forged))
    good = er.sign_token(key, _claims())
    v, p, m = good.split(".")
    malformed: list[Any] = [
        None, 12, "", "v1", "v1..", f"v2.{p}.{m}", f"{v}.{p}.{m}.x", f"{v}.{p}.{m[:-2]}", f"{v}.{p}x.{m}",
        f"{v}.{p}.{m}=", f"{v}.{p}.é{m}", good + "A" * er.MAX_TOKEN_CHARS, f"{v}.{p}.{m.upper()}",
    ]
    for token in malformed:
        assert er.read_token(key, token) is None, token
        assert not _verify(key, _entry(None, verifyToken=token))
    # a validly signed payload of the wrong shape is refused too
    for bad in ({"m": "7"}, [1, 2], {**_claims().to_json(), "e": True}):
        body = base64.urlsafe_b64encode(json.dumps(bad).encode()).rstrip(b"=").decode()
        mac = base64.urlsafe_b64encode(key.mac(f"v1.{body}".encode())).rstrip(b"=").decode()
        assert er.read_token(key, f"v1.{body}.{mac}") is None


# --- files ----------------------------------------------------------------------------------------------------------

def _invalid(body: bytes) -> str:
    with pytest.raises(er._Invalid) as e:
        er.parse_file(body)
    return str(e.value)


def test_files_are_read_within_bounds_whatever_they_hold() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))
    assert "aliases" in _invalid(bomb.encode())
    assert "aliases" in _invalid(b"- &e {dataset: {id: a/b, task_id: t}, value: 1}\n- *e\n")
    deep = "- {dataset: {id: a/b, task_id: t}, value: 1, notes: " + "[" * 50 + "]" * 50 + "}\n"
    assert "nested" in _invalid(deep.encode())
    assert "nest" in _invalid(("[" * 60_000 + "]" * 60_000).encode())  # libyaml's own limit, before ours
    assert "bytes" in _invalid(b"#" * (10 * 1024 * 1024))
    assert "large file" in _invalid(LfsPointer("c" * 64, 123).encode())
    assert "UTF-8" in _invalid(b"- \xff\xfe\n")
    assert "list" in _invalid(b"dataset: {id: a/b}\n")
    assert "Invalid YAML" in _invalid(b"- [unclosed\n")
    assert "at most" in _invalid(yaml.safe_dump(
        [{"dataset": {"id": "a/b", "task_id": str(i)}, "value": i} for i in range(er.MAX_ENTRIES_PER_FILE + 1)]
    ).encode())
    for bad in ("- {dataset: {id: a/b, task_id: t}, value: .nan}", "- {dataset: {id: a/b, task_id: t}, value: x}",
                "- {dataset: {id: a/b, task_id: t}, value: true}", "- {dataset: {id: '../x', task_id: t}, value: 1}",
                "- {dataset: {id: a/b}, value: 1}", "- {dataset: a/b, value: 1}",
                "- {dataset: {id: a/b, task_id: t}, value: 1, source: {name: n}}",
                "- {dataset: {id: a/b, task_id: t}, value: 1, notes: !!binary aGk=}", "- 3"):
        assert _invalid(bad.encode())
    assert er.parse_file(b"") == [] and er.parse_file(b"[]\n") == []


def test_entries_keep_the_formats_fields_and_dates_stay_text() -> None:
    text = (b"- dataset: {id: acme/tickets, task_id: default, revision: abc}\n"
            b"  value: 20\n  date: 2026-01-15T10:30:00Z\n  extra: dropped\n"
            b"  source: {url: 'https://x/y', name: X, user: u, org: o, other: dropped}\n"
            b"  notes: \"<script>alert(1)</script>\"\n")
    [entry] = er.parse_file(text)
    assert entry == {"dataset": {"id": "acme/tickets", "task_id": "default", "revision": "abc"}, "value": 20,
                     "date": "2026-01-15T10:30:00Z",
                     "source": {"url": "https://x/y", "name": "X", "user": "u", "org": "o"},
                     "notes": "<script>alert(1)</script>"}
    json.dumps(entry)  # JSON-ready: no datetime, no set, no bytes


def test_entries_for_a_candidate_one_per_metric_signed_and_readable(tmp_path: Path) -> None:
    stores_like = _SettingsOnly(Settings(data_dir=tmp_path / "data"))
    entries = er.entries_for_candidate(
        stores_like, evaluation_id=12, task="text-classification", dataset_id="acme/tickets",  # type: ignore[arg-type]
        dataset_revision=DS_SHA, config=None, split="test", model_repo_pk=7, model_revision=SHA, variant="original",
        metrics={"macro_f1": {"value": 0.812345, "low": 0.79111, "high": 0.83999},
                 "accuracy": {"value": 0.873456, "low": 0.85, "high": 0.89},
                 "broken": {"value": math.nan, "low": None, "high": None}},
        evaluated_at=1768473000.0)
    assert [e["dataset"]["task_id"] for e in entries] == ["text-classification/accuracy",
                                                          "text-classification/macro_f1"]
    acc, f1 = entries
    assert acc["value"] == 0.8735 and f1["value"] == 0.8123
    assert f1["notes"] == "config: default; split: test; variant: original; 95% CI [0.7911, 0.84]"
    assert acc["date"] == "2026-01-15T10:30:00Z"
    assert acc["source"] == {"url": "/api/evaluations/12", "name": "inhouse evaluation 12"}
    # through the file format and back, still verified against repo 7
    back = er.parse_file(er.dump_entries(entries))
    assert back == entries
    key = er.token_key(stores_like.settings)
    assert all(_verify(key, e) for e in back)
    assert not any(_verify(key, e, repo_pk=8) for e in back)
    with pytest.raises(BadRequest):
        er.dump_entries([{"dataset": {"id": "acme/tickets"}, "value": 1}])


class _SettingsOnly:
    def __init__(self, settings: Settings):
        self.settings = settings


# --- through the services -------------------------------------------------------------------------------------------

def _user(stores: Stores, role: TokenRole = TokenRole.WRITE) -> Principal:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    _, secret = users.create_token(stores, name, role=role)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


def _signed(stores: Stores, repo_pk: int, revision: str, dataset: str, value: float, *,
            task: str = "text-classification", metric: str = "accuracy") -> list[dict[str, Any]]:
    return er.entries_for_candidate(
        stores, evaluation_id=3, task=task, dataset_id=dataset, dataset_revision=DS_SHA, config="default",
        split="test", model_repo_pk=repo_pk, model_revision=revision, variant="original",
        metrics={metric: {"value": value, "low": value - 0.01, "high": value + 0.01}}, evaluated_at=1768473000.0)


def test_written_results_read_back_verified_and_leaderboards_respect_visibility(stores: Stores) -> None:
    owner, outsider = _user(stores), _user(stores)
    ds = repos.create(stores, owner, repo_type=RepoType.DATASET, namespace=None, name=f"d{uuid.uuid4().hex[:6]}")
    public = repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name="pub")
    private = repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name="priv", private=True)
    name = {r.id: RepoName(RepoType.MODEL, r.namespace, r.name) for r in (public, private)}
    for repo, value in ((public, 0.7), (private, 0.9)):
        sha = er.write_eval_results(stores, owner, name[repo.id], "inhouse-3",
                                    _signed(stores, repo.id, str(repo.head_sha), ds.repo_id, value))
        assert len(sha) == 40
    items = er.eval_results_of(stores, repos_by_id(stores, public.id), None)
    assert [(i["filename"], i["verified"], i["data"]["value"]) for i in items] == [
        (".eval_results/inhouse-3.yaml", True, 0.7)]
    # the outsider cannot write, and gets the usual errors
    with pytest.raises((Forbidden, RepoNotFound)):
        er.write_eval_results(stores, outsider, name[public.id], "x", [items[0]["data"]])
    with pytest.raises(RepoNotFound):
        er.write_eval_results(stores, outsider, name[private.id], "x", [items[0]["data"]])
    with pytest.raises(BadRequest):
        er.write_eval_results(stores, owner, name[public.id], "../escape", [items[0]["data"]])
    # the same signed file copied into another repo does not verify there
    er.write_eval_results(stores, owner, name[private.id], "copied", [items[0]["data"]])
    copied = {i["filename"]: i["verified"] for i in er.eval_results_of(stores, repos_by_id(stores, private.id), None)}
    assert copied == {".eval_results/copied.yaml": False, ".eval_results/inhouse-3.yaml": True}

    ds_name = RepoName(RepoType.DATASET, ds.namespace, ds.name)
    board = er.leaderboard(stores, owner, ds_name, base_model_only=False)
    assert [(r["modelId"], r["rank"], r["verified"], r["value"]) for r in board] == [
        (private.repo_id, 1, True, 0.9), (public.repo_id, 2, True, 0.7)]
    seen = er.leaderboard(stores, outsider, ds_name)
    assert [r["modelId"] for r in seen] == [public.repo_id]
    assert seen[0]["author"] == {"type": "user", "name": owner.name, "fullname": owner.fullname}
    # a private dataset is not found for an outsider, as a missing one
    repos.update_settings(stores, owner, ds_name, private=True, gated=None)
    with pytest.raises(RepoNotFound):
        er.leaderboard(stores, outsider, ds_name)
    with pytest.raises(RepoNotFound):
        er.leaderboard(stores, outsider, RepoName(RepoType.DATASET, ds.namespace, "missing"))
    # a rename keeps results verified (the token binds the repo's numeric id)
    moved = repos.move(stores, owner, RepoType.MODEL, public.repo_id, f"{owner.name}/renamed")
    assert [i["verified"] for i in er.eval_results_of(stores, moved, None)] == [True]
    assert {r["modelId"] for r in er.leaderboard(stores, owner, ds_name)} == {moved.repo_id, private.repo_id}


def repos_by_id(stores: Stores, pk: int) -> Any:
    from inhouse.storage.db import repos as repo_store

    with stores.db.read() as conn:
        return repo_store.repo_by_id(conn, pk)


def test_leaderboards_rank_per_task_follow_the_default_branch_and_prefer_verified(stores: Stores) -> None:
    from inhouse.services import commits

    owner = _user(stores)
    ds = repos.create(stores, owner, repo_type=RepoType.DATASET, namespace=None, name=f"d{uuid.uuid4().hex[:6]}")
    ds_name = RepoName(RepoType.DATASET, ds.namespace, ds.name)
    models = {n: repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name=n)
              for n in ("a", "b", "c")}

    def name(n: str) -> RepoName:
        return RepoName(RepoType.MODEL, models[n].namespace, models[n].name)

    def write(n: str, slug: str, value: float, metric: str = "accuracy") -> None:
        task = "text-generation" if metric == "perplexity" else "text-classification"
        er.write_eval_results(stores, owner, name(n), slug,
                              _signed(stores, models[n].id, str(models[n].head_sha), ds.repo_id, value,
                                      task=task, metric=metric))

    def board() -> list[tuple[str, str, int, float, bool]]:
        return [(r["taskId"], r["modelId"].split("/")[1], r["rank"], r["value"], r["verified"])
                for r in er.leaderboard(stores, owner, ds_name)]

    write("a", "acc", 0.8)
    write("b", "acc", 0.8)
    write("c", "acc", 0.7)
    write("a", "ppl", 12.5, "perplexity")
    write("b", "ppl", 10.25, "perplexity")
    assert board() == [
        ("text-classification/accuracy", "a", 1, 0.8, True), ("text-classification/accuracy", "b", 1, 0.8, True),
        ("text-classification/accuracy", "c", 3, 0.7, True),
        ("text-generation/perplexity", "b", 1, 10.25, True), ("text-generation/perplexity", "a", 2, 12.5, True)]
    assert [r["modelId"] for r in er.leaderboard(stores, owner, ds_name, task_id="text-generation/perplexity")] \
        == [models["b"].repo_id, models["a"].repo_id]
    # a hand-written higher value next to a verified one: the model's row stays its verified result
    hand = yaml.safe_dump([{"dataset": {"id": ds.repo_id, "task_id": "text-classification/accuracy"}, "value": 0.99}])
    commits.commit(stores, owner, models["c"], revision="main", summary="mine",
                   ops=[commits.AddFile(".eval_results/mine.yaml", hand.encode())])
    assert [row for row in board() if row[1] == "c"] == [("text-classification/accuracy", "c", 3, 0.7, True)]
    # the index follows each new head: an overwritten result, a deleted file, a deleted repo, a base model declared
    write("c", "acc", 0.9)
    assert [row[1:3] for row in board() if row[0] == "text-classification/accuracy"] == [("c", 1), ("a", 2), ("b", 2)]
    commits.commit(stores, owner, models["c"], revision="main", summary="rm",
                   ops=[commits.DeleteFile(".eval_results/acc.yaml")])
    assert [row for row in board() if row[1] == "c"] == [("text-classification/accuracy", "c", 1, 0.99, False)]
    repos.delete(stores, owner, RepoType.MODEL, models["c"].namespace, models["c"].name)
    commits.commit(stores, owner, models["b"], revision="main", summary="card",
                   ops=[commits.AddFile("README.md", b"---\nbase_model: x/y\n---\n")])
    assert {row[1] for row in board()} == {"a"}
    assert {r["modelId"] for r in er.leaderboard(stores, owner, ds_name, base_model_only=False)} == {
        models["a"].repo_id, models["b"].repo_id}


def test_the_index_is_brought_up_to_date_a_bounded_number_of_repos_at_a_time(stores: Stores) -> None:
    owner = _user(stores)
    for i in range(5):
        repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name=f"m{i}")
    er.refresh_index(stores)  # whatever other tests left
    assert er.refresh_index(stores) == 0
    more = [repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name=f"n{i}") for i in range(5)]
    assert er.refresh_index(stores, limit=2) == 2
    assert er.refresh_index(stores, limit=10) == 3
    assert er.refresh_index(stores) == 0
    er.write_eval_results(stores, owner, RepoName(RepoType.MODEL, more[0].namespace, more[0].name), "x",
                          _signed(stores, more[0].id, str(more[0].head_sha), "a/b", 0.5))
    assert er.refresh_index(stores) == 1


def test_requests_refreshing_the_same_repos_at_once_leave_one_copy_of_each_entry(stores: Stores) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func, select

    from inhouse.storage.db.schema import eval_result_entries

    owner = _user(stores)
    for i in range(6):
        repo = repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name=f"m{i}")
        er.write_eval_results(stores, owner, RepoName(RepoType.MODEL, repo.namespace, repo.name), "x",
                              _signed(stores, repo.id, str(repo.head_sha), "a/b", 0.5 + i / 100))
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda _: er.refresh_index(stores), range(8)))
    assert sum(done) >= 6
    with stores.db.read() as conn:
        counts = conn.execute(select(eval_result_entries.c.repo_id, func.count())
                              .group_by(eval_result_entries.c.repo_id)).all()
    assert sorted(n for _, n in counts) == [1] * 6


def test_a_fine_grained_token_sees_only_the_private_models_it_names(stores: Stores) -> None:
    from inhouse.vocabulary import Permission, Scope, ScopeKind

    owner = _user(stores)
    ds = repos.create(stores, owner, repo_type=RepoType.DATASET, namespace=None, name="ds")
    named = repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name="named", private=True)
    other = repos.create(stores, owner, repo_type=RepoType.MODEL, namespace=None, name="other", private=True)
    for repo in (named, other):
        er.write_eval_results(stores, owner, RepoName(RepoType.MODEL, repo.namespace, repo.name), "x",
                              _signed(stores, repo.id, str(repo.head_sha), ds.repo_id, 0.5))
    scopes = [Scope(ScopeKind.REPO, named.repo_id, frozenset({Permission.READ_CONTENT})),
              Scope(ScopeKind.REPO, f"datasets/{ds.repo_id}", frozenset({Permission.READ_CONTENT}))]
    _, secret = users.create_token(stores, str(owner.name), role=TokenRole.FINE_GRAINED, scopes=scopes)
    scoped = authenticate(stores.db, secret)
    ds_name = RepoName(RepoType.DATASET, ds.namespace, ds.name)
    assert {r["modelId"] for r in er.leaderboard(stores, owner, ds_name)} == {named.repo_id, other.repo_id}
    assert [r["modelId"] for r in er.leaderboard(stores, scoped, ds_name)] == [named.repo_id]
