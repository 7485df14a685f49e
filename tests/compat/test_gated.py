"""Gated repos driven by the real clients: access requests asked, listed, accepted, rejected, cancelled and granted;
GatedRepoError for users without access; load_dataset on a gated dataset; every step audited."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from datasets import Dataset, load_dataset
from datasets.exceptions import DatasetNotFoundError
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    BadRequestError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
)

from inhouse.audit.verify import verify
from inhouse.services import users as user_service
from inhouse.storage.db import audit as audit_store
from inhouse.vocabulary import Scope, TokenRole
from tests.support.live import LiveServer

CONFIG = b'{"model_type": "gated-test"}'


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest) -> LiveServer:
    return request.getfixturevalue("server" if request.param == "sqlite" else "pg_server")  # type: ignore[no-any-return]


def _person(srv: LiveServer) -> tuple[str, HfApi, str]:
    """(name, HfApi with a write token, the token) of a fresh user."""
    name = srv.make_user()
    token = srv.make_token(name, "write")
    return name, srv.api(token), token


def _gated_model(srv: LiveServer, owner: HfApi, owner_name: str, gated: str) -> str:
    repo_id = f"{owner_name}/g{uuid.uuid4().hex[:8]}"
    owner.create_repo(repo_id)
    owner.upload_file(path_or_fileobj=CONFIG, path_in_repo="config.json", repo_id=repo_id)
    owner.update_repo_settings(repo_id, gated=gated)  # type: ignore[arg-type]
    return repo_id


def _ask(srv: LiveServer, token: str | None, repo_id: str, *, repo_type: str = "model",
         fields: dict[str, Any] | None = None) -> httpx.Response:
    """What the Hub's gate form does for a user (the client has no call for it)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{srv.url}/api/{repo_type}s/{repo_id}/user-access-request", headers=headers,
                      json={"fields": fields} if fields is not None else None)


def _download(api: HfApi, repo_id: str, cache: Path) -> bytes:
    return Path(api.hf_hub_download(repo_id, "config.json", cache_dir=cache)).read_bytes()


def _gated_status(api: HfApi, repo_id: str, cache: Path) -> int:
    with pytest.raises(GatedRepoError) as e:
        _download(api, repo_id, cache)
    assert "restricted" in str(e.value)
    return e.value.response.status_code


def _audit(srv: LiveServer, label: str, prefix: str = "access_request.") -> list[tuple[str, str, dict[str, Any]]]:
    with srv.stores.db.read() as conn:
        rows = list(audit_store.scan(conn, repo=label, action=prefix + "*"))
    return [(r["action"], r["actor"], json.loads(r["details"])) for r in rows]


def _users(requests: Any) -> list[str]:
    return [r.username for r in requests]


