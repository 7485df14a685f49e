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
    author_id: int | None = None


def _disc(row: Any) -> DiscussionRecord:
    m = row._mapping
    return DiscussionRecord(m["id"], m["repo_id"], m["num"], m["title"], m["description"], bool(m["is_pr"]),
                            m["status"], m["author"], m["created_at"], m["base_ref"], m["merge_commit"])


def _select() -> Select[Any]:
    return select(discussions, users.c.name.label("author")).select_from(
        discussions.outerjoin(users, users.c.id == discussions.c.author_id))


def insert_discussion(conn: Connection, *, repo_id: int, num: int, title: str, description: str, is_pr: bool,
                      author_id: int | None, now: float, base_ref: str | None, status: str = "open") -> int:
    return int(conn.execute(insert(discussions).values(
        repo_id=repo_id, num=num, title=title, description=description, is_pr=is_pr, status=status,
        author_id=author_id, created_at=now, base_ref=base_ref).returning(discussions.c.id)).scalar_one())


def add_event(conn: Connection, discussion_id: int, type: str, author_id: int | None, now: float,
              data: dict[str, Any]) -> int:
    return int(conn.execute(insert(discussion_events).values(
        discussion_id=discussion_id, type=type, author_id=author_id, created_at=now, data=json.dumps(data),
    ).returning(discussion_events.c.id)).scalar_one())


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
    return [EventRecord(r.id, r.type, r.author, r.created_at, json.loads(r.data or "{}"), r.author_id) for r in rows]


def get_event(conn: Connection, discussion_id: int, event_id: int) -> EventRecord | None:
    r = conn.execute(
        select(discussion_events, users.c.name.label("author"))
        .select_from(discussion_events.outerjoin(users, users.c.id == discussion_events.c.author_id))
        .where(discussion_events.c.discussion_id == discussion_id, discussion_events.c.id == event_id)
    ).first()
    return EventRecord(r.id, r.type, r.author, r.created_at, json.loads(r.data or "{}"), r.author_id) if r else None


def first_event_id(conn: Connection, discussion_id: int) -> int | None:
    return conn.execute(select(func.min(discussion_events.c.id)).where(
        discussion_events.c.discussion_id == discussion_id)).scalar()


def count_events(conn: Connection, discussion_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(discussion_events).where(
        discussion_events.c.discussion_id == discussion_id)).scalar_one())


def comment_counts(conn: Connection, discussion_ids: list[int]) -> dict[int, int]:
    """discussion id → its number of comments (hidden ones included, as the Hub counts them)."""
    if not discussion_ids:
        return {}
    rows = conn.execute(select(discussion_events.c.discussion_id, func.count()).where(
        discussion_events.c.discussion_id.in_(discussion_ids), discussion_events.c.type == "comment",
    ).group_by(discussion_events.c.discussion_id)).all()
    return {int(r[0]): int(r[1]) for r in rows}


def count_closed(conn: Connection, repo_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(discussions).where(
        discussions.c.repo_id == repo_id, discussions.c.status == "closed")).scalar_one())


def update_event(conn: Connection, event_id: int, data: dict[str, Any]) -> None:
    conn.execute(update(discussion_events).where(discussion_events.c.id == event_id).values(data=json.dumps(data)))


def set_title(conn: Connection, discussion_id: int, title: str) -> None:
    conn.execute(update(discussions).where(discussions.c.id == discussion_id).values(title=title))


def set_description(conn: Connection, discussion_id: int, description: str) -> None:
    conn.execute(update(discussions).where(discussions.c.id == discussion_id).values(description=description))


def set_status(conn: Connection, discussion_id: int, status: str, merge_commit: str | None = None) -> None:
    values: dict[str, Any] = {"status": status}
    if merge_commit:
        values["merge_commit"] = merge_commit
    conn.execute(update(discussions).where(discussions.c.id == discussion_id).values(**values))


def discussion_author(conn: Connection, discussion_id: int) -> int | None:
    """The user id of whoever opened the discussion (None: its author is gone)."""
    return conn.execute(select(discussions.c.author_id).where(discussions.c.id == discussion_id)).scalar()
