"""Queries on discussions and pull requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update

from inhouse.storage.db.schema import discussion_events, discussions, users


@dataclass(frozen=True)
class DiscussionRecord:
    id: int
    repo_id: int
    num: int
    title: str
    description: str
    is_pr: bool
    status: str
    author: str | None
    created_at: float
    base_ref: str | None
    merge_commit: str | None


@dataclass(frozen=True)
class EventRecord:
    id: int
    type: str
    author: str | None
    created_at: float
    data: dict[str, Any]


def _disc(row: Any) -> DiscussionRecord:
    m = row._mapping
    return DiscussionRecord(m["id"], m["repo_id"], m["num"], m["title"], m["description"], bool(m["is_pr"]),
                            m["status"], m["author"], m["created_at"], m["base_ref"], m["merge_commit"])


def _select() -> Select[Any]:
    return select(discussions, users.c.name.label("author")).select_from(
        discussions.outerjoin(users, users.c.id == discussions.c.author_id))


def insert_discussion(conn: Connection, *, repo_id: int, num: int, title: str, description: str, is_pr: bool,
                      author_id: int | None, now: float, base_ref: str | None) -> int:
    return int(conn.execute(insert(discussions).values(
        repo_id=repo_id, num=num, title=title, description=description, is_pr=is_pr, status="open",
        author_id=author_id, created_at=now, base_ref=base_ref).returning(discussions.c.id)).scalar_one())


def add_event(conn: Connection, discussion_id: int, type: str, author_id: int | None, now: float,
              data: dict[str, Any]) -> None:
    conn.execute(insert(discussion_events).values(discussion_id=discussion_id, type=type, author_id=author_id,
                                                  created_at=now, data=json.dumps(data)))


def get_discussion(conn: Connection, repo_id: int, num: int) -> DiscussionRecord | None:
    row = conn.execute(_select().where(discussions.c.repo_id == repo_id, discussions.c.num == num)).first()
    return _disc(row) if row else None


def pull_request_author(conn: Connection, repo_id: int, num: int) -> int | None:
    """The user id of whoever opened pull request #num (None: no such pull request, or its author is gone)."""
    return conn.execute(select(discussions.c.author_id).where(
        discussions.c.repo_id == repo_id, discussions.c.num == num, discussions.c.is_pr.is_(True))).scalar()


def list_discussions(conn: Connection, repo_id: int, *, is_pr: bool | None, status: str | None,
                     author: str | None, offset: int, limit: int) -> tuple[list[DiscussionRecord], int]:
    q = _select().where(discussions.c.repo_id == repo_id)
    c = select(func.count()).select_from(discussions.outerjoin(users, users.c.id == discussions.c.author_id)).where(
        discussions.c.repo_id == repo_id)
    for cond in ([discussions.c.is_pr == is_pr] if is_pr is not None else []) + \
                ([discussions.c.status == status] if status else []) + \
                ([users.c.name == author] if author else []):
        q = q.where(cond)
        c = c.where(cond)
    rows = conn.execute(q.order_by(discussions.c.num.desc()).offset(offset).limit(limit)).all()
    return [_disc(r) for r in rows], int(conn.execute(c).scalar_one())


def events_of(conn: Connection, discussion_id: int) -> list[EventRecord]:
    rows = conn.execute(
        select(discussion_events, users.c.name.label("author"))
        .select_from(discussion_events.outerjoin(users, users.c.id == discussion_events.c.author_id))
        .where(discussion_events.c.discussion_id == discussion_id).order_by(discussion_events.c.id)
    ).all()
    return [EventRecord(r.id, r.type, r.author, r.created_at, json.loads(r.data or "{}")) for r in rows]


def set_status(conn: Connection, discussion_id: int, status: str, merge_commit: str | None = None) -> None:
    values: dict[str, Any] = {"status": status}
    if merge_commit:
        values["merge_commit"] = merge_commit
    conn.execute(update(discussions).where(discussions.c.id == discussion_id).values(**values))
