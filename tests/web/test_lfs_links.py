"""Signed LFS transfer links on a live server: they live as long as the batch answer says (download links one hour),
act for the Hub token that asked for them and re-check it on every use (a revoked token, a user who left the org or
lost gated access is refused), and each download of a private or gated file through them is audited, as a resolve
GET is. Files go up with the real huggingface_hub client over LFS; downloads are what git-lfs sends."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx
from huggingface_hub import HfApi

from inhouse.services import orgs as org_service
from inhouse.services import users as user_service
from inhouse.vocabulary import Role, TokenRole
from tests.support.live import LiveServer

LFS_JSON = "application/vnd.git-lfs+json"


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _batch(srv: LiveServer, token: str | None, repo_id: str, operation: str, oid: str, size: int,
           **extra: Any) -> httpx.Response:
    return httpx.post(f"{srv.url}/{repo_id}.git/info/lfs/objects/batch", timeout=30,
                      headers={**_auth(token), "Accept": LFS_JSON, "Content-Type": LFS_JSON},
                      json={"operation": operation, "transfers": ["basic"], "objects": [{"oid": oid, "size": size}],
                            **extra})


def _action(srv: LiveServer, token: str | None, repo_id: str, operation: str, oid: str, size: int,
            **extra: Any) -> dict[str, Any]:
    r = _batch(srv, token, repo_id, operation, oid, size, **extra)
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    assert "error" not in obj, obj
    return obj["actions"]["download" if operation == "download" else "upload"]  # type: ignore[no-any-return]


def _lfs_file(api: HfApi, repo_id: str, path: str = "w.bin", *, private: bool = False) -> tuple[bytes, str]:
    """Creates `repo_id` and uploads a large file with the real client over LFS; (bytes, oid)."""
    api.create_repo(repo_id, private=private)
    data = os.urandom(300_000)
    api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id)
    return data, hashlib.sha256(data).hexdigest()


def _audit(srv: LiveServer, repo_id: str) -> list[dict[str, Any]]:
    admin = srv.make_user(admin=True)
    r = httpx.get(f"{srv.url}/api/audit", params={"repo": repo_id, "format": "jsonl"},
                  headers=_auth(srv.make_token(admin, "read")), timeout=30)
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines()]


def _error(r: httpx.Response) -> tuple[int, str | None, str | None]:
    return r.status_code, r.headers.get("X-Error-Code"), r.headers.get("X-Error-Message")


def test_links_expire_when_the_batch_answer_says(server: LiveServer, user: tuple[str, str], api: HfApi,
                                                 repo_id: str, lfs_only: None) -> None:
    data, oid = _lfs_file(api, repo_id)
    before = int(time.time())
    download = _action(server, user[1], repo_id, "download", oid, len(data))
    new = os.urandom(1000)
    upload = _action(server, user[1], repo_id, "upload", hashlib.sha256(new).hexdigest(), len(new))
    after = time.time()
    for action, ttl in ((download, 3600), (upload, server.settings.upload_url_ttl_s)):
        exp = int(httpx.URL(action["href"]).params["exp"])
        assert action["expires_in"] == ttl
        assert before + ttl <= exp <= after + ttl  # the link is signed for exactly what the answer says
        assert action["expires_at"] == datetime.fromtimestamp(exp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert httpx.get(download["href"], timeout=30).content == data


def test_a_revoked_tokens_links_stop_working(server: LiveServer, user: tuple[str, str], api: HfApi, repo_id: str,
                                             lfs_only: None) -> None:
    data, oid = _lfs_file(api, repo_id, private=True)
    tok, secret = user_service.create_token(server.stores, user[0], role=TokenRole.WRITE, name="ci")
    download = _action(server, secret, repo_id, "download", oid, len(data))["href"]
    new = os.urandom(1000)
    new_oid = hashlib.sha256(new).hexdigest()
    upload = _action(server, secret, repo_id, "upload", new_oid, len(new))["href"]
    assert httpx.get(download, timeout=30).content == data

    user_service.revoke_token(server.stores, tok.id)
    r = httpx.get(download, timeout=30)
    assert r.status_code == 401 and r.headers["X-Error-Code"] == "Unauthorized"
    assert data not in r.content
    assert httpx.put(upload, content=new, timeout=30).status_code == 401
    assert server.stored(new_oid) is None
    assert httpx.URL(download).params["t"] == str(tok.id)
    # the link cannot be moved to another token: the token id is signed
    other = httpx.URL(download).copy_merge_params({"t": str(tok.id - 1)})
    assert httpx.get(other, timeout=30).status_code == 403
    assert httpx.get(httpx.URL(download).copy_remove_param("t"), timeout=30).status_code == 403
    # the owner's own token still works, and so do anonymous downloads from a public repo
    assert httpx.get(_action(server, user[1], repo_id, "download", oid, len(data))["href"], timeout=30).content == data
    api.update_repo_settings(repo_id, private=False)
    anonymous = _action(server, None, repo_id, "download", oid, len(data))["href"]
    assert "t" not in httpx.URL(anonymous).params
    assert httpx.get(anonymous, timeout=30).content == data


def test_the_link_of_a_user_who_left_the_org_answers_as_a_missing_repo(server: LiveServer, lfs_only: None) -> None:
    owner = server.make_user()
    owner_token = server.make_token(owner, "write")
    org = f"o{uuid.uuid4().hex[:8]}"
    org_service.create_org(server.stores, org, admin=owner)
    leaver = server.make_user()
    org_service.set_member(server.stores, org, leaver, Role.READ)
    leaver_token = server.make_token(leaver, "read")
    owner_api = server.api(owner_token)
    kept, gone = f"{org}/kept-{uuid.uuid4().hex[:6]}", f"{org}/gone-{uuid.uuid4().hex[:6]}"
    data, oid = _lfs_file(owner_api, kept, private=True)
    gone_data, gone_oid = _lfs_file(owner_api, gone, private=True)
    link = _action(server, leaver_token, kept, "download", oid, len(data))["href"]
    ghost = _action(server, leaver_token, gone, "download", gone_oid, len(gone_data))["href"]
    assert httpx.get(link, timeout=30).content == data

    org_service.remove_member(server.stores, org, leaver)
    owner_api.delete_repo(gone)
    r = httpx.get(link, timeout=30)
    missing = httpx.get(ghost, timeout=30)
    assert _error(r) == _error(missing) == (404, "RepoNotFound", "Repository not found")
    assert r.json() == missing.json()
    denied = [e for e in _audit(server, kept) if e["outcome"] == "denied"]
    assert [(e["action"], e["actor"], e["details"]) for e in denied] == [
        ("access.download", leaver, {"error": "RepoNotFound"})]


def test_lfs_downloads_of_private_and_gated_files_are_audited(server: LiveServer, user: tuple[str, str],
                                                              api: HfApi, lfs_only: None) -> None:
    name, token = user
    private = f"{name}/p{uuid.uuid4().hex[:8]}"
    data, oid = _lfs_file(api, private, "weights/model.bin", private=True)
    tok, secret = user_service.create_token(server.stores, name, role=TokenRole.READ, name="puller")
    href = _action(server, secret, private, "download", oid, len(data), ref={"name": "refs/heads/main"})["href"]
    assert [e["action"] for e in _audit(server, private) if e["action"] == "file.download"] == []  # links only
    r = httpx.get(href, timeout=30)
    assert r.content == data
    (entry,) = [e for e in _audit(server, private) if e["action"] == "file.download"]
    head = api.model_info(private).sha
    assert (entry["actor"], entry["token_id"], entry["outcome"]) == (name, tok.id, "ok")
    assert (entry["path"], entry["revision"], entry["ip"]) == ("weights/model.bin", head, "127.0.0.1")
    assert entry["request_id"] == r.headers["X-Request-Id"]
    assert entry["details"] == {"via": "lfs", "sha256": oid, "paths": ["weights/model.bin"]}

    # a public repo's downloads are not audited
    public = f"{name}/o{uuid.uuid4().hex[:8]}"
    pdata, poid = _lfs_file(api, public)
    assert httpx.get(_action(server, None, public, "download", poid, len(pdata))["href"], timeout=30).content == pdata
    assert [e for e in _audit(server, public) if e["action"] == "file.download"] == []

    # gated: a user whose access is accepted downloads (audited); once it is withdrawn, the same link is refused
    # (audited as denied), and a user without access is refused a link at all (audited as denied)
    gated = f"{name}/g{uuid.uuid4().hex[:8]}"
    gdata, goid = _lfs_file(api, gated)
    api.update_repo_settings(gated, gated="manual")
    reader = server.make_user()
    reader_token = server.make_token(reader, "read")
    assert httpx.post(f"{server.url}/api/models/{gated}/user-access-request", headers=_auth(reader_token),
                      timeout=30).status_code == 200
    api.accept_access_request(gated, reader)
    link = _action(server, reader_token, gated, "download", goid, len(gdata))["href"]
    assert httpx.get(link, timeout=30).content == gdata
    api.cancel_access_request(gated, reader)
    r = httpx.get(link, timeout=30)
    assert r.status_code == 403 and r.headers["X-Error-Code"] == "GatedRepo" and gdata not in r.content
    stranger = server.make_user()
    r = _batch(server, server.make_token(stranger, "read"), gated, "download", goid, len(gdata))
    assert r.status_code == 403 and r.json()["message"] == r.headers["X-Error-Message"]
    seen = [(e["action"], e["actor"], e["outcome"], e["path"]) for e in _audit(server, gated)
            if e["action"] in ("file.download", "access.download")]
    assert seen == [("file.download", reader, "ok", "w.bin"), ("access.download", reader, "denied", None),
                    ("access.download", stranger, "denied", None)]
