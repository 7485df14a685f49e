"""Governance events out (issue 10, item 5): webhooks of the "repo" domain get `repo.governance` events, sent by the
server's real delivery worker to a receiver on loopback that checks each signature and parses each payload with
huggingface_hub's own WebhookPayload (whose event.action accepts only create, delete, move and update: a
governance event says "update", and what happened is in its `governance` member and the X-Inhouse-Event header).

- Through the real API and client: a commit of a pickle that runs os.system, refused by the org's policy
  (HfHubHTTPError 403), sends `refused` with the rule and the file, never the finding's message; a quarantined
  file sends `quarantined`; a promotion of a model attached (through the use-case API) to a high-risk use case
  sends `approval_requested` needing two approvals, each approval `approval_granted`, the second one
  `stage_changed` (draft → validated), and a rejection `approval_rejected` with its reason.
- The mapping of each audit action, written through the audit writer (stores.audit.record) as the producers
  write them: a refusal's entry (outcome denied) is sent; a cancellation is not; details outside the governance
  keys (content keys, findings' messages) never reach the payload.
"""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from huggingface_hub import WebhookPayload
from huggingface_hub.errors import HfHubHTTPError

from inhouse.access.identity import Principal
from inhouse.audit.log import Event
from inhouse.services import orgs
from inhouse.storage.db import repos as repo_store
from inhouse.vocabulary import RepoType, Role
from tests.compat.test_webhooks import FAST_RETRIES, SECRET, Receiver
from tests.support.live import LiveServer, drop_pg_database, new_pg_database

DENY_PICKLES = "pickles:\n  outcome: deny\n  on_error: quarantine\n"
QUARANTINE_PICKLES = "pickles:\n  outcome: quarantine\n  on_error: quarantine\n"


