"""Ref updates that a concurrent writer can never undo: create only if absent, delete only if unchanged (moving a
ref is repos.compare_and_set_ref), and the commits a push brings, recorded at once. git push (services/git_push)
moves every ref of a push with them."""

from __future__ import annotations

from sqlalchemy import Connection, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inhouse.storage.db.schema import refs, repo_commits


def create_ref_if_absent(conn: Connection, repo_id: int, name: str, target: str, now: float) -> bool:
    """Creates a ref unless one of that name exists (then False)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (insert(refs).values(repo_id=repo_id, name=name, target=target, updated_at=now).on_conflict_do_nothing()
            .returning(refs.c.name))
    return conn.execute(stmt).first() is not None


def compare_and_delete_ref(conn: Connection, repo_id: int, name: str, old: str) -> bool:
    """Deletes a ref only if it still points at `old`."""
    return conn.execute(
        delete(refs).where(refs.c.repo_id == repo_id, refs.c.name == name, refs.c.target == old)).rowcount == 1


def add_commits(conn: Connection, repo_id: int, shas: list[str]) -> None:
    """Records that the repo holds these commits (repos.add_commit for many), 500 per statement."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for i in range(0, len(shas), 500):
        conn.execute(insert(repo_commits).on_conflict_do_nothing(),
                     [{"repo_id": repo_id, "sha": sha} for sha in shas[i : i + 500]])
