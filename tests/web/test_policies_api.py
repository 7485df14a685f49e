"""An organisation's policy over HTTP: members read it, admins write new versions (history kept, each audited),
a malformed document is refused with its line and column, and the policy a repo's changes are evaluated under
(`policy_for`) follows the current version."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inhouse.services.governance import policies
from inhouse.services.governance.policy_doc import DEFAULT_POLICY
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.schema import audit_log
from inhouse.vocabulary import Outcome, RepoType, Role
from tests.support.live import LiveServer

POLICY = """\
licenses:
  deny: [gpl-3.0, agpl-3.0]
  missing: approval
pickles:
  outcome: deny
card:
  required:
    - name: intended use
      metadata: [intended_use]
      sections: [Intended uses]
"""


def call(server: LiveServer, method: str, path: str, token: str | None, body: Any = None, *,
         content: bytes | None = None, content_type: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    return httpx.request(method, server.url + path, headers=headers, json=body if content is None else None,
                         content=content, timeout=30)


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def refused(r: httpx.Response, status: int, code: str) -> str:
    assert (r.status_code, r.headers.get("X-Error-Code")) == (status, code), (r.status_code, r.text)
    message: str = r.json()["error"]
    assert r.headers["X-Error-Message"]
    return message


def new_org(server: LiveServer) -> tuple[str, str]:
    """(org, its admin's write token)."""
    admin = server.make_user()
    token = server.make_token(admin, "write")
    org = f"o{uuid.uuid4().hex[:8]}"
    ok(call(server, "POST", "/api/organizations", token, {"name": org}))
    return org, token


def member(server: LiveServer, org: str, admin_token: str, role: Role, token_role: str = "write") -> str:
    name = server.make_user()
    ok(call(server, "PUT", f"/api/organizations/{org}/members/{name}", admin_token, {"role": role.value}))
    return server.make_token(name, token_role)


def test_an_org_without_a_policy_shows_the_default(server: LiveServer) -> None:
    org, admin = new_org(server)
    body = ok(call(server, "GET", f"/api/orgs/{org}/policy", admin))
    assert body["version"] == 0 and body["default"] is True
    assert body["policy"]["pickles"] == {"outcome": "allow", "on_error": "allow", "extra_safe_globals": []}
    assert body["policy"]["licenses"] is None and body["policy"]["secrets"] is None
    assert ok(call(server, "GET", f"/api/orgs/{org}/policy/versions", admin)) == {"versions": []}
    refused(call(server, "GET", f"/api/orgs/{org}/policy/versions/1", admin), 404, "NotFound")


@pytest.mark.parametrize("backend", ["server", "pg_server"])
def test_versions_are_kept_with_authors_and_messages_and_audited(request: pytest.FixtureRequest,
                                                                  backend: str) -> None:
    server: LiveServer = request.getfixturevalue(backend)
    org, admin = new_org(server)
    first = ok(call(server, "PUT", f"/api/orgs/{org}/policy", admin, {"document": POLICY, "message": "first rules"}))
    assert first["version"] == 1 and first["default"] is False and first["warnings"] == []
    assert "not retroactive" in first["note"] and f"/api/orgs/{org}/policy/recheck" in first["note"]
    assert first["policy"]["licenses"]["deny"] == ["agpl-3.0", "gpl-3.0"]
    assert first["policy"]["licenses"]["missing"] == "approval"
    assert first["policy"]["card"]["required"] == [
        {"name": "intended use", "metadata": ["intended_use"], "sections": ["Intended uses"]}]

    second_doc = "secrets:\n  outcome: deny\nlicenses:\n  allow: [mit, not-a-license]\n"
    second = ok(call(server, "PUT", f"/api/orgs/{org}/policy?message=raw%20yaml", admin,
                     content=second_doc.encode(), content_type="application/yaml"))
    assert second["version"] == 2 and second["message"] == "raw yaml"
    assert len(second["warnings"]) == 1 and "policy line 4, column 16" in second["warnings"][0]
    assert "'not-a-license' is not one of the hub's license ids" in second["warnings"][0]

    current = ok(call(server, "GET", f"/api/orgs/{org}/policy", admin))
    assert (current["version"], current["document"], current["policy"]["secrets"]["outcome"]) == (
        2, second_doc, "deny")
    history = ok(call(server, "GET", f"/api/orgs/{org}/policy/versions", admin))["versions"]
    admin_name = ok(call(server, "GET", "/api/whoami-v2", admin))["name"]
    assert [(v["version"], v["message"], v["author"]) for v in history] == [
        (2, "raw yaml", admin_name), (1, "first rules", admin_name)]
    assert "document" not in history[0]
    assert ok(call(server, "GET", f"/api/orgs/{org}/policy/versions?before=2", admin))["versions"][0]["version"] == 1
    old = ok(call(server, "GET", f"/api/orgs/{org}/policy/versions/1", admin))
    assert old["document"] == POLICY and old["policy"]["pickles"]["outcome"] == "deny"

    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.details, audit_log.c.outcome)
                            .where(audit_log.c.action == "policy.update").order_by(audit_log.c.seq)).all()
    mine = [(r.actor, json.loads(r.details), r.outcome) for r in rows if json.loads(r.details)["org"] == org]
    assert mine == [(admin_name, {"org": org, "version": 1, "message": "first rules"}, "ok"),
                    (admin_name, {"org": org, "version": 2, "message": "raw yaml"}, "ok")]