class Evil:
    """Loading its pickle would run a shell command. Never loaded here: only pickled."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per backend (a refusal's event is written in a transaction of its own, beside the queues' lock)."""
    url = new_pg_database() if request.param == "postgresql" else ""
    server = LiveServer(tmp_path_factory.mktemp("governance-webhooks") / "data", database_url=url, env=FAST_RETRIES)
    try:
        yield server.start()
    finally:
        server.close()
        if url:
            drop_pg_database(url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post(server: LiveServer, path: str, token: str, body: dict[str, Any], method: str = "POST") -> httpx.Response:
    return httpx.request(method, server.url + path, json=body, headers=_auth(token), timeout=120)


class Team:
    """An org with two admins (alice, bob) and a writer (carol), and a webhook of alice's on the org."""

    def __init__(self, server: LiveServer, receiver: Receiver):
        self.alice, self.bob, self.carol = (server.make_user() for _ in range(3))
        self.org = f"o{uuid.uuid4().hex[:8]}"
        orgs.create_org(server.stores, self.org, admin=self.alice)
        orgs.set_member(server.stores, self.org, self.bob, Role.ADMIN)
        orgs.set_member(server.stores, self.org, self.carol, Role.WRITE)
        self.ta, self.tb, self.tc = (server.make_token(n, "write") for n in (self.alice, self.bob, self.carol))
        server.api(self.ta).create_webhook(url=receiver.url, watched=[{"type": "org", "name": self.org}],
                                           domains=["repo"], secret=SECRET)

    def policy(self, server: LiveServer, document: str) -> None:
        r = _post(server, f"/api/orgs/{self.org}/policy", self.ta, {"document": document, "message": "test"},
                  method="PUT")
        assert r.status_code == 200, r.text


def governance(receiver: Receiver, count: int, repo: str) -> list[dict[str, Any]]:
    """The first `count` governance events of `repo`, each checked: parsed by huggingface_hub, "update" in the
    payload, the governance action in the header."""
    events: list[dict[str, Any]] = []
    seen = 0
    while len(events) < count:
        seen += 1
        payload = receiver.wait_for(seen, repo)[seen - 1]
        if payload["event"]["scope"] != "repo.governance":
            continue
        parsed = WebhookPayload.model_validate(payload)
        assert (parsed.event.action, parsed.event.scope, parsed.repo.name) == ("update", "repo.governance", repo)
        with receiver.lock:
            headers = receiver.headers[receiver.accepted.index(payload)]
        assert headers["X-Inhouse-Event"] == f"repo.governance.{payload['governance']['action']}"
        events.append(payload["governance"])
    assert receiver.bad_signatures == 0
    return events


def test_refused_and_quarantined_commits_send_governance_events(srv: LiveServer, receiver: Receiver) -> None:
    t = Team(srv, receiver)
    repo_id = f"{t.org}/scorer"
    api = srv.api(t.tc)
    api.create_repo(repo_id)
    t.policy(srv, DENY_PICKLES)
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(path_or_fileobj=pickle.dumps(Evil(), protocol=4), path_in_repo="model.bin", repo_id=repo_id)
    assert err.value.response.status_code == 403 and "pickle.unsafe" in str(err.value)

    # the refusal, and the hold on the refused upload's bytes (sent to the repo before the commit named them)
    first = {e["action"]: e for e in governance(receiver, 2, repo_id)}
    refused, held = first["refused"], first["quarantined"]
    assert (held["path"], held["rule"], held.get("commit")) == ("model.bin", "pickle.unsafe", None)
    assert {k: refused[k] for k in ("action", "auditAction", "actor", "trigger", "ref")} == {
        "action": "refused", "auditAction": "policy.refused", "actor": t.carol, "trigger": "commit",
        "ref": "refs/heads/main"}
    assert refused["policyVersion"] == 1 and refused["findingsCount"] == len(refused["findings"]) >= 1
    assert {"rule": "pickle.unsafe", "outcome": "deny", "path": "model.bin"} in refused["findings"]
    assert all(set(f) <= {"rule", "outcome", "path"} for f in refused["findings"])  # no messages, no details

    t.policy(srv, QUARANTINE_PICKLES)
    info = api.upload_file(path_or_fileobj=pickle.dumps(Evil(), protocol=2), path_in_repo="q.bin", repo_id=repo_id)
    quarantined = governance(receiver, 3, repo_id)[2]
    assert {k: quarantined[k] for k in ("action", "auditAction", "actor", "path", "rule", "commit")} == {
        "action": "quarantined", "auditAction": "policy.quarantine", "actor": t.carol, "path": "q.bin",
        "rule": "pickle.unsafe", "commit": info.oid}
    assert "content_key" not in quarantined and "contentKey" not in quarantined


def test_promotion_approval_and_rejection_send_governance_events(srv: LiveServer, receiver: Receiver) -> None:
    t = Team(srv, receiver)
    repo_id = f"{t.org}/ranker"
    api = srv.api(t.tc)
    api.create_repo(repo_id)
    sha = api.upload_file(path_or_fileobj=b"weights", path_in_repo="w.txt", repo_id=repo_id).oid
    base = f"/api/models/{repo_id}"
    # the model serves a high-risk use case (through the use-case API): its promotions need two approvals
    made = _post(srv, f"/api/orgs/{t.org}/use-cases", t.tc, {"title": "Loan triage", "riskTier": "high"})
    assert made.status_code == 201, made.text
    attached = _post(srv, f"/api/orgs/{t.org}/use-cases/loan-triage/models", t.tc, {"repo": repo_id})
    assert attached.status_code == 200, attached.text

    asked = _post(srv, base + "/promotions", t.tc, {"stage": "validated", "reason": "evaluated on the holdout"})
    assert asked.status_code == 201, asked.text
    number = int(asked.json()["number"])
    first = _post(srv, f"{base}/approvals/{number}/approve", t.tb, {"reason": "numbers checked"})
    assert first.status_code == 200 and first.json()["status"] == "open", first.text
    approved = _post(srv, f"{base}/approvals/{number}/approve", t.ta, {"reason": "fairness report read"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    again = _post(srv, base + "/promotions", t.tc, {"stage": "approved", "reason": "ready"})
    assert again.status_code == 201, again.text
    rejected = _post(srv, f"{base}/approvals/{again.json()['number']}/reject", t.ta,
                     {"reason": "the model card has no limitations section"})
    assert rejected.status_code == 200, rejected.text

    events = governance(receiver, 6, repo_id)
    assert [e["action"] for e in events] == [
        "approval_requested", "approval_granted", "approval_granted", "stage_changed", "approval_requested",
        "approval_rejected"]
    requested, granted, completed, changed, _, refused = events
    assert {k: requested[k] for k in ("actor", "number", "kind", "target", "revision", "reason")} == {
        "actor": t.carol, "number": number, "kind": "promotion", "target": "validated", "revision": sha,
        "reason": "evaluated on the holdout"}
    assert requested["approvalsRequired"] == 2
    assert {k: granted[k] for k in ("actor", "number", "target", "reason", "approvals", "required")} == {
        "actor": t.bob, "number": number, "target": "validated", "reason": "numbers checked", "approvals": 1,
        "required": 2}
    assert (completed["actor"], completed["approvals"], completed["required"]) == (t.alice, 2, 2)
    assert {k: changed[k] for k in ("auditAction", "actor", "from", "to", "revision", "number")} == {
        "auditAction": "stage.change", "actor": t.alice, "from": "draft", "to": "validated", "revision": sha,
        "number": number}
    assert (refused["actor"], refused["target"], refused["reason"]) == (
        t.alice, "approved", "the model card has no limitations section")


def test_each_governance_audit_action_maps_to_its_event(srv: LiveServer, receiver: Receiver) -> None:
    """The mapping alone, for every action, through the audit writer as the producers use it (in a write
    transaction of the test's own stores; the server's worker finds the rows by its poll)."""
    t = Team(srv, receiver)
    repo_id = f"{t.org}/mapped"
    srv.api(t.ta).create_repo(repo_id)
    stores = srv.stores
    with stores.db.read() as conn:
        hit = repo_store.find_repo(conn, RepoType.MODEL, t.org, "mapped")
    assert hit is not None
    repo = hit[0]
    who = Principal(user_id=None, name=t.alice)
    long_reason = "r" * 5000
    written = [
        Event("policy.refused", repo, revision="refs/heads/main", outcome="denied", details={
            "trigger": "push", "ref": "refs/heads/main", "policy_version": 3, "findings": [
                {"rule": "secrets.found", "outcome": "deny", "path": "cfg.env",
                 "message": "an AWS access key on line 3", "details": {"secrets": [{"type": "AWS", "line": 3}]}},
                {"rule": "card.required_field", "outcome": "deny", "path": None, "message": "no intended use"}]}),
        Event("approval.cancel", repo, details={"number": 7, "kind": "promotion", "target": "approved"}),
        Event("policy.quarantine", repo, revision="main", path="data.csv", details={
            "path": "data.csv", "rule": "personal_data.scan_error", "content_key": "sha256:" + "a" * 64,
            "commit": "b" * 40}),
        Event("approval.request", repo, revision="c" * 40, details={
            "number": 7, "kind": "change", "target": "refs/pr/1", "revision": "c" * 40, "reason": long_reason,
            "approvals_required": 2}),
        Event("approval.approve", repo, details={"number": 7, "kind": "change", "target": "refs/pr/1",
                                                 "reason": "ok", "approvals": 1, "required": 2}),
        Event("approval.reject", repo, details={"number": 7, "kind": "change", "target": "refs/pr/1",
                                                "reason": "no"}),
        Event("stage.change", repo, details={"from": "production", "to": "withdrawn", "revision": "c" * 40,
                                             "number": 8, "replacement": f"{t.org}/other",
                                             "previous_production": "d" * 40}),
    ]
    for event in written:
        with stores.db.write() as conn:
            stores.audit.record(conn, who, event)

    events = governance(receiver, 6, repo_id)
    assert [(e["action"], e["auditAction"]) for e in events] == [
        ("refused", "policy.refused"), ("quarantined", "policy.quarantine"),
        ("approval_requested", "approval.request"), ("approval_granted", "approval.approve"),
        ("approval_rejected", "approval.reject"), ("stage_changed", "stage.change")]  # no cancellation
    refused, quarantined, requested, granted, rejected, changed = events
    assert refused == {"action": "refused", "auditAction": "policy.refused", "actor": t.alice, "trigger": "push",
                       "ref": "refs/heads/main", "policyVersion": 3, "findingsCount": 2, "findings": [
                           {"rule": "secrets.found", "outcome": "deny", "path": "cfg.env"},
                           {"rule": "card.required_field", "outcome": "deny"}]}
    assert quarantined == {"action": "quarantined", "auditAction": "policy.quarantine", "actor": t.alice,
                           "path": "data.csv", "rule": "personal_data.scan_error", "commit": "b" * 40,
                           "ref": "main"}
    assert requested["reason"] == "r" * 1000 and requested["approvalsRequired"] == 2  # texts are bounded
    assert (granted["approvals"], granted["required"], rejected["reason"]) == (1, 2, "no")
    assert {k: changed[k] for k in ("from", "to", "number", "replacement")} == {
        "from": "production", "to": "withdrawn", "number": 8, "replacement": f"{t.org}/other"}
    assert "previous_production" not in changed
