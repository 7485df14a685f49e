"""The governance routes over HTTP: a repo's evaluations, quarantined files and stage (download access; a missing
repo and one the caller may not see answer the same), releasing a quarantined file (org admins, with a reason,
audited), and an organisation's recheck (org admins; bounded pages; nothing changed)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from inhouse.services import orgs
from inhouse.storage.db import audit as audit_store
from inhouse.vocabulary import Role
from tests.support.live import LiveServer

EVIL = b"cos\nsystem\n(S'echo pwned'\ntR."  # never loaded: only uploaded


def call(server: LiveServer, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, server.url + path, headers=headers, json=body, timeout=60)


def put_policy(server: LiveServer, org: str, token: str, document: str) -> None:
    r = call(server, "PUT", f"/api/orgs/{org}/policy", token, {"document": document, "message": "t"})
    assert r.status_code == 200, r.text


class World:
    def __init__(self, server: LiveServer):
        self.org = f"o{uuid.uuid4().hex[:8]}"
        self.admin, self.writer, self.outsider = (server.make_user() for _ in range(3))
        orgs.create_org(server.stores, self.org, admin=self.admin)
        orgs.set_member(server.stores, self.org, self.writer, Role.WRITE)
        self.admin_token, self.writer_token, self.outsider_token = (
            server.make_token(n, "write") for n in (self.admin, self.writer, self.outsider))
        put_policy(server, self.org, self.admin_token, "pickles:\n  outcome: quarantine\n")
        api = server.api(self.writer_token)
        self.public, self.private = f"{self.org}/pub", f"{self.org}/priv"
        server.api(self.admin_token).create_repo(self.public)
        server.api(self.admin_token).create_repo(self.private, private=True)
        for repo in (self.public, self.private):
            api.upload_file(path_or_fileobj=EVIL, path_in_repo="model.bin", repo_id=repo)


@pytest.fixture(scope="module")
def world(server: LiveServer) -> World:
    return World(server)


def test_governance_shows_evaluations_quarantine_and_stage(server: LiveServer, world: World) -> None:
    r = call(server, "GET", f"/api/models/{world.public}/governance", world.outsider_token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == world.public and body["stage"] == "draft"
    [evaluation] = [e for e in body["evaluations"] if e["outcome"] == "quarantine"]
    assert evaluation["trigger"] == "commit" and evaluation["policyVersion"] == 1 and evaluation["actor"] == world.writer
    assert [f["rule"] for f in evaluation["findings"]] == ["pickle.unsafe"]
    [held] = body["quarantined"]
    assert held["path"] == "model.bin" and held["active"] and held["contentKey"].startswith("sha256:")
    limited = call(server, "GET", f"/api/models/{world.public}/governance?limit=100000", world.writer_token)
    assert limited.status_code == 200 and len(limited.json()["evaluations"]) <= 50


def test_a_repo_the_caller_may_not_see_answers_as_a_missing_one(server: LiveServer, world: World) -> None:
    hidden = call(server, "GET", f"/api/models/{world.private}/governance", world.outsider_token)
    missing = call(server, "GET", f"/api/models/{world.org}/nope/governance", world.outsider_token)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["X-Error-Code"] == missing.headers["X-Error-Code"]
    assert hidden.headers["X-Error-Message"] == missing.headers["X-Error-Message"]
    assert call(server, "GET", f"/api/models/{world.private}/governance", world.writer_token).status_code == 200


def _held(server: LiveServer, world: World, repo: str) -> int:
    body = call(server, "GET", f"/api/models/{repo}/governance", world.admin_token).json()
    return int(body["quarantined"][0]["id"])


def test_release_is_for_org_admins_with_a_reason(server: LiveServer, world: World) -> None:
    qid = _held(server, world, world.private)
    path = f"/api/models/{world.private}/quarantine/{qid}/release"
    assert call(server, "POST", path, world.outsider_token, {"reason": "x"}).status_code == 404  # cannot see it
    writer = call(server, "POST", path, world.writer_token, {"reason": "x"})
    assert writer.status_code == 403 and "admins" in writer.headers["X-Error-Message"]
    for bad in ({}, {"reason": ""}, {"reason": 5}, {"reason": "x" * 5000}):
        assert call(server, "POST", path, world.admin_token, bad).status_code == 400
    assert call(server, "POST", f"/api/models/{world.private}/quarantine/abc/release", world.admin_token,
                {"reason": "x"}).status_code == 400
    assert call(server, "POST", f"/api/models/{world.private}/quarantine/{qid + 10_000}/release",
                world.admin_token, {"reason": "x"}).status_code == 404
    ok = call(server, "POST", path, world.admin_token, {"reason": "a test fixture, reviewed"})
    assert ok.status_code == 200 and ok.json()["releasedBy"] == world.admin, ok.text
    assert call(server, "POST", path, world.admin_token, {"reason": "again"}).status_code == 400
    with server.stores.db.read() as conn:
        entries = [e for e in audit_store.scan(conn, action="policy.release") if e["repo"] == world.private]
    assert len(entries) == 1 and json.loads(entries[0]["details"])["content_key"].startswith("sha256:")


def test_recheck_is_for_org_admins_and_bounded(server: LiveServer, world: World) -> None:
    path = f"/api/orgs/{world.org}/policy/recheck"
    assert call(server, "POST", path, world.writer_token).status_code == 403
    assert call(server, "POST", path, None).status_code == 401
    assert call(server, "POST", "/api/orgs/no-such-org-here/policy/recheck", world.admin_token).status_code == 404
    assert call(server, "POST", path + "?offset=-1", world.admin_token).status_code == 400
    first = call(server, "POST", path + "?limit=1", world.admin_token)
    assert first.status_code == 200, first.text
    body = first.json()
    assert len(body["repos"]) == 1 and "next" in body and body["policyVersion"] == 1
    rest = call(server, "POST", path + "?offset=1&limit=1", world.admin_token).json()
    assert "next" not in rest
    seen = {r["repo"]: r for r in body["repos"] + rest["repos"]}
    assert set(seen) == {world.public, world.private}
    for r in seen.values():
        assert r["outcome"] == "quarantine" and [f["rule"] for f in r["findings"]] == ["pickle.unsafe"]


def test_a_quarantined_file_is_not_served_through_lfs_batch_or_the_xet_cas(server: LiveServer, world: World) -> None:
    """The other ways to its bytes: a Git LFS batch download (git lfs pull) and a Xet reconstruction by the file's
    hash (the tree listing shows it) answer 403 naming the quarantine."""
    r = call(server, "GET", f"/api/models/{world.public}/tree/main", world.writer_token)
    [entry] = [e for e in r.json() if e["path"] == "model.bin"]
    oid, size = entry["lfs"]["oid"], entry["lfs"]["size"]
    batch = httpx.post(f"{server.url}/{world.public}.git/info/lfs/objects/batch", timeout=60,
                       json={"operation": "download", "objects": [{"oid": oid, "size": size}]},
                       headers={"Authorization": f"Bearer {world.writer_token}",
                                "Accept": "application/vnd.git-lfs+json",
                                "Content-Type": "application/vnd.git-lfs+json"})
    assert batch.status_code == 200, batch.text
    [obj] = batch.json()["objects"]
    assert "actions" not in obj and obj["error"]["code"] == 403 and "quarantined" in obj["error"]["message"]
    assert entry.get("xetHash"), entry  # stored through the Xet CAS (the client's default)
    token = httpx.get(f"{server.url}/api/models/{world.public}/xet-read-token/main", timeout=60,
                      headers={"Authorization": f"Bearer {world.writer_token}"}).json()
    rec = httpx.get(f"{token['casUrl']}/v1/reconstructions/{entry['xetHash']}", timeout=60,
                    headers={"Authorization": f"Bearer {token['accessToken']}"})
    assert rec.status_code == 403 and rec.headers["X-Error-Code"] == "FileQuarantined", rec.text
