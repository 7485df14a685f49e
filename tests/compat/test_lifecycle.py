"""A model's lifecycle through the real huggingface_hub client and git against a live server: an org admin's promotion
is refused when its own author approves it and accepted by a second admin; the model moves draft → validated →
approved → production, and `list_repo_refs` shows the tag production at the approved revision, which the client's
tag calls can neither move nor delete; once withdrawn, model_info says disabled, and hf_hub_download,
snapshot_download and a large file's download raise the client's DisabledRepoError (the answer naming the
replacement), and git clone fails."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import DisabledRepoError, HfHubHTTPError

from inhouse.services import orgs
from inhouse.storage.db import audit as audit_store
from inhouse.vocabulary import Role
from tests.support.gitcli import Git, repo_url
from tests.support.live import LiveServer


def _post(server: LiveServer, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _audit(server: LiveServer, action: str, repo_id: str) -> list[dict[str, Any]]:
    with server.stores.db.read() as conn:
        return [{**e, "details": json.loads(e["details"])} for e in audit_store.scan(conn, action=action)
                if e["repo"] == repo_id]


def test_promotion_production_tag_and_withdrawal_with_the_real_client(server: LiveServer, tmp_path: Path) -> None:
    alice, bob, carol = (server.make_user() for _ in range(3))
    org = f"o{uuid.uuid4().hex[:8]}"
    orgs.create_org(server.stores, org, admin=alice)
    orgs.set_member(server.stores, org, bob, Role.ADMIN)
    orgs.set_member(server.stores, org, carol, Role.WRITE)
    ta, tb, tc = (server.make_token(n, "write") for n in (alice, bob, carol))
    api_a, api_c = server.api(ta), server.api(tc)
    repo_id, successor = f"{org}/scorer", f"{org}/scorer-v2"
    api_a.create_repo(repo_id)
    api_a.create_repo(successor)
    api_c.upload_file(path_or_fileobj=b"weights v1", path_in_repo="w.txt", repo_id=repo_id)
    api_c.upload_file(path_or_fileobj=b"\x00large" * 300_000, path_in_repo="big.safetensors", repo_id=repo_id)
    rev1 = api_c.model_info(repo_id).sha
    base = f"/api/models/{repo_id}"

    def promote(stage: str, token: str, **extra: Any) -> int:
        r = _post(server, base + "/promotions", token, {"stage": stage, "reason": f"ready: {stage}", **extra})
        assert r.status_code == 201, r.text
        return int(r.json()["number"])

    def review(number: int, token: str, decision: str = "approve", reason: str = "checked") -> httpx.Response:
        return _post(server, f"{base}/approvals/{number}/{decision}", token, {"reason": reason})

    # alice (an org admin) asks; she cannot approve her own request; bob, a second admin, can
    n = promote("validated", ta)
    own = review(n, ta)
    assert own.status_code == 403 and "two-person rule" in own.headers["X-Error-Message"]
    assert review(n, tc).status_code == 403  # carol writes, but is no approver
    ok = review(n, tb)
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    n = promote("approved", tc)
    rejected = review(n, tb, "reject", "the evaluation report is missing")
    assert rejected.json()["status"] == "rejected"
    assert review(n, ta, "reject", "").status_code == 400  # a rejection needs its reason
    assert review(n, ta, "reject", "late").status_code == 409  # closed already
    n = promote("approved", tc)
    assert review(n, ta).json()["status"] == "approved"
    api_c.upload_file(path_or_fileobj=b"weights v2", path_in_repo="w.txt", repo_id=repo_id)
    n = promote("production", tc)  # the approved revision (rev1), not the newer head of main
    assert review(n, tb).json()["status"] == "approved"

    tags = {t.name: t.target_commit for t in api_c.list_repo_refs(repo_id).tags}
    assert tags["production"] == rev1
    assert Path(hf_hub_download(repo_id, "w.txt", revision="production", endpoint=server.url, token=tc,
                                cache_dir=tmp_path / "c1")).read_bytes() == b"weights v1"
    life = httpx.get(server.url + base + "/lifecycle", headers={"Authorization": f"Bearer {tc}"}).json()
    assert (life["stage"], life["revision"], life["production"], life["openRequests"]) == (
        "production", rev1, rev1, [])
    # only an approved promotion moves the tag: the client's tag and branch calls are refused
    for call in (lambda: api_a.create_tag(repo_id, tag="production", revision="main", exist_ok=False),
                 lambda: api_a.delete_tag(repo_id, tag="production"),
                 lambda: api_a.create_branch(repo_id, branch="production")):
        with pytest.raises(HfHubHTTPError) as err:
            call()
        assert err.value.response.status_code == 403 and "promotion" in str(err.value)
    assert {t.name: t.target_commit for t in api_c.list_repo_refs(repo_id).tags}["production"] == rev1

    # withdrawn, with a replacement: model info still answers, downloads are disabled
    n = promote("withdrawn", tc, replacement=successor)
    assert review(n, tb, reason="a license problem in the training data").json()["status"] == "approved"
    info = api_c.model_info(repo_id)
    assert info.disabled is True
    with pytest.raises(DisabledRepoError):
        hf_hub_download(repo_id, "w.txt", endpoint=server.url, token=tc, cache_dir=tmp_path / "c2")
    with pytest.raises(DisabledRepoError):
        hf_hub_download(repo_id, "big.safetensors", endpoint=server.url, token=ta, cache_dir=tmp_path / "c3")
    with pytest.raises(DisabledRepoError):
        snapshot_download(repo_id, endpoint=server.url, token=None, cache_dir=tmp_path / "c4")
    r = httpx.get(f"{server.url}/{repo_id}/resolve/main/w.txt")
    assert (r.status_code, r.headers["X-Error-Code"], r.headers["X-Replaced-By"]) == (403, "RepoDisabled", successor)
    assert r.json()["replacement"] == successor and r.json()["reason"] == "ready: withdrawn"
    git = Git(tmp_path)
    cloned = git.run("clone", repo_url(server, repo_id, tc), str(tmp_path / "clone"), check=False)
    assert cloned.returncode != 0 and "disabled" in cloned.stderr.lower(), cloned.stderr

    # every approval and rejection is in the audit log with its reason and who gave it
    approves = _audit(server, "approval.approve", repo_id)
    assert [(e["actor"], e["details"]["target"]) for e in approves] == [
        (bob, "validated"), (alice, "approved"), (bob, "production"), (bob, "withdrawn")]
    assert approves[-1]["details"]["reason"] == "a license problem in the training data"
    rejects = _audit(server, "approval.reject", repo_id)
    assert [(e["actor"], e["details"]["reason"]) for e in rejects] == [(bob, "the evaluation report is missing")]
    assert [e["details"]["to"] for e in _audit(server, "stage.change", repo_id)] == [
        "validated", "approved", "production", "withdrawn"]
