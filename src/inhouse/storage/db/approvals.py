"""Queries on approval requests (a promotion to a lifecycle stage, or a pull request's commit a policy holds) and
their reviews. Requests are numbered per repo; a reviewer reviews a request once (a unique key says so)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from inhouse.storage.db.schema import approval_requests, approval_reviews, users

OPEN = "open"


@dataclass(frozen=True)
class ReviewRecord:
    id: int
    reviewer_id: int | None
    reviewer: str | None  # name (None: the user was deleted)
    decision: str  # approve | reject
    reason: str
    created_at: float


@dataclass(frozen=True)
class ApprovalRequestRecord:
    id: int
    repo_id: int
    number: int
    kind: str  # promotion | change
    target: str  # promotion: the stage; change: "refs/pr/N"
    revision: str | None  # the commit it is about
    author_id: int | None
    author: str | None
    reason: str
    status: str  # open | approved | rejected | cancelled | superseded
    approvals_required: int
    approver_roles: tuple[str, ...]
    replacement: str | None
    details: dict[str, Any]
    created_at: float
    decided_at: float | None
    reviews: tuple[ReviewRecord, ...] = field(default=())

    @property
    def approvals(self) -> int:
        return sum(1 for r in self.reviews if r.decision == "approve")


def _select() -> Any:
    author = aliased(users)
    return select(approval_requests, author.c.name.label("author")).select_from(
        approval_requests.outerjoin(author, author.c.id == approval_requests.c.author_id))


def _record(row: Any, reviews: Sequence[ReviewRecord]) -> ApprovalRequestRecord:
    m = row._mapping
    return ApprovalRequestRecord(
        id=m["id"], repo_id=m["repo_id"], number=m["number"], kind=m["kind"], target=m["target"],
        revision=m["revision"], author_id=m["author_id"], author=m["author"], reason=m["reason"], status=m["status"],
        approvals_required=m["approvals_required"], approver_roles=tuple(json.loads(m["approver_roles"] or "[]")),
        replacement=m["replacement"], details=json.loads(m["details"] or "{}"), created_at=m["created_at"],
        decided_at=m["decided_at"], reviews=tuple(reviews))


def _reviews(conn: Connection, request_ids: list[int]) -> dict[int, list[ReviewRecord]]:
    out: dict[int, list[ReviewRecord]] = {i: [] for i in request_ids}
    if not request_ids:
        return out
    rows = conn.execute(
        select(approval_reviews, users.c.name.label("reviewer"))
        .select_from(approval_reviews.outerjoin(users, users.c.id == approval_reviews.c.reviewer_id))
        .where(approval_reviews.c.request_id.in_(request_ids)).order_by(approval_reviews.c.id)).all()
    for r in rows:
        out[r.request_id].append(ReviewRecord(r.id, r.reviewer_id, r.reviewer, r.decision, r.reason, r.created_at))
    return out


def _with_reviews(conn: Connection, rows: Sequence[Any]) -> list[ApprovalRequestRecord]:
    reviews = _reviews(conn, [r.id for r in rows])
    return [_record(r, reviews[r.id]) for r in rows]


def next_number(conn: Connection, repo_id: int) -> int:
    """The next request number of the repo (the caller holds the repo's row lock: lifecycle.lock_repo)."""
    top = conn.execute(select(func.max(approval_requests.c.number)).where(
        approval_requests.c.repo_id == repo_id)).scalar()
    return int(top or 0) + 1


def insert_request(conn: Connection, *, repo_id: int, number: int, kind: str, target: str, revision: str | None,
                   author_id: int | None, reason: str, approvals_required: int, approver_roles: Sequence[str],
                   replacement: str | None, details: dict[str, Any], now: float) -> int:
    return int(conn.execute(insert(approval_requests).values(
        repo_id=repo_id, number=number, kind=kind, target=target, revision=revision, author_id=author_id,
        reason=reason, status=OPEN, approvals_required=approvals_required,
        approver_roles=json.dumps(list(approver_roles)), replacement=replacement,
        details=json.dumps(details, sort_keys=True), created_at=now).returning(approval_requests.c.id)).scalar_one())


def get_request(conn: Connection, repo_id: int, number: int, *, lock: bool = False) -> ApprovalRequestRecord | None:
    """Request #number of the repo with its reviews; `lock`: hold its row for the rest of the transaction."""
    q = _select().where(approval_requests.c.repo_id == repo_id, approval_requests.c.number == number)
    if lock:
        q = q.with_for_update(of=approval_requests)
    row = conn.execute(q).first()
    return _with_reviews(conn, [row])[0] if row else None


def list_requests(conn: Connection, repo_id: int, *, limit: int, status: str | None = None,
                  kind: str | None = None, before: int | None = None) -> list[ApprovalRequestRecord]:
    """The repo's requests, newest first, with their reviews: at most `limit`, numbered below `before` if given."""
    q = _select().where(approval_requests.c.repo_id == repo_id)
    if status is not None:
        q = q.where(approval_requests.c.status == status)
    if kind is not None:
        q = q.where(approval_requests.c.kind == kind)
    if before is not None:
        q = q.where(approval_requests.c.number < before)
    return _with_reviews(conn, conn.execute(q.order_by(approval_requests.c.number.desc()).limit(limit)).all())


def open_requests(conn: Connection, repo_id: int, *, kind: str, target: str | None = None
                  ) -> list[ApprovalRequestRecord]:
    """The repo's open requests of `kind` (and `target`), oldest first."""
    q = _select().where(approval_requests.c.repo_id == repo_id, approval_requests.c.status == OPEN,
                        approval_requests.c.kind == kind)
    if target is not None:
        q = q.where(approval_requests.c.target == target)
    return _with_reviews(conn, conn.execute(q.order_by(approval_requests.c.number)).all())


def add_review(conn: Connection, request_id: int, reviewer_id: int, decision: str, reason: str, now: float) -> bool:
    """Records a review; False when this reviewer already reviewed the request."""
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert_(approval_reviews).values(request_id=request_id, reviewer_id=reviewer_id, decision=decision,
                                            reason=reason, created_at=now).on_conflict_do_nothing()
    return conn.execute(stmt.returning(approval_reviews.c.id)).first() is not None


def set_status(conn: Connection, request_id: int, status: str, now: float, *,
               details: dict[str, Any] | None = None) -> bool:
    """Closes an open request (approved, rejected, cancelled, superseded); False when it was no longer open."""
    values: dict[str, Any] = {"status": status, "decided_at": now}
    if details is not None:
        values["details"] = json.dumps(details, sort_keys=True)
    res = conn.execute(update(approval_requests).where(
        approval_requests.c.id == request_id, approval_requests.c.status == OPEN).values(**values))
    return res.rowcount == 1


def latest_change(conn: Connection, repo_id: int, target: str, revision: str) -> tuple[int, str] | None:
    """(number, status) of the newest change request for pull request `target` at commit `revision` (None: none)."""
    row = conn.execute(select(approval_requests.c.number, approval_requests.c.status).where(
        approval_requests.c.repo_id == repo_id, approval_requests.c.kind == "change",
        approval_requests.c.target == target, approval_requests.c.revision == revision,
    ).order_by(approval_requests.c.number.desc()).limit(1)).first()
    return (int(row.number), str(row.status)) if row else None
