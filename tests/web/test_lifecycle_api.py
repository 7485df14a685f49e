"""The lifecycle and approvals routes over HTTP against a live server: the answers' shapes, bad input refused with a
400 that says what to send, a private model's lifecycle and requests invisible to outsiders exactly as a missing
model is, reads of a private model's requests audited, datasets' approvals listed (they have no lifecycle), and a
deprecated model's files still served with an X-Deprecated header pointing at its lifecycle."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from inhouse.storage.db.schema import audit_log
from tests.support.live import LiveServer


def _call(server: LiveServer, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, server.url + path, headers=headers, json=body, timeout=60)


def _audited(server: LiveServer, r: httpx.Response) -> list[tuple[str, str]]:
    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.outcome)
                            .where(audit_log.c.request_id == r.headers["X-Request-Id"])).all()
    return [(a, o) for a, o in rows]


def test_shapes_bad_input_and_visibility(server: LiveServer) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    repo_id = f"{owner}/m{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id=repo_id)
    head = api.model_info(repo_id).sha
    base = f"/api/models/{repo_id}"

    life = _call(server, "GET", base + "/lifecycle", token)
    assert life.status_code == 200
    assert life.json() == {"id": repo_id, "stage": "draft", "revision": None, "replacement": None, "reason": None,
                           "request": None, "updatedAt": None, "updatedBy": None, "production": None,
                           "openRequests": []}
    made = _call(server, "POST", base + "/promotions", token, {"stage": "validated", "reason": "evaluated\nby QA"})
    assert made.status_code == 201, made.text
    req = made.json()
    assert {k: req[k] for k in ("number", "kind", "target", "revision", "author", "reason", "status", "approvals",
                                "approvalsRequired", "approverRoles", "reviews")} == {
        "number": 1, "kind": "promotion", "target": "validated", "revision": head, "author": owner,
        "reason": "evaluated\nby QA", "status": "open", "approvals": 0, "approvalsRequired": 1,
        "approverRoles": ["admin"], "reviews": []}
    assert [r["number"] for r in _call(server, "GET", base + "/lifecycle", token).json()["openRequests"]] == [1]
    one = _call(server, "GET", base + "/approvals/1", token)
    assert one.status_code == 200 and one.json()["number"] == 1
    assert _audited(server, one) == [("repo.approvals", "ok")]  # a private repo's read is audited
    assert [r["number"] for r in _call(server, "GET", base + "/approvals?limit=5", token).json()] == [1]

    # bad input: a 400 (or 404 for what does not exist) naming what to send
    bad = [
        ("POST", base + "/promotions", {"stage": "shipped", "reason": "r"}, 400),
        ("POST", base + "/promotions", {"stage": "validated"}, 400),
        ("POST", base + "/promotions", {"stage": "validated", "reason": 5}, 400),
        ("POST", base + "/promotions", {"stage": "validated", "reason": "r", "revision": "nope"}, 404),
        ("POST", base + "/promotions", {"stage": "validated", "reason": "r", "revision": ["main"]}, 400),
        ("POST", base + "/promotions", {"stage": "production", "reason": "r"}, 409),
        ("POST", base + "/promotions", [1], 400),
        ("POST", base + "/approvals/1/reject", {}, 400),
        ("POST", base + "/approvals/abc/approve", {}, 400),
        ("POST", base + "/approvals/0/approve", {}, 400),
        ("POST", base + "/approvals/99999999999/approve", {}, 400),
        ("POST", base + "/approvals/7/approve", {}, 404),
        ("GET", base + "/approvals/7", None, 404),
        ("GET", base + "/approvals?status=maybe", None, 400),
        ("GET", base + "/approvals?limit=-1", None, 400),
    ]
    for method, path, body, status in bad:
        r = _call(server, method, path, token, body)
        assert r.status_code == status, (method, path, body, r.status_code, r.text)
        assert r.headers["X-Error-Message"], (method, path)
    # the author cannot approve; the message says why and what to do
    own = _call(server, "POST", base + "/approvals/1/approve", token, {})
    assert own.status_code == 403 and "two-person rule" in own.headers["X-Error-Message"]

    # outsiders and anonymous callers: the same answer as for a missing model
    outsider = server.make_token(server.make_user(), "write")
    missing = f"/api/models/{owner}/no-such-model"
    for who in (outsider, None):
        for suffix, method in (("/lifecycle", "GET"), ("/approvals", "GET"), ("/approvals/1", "GET"),
                               ("/approvals/1/approve", "POST"), ("/approvals/1/cancel", "POST"),
                               ("/promotions", "POST")):
            body = {"stage": "validated", "reason": "r"} if method == "POST" else None
            hidden = _call(server, method, base + suffix, who, body)
            absent = _call(server, method, missing + suffix, who, body)
            assert (hidden.status_code, hidden.headers["X-Error-Code"], hidden.headers["X-Error-Message"]) == (
                absent.status_code, absent.headers["X-Error-Code"], absent.headers["X-Error-Message"]), suffix
            assert hidden.status_code in (401, 404)

    # the author cancels; a dataset's approvals are listed (none), it has no lifecycle route
    assert _call(server, "POST", base + "/approvals/1/cancel", token, {"reason": "wrong one"}).json()["status"] == \
        "cancelled"
    ds = f"{owner}/d{uuid.uuid4().hex[:6]}"
    api.create_repo(ds, repo_type="dataset")
    assert _call(server, "GET", f"/api/datasets/{ds}/approvals", token).json() == []
    assert _call(server, "GET", f"/api/datasets/{ds}/lifecycle", token).status_code == 404
    assert _call(server, "POST", f"/api/datasets/{ds}/promotions", token, {"stage": "validated", "reason": "r"}
                 ).status_code in (404, 405)


def test_a_deprecated_models_files_say_so(server: LiveServer) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    admin = server.make_token(server.make_user(admin=True), "write")
    api = server.api(token)
    repo_id = f"{owner}/m{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id=repo_id)
    assert "X-Deprecated" not in httpx.head(f"{server.url}/{repo_id}/resolve/main/a.txt").headers
    n = _call(server, "POST", f"/api/models/{repo_id}/promotions", token,
              {"stage": "deprecated", "reason": "use the next one"}).json()["number"]
    # a user's own model: a site admin approves
    assert _call(server, "POST", f"/api/models/{repo_id}/approvals/{n}/approve", admin, {}).json()["status"] == \
        "approved"
    for method in ("HEAD", "GET"):
        r = httpx.request(method, f"{server.url}/{repo_id}/resolve/main/a.txt")
        assert r.status_code == 200
        assert r.headers["X-Deprecated"] == f"{server.url}/api/models/{repo_id}/lifecycle"
    assert api.model_info(repo_id).disabled is False