def test_manual_gate_request_accept_cancel_reject(any_server: LiveServer, tmp_path: Path) -> None:
    srv = any_server
    owner_name, owner, _ = _person(srv)
    repo_id = _gated_model(srv, owner, owner_name, "manual")
    alice, alice_api, alice_token = _person(srv)

    # metadata is visible to everyone; content is not
    assert alice_api.model_info(repo_id).gated == "manual"
    assert srv.api().model_info(repo_id).gated == "manual"
    assert _gated_status(alice_api, repo_id, tmp_path / "c1") == 403
    assert _gated_status(srv.api(), repo_id, tmp_path / "c2") == 401
    assert _download(owner, repo_id, tmp_path / "c3") == CONFIG
    assert list(owner.list_pending_access_requests(repo_id)) == []

    before = datetime.now().astimezone()
    r = _ask(srv, alice_token, repo_id, fields={"company": "Acme", "purpose": "research"})
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    pending = list(owner.list_pending_access_requests(repo_id))
    assert len(pending) == 1
    req = pending[0]
    assert (req.username, req.fullname, req.status) == (alice, alice, "pending")
    assert req.fields == {"company": "Acme", "purpose": "research"}
    assert isinstance(req.request_id, str) and len(req.request_id) == 24
    assert abs((req.timestamp - before).total_seconds()) < 60
    assert list(owner.list_accepted_access_requests(repo_id)) == []
    assert _gated_status(alice_api, repo_id, tmp_path / "c4") == 403  # pending is not access

    owner.accept_access_request(repo_id, alice)
    assert _download(alice_api, repo_id, tmp_path / "c5") == CONFIG
    assert _users(owner.list_accepted_access_requests(repo_id)) == [alice]
    assert list(owner.list_pending_access_requests(repo_id)) == []
    with pytest.raises(HfHubHTTPError) as e:  # already accepted
        owner.accept_access_request(repo_id, alice)
    assert e.value.response.status_code == 404

    # cancel sends it back to pending; access stops on the very next request (the client itself still serves a
    # copy it already cached when the server refuses: hf_hub_download falls back to the cache on HTTP errors)
    owner.cancel_access_request(repo_id, alice)
    assert _users(owner.list_pending_access_requests(repo_id)) == [alice]
    assert _gated_status(alice_api, repo_id, tmp_path / "c5b") == 403

    owner.reject_access_request(repo_id, alice, rejection_reason="Not for external researchers.")
    rejected = list(owner.list_rejected_access_requests(repo_id))
    assert _users(rejected) == [alice] and rejected[0].status == "rejected"
    assert _gated_status(alice_api, repo_id, tmp_path / "c6") == 403

    # asking again does not undo a rejection
    r = _ask(srv, alice_token, repo_id)
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    assert _users(owner.list_rejected_access_requests(repo_id)) == [alice]
    assert _gated_status(alice_api, repo_id, tmp_path / "c7") == 403

    # an admin can accept a rejected request, by its id
    owner.accept_access_request(repo_id, request_id=rejected[0].request_id)
    assert _download(alice_api, repo_id, tmp_path / "c8") == CONFIG

    assert [(a, actor, d["user"], d["status"]) for a, actor, d in _audit(srv, repo_id)] == [
        ("access_request.create", alice, alice, "pending"),
        ("access_request.accept", owner_name, alice, "accepted"),
        ("access_request.cancel", owner_name, alice, "pending"),
        ("access_request.reject", owner_name, alice, "rejected"),
        ("access_request.create", alice, alice, "rejected"),
        ("access_request.accept", owner_name, alice, "accepted"),
    ]
    audit = _audit(srv, repo_id)
    assert audit[0][2]["fields"] == {"company": "Acme", "purpose": "research"}
    assert audit[3][2]["reason"] == "Not for external researchers."


def test_auto_gate_accepts_at_once_and_grant(server: LiveServer, tmp_path: Path) -> None:
    owner_name, owner, _ = _person(server)
    repo_id = _gated_model(server, owner, owner_name, "auto")
    bob, bob_api, bob_token = _person(server)
    carol, carol_api, _ = _person(server)
    assert bob_api.model_info(repo_id).gated == "auto"
    assert _gated_status(bob_api, repo_id, tmp_path / "b0") == 403  # auto still means: ask first

    assert _ask(server, bob_token, repo_id).json()["status"] == "accepted"
    assert list(owner.list_pending_access_requests(repo_id)) == []
    assert _users(owner.list_accepted_access_requests(repo_id)) == [bob]
    assert _download(bob_api, repo_id, tmp_path / "b1") == CONFIG

    owner.reject_access_request(repo_id, bob, rejection_reason=None)
    assert _gated_status(bob_api, repo_id, tmp_path / "b2") == 403
    assert _ask(server, bob_token, repo_id).json()["status"] == "rejected"  # auto does not override a rejection
    assert _gated_status(bob_api, repo_id, tmp_path / "b3") == 403
    owner.cancel_access_request(repo_id, bob)  # back to pending: asking again is accepted at once
    assert _ask(server, bob_token, repo_id).json()["status"] == "accepted"
    assert _download(bob_api, repo_id, tmp_path / "b4") == CONFIG

    # grant: no request of carol's needed
    assert _gated_status(carol_api, repo_id, tmp_path / "c0") == 403
    owner.grant_access(repo_id, carol)
    assert sorted(_users(owner.list_accepted_access_requests(repo_id))) == sorted([bob, carol])
    assert _download(carol_api, repo_id, tmp_path / "c1") == CONFIG
    with pytest.raises(BadRequestError):  # already has access
        owner.grant_access(repo_id, carol)
    with pytest.raises(HfHubHTTPError) as e:
        owner.grant_access(repo_id, "nobody-" + uuid.uuid4().hex[:6])
    assert e.value.response.status_code == 404
    owner.cancel_access_request(repo_id, carol)
    assert _gated_status(carol_api, repo_id, tmp_path / "c2") == 403
    with pytest.raises(HfHubHTTPError) as e:  # never asked: nothing to accept
        owner.accept_access_request(repo_id, owner_name)
    assert e.value.response.status_code == 404

    assert [(a, d["user"], d["status"]) for a, _, d in _audit(server, repo_id)] == [
        ("access_request.create", bob, "accepted"),
        ("access_request.reject", bob, "rejected"),
        ("access_request.create", bob, "rejected"),
        ("access_request.cancel", bob, "pending"),
        ("access_request.create", bob, "accepted"),
        ("access_request.grant", carol, "accepted"),
        ("access_request.cancel", carol, "pending"),
    ]


