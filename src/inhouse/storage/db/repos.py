"""Queries on repos, their aliases (old names after a move) and their refs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, func, insert, or_, select, update

from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.schema import (
    lfs_objects,
    refs,
    repo_aliases,
    repo_commits,
    repo_downloads,
    repo_lfs_objects,
    repos,
    resource_group_repos,
)
from inhouse.vocabulary import RepoType

RECENT_DAYS = 30  # a repo's `downloads`: the last 30 days, today included, as the Hub shows them


def insert_repo(conn: Connection, *, type: RepoType, namespace: str, name: str, owner_id: int, private: bool,
                now: float, created_by: int | None = None) -> int:
    return int(conn.execute(
        insert(repos).values(type=type.value, namespace=namespace, name=name, owner_id=owner_id, private=private,
                             created_by=created_by,
                             gated=None, created_at=now, last_modified=now, tags="[]", downloads=0, likes=0,
                             next_discussion=1).returning(repos.c.id)
    ).scalar_one())


def _select() -> Select[Any]:
    """Repos with the resource group they belong to (None for most)."""
    return select(repos, resource_group_repos.c.group_id.label("resource_group_id")).select_from(
        repos.outerjoin(resource_group_repos, resource_group_repos.c.repo_id == repos.c.id))


def repo_by_id(conn: Connection, repo_id: int) -> RepoRecord | None:
    row = conn.execute(_select().where(repos.c.id == repo_id)).first()
    return RepoRecord.from_row(row) if row else None


def find_repo(conn: Connection, type: RepoType, namespace: str, name: str) -> tuple[RepoRecord, bool] | None:
    """The repo named so, or the repo that was moved away from that name (then the flag is True).

    Names are case-insensitive, as on the Hub: 'Alice/BERT' finds 'alice/bert', and the record keeps the casing
    the repo was created with. The exact name is looked up first (the unique index), then, only on a miss, the
    name compared in lower case (one repo at most holds it: creating a name that differs only in case is refused,
    see name_taken); old names (aliases) likewise."""
    row = conn.execute(
        _select().where(repos.c.type == type.value, repos.c.namespace == namespace, repos.c.name == name)
    ).first()
    if row is None:
        row = conn.execute(
            _select().where(repos.c.type == type.value, func.lower(repos.c.namespace) == namespace.lower(),
                            func.lower(repos.c.name) == name.lower()).order_by(repos.c.id).limit(1)
        ).first()
    if row is not None:
        return RepoRecord.from_row(row), False
    alias = conn.execute(
        select(repo_aliases.c.repo_id).where(
            repo_aliases.c.type == type.value, repo_aliases.c.namespace == namespace, repo_aliases.c.name == name
        )
    ).first()
    if alias is None:
        alias = conn.execute(
            select(repo_aliases.c.repo_id).where(
                repo_aliases.c.type == type.value, func.lower(repo_aliases.c.namespace) == namespace.lower(),
                func.lower(repo_aliases.c.name) == name.lower(),
            ).order_by(repo_aliases.c.repo_id).limit(1)
        ).first()
    if alias is not None:
        rec = repo_by_id(conn, alias.repo_id)
        if rec is not None:
            return rec, True
    return None


def name_taken(conn: Connection, type: RepoType, namespace: str, name: str) -> bool:
    row = conn.execute(
        select(repos.c.id).where(
            repos.c.type == type.value, func.lower(repos.c.namespace) == namespace.lower(),
            func.lower(repos.c.name) == name.lower(),
        )
    ).first()
    return row is not None


def delete_repo(conn: Connection, repo_id: int) -> None:
    conn.execute(delete(refs).where(refs.c.repo_id == repo_id))
    conn.execute(delete(repo_aliases).where(repo_aliases.c.repo_id == repo_id))
    conn.execute(delete(repos).where(repos.c.id == repo_id))


def move_repo(conn: Connection, rec: RepoRecord, namespace: str, name: str) -> None:
    conn.execute(delete(repo_aliases).where(
        repo_aliases.c.type == rec.type.value, repo_aliases.c.namespace == namespace, repo_aliases.c.name == name))
    conn.execute(insert(repo_aliases).values(type=rec.type.value, namespace=rec.namespace, name=rec.name, repo_id=rec.id))
    conn.execute(update(repos).where(repos.c.id == rec.id).values(namespace=namespace, name=name))


def update_repo(conn: Connection, repo_id: int, **values: Any) -> None:
    if "card_data" in values and values["card_data"] is not None and not isinstance(values["card_data"], str):
        values["card_data"] = json.dumps(values["card_data"])
    if "tags" in values and not isinstance(values["tags"], str):
        values["tags"] = json.dumps(values["tags"])
    conn.execute(update(repos).where(repos.c.id == repo_id).values(**values))


def next_discussion_number(conn: Connection, repo_id: int) -> int:
    # one statement, so that two writers can never take the same number
    new = conn.execute(
        update(repos).where(repos.c.id == repo_id).values(next_discussion=repos.c.next_discussion + 1)
        .returning(repos.c.next_discussion)
    ).scalar_one()
    return int(new) - 1


def _visible(q: Select[Any], *, visible_to: int | None, is_admin: bool, org_ids: Sequence[int],
             group_ids: Sequence[int]) -> Select[Any]:
    """Only the repos a caller with these memberships may see (a fine-grained token sees fewer: filter after)."""
    if is_admin:
        return q
    return q.where(or_(
        repos.c.private.is_(False), repos.c.owner_id == (visible_to if visible_to else -1),
        repos.c.owner_id.in_(list(org_ids)), resource_group_repos.c.group_id.in_(list(group_ids)),
    ))


def search_repos(
    conn: Connection, *, type: RepoType, visible_to: int | None, is_admin: bool, org_ids: Sequence[int] = (),
    group_ids: Sequence[int] = (), search: Sequence[str] = (),
    author: str | None = None, tags: Sequence[str] = (), gated: bool | None = None, sort: str = "last_modified",
    descending: bool = True, limit: int = 1000, offset: int = 0, today: int = 0,
) -> list[RepoRecord]:
    """A page of the repos a caller may see. Each record carries its downloads of the 30 days up to `today` (days
    since the epoch, UTC), which `sort="downloads"` sorts by, as the Hub does."""
    recent = (select(repo_downloads.c.repo_id, func.sum(repo_downloads.c.count).label("recent"))
              .where(repo_downloads.c.day > today - RECENT_DAYS).group_by(repo_downloads.c.repo_id).subquery())
    recent_count = func.coalesce(recent.c.recent, 0)
    q = (_select().add_columns(recent_count.label("recent_downloads"))
         .outerjoin(recent, recent.c.repo_id == repos.c.id).where(repos.c.type == type.value))
    q = _visible(q, visible_to=visible_to, is_admin=is_admin, org_ids=org_ids, group_ids=group_ids)
    for s in search:
        like = f"%{_like_literal(s.lower())}%"
        q = q.where(func.lower(repos.c.namespace + "/" + repos.c.name).like(like, escape="\\"))
    if author:
        q = q.where(func.lower(repos.c.namespace) == author.lower())
    for t in tags:
        # tags is a JSON list: match the quoted element exactly
        q = q.where(or_(repos.c.tags.like(f"%{_like_literal(json.dumps(t))}%", escape="\\"),
                        and_(repos.c.pipeline_tag == t), and_(repos.c.library_name == t)))
    if gated is not None:
        q = q.where(repos.c.gated.is_not(None) if gated else repos.c.gated.is_(None))
    column = {
        "last_modified": repos.c.last_modified, "created_at": repos.c.created_at, "downloads": recent_count,
        "downloads_all_time": repos.c.downloads, "likes": repos.c.likes, "id": repos.c.id,
        "trending_score": repos.c.likes,
    }.get(sort, repos.c.last_modified)
    q = q.order_by(column.desc() if descending else column.asc(), repos.c.id.desc() if descending else repos.c.id)
    q = q.limit(limit).offset(offset)
    return [RepoRecord.from_row(r) for r in conn.execute(q)]


def count_repos(conn: Connection, *, namespace: str, visible_to: int | None, is_admin: bool,
                org_ids: Sequence[int] = (), group_ids: Sequence[int] = ()) -> dict[RepoType, int]:
    """How many repos of each type `namespace` holds that a caller with these memberships may see."""
    q = (select(repos.c.type, func.count()).select_from(
        repos.outerjoin(resource_group_repos, resource_group_repos.c.repo_id == repos.c.id))
        .where(repos.c.namespace == namespace).group_by(repos.c.type))
    q = _visible(q, visible_to=visible_to, is_admin=is_admin, org_ids=org_ids, group_ids=group_ids)
    return {RepoType(t): int(n) for t, n in conn.execute(q)}


def repos_of_owner(conn: Connection, owner_id: int, *, limit: int, offset: int) -> list[RepoRecord]:
    """A page of the repos an account owns, most recently changed first."""
    q = (_select().where(repos.c.owner_id == owner_id)
         .order_by(repos.c.last_modified.desc(), repos.c.id.desc()).limit(limit).offset(offset))
    return [RepoRecord.from_row(r) for r in conn.execute(q)]


def namespace_large_file_bytes(conn: Connection, owner_id: int) -> int:
    """Bytes of the large files an account's repos hold (each repo's counted, as each repo's own storage)."""
    return int(conn.execute(
        select(func.coalesce(func.sum(lfs_objects.c.size), 0))
        .select_from(repo_lfs_objects.join(lfs_objects, lfs_objects.c.oid == repo_lfs_objects.c.oid)
                     .join(repos, repos.c.id == repo_lfs_objects.c.repo_id))
        .where(repos.c.owner_id == owner_id)
    ).scalar_one())


