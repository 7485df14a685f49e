"""Gated repos: users ask for access; admins of the repo accept, reject, cancel or grant it.

A request is pending, accepted or rejected. On an `auto`-gated repo a request is accepted when it is made; on a
`manual` one it waits for an admin. Asking again never undoes an admin's rejection. Cancelling sends a request back
to pending, which (like a rejection) takes the user's download access away on their next request. Every change is
audited in the transaction that makes it, and so is each listing of a repo's requests (repo.access_requests: they
name users and hold their answers). Each use case finds the repo for the caller itself (`repo_access.load`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, NotFound, Unauthorized
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db import orgs as store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.orgs import AccessRequest
from inhouse.storage.db.records import RepoRecord, UserRecord

STATUSES = ("pending", "accepted", "rejected")
MAX_REASON = 200
MAX_FIELDS_CHARS = 10_000


def request_id(repo: RepoRecord, user_id: int) -> str:
    """A request's id as the Hub shows it (24 hex digits); one request per (repo, user)."""
    return f"{repo.id:012x}{user_id:012x}"


def _user_of_request_id(repo: RepoRecord, rid: str) -> int:
    tail = rid[12:]
    # hex digits only (int() would take a sign, spaces, '_'), naming a user id a row can have (2^31 - 1 at most)
    if (len(rid) != 24 or rid[:12] != f"{repo.id:012x}" or any(c not in "0123456789abcdef" for c in tail)
            or not 0 < int(tail, 16) < 2**31):
        raise NotFound(f"No access request '{rid}' on {repo.repo_id}: list the requests to see their ids.")
    return int(tail, 16)


def _current(conn: Connection, repo: RepoRecord, *, serialise: bool = True) -> RepoRecord:
    """The repo as it is now (gating may have changed since the request found it), and gated.

    Every change here reads a request's status, decides, then writes it; two of them at once (a double-submitted
    form, an admin rejecting while the user asks again) must not interleave, or a decision could be overwritten or
    a duplicate insert fail. On PostgreSQL they therefore take, up front, the lock that the audit entry they write
    takes anyway (SQLite's write transaction is already exclusive)."""
    if serialise:
        audit_store.lock_for_append(conn)
    now = repo_store.repo_by_id(conn, repo.id)
    if now is None:
        raise NotFound(f"{repo.repo_id} was deleted meanwhile.")
    if not now.gated:
        raise BadRequest(f"{repo.type.capitalize()} {repo.repo_id} is not gated: access requests apply only to gated "
                         "repos. Gate it first with update_repo_settings(repo_id, gated=\"auto\" or \"manual\").")
    return now


def _fields(fields: Any) -> dict[str, Any]:
    if fields is None:
        return {}
    if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
        raise BadRequest("'fields' must be a JSON object of the gating form's answers, e.g. {\"company\": \"Acme\"}.")
    if len(repr(fields)) > MAX_FIELDS_CHARS:
        raise BadRequest(f"The gating form answers are too long (at most {MAX_FIELDS_CHARS} characters).")
    return fields


def ask(stores: Stores, p: Principal, name: RepoName, *, fields: Any = None) -> tuple[RepoRecord, str]:
    """The caller asks for access to a gated repo; returns the repo and the request's status afterwards."""
    repo = repo_access.load(stores, p, name)
    if p.anonymous or p.user_id is None:
        raise Unauthorized(f"Log in to ask for access to {repo.repo_id}: pass a token of your account.")
    answers = _fields(fields)
    now = time.time()
    with stores.db.write() as conn:
        current = _current(conn, repo)
        before = store.access_status(conn, repo.id, p.user_id)
        if before in ("accepted", "rejected"):
            status = before  # an admin's decision stands; asking again changes nothing
        else:
            status = "accepted" if current.gated == "auto" else "pending"
            store.upsert_access(conn, repo.id, p.user_id, status, now, fields=answers)
        stores.audit.record(conn, p, Event("access_request.create", repo, details={
            "user": p.name, "status": status, "previous": before, "gated": current.gated, "fields": answers}))
    return repo, status