def test_who_may_review_requests(server: LiveServer, tmp_path: Path) -> None:
    owner_name, owner, _ = _person(server)
    repo_id = _gated_model(server, owner, owner_name, "manual")
    dave, dave_api, dave_token = _person(server)
    assert _ask(server, dave_token, repo_id).status_code == 200

    # an outsider, even one who asked, cannot list or decide requests
    for call in (lambda: list(dave_api.list_pending_access_requests(repo_id)),
                 lambda: dave_api.accept_access_request(repo_id, dave),
                 lambda: dave_api.grant_access(repo_id, dave)):
        with pytest.raises(HfHubHTTPError) as e:
            call()
        assert e.value.response.status_code == 403
    # nor can the owner with a read token
    read_api = server.api(server.make_token(owner_name, "read"))
    with pytest.raises(HfHubHTTPError) as e:
        list(read_api.list_pending_access_requests(repo_id))
    assert e.value.response.status_code == 403
    # a fine-grained token with repo.access.write on this repo can, one scoped to another repo cannot
    _, scoped = user_service.create_token(server.stores, owner_name, role=TokenRole.FINE_GRAINED, scopes=[
        Scope.parse({"type": "repo", "name": repo_id, "permissions": ["repo.access.write"]})])
    _, elsewhere = user_service.create_token(server.stores, owner_name, role=TokenRole.FINE_GRAINED, scopes=[
        Scope.parse({"type": "repo", "name": f"{owner_name}/other", "permissions": ["repo.access.write"]})])
    with pytest.raises(HfHubHTTPError) as e:
        list(server.api(elsewhere).list_pending_access_requests(repo_id))
    assert e.value.response.status_code == 403
    assert _users(server.api(scoped).list_pending_access_requests(repo_id)) == [dave]
    server.api(scoped).accept_access_request(repo_id, dave)
    assert _download(dave_api, repo_id, tmp_path / "d") == CONFIG
    denied = _audit(server, repo_id, "access.manage_access")
    assert len(denied) == 5 and all(a == "access.manage_access" for a, _, _ in denied)

    # anonymous callers cannot ask; a private repo does not exist for outsiders; an ungated repo has no requests
    assert _ask(server, None, repo_id).status_code == 401
    private_id = f"{owner_name}/p{uuid.uuid4().hex[:6]}"
    owner.create_repo(private_id, private=True)
    r = _ask(server, dave_token, private_id)
    assert (r.status_code, r.headers["x-error-code"]) == (404, "RepoNotFound")
    with pytest.raises(RepositoryNotFoundError):
        list(dave_api.list_pending_access_requests(private_id))
    public_id = f"{owner_name}/o{uuid.uuid4().hex[:6]}"
    owner.create_repo(public_id)
    with pytest.raises(BadRequestError, match="not gated"):
        list(owner.list_pending_access_requests(public_id))
    with pytest.raises(BadRequestError, match="not gated"):
        owner.grant_access(public_id, dave)
    r = _ask(server, dave_token, public_id)
    assert r.status_code == 400 and r.headers["x-error-code"] == "BadRequest"