def test_parent_version_guards_against_lost_updates(server: LiveServer) -> None:
    org, admin = new_org(server)
    ok(call(server, "PUT", f"/api/orgs/{org}/policy", admin, {"document": POLICY, "parentVersion": 0}))
    message = refused(call(server, "PUT", f"/api/orgs/{org}/policy", admin,
                           {"document": POLICY, "parentVersion": 0}), 409, "Conflict")
    assert "at version 1, not 0" in message
    assert ok(call(server, "PUT", f"/api/orgs/{org}/policy", admin,
                   {"document": POLICY, "parentVersion": 1}))["version"] == 2


def test_malformed_documents_are_refused_with_line_and_column(server: LiveServer) -> None:
    org, admin = new_org(server)
    cases = {
        "licenses:\n  deny: [gpl-3.0\n  missing: deny\n": "policy line 3, column 10:",  # YAML syntax
        "card:\n  required:\n    - name: intended use\n      metadata: [intended_use]\n    - nmae: limits\n":
            "policy line 5, column 7: unknown key 'nmae' in an entry of card.required; did you mean 'name'?",
        "pickles:\n  outcome: quarantine\n  on_error: refuse\n":
            "policy line 3, column 13: unknown outcome 'refuse' for pickles.on_error",
        "lifecycle:\n  approvals: -1\n": "policy line 2, column 14: lifecycle.approvals is -1, out of range",
        "licenses:\n  deny: &x [mit]\n  allow: *x\n": "YAML anchors and aliases",
    }
    for document, expected in cases.items():
        for path in ("/policy", "/policy/validate"):
            method = "PUT" if path == "/policy" else "POST"
            message = refused(call(server, method, f"/api/orgs/{org}{path}", admin, {"document": document}),
                              400, "BadRequest")
            assert expected in message, (document, message)
    nested = "card:\n  required:\n    - name: x\n      metadata: [a]\n      sectons: [b]\n"
    assert "policy line 5, column 7: unknown key 'sectons'" in refused(
        call(server, "POST", f"/api/orgs/{org}/policy/validate", admin, {"document": nested}), 400, "BadRequest")
    refused(call(server, "PUT", f"/api/orgs/{org}/policy", admin, content=b"x: 1\n" * 20_000,
                 content_type="application/yaml"), 413, "PayloadTooLarge")
    refused(call(server, "PUT", f"/api/orgs/{org}/policy", admin, {"document": 5}), 400, "BadRequest")
    # nothing was written by any of them
    assert ok(call(server, "GET", f"/api/orgs/{org}/policy", admin))["version"] == 0


