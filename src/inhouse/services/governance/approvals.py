"""Approval requests and their reviews: promotions of a model to a lifecycle stage (services/governance/lifecycle.py
opens them) and changes a policy holds for approval (a pull request's commit: enforcement opens them with
`open_change_request`, and a merge asks `change_approved`).

A request is reviewed by people other than its author (two-person rule) who hold an approver role
(access/policy.decide_approval); each reviews it once. It is approved when `approvals_required` distinct approvals
are in (a promotion then takes effect in the same transaction), rejected by one rejection (its reason is required),
cancelled by its author. A request keeps the approver roles and count its policy named when it opened; a high-risk
use case the model was attached to since raises the count, an unacceptable one stops the promotion. Every step is
audited: approval.request, approval.approve, approval.reject, approval.cancel, and stage.change when a promotion
takes effect.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import decide_approval
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, NotFound
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.governance import lifecycle, policies
from inhouse.services.governance.policy_doc import Policy
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import approvals as store
from inhouse.storage.db import lifecycle as lifecycle_store
from inhouse.storage.db.approvals import ApprovalRequestRecord
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import Role, Stage

CHANGE = "change"
STATUSES = ("open", "approved", "rejected", "cancelled", "superseded")
MAX_PAGE = 100  # requests in one listing
MAX_FINDINGS = 100  # findings kept with a change request


# for enforcement (H4's services/governance/enforce.py) ----------------------------------------------------------

def open_change_request(stores: Stores, conn: Connection, principal: Principal, repo: RepoRecord, pr_ref: str,
                        sha: str, findings: list[dict[str, Any]], policy: Policy) -> int:
    """A request to approve commit `sha` of pull request `pr_ref` ("refs/pr/N"), which `policy` holds for approval
    (its `findings`); in the caller's write transaction. An open request of the same pull request for another
    commit is superseded; one for this commit (open or approved) is kept and its number returned. Audited
    approval.request. Returns the request's number."""
    lifecycle_store.lock_repo(conn, repo.id)
    now = time.time()
    superseded = []
    for older in store.open_requests(conn, repo.id, kind=CHANGE, target=pr_ref):
        if older.revision == sha:
            return older.number
        store.set_status(conn, older.id, "superseded", now)
        superseded.append(older.number)
    latest = store.latest_change(conn, repo.id, pr_ref, sha)
    if latest is not None and latest[1] == "approved":
        return latest[0]
    rules = [str(f.get("rule")) for f in findings if isinstance(f, dict)][:MAX_FINDINGS]
    return lifecycle.open_request(
        stores, conn, principal, repo, kind=CHANGE, target=pr_ref, revision=sha,
        reason=f"Policy of '{policy.org or repo.namespace}' holds this change for approval: "
               + ", ".join(sorted(set(rules))),
        required=policy.lifecycle.approvals, approver_roles=[r.value for r in policy.lifecycle.approver_roles],
        replacement=None, details={"findings": findings[:MAX_FINDINGS], "policy_version": policy.version},
        supersedes=superseded)


def change_approved(conn: Connection, repo_id: int, pr_ref: str, sha: str) -> bool:
    """Was the change request for commit `sha` of pull request `pr_ref` approved (its newest one)?"""
    latest = store.latest_change(conn, repo_id, pr_ref, sha)
    return latest is not None and latest[1] == "approved"


def list_requests(conn: Connection, repo_id: int, *, limit: int) -> list[ApprovalRequestRecord]:
    """The repo's requests, newest first, with their reviews (factsheets read them)."""
    return store.list_requests(conn, repo_id, limit=min(limit, MAX_PAGE))


# use cases over HTTP ----------------------------------------------------------------------------------------------

def list_for(stores: Stores, p: Principal, name: RepoName, *, limit: int, status: str | None = None,
             before: int | None = None) -> list[ApprovalRequestRecord]:
    """A repo's requests, newest first (at most `limit`, numbered below `before`), for a caller who may see it."""
    if status is not None and status not in STATUSES:
        raise BadRequest(f"Invalid status {status[:50]!r}: use one of {', '.join(STATUSES)}.")
    repo = repo_access.load(stores, p, name)
    repo_access.audit_read(stores, p, repo, "repo.approvals")
    with stores.db.read() as conn:
        return [lifecycle.shown(conn, p, r) for r in store.list_requests(
            conn, repo.id, limit=min(limit, MAX_PAGE), status=status, before=before)]