def test_changing_gating_keeps_requests(server: LiveServer, tmp_path: Path) -> None:
    owner_name, owner, _ = _person(server)
    repo_id = _gated_model(server, owner, owner_name, "manual")
    erin, erin_api, erin_token = _person(server)
    frank, frank_api, frank_token = _person(server)
    _ask(server, erin_token, repo_id)
    _ask(server, frank_token, repo_id)
    owner.accept_access_request(repo_id, erin)

    owner.update_repo_settings(repo_id, gated="auto")
    assert owner.model_info(repo_id).gated == "auto"
    assert _users(owner.list_pending_access_requests(repo_id)) == [frank]  # not accepted by the switch
    assert _users(owner.list_accepted_access_requests(repo_id)) == [erin]

    owner.update_repo_settings(repo_id, gated=False)
    assert owner.model_info(repo_id).gated is False
    assert _download(frank_api, repo_id, tmp_path / "f0") == CONFIG  # ungated: everyone downloads
    with pytest.raises(BadRequestError):
        list(owner.list_pending_access_requests(repo_id))

    owner.update_repo_settings(repo_id, gated="manual")
    assert _users(owner.list_pending_access_requests(repo_id)) == [frank]
    assert _users(owner.list_accepted_access_requests(repo_id)) == [erin]
    assert _download(erin_api, repo_id, tmp_path / "e1") == CONFIG
    assert _gated_status(frank_api, repo_id, tmp_path / "f1") == 403


def test_hub_form_route(server: LiveServer, api: HfApi, user: tuple[str, str]) -> None:
    owner_name = user[0]
    repo_id = f"{owner_name}/d{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id, repo_type="dataset")
    api.update_repo_settings(repo_id, repo_type="dataset", gated="manual")
    gina = server.make_user()
    r = httpx.post(f"{server.url}/datasets/{repo_id}/ask-access",
                   headers={"authorization": f"Bearer {server.make_token(gina, 'read')}"},
                   data={"company": "Hospital", "country": "CH"})
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    (req,) = api.list_pending_access_requests(repo_id, repo_type="dataset")
    assert (req.username, req.fields) == (gina, {"company": "Hospital", "country": "CH"})
    assert _audit(server, f"datasets/{repo_id}")[0][:2] == ("access_request.create", gina)


def test_load_dataset_on_a_gated_dataset(hub_endpoint: str, server: LiveServer, tmp_path: Path) -> None:
    owner_name, owner, owner_token = _person(server)
    repo_id = f"{owner_name}/gd{uuid.uuid4().hex[:8]}"
    data = {"id": list(range(20)), "text": [f"row {i}" for i in range(20)]}
    Dataset.from_dict(data).push_to_hub(repo_id, token=owner_token)
    owner.update_repo_settings(repo_id, repo_type="dataset", gated="manual")
    hana, hana_api, hana_token = _person(server)

    with pytest.raises(DatasetNotFoundError, match="gated dataset.*must be authenticated"):
        load_dataset(repo_id, split="train")
    with pytest.raises(DatasetNotFoundError, match="gated dataset.*ask for access"):
        load_dataset(repo_id, split="train", token=hana_token)
    assert hana_api.dataset_info(repo_id).gated == "manual"

    assert _ask(server, hana_token, repo_id, repo_type="dataset").json()["status"] == "pending"
    with pytest.raises(DatasetNotFoundError, match="gated dataset"):
        load_dataset(repo_id, split="train", token=hana_token)
    owner.accept_access_request(repo_id, hana, repo_type="dataset")
    assert load_dataset(repo_id, split="train", token=hana_token).to_dict() == data
    assert list(load_dataset(repo_id, split="train", token=hana_token, streaming=True)) == \
        [{"id": i, "text": f"row {i}"} for i in range(20)]

    owner.reject_access_request(repo_id, hana, repo_type="dataset", rejection_reason="Study closed.")
    # (datasets itself falls back to a copy it cached before; a fresh cache sees the refusal)
    with pytest.raises(DatasetNotFoundError, match="gated dataset"):
        load_dataset(repo_id, split="train", token=hana_token, cache_dir=str(tmp_path / "fresh"))
    with pytest.raises(DatasetNotFoundError, match="gated dataset"):
        load_dataset(repo_id, split="train", token=hana_token, cache_dir=str(tmp_path / "fresh2"), streaming=True)
    assert [(a, d["status"]) for a, _, d in _audit(server, f"datasets/{repo_id}")] == [
        ("access_request.create", "pending"), ("access_request.accept", "accepted"),
        ("access_request.reject", "rejected")]