def listing(stores: Stores, p: Principal, name: RepoName, status: str, *, offset: int = 0,
            limit: int | None = None) -> tuple[RepoRecord, list[AccessRequest]]:
    """The repo's requests with this status, oldest first: `limit` of them from `offset` (all when None), for the
    repo's admins; audited as repo.access_requests."""
    if status not in STATUSES:
        raise NotFound(f"Unknown access-request list '{status}': use pending, accepted or rejected.")
    repo = repo_access.load(stores, p, name, Action.MANAGE_ACCESS)
    with stores.db.read() as conn:
        _current(conn, repo, serialise=False)
    repo_access.audit_read(stores, p, repo, "repo.access_requests", details={"status": status, "offset": offset})
    with stores.db.read() as conn:
        return repo, store.list_access(conn, repo.id, status, offset=offset, limit=limit)


def _target(conn: Connection, repo: RepoRecord, user: object, rid: object) -> UserRecord:
    if (user is None) == (rid is None):
        raise BadRequest("Name the request with exactly one of 'user' (a user name) or 'requestId'.")
    if user is not None:
        if not isinstance(user, str) or not user:
            raise BadRequest("'user' must be a user name.")
        found = user_store.user_by_name(conn, user)
        if found is None or found.kind != "user":
            raise NotFound(f"No user named '{user}': check the spelling (user names are case-sensitive).")
        return found
    if not isinstance(rid, str):
        raise BadRequest("'requestId' must be a string, as listed by list_pending_access_requests.")
    found = user_store.user_by_id(conn, _user_of_request_id(repo, rid))
    if found is None:
        raise NotFound(f"No access request '{rid}' on {repo.repo_id}: list the requests to see their ids.")
    return found


def handle(stores: Stores, p: Principal, name: RepoName, *, status: Any, user: Any = None, rid: Any = None,
           reason: Any = None) -> None:
    """Moves an existing request to `status`: accepted, rejected (with an optional reason) or pending (cancel)."""
    if status not in STATUSES:
        raise BadRequest("'status' must be one of pending (cancel), accepted or rejected.")
    if reason is not None and (status != "rejected" or not isinstance(reason, str)):
        raise BadRequest("'rejectionReason' is a string, and only when rejecting a request.")
    if isinstance(reason, str) and len(reason) > MAX_REASON:
        raise BadRequest(f"The rejection reason has {len(reason)} characters; keep it to {MAX_REASON}.")
    repo = repo_access.load(stores, p, name, Action.MANAGE_ACCESS)
    now = time.time()
    with stores.db.write() as conn:
        current = _current(conn, repo)
        target = _target(conn, repo, user, rid)
        before = store.access_status(conn, repo.id, target.id)
        if before is None:
            raise NotFound(f"{target.name} has not asked for access to {repo.repo_id}: use grant_access to give it "
                           "directly.")
        if before == status:
            raise NotFound(f"{target.name}'s access request to {repo.repo_id} is already {status}.")
        store.upsert_access(conn, repo.id, target.id, status, now, reason=reason if status == "rejected" else None)
        action = {"accepted": "accept", "rejected": "reject", "pending": "cancel"}[status]
        details: dict[str, Any] = {"user": target.name, "status": status, "previous": before, "gated": current.gated}
        if reason:
            details["reason"] = reason
        stores.audit.record(conn, p, Event(f"access_request.{action}", repo, details=details))


def grant(stores: Stores, p: Principal, name: RepoName, *, user: Any) -> str:
    """Gives `user` access without a request of theirs; returns the request id."""
    repo = repo_access.load(stores, p, name, Action.MANAGE_ACCESS)
    if not isinstance(user, str) or not user:
        raise BadRequest("Pass the name of the user to grant access to as 'user'.")
    now = time.time()
    with stores.db.write() as conn:
        current = _current(conn, repo)
        target = _target(conn, repo, user, None)
        before = store.access_status(conn, repo.id, target.id)
        if before == "accepted":
            raise BadRequest(f"{target.name} already has access to {repo.repo_id}.")
        store.upsert_access(conn, repo.id, target.id, "accepted", now)
        stores.audit.record(conn, p, Event("access_request.grant", repo, details={
            "user": target.name, "status": "accepted", "previous": before, "gated": current.gated}))
    return request_id(repo, target.id)
