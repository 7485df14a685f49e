"""Queries on organisations' policy documents (org_policies): every version kept, the highest one current.

`current_version` is what every commit, push and merge asks (one lookup on the (org_id, version) unique index);
the document itself is read only when the parsed policy of that version is not cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from inhouse.storage.db.schema import org_policies, users


@dataclass(frozen=True)
class PolicyRecord:
    org_id: int
    version: int
    document: str
    message: str
    author_id: int | None
    author: str | None  # the author's name (None: the CLI, or a deleted user)
    created_at: float


def current_version(conn: Connection, org_id: int) -> int | None:
    """The organisation's current policy version; None when it never had one."""
    value = conn.execute(select(func.max(org_policies.c.version)).where(org_policies.c.org_id == org_id)).scalar()
    return int(value) if value is not None else None


def _records(conn: Connection, org_id: int, *, version: int | None = None, before: int | None = None,
             limit: int = 1, document: bool = True) -> list[PolicyRecord]:
    cols = [org_policies.c.org_id, org_policies.c.version, org_policies.c.message, org_policies.c.author_id,
            org_policies.c.created_at, users.c.name.label("author")]
    if document:
        cols.append(org_policies.c.document)
    q = (select(*cols).select_from(org_policies.outerjoin(users, users.c.id == org_policies.c.author_id))
         .where(org_policies.c.org_id == org_id))
    if version is not None:
        q = q.where(org_policies.c.version == version)
    if before is not None:
        q = q.where(org_policies.c.version < before)
    rows = conn.execute(q.order_by(org_policies.c.version.desc()).limit(limit))
    return [PolicyRecord(org_id=r.org_id, version=r.version, document=r.document if document else "",
                         message=r.message or "", author_id=r.author_id, author=r.author,
                         created_at=r.created_at) for r in rows]


def get(conn: Connection, org_id: int, version: int | None = None) -> PolicyRecord | None:
    """Version `version` of the organisation's policy (None: the current one), or None."""
    found = _records(conn, org_id, version=version)
    return found[0] if found else None


def versions(conn: Connection, org_id: int, *, limit: int, before: int | None = None) -> list[PolicyRecord]:
    """The organisation's policy versions, newest first, without their documents (`before`: older than that)."""
    return _records(conn, org_id, before=before, limit=limit, document=False)


def insert_version(conn: Connection, org_id: int, version: int, document: str, message: str,
                   author_id: int | None, now: float) -> None:
    """Adds a version (the (org_id, version) unique constraint refuses a second writer of the same number)."""
    conn.execute(insert(org_policies).values(org_id=org_id, version=version, document=document, message=message,
                                             author_id=author_id, created_at=now))