def test_concurrent_asks_and_decisions(any_server: LiveServer) -> None:
    """A double-submitted form and an admin deciding while the user asks again: no 500, and the decision stands."""
    srv = any_server
    owner_name, owner, _ = _person(srv)
    ivan, _, ivan_token = _person(srv)
    for _ in range(4):
        repo_id = _gated_model(srv, owner, owner_name, "auto")
        with ThreadPoolExecutor(16) as pool:
            codes = [f.result().status_code for f in [pool.submit(_ask, srv, ivan_token, repo_id) for _ in range(16)]]
        assert codes == [200] * 16
        assert _users(owner.list_accepted_access_requests(repo_id)) == [ivan]

    for _ in range(8):
        owner.cancel_access_request(repo_id, ivan)
        with ThreadPoolExecutor(9) as pool:
            asks = [pool.submit(_ask, srv, ivan_token, repo_id) for _ in range(8)]
            reject = pool.submit(owner.reject_access_request, repo_id, ivan, rejection_reason="No.")
            assert all(f.result().status_code == 200 for f in asks)
            reject.result()
        # whatever the interleaving, the admin's rejection is the last word
        assert _users(owner.list_rejected_access_requests(repo_id)) == [ivan]
        assert _ask(srv, ivan_token, repo_id).json()["status"] == "rejected"
    if srv.database_url:  # this module's own PostgreSQL server, which no other test tampers with
        assert verify(srv.stores.db, srv.stores.audit).problems == []


def test_the_gated_error_tells_the_user_where_their_request_stands(server: LiveServer, tmp_path: Path) -> None:
    owner_name, owner, _ = _person(server)
    repo_id = _gated_model(server, owner, owner_name, "manual")
    user, api, token = _person(server)

    def message(n: int) -> str:
        with pytest.raises(GatedRepoError) as e:
            _download(api, repo_id, tmp_path / f"c{n}")
        return str(e.value)

    assert "Ask for access" in message(0)
    assert _ask(server, token, repo_id).status_code == 200
    assert "pending" in message(1)
    owner.reject_access_request(repo_id, user, rejection_reason="Only the credit-risk team may use this model")
    assert "rejected: Only the credit-risk team may use this model" in message(2)


def test_long_request_lists_are_paged_and_the_client_reads_every_page(any_server: LiveServer) -> None:
    """More requests than fit on a page: 100 per page with a `Link` to the next, which the real client follows."""
    srv = any_server
    owner_name, owner, owner_token = _person(srv)
    repo_id = _gated_model(srv, owner, owner_name, "manual")
    askers = []
    for _ in range(205):
        name = srv.make_user()
        askers.append(name)
        assert _ask(srv, srv.make_token(name, "read"), repo_id).status_code == 200
    assert _users(owner.list_pending_access_requests(repo_id)) == askers  # oldest first, none twice, none lost

    url = f"{srv.url}/api/models/{repo_id}/user-access-request/pending"
    pages = []
    while url:
        r = httpx.get(url, headers={"authorization": f"Bearer {owner_token}"})
        assert r.status_code == 200, r.text
        pages.append(len(r.json()))
        url = r.links.get("next", {}).get("url")
    assert pages == [100, 100, 5]
    r = httpx.get(f"{srv.url}/api/models/{repo_id}/user-access-request/pending?cursor=-1",
                  headers={"authorization": f"Bearer {owner_token}"})
    assert r.status_code == 400 and "cursor" in r.headers["X-Error-Message"]
