"""The use cases JSON API over real HTTP (/api/orgs/{org}/use-cases…): create, read, page, change and delete;
who may (members read, writers create, the owner or admins change, org admins weaken); validation answers with
X-Error-Code; attaching and detaching models, an invisible model answered byte for byte like a missing one, each
change in the audit log as the site admin reads it over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.live import LiveServer


def call(server: LiveServer, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, server.url + path, headers=headers, json=body, timeout=30)


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def refused(r: httpx.Response, status: int, code: str) -> str:
    assert (r.status_code, r.headers.get("X-Error-Code")) == (status, code), (r.status_code, r.headers, r.text)
    assert r.headers.get("X-Error-Message") and r.headers.get("X-Request-Id")
    message: str = r.json()["error"]
    return message


class Team:
    def __init__(self, server: LiveServer):
        self.server = server
        self.admin = server.make_user()
        self.admin_token = server.make_token(self.admin)
        self.org = f"o{uuid.uuid4().hex[:8]}"
        ok(call(server, "POST", "/api/organizations", self.admin_token, {"name": self.org}))
        self.writer, self.reader, self.outsider = (server.make_user() for _ in range(3))
        for name, role in ((self.writer, "write"), (self.reader, "read")):
            ok(call(server, "PUT", f"/api/organizations/{self.org}/members/{name}", self.admin_token, {"role": role}))
        self.writer_token, self.reader_token, self.outsider_token = (
            server.make_token(n) for n in (self.writer, self.reader, self.outsider))
        self.base = f"/api/orgs/{self.org}/use-cases"


def audit(server: LiveServer, action: str, org: str) -> list[dict[str, Any]]:
    token = server.make_token(server.make_user(admin=True), "read")
    url: str | None = f"{server.url}/api/audit?action={action}&limit=1000"
    found: list[dict[str, Any]] = []
    while url:  # every page: the server is shared with other tests
        r = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        found += [e for e in ok(r) if e["details"].get("org") == org]
        url = r.headers["Link"].split(">")[0].lstrip("<") if "Link" in r.headers else None
    return found


def test_crud_permissions_and_validation(server: LiveServer) -> None:
    t = Team(server)
    made = ok(call(server, "POST", t.base, t.writer_token, {
        "title": "Credit scoring", "riskTier": "high", "purpose": "Retail credit lines.\nReviewed by people."}), 201)
    assert {k: made[k] for k in ("org", "slug", "title", "owner", "riskTier", "status", "models")} == {
        "org": t.org, "slug": "credit-scoring", "title": "Credit scoring", "owner": t.writer, "riskTier": "high",
        "status": "proposed", "models": []}
    assert made["createdAt"].endswith("Z") and made["purpose"] == "Retail credit lines.\nReviewed by people."

    # members read; outsiders and anonymous callers are refused before anything is looked up
    assert ok(call(server, "GET", f"{t.base}/credit-scoring", t.reader_token))["title"] == "Credit scoring"
    assert "Only members" in refused(call(server, "GET", t.base, t.outsider_token), 403, "Forbidden")
    assert refused(call(server, "GET", f"{t.base}/credit-scoring", t.outsider_token), 403, "Forbidden") == refused(
        call(server, "GET", f"{t.base}/no-such-thing", t.outsider_token), 403, "Forbidden")
    assert call(server, "GET", t.base, None).status_code == 401
    refused(call(server, "GET", f"{t.base}/no-such-thing", t.reader_token), 404, "NotFound")
    refused(call(server, "GET", "/api/orgs/no-such-org-here/use-cases", t.reader_token), 404, "NotFound")
    # readers do not create
    refused(call(server, "POST", t.base, t.reader_token, {"title": "x", "riskTier": "minimal"}), 403, "Forbidden")

    # validation
    assert "Invalid riskTier 'severe'" in refused(
        call(server, "POST", t.base, t.writer_token, {"title": "x", "riskTier": "severe"}), 400, "BadRequest")
    assert "longer than 4000" in refused(call(server, "POST", t.base, t.writer_token, {
        "title": "x", "riskTier": "minimal", "purpose": "p" * 4001}), 400, "BadRequest")
    refused(call(server, "POST", t.base, t.writer_token, {"title": ["x"], "riskTier": "minimal"}), 400, "BadRequest")
    assert "already" in refused(call(server, "POST", t.base, t.admin_token, {
        "title": "Another", "slug": "credit-scoring", "riskTier": "minimal"}), 409, "Conflict")

    # pages by slug, with the total and a link to the next page
    for n in range(3):
        ok(call(server, "POST", t.base, t.admin_token, {"title": f"Case {n}", "riskTier": "minimal",
                                                         "owner": t.reader}), 201)
    first = call(server, "GET", f"{t.base}?limit=2", t.reader_token)
    assert [u["slug"] for u in ok(first)] == ["case-0", "case-1"]
    assert first.headers["X-Total-Count"] == "4" and 'rel="next"' in first.headers["Link"]
    next_url = first.headers["Link"].split(">")[0].lstrip("<")
    second = httpx.get(next_url, headers={"Authorization": f"Bearer {t.reader_token}"}, timeout=30)
    assert [u["slug"] for u in ok(second)] == ["case-2", "credit-scoring"] and "Link" not in second.headers

    # the owner changes it; a non-owner member does not; lowering the tier is for org admins
    changed = ok(call(server, "PATCH", f"{t.base}/credit-scoring", t.writer_token, {"status": "active",
                                                                                     "title": "Credit scoring v2"}))
    assert (changed["status"], changed["title"], changed["riskTier"]) == ("active", "Credit scoring v2", "high")
    refused(call(server, "PATCH", f"{t.base}/credit-scoring", t.reader_token, {"title": "mine"}), 403, "Forbidden")
    assert "admins" in refused(call(server, "PATCH", f"{t.base}/credit-scoring", t.writer_token,
                                    {"riskTier": "limited"}), 403, "Forbidden")
    assert ok(call(server, "PATCH", f"{t.base}/credit-scoring", t.admin_token,
                   {"riskTier": "limited"}))["riskTier"] == "limited"
    assert "Cannot change 'slug'" in refused(call(server, "PATCH", f"{t.base}/credit-scoring", t.admin_token,
                                                  {"slug": "x"}), 400, "BadRequest")
    # the reader owns case-0: they may delete it; the writer may not
    refused(call(server, "DELETE", f"{t.base}/case-0", t.writer_token), 403, "Forbidden")
    ok(call(server, "DELETE", f"{t.base}/case-0", t.reader_token))
    refused(call(server, "GET", f"{t.base}/case-0", t.reader_token), 404, "NotFound")

    created = [(e["actor"], e["details"]["slug"]) for e in audit(server, "use_case.create", t.org)]
    assert created == [(t.writer, "credit-scoring"), (t.admin, "case-0"), (t.admin, "case-1"), (t.admin, "case-2")]
    updates = [e["details"]["changes"] for e in audit(server, "use_case.update", t.org)]
    assert updates == [{"status": {"from": "proposed", "to": "active"},
                        "title": {"from": "Credit scoring", "to": "Credit scoring v2"}},
                       {"riskTier": {"from": "high", "to": "limited"}}]
    assert [(e["actor"], e["details"]["slug"]) for e in audit(server, "use_case.delete", t.org)] == [
        (t.reader, "case-0")]


def test_attach_and_detach_models(server: LiveServer) -> None:
    t = Team(server)
    ok(call(server, "POST", t.base, t.writer_token, {"title": "Triage", "riskTier": "high"}), 201)
    model = f"{t.org}/triage-bert"
    server.api(t.admin_token).create_repo(model)
    private_own = f"{t.reader}/notes"
    server.api(t.reader_token).create_repo(private_own, private=True)
    hidden = f"{t.outsider}/hidden"
    server.api(t.outsider_token).create_repo(hidden, private=True)

    models = ok(call(server, "POST", f"{t.base}/triage/models", t.writer_token, {"repo": model}))["models"]
    assert [(m["id"], m["private"], m["stage"], m["addedBy"]) for m in models] == [(model, False, "draft", t.writer)]
    # a model the caller cannot see answers exactly as a missing one
    gone = call(server, "POST", f"{t.base}/triage/models", t.writer_token, {"repo": f"{t.outsider}/nothing"})
    invisible = call(server, "POST", f"{t.base}/triage/models", t.writer_token, {"repo": hidden})
    assert (gone.status_code, gone.headers["X-Error-Code"], gone.json()) == (
        invisible.status_code, invisible.headers["X-Error-Code"], invisible.json()) and gone.status_code == 404
    # no write access to the model: refused; bad ids: 400
    refused(call(server, "POST", f"{t.base}/triage/models", t.reader_token, {"repo": model}), 403, "Forbidden")
    assert call(server, "POST", f"{t.base}/triage/models", t.writer_token, {"repo": "no-slash"}).status_code == 400
    refused(call(server, "POST", f"{t.base}/triage/models", t.writer_token, {}), 400, "BadRequest")
    # the reader attaches their private model: only they see it in the use case
    ok(call(server, "POST", f"{t.base}/triage/models", t.reader_token, {"repo": private_own}))
    assert [m["id"] for m in ok(call(server, "GET", f"{t.base}/triage", t.writer_token))["models"]] == [model]
    assert [m["id"] for m in ok(call(server, "GET", f"{t.base}/triage", t.reader_token))["models"]] == [
        model, private_own]

    # detaching from a high-risk use case: org admins only
    refused(call(server, "DELETE", f"{t.base}/triage/models", t.writer_token, {"repo": model}), 403, "Forbidden")
    left = ok(call(server, "DELETE", f"{t.base}/triage/models", t.admin_token, {"repo": model}))["models"]
    assert [m["id"] for m in left] == []  # the admin cannot see the reader's private model
    refused(call(server, "DELETE", f"{t.base}/triage/models", t.admin_token, {"repo": model}), 404, "NotFound")

    attached = [(e["actor"], e["repo"], e["details"]) for e in audit(server, "use_case.attach", t.org)]
    assert attached == [(t.writer, model, {"org": t.org, "slug": "triage", "repo": model}),
                        (t.reader, private_own, {"org": t.org, "slug": "triage", "repo": private_own})]
    assert [(e["actor"], e["details"]) for e in audit(server, "use_case.detach", t.org)] == [
        (t.admin, {"org": t.org, "slug": "triage", "repo": model})]