def test_validate_answers_what_put_would_without_writing(server: LiveServer) -> None:
    org, admin = new_org(server)
    reader = member(server, org, admin, Role.READ)
    body = ok(call(server, "POST", f"/api/orgs/{org}/policy/validate", reader,
                   content=b"licenses:\n  deny: [gpl3]\n", content_type="text/yaml"))
    assert body["valid"] is True and body["policy"]["licenses"]["deny"] == ["gpl3"]
    assert "did you mean 'gpl'?" in body["warnings"][0] or "did you mean 'gpl-3.0'?" in body["warnings"][0]
    assert ok(call(server, "GET", f"/api/orgs/{org}/policy", admin))["version"] == 0


def test_members_read_admins_write_outsiders_see_nothing(server: LiveServer) -> None:
    org, admin = new_org(server)
    ok(call(server, "PUT", f"/api/orgs/{org}/policy", admin, {"document": POLICY}))
    reader = member(server, org, admin, Role.READ, "read")
    writer = member(server, org, admin, Role.WRITE)
    assert ok(call(server, "GET", f"/api/orgs/{org}/policy", reader))["document"] == POLICY
    assert ok(call(server, "GET", f"/api/orgs/{org}/policy/versions", reader))["versions"][0]["version"] == 1

    message = refused(call(server, "PUT", f"/api/orgs/{org}/policy", writer, {"document": "secrets: {}\n"}),
                      403, "Forbidden")
    assert f"Only admins of '{org}' can change its policy" in message
    # refused before its document is even read: no hint from the parser to a non-admin
    refused(call(server, "PUT", f"/api/orgs/{org}/policy", writer, {"document": "x: ["}), 403, "Forbidden")

    outsider = server.make_token(server.make_user(), "write")
    for method, path in (("GET", "/policy"), ("GET", "/policy/versions"), ("GET", "/policy/versions/1"),
                         ("POST", "/policy/validate"), ("PUT", "/policy")):
        r = call(server, method, f"/api/orgs/{org}{path}", outsider, {"document": POLICY})
        assert f"Only members of '{org}'" in refused(r, 403, "Forbidden") or method == "PUT"
    refused(call(server, "GET", f"/api/orgs/{org}/policy", None), 401, "Unauthorized")
    refused(call(server, "GET", f"/api/orgs/nosuch{uuid.uuid4().hex[:6]}/policy", admin), 404, "NotFound")
    # a read token of an admin cannot write
    admin_name = ok(call(server, "GET", "/api/whoami-v2", admin))["name"]
    refused(call(server, "PUT", f"/api/orgs/{org}/policy", server.make_token(admin_name, "read"),
                 {"document": POLICY}), 403, "Forbidden")
    assert ok(call(server, "GET", f"/api/orgs/{org}/policy", admin))["version"] == 1


def test_policy_for_follows_the_current_version(server: LiveServer) -> None:
    org, admin = new_org(server)
    api = server.api(admin)
    repo_id = f"{org}/m{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    user_repo, _ = server.make_repo()
    stores = server.stores

    def governing(rid: str) -> Any:
        ns, name = rid.split("/")
        with stores.db.read() as conn:
            hit = repo_store.find_repo(conn, RepoType.MODEL, ns, name)
            assert hit is not None
            return policies.policy_for(stores, conn, hit[0])

    assert governing(repo_id) == DEFAULT_POLICY and governing(user_repo) == DEFAULT_POLICY
    ok(call(server, "PUT", f"/api/orgs/{org}/policy", admin, {"document": POLICY}))
    first = governing(repo_id)
    assert (first.org, first.version, first.pickles.outcome) == (org, 1, Outcome.DENY)
    assert governing(repo_id) is first  # parsed once, then answered from the runtime's cache
    ok(call(server, "PUT", f"/api/orgs/{org}/policy", admin, {"document": "pickles: {outcome: quarantine}\n"}))
    second = governing(repo_id)
    assert (second.version, second.pickles.outcome, second.licenses) == (2, Outcome.QUARANTINE, None)
    assert governing(user_repo) == DEFAULT_POLICY