def get(stores: Stores, p: Principal, name: RepoName, number: int) -> ApprovalRequestRecord:
    repo = repo_access.load(stores, p, name)
    repo_access.audit_read(stores, p, repo, "repo.approvals", details={"number": number})
    with stores.db.read() as conn:
        return lifecycle.shown(conn, p, _request(conn, repo, number))


def _request(conn: Connection, repo: RepoRecord, number: int, *, lock: bool = False) -> ApprovalRequestRecord:
    req = store.get_request(conn, repo.id, number, lock=lock)
    if req is None:
        raise NotFound(f"{repo.repo_id} has no approval request #{number}: GET /api/{repo.plural}/{repo.repo_id}"
                       "/approvals lists them.")
    return req


def _roles(req: ApprovalRequestRecord) -> tuple[Role, ...]:
    return tuple(Role(r) for r in req.approver_roles if r in Role._value2member_map_)


def review(stores: Stores, p: Principal, name: RepoName, number: int, *, decision: str,
           reason: object = None) -> ApprovalRequestRecord:
    """`decision` "approve" or "reject" request #number; a rejection needs a reason. Returns the request as it is
    now (approved once enough approvals are in; a promotion has then taken effect)."""
    if decision not in ("approve", "reject"):
        raise BadRequest("A review approves or rejects.")
    why = lifecycle.check_reason(reason, "reason", required=decision == "reject")
    repo = repo_access.load(stores, p, name, follow_moves=False)
    with stores.db.write() as conn:
        lifecycle_store.lock_repo(conn, repo.id)
        req = _request(conn, repo, number, lock=True)
        decide_approval(p, repo, author_id=req.author_id, approver_roles=_roles(req), decision=decision)
        if req.status != "open":
            raise Conflict(f"Request #{number} is {req.status}: only open requests are reviewed.")
        assert p.user_id is not None  # decide_approval refused anonymous callers
        if any(r.reviewer_id == p.user_id for r in req.reviews) or not store.add_review(
                conn, req.id, p.user_id, decision, why, time.time()):
            raise Conflict(f"You already reviewed request #{number}; each approver reviews a request once.")
        audit = {"number": number, "kind": req.kind, "target": req.target, "reason": why}
        if decision == "reject":
            store.set_status(conn, req.id, "rejected", time.time())
            stores.audit.record(conn, p, Event("approval.reject", repo, revision=req.revision, details=audit))
            return lifecycle.shown(conn, p, _request(conn, repo, number))
        required = req.approvals_required
        if req.kind == lifecycle.PROMOTION:
            needed, high = lifecycle.use_case_check(conn, repo, Stage(req.target),
                                                    policies.policy_for(stores, conn, repo))
            if high:
                required = max(required, needed)
        approvals = req.approvals + 1
        stores.audit.record(conn, p, Event("approval.approve", repo, revision=req.revision, details={
            **audit, "approvals": approvals, "required": required}))
        if approvals >= required:
            details = dict(req.details)
            if req.kind == lifecycle.PROMOTION:
                details["effect"] = lifecycle.take_effect(stores, conn, p, repo, req)
            store.set_status(conn, req.id, "approved", time.time(), details=details)
        return lifecycle.shown(conn, p, _request(conn, repo, number))


def cancel(stores: Stores, p: Principal, name: RepoName, number: int, *, reason: object = None
           ) -> ApprovalRequestRecord:
    """Request #number withdrawn by its author (or a site admin); audited approval.cancel."""
    why = lifecycle.check_reason(reason, "reason", required=False)
    repo = repo_access.load(stores, p, name, follow_moves=False)
    with stores.db.write() as conn:
        lifecycle_store.lock_repo(conn, repo.id)
        req = _request(conn, repo, number, lock=True)
        decide_approval(p, repo, author_id=req.author_id, approver_roles=_roles(req), decision="cancel")
        if not store.set_status(conn, req.id, "cancelled", time.time()):
            raise Conflict(f"Request #{number} is {req.status}: only open requests can be cancelled.")
        stores.audit.record(conn, p, Event("approval.cancel", repo, revision=req.revision, details={
            "number": number, "kind": req.kind, "target": req.target, "reason": why}))
        return lifecycle.shown(conn, p, _request(conn, repo, number))
