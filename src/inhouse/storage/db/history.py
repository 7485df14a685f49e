"""Queries for rewriting a repo's history and for forks: which commits resolve in a repo, and its refs copied."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inhouse.storage.db.schema import refs, repo_commits

_BATCH = 500


def add_commits(conn: Connection, repo_id: int, shas: Sequence[str]) -> None:
    """These commits resolve in the repo (a fork, a rewritten history)."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    rows = [{"repo_id": repo_id, "sha": sha} for sha in dict.fromkeys(shas)]
    for i in range(0, len(rows), _BATCH):
        conn.execute(ins(repo_commits).values(rows[i : i + _BATCH]).on_conflict_do_nothing())


def forget_commits(conn: Connection, repo_id: int, keep: set[str]) -> int:
    """The repo's commits not in `keep` no longer resolve in it (a squashed or rewritten history); returns how
    many."""
    gone = [r.sha for r in conn.execute(select(repo_commits.c.sha).where(repo_commits.c.repo_id == repo_id))
            if r.sha not in keep]
    for i in range(0, len(gone), _BATCH):
        conn.execute(delete(repo_commits).where(repo_commits.c.repo_id == repo_id,
                                                repo_commits.c.sha.in_(gone[i : i + _BATCH])))
    return len(gone)


def copy_refs(conn: Connection, src_repo_id: int, dst_repo_id: int, prefixes: Sequence[str], now: float
              ) -> list[tuple[str, str]]:
    """The refs of `src_repo_id` under `prefixes` are created in `dst_repo_id` (same targets); returns them."""
    rows = [(r.name, r.target) for r in conn.execute(select(refs.c.name, refs.c.target)
                                                     .where(refs.c.repo_id == src_repo_id))
            if any(r.name.startswith(p) for p in prefixes)]
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = [{"repo_id": dst_repo_id, "name": n, "target": t, "updated_at": now} for n, t in rows]
    for i in range(0, len(values), _BATCH):
        conn.execute(ins(refs).values(values[i : i + _BATCH]).on_conflict_do_nothing())
    return rows
