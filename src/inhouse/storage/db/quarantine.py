"""Queries on quarantined files: a file content a policy holds back in one repo (not served from it) until an
admin releases it. Kept by content key ("sha256:<hex>" for large files, "git:<sha1>" for the others), so that the
same content under another path or in a later commit of the repo is held back too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, func, insert, select, update

from inhouse.storage.db.schema import quarantined_files, repos, users


@dataclass(frozen=True)
class QuarantineRecord:
    id: int
    repo_id: int
    content_key: str
    path: str
    commit: str | None
    rule: str
    reason: str
    created_at: float
    released_at: float | None
    released_by: str | None
    release_reason: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None


def _select() -> Any:
    return select(quarantined_files, users.c.name.label("released_by_name")).select_from(
        quarantined_files.outerjoin(users, users.c.id == quarantined_files.c.released_by))


def _record(row: Any) -> QuarantineRecord:
    m = row._mapping
    return QuarantineRecord(
        id=m["id"], repo_id=m["repo_id"], content_key=m["content_key"], path=m["path"], commit=m["commit"],
        rule=m["rule"], reason=m["reason"], created_at=float(m["created_at"]), released_at=m["released_at"],
        released_by=m["released_by_name"], release_reason=m["release_reason"])


def add(conn: Connection, *, repo_id: int, content_key: str, path: str, commit: str | None, rule: str, reason: str,
        now: float) -> int | None:
    """Holds a content back in the repo; None when it already is (an active row for that content)."""
    if active_key(conn, repo_id, content_key):
        return None
    qid = int(conn.execute(insert(quarantined_files).values(
        repo_id=repo_id, content_key=content_key, path=path, commit=commit, rule=rule, reason=reason,
        created_at=now).returning(quarantined_files.c.id)).scalar_one())
    conn.execute(update(repos).where(repos.c.id == repo_id).values(
        quarantined=func.coalesce(repos.c.quarantined, 0) + 1))
    return qid


def active_key(conn: Connection, repo_id: int, content_key: str) -> bool:
    q = select(exists().where(quarantined_files.c.repo_id == repo_id,
                              quarantined_files.c.content_key == content_key,
                              quarantined_files.c.released_at.is_(None)))
    return bool(conn.execute(q).scalar())


def active(conn: Connection, repo_id: int, content_key: str) -> QuarantineRecord | None:
    """The content's active quarantine in the repo, if any (one lookup on the (repo, content key) index)."""
    row = conn.execute(_select().where(quarantined_files.c.repo_id == repo_id,
                                       quarantined_files.c.content_key == content_key,
                                       quarantined_files.c.released_at.is_(None)).limit(1)).first()
    return _record(row) if row is not None else None


def list_for_repo(conn: Connection, repo_id: int, *, active_only: bool, limit: int = 500) -> list[QuarantineRecord]:
    """The repo's quarantined files, newest first (at most `limit`)."""
    q = _select().where(quarantined_files.c.repo_id == repo_id)
    if active_only:
        q = q.where(quarantined_files.c.released_at.is_(None))
    return [_record(r) for r in conn.execute(q.order_by(quarantined_files.c.id.desc()).limit(limit))]


def get(conn: Connection, repo_id: int, quarantine_id: int) -> QuarantineRecord | None:
    row = conn.execute(_select().where(quarantined_files.c.repo_id == repo_id,
                                       quarantined_files.c.id == quarantine_id)).first()
    return _record(row) if row is not None else None


def release(conn: Connection, quarantine_id: int, *, by: int | None, reason: str, now: float) -> bool:
    """Releases one held-back file; False when it was already released."""
    released = conn.execute(update(quarantined_files).where(
        quarantined_files.c.id == quarantine_id, quarantined_files.c.released_at.is_(None)).values(
        released_at=now, released_by=by, release_reason=reason)).rowcount == 1
    if released:
        repo_id = select(quarantined_files.c.repo_id).where(quarantined_files.c.id == quarantine_id).scalar_subquery()
        conn.execute(update(repos).where(repos.c.id == repo_id).values(
            quarantined=func.max(func.coalesce(repos.c.quarantined, 0) - 1, 0)
            if conn.dialect.name == "sqlite" else func.greatest(func.coalesce(repos.c.quarantined, 0) - 1, 0)))
    return released