def large_file_bytes(conn: Connection, repo_ids: Sequence[int]) -> dict[int, int]:
    """Bytes of the large files (LFS and Xet content) each repo holds."""
    if not repo_ids:
        return {}
    rows = conn.execute(
        select(repo_lfs_objects.c.repo_id, func.sum(lfs_objects.c.size))
        .join_from(repo_lfs_objects, lfs_objects, lfs_objects.c.oid == repo_lfs_objects.c.oid)
        .where(repo_lfs_objects.c.repo_id.in_(list(repo_ids))).group_by(repo_lfs_objects.c.repo_id)
    ).all()
    return {int(r[0]): int(r[1] or 0) for r in rows}


def _like_literal(text: str) -> str:
    """`text` escaped for LIKE ... ESCAPE '\\', so that "_" and "%" match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# refs ------------------------------------------------------------------------------------------------------------

def get_ref(conn: Connection, repo_id: int, name: str) -> str | None:
    row = conn.execute(select(refs.c.target).where(refs.c.repo_id == repo_id, refs.c.name == name)).first()
    return row.target if row else None


def list_refs(conn: Connection, repo_id: int) -> list[tuple[str, str]]:
    return [(r.name, r.target) for r in
            conn.execute(select(refs.c.name, refs.c.target).where(refs.c.repo_id == repo_id).order_by(refs.c.name))]


def create_ref(conn: Connection, repo_id: int, name: str, target: str, now: float) -> None:
    conn.execute(insert(refs).values(repo_id=repo_id, name=name, target=target, updated_at=now))


def compare_and_set_ref(conn: Connection, repo_id: int, name: str, old: str, new: str, now: float) -> bool:
    """Moves a ref from `old` to `new` only if it still points at `old`. The guard against lost commits."""
    res = conn.execute(
        update(refs).where(refs.c.repo_id == repo_id, refs.c.name == name, refs.c.target == old)
        .values(target=new, updated_at=now)
    )
    return res.rowcount == 1


def delete_ref(conn: Connection, repo_id: int, name: str) -> bool:
    return conn.execute(delete(refs).where(refs.c.repo_id == repo_id, refs.c.name == name)).rowcount > 0


# commits known to belong to a repo (objects are shared; a sha only resolves in the repo that made it) ------------

def add_commit(conn: Connection, repo_id: int, sha: str) -> None:
    from inhouse.storage.db.lfs import _insert_ignore

    _insert_ignore(conn, repo_commits, repo_id=repo_id, sha=sha)


def repo_has_commit(conn: Connection, repo_id: int, sha: str) -> bool:
    row = conn.execute(
        select(repo_commits.c.sha).where(repo_commits.c.repo_id == repo_id, repo_commits.c.sha == sha)
    ).first()
    return row is not None


def commits_with_prefix(conn: Connection, repo_id: int, prefix: str) -> list[str]:
    rows = conn.execute(
        select(repo_commits.c.sha).where(repo_commits.c.repo_id == repo_id, repo_commits.c.sha.like(prefix + "%"))
        .limit(2)
    ).all()
    return [r.sha for r in rows]
