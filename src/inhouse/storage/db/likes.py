"""Queries on likes (who liked which repo) and on daily download counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.repos import RECENT_DAYS
from inhouse.storage.db.repos import _select as repo_select
from inhouse.storage.db.schema import repo_downloads, repo_likes, repos, users


@dataclass(frozen=True)
class Liker:
    name: str
    fullname: str
    kind: str
    liked_at: float


# likes -------------------------------------------------------------------------------------------------------------

def add_like(conn: Connection, repo_id: int, user_id: int, now: float) -> bool:
    """Records that the user likes the repo; False when they already did (the count is left alone)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # RETURNING, not rowcount: PostgreSQL's drivers do not report the rows an ON CONFLICT DO NOTHING skipped
    added = conn.execute(insert(repo_likes).values(repo_id=repo_id, user_id=user_id, created_at=now)
                         .on_conflict_do_nothing().returning(repo_likes.c.user_id)).first() is not None
    if added:
        conn.execute(update(repos).where(repos.c.id == repo_id).values(likes=repos.c.likes + 1))
    return added


def remove_like(conn: Connection, repo_id: int, user_id: int) -> bool:
    removed = conn.execute(delete(repo_likes).where(repo_likes.c.repo_id == repo_id,
                                                    repo_likes.c.user_id == user_id)).rowcount == 1
    if removed:
        conn.execute(update(repos).where(repos.c.id == repo_id, repos.c.likes > 0).values(likes=repos.c.likes - 1))
    return removed


def liked_repos(conn: Connection, user_id: int, *, limit: int, offset: int) -> list[tuple[RepoRecord, float]]:
    """The repos the user liked, newest like first, with when."""
    q = (repo_select().add_columns(repo_likes.c.created_at.label("liked_at"))
         .join_from(repos, repo_likes, repo_likes.c.repo_id == repos.c.id)
         .where(repo_likes.c.user_id == user_id)
         .order_by(repo_likes.c.created_at.desc(), repos.c.id.desc()).limit(limit).offset(offset))
    return [(RepoRecord.from_row(r), float(r.liked_at)) for r in conn.execute(q)]


def likers(conn: Connection, repo_id: int, *, limit: int, offset: int) -> list[Liker]:
    q = (select(users.c.name, users.c.fullname, users.c.kind, repo_likes.c.created_at)
         .join_from(repo_likes, users, users.c.id == repo_likes.c.user_id)
         .where(repo_likes.c.repo_id == repo_id)
         .order_by(repo_likes.c.created_at.desc(), users.c.id.desc()).limit(limit).offset(offset))
    return [Liker(r.name, r.fullname, r.kind, float(r.created_at)) for r in conn.execute(q)]


def count_likes_by(conn: Connection, user_id: int, visible: Sequence[int] | None = None) -> int:
    q = select(func.count()).select_from(repo_likes).where(repo_likes.c.user_id == user_id)
    if visible is not None:
        q = q.where(repo_likes.c.repo_id.in_(list(visible)))
    return int(conn.execute(q).scalar_one())


# downloads ---------------------------------------------------------------------------------------------------------

def add_downloads(conn: Connection, counted: Mapping[tuple[int, int], int]) -> None:
    """Adds downloads: `counted` maps (repo id, day) to how many. One upsert per repo and day, one increment of
    each repo's all-time count; repos that no longer exist are skipped."""
    ids = {repo_id for repo_id, _ in counted}
    alive = {r[0] for r in conn.execute(select(repos.c.id).where(repos.c.id.in_(list(ids))))}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    per_repo: dict[int, int] = {}
    for (repo_id, day), n in sorted(counted.items()):
        if repo_id not in alive:
            continue
        stmt = insert(repo_downloads).values(repo_id=repo_id, day=day, count=n)
        conn.execute(stmt.on_conflict_do_update(index_elements=["repo_id", "day"],
                                                set_={"count": repo_downloads.c.count + n}))
        per_repo[repo_id] = per_repo.get(repo_id, 0) + n
    for repo_id, n in sorted(per_repo.items()):
        conn.execute(update(repos).where(repos.c.id == repo_id).values(downloads=repos.c.downloads + n))


def add_download(conn: Connection, repo_id: int, day: int) -> None:
    """One download of the repo on that day."""
    add_downloads(conn, {(repo_id, day): 1})


def recent_downloads(conn: Connection, repo_ids: Sequence[int], today: int) -> dict[int, int]:
    """Downloads of each repo over the last RECENT_DAYS days (repos without any are absent)."""
    if not repo_ids:
        return {}
    rows = conn.execute(
        select(repo_downloads.c.repo_id, func.sum(repo_downloads.c.count))
        .where(repo_downloads.c.repo_id.in_(list(repo_ids)), repo_downloads.c.day > today - RECENT_DAYS)
        .group_by(repo_downloads.c.repo_id)
    ).all()
    return {int(r[0]): int(r[1]) for r in rows}
