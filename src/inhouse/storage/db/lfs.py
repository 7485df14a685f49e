"""Queries on large-file objects and which repos hold them."""

from __future__ import annotations

from sqlalchemy import Connection, select

from inhouse.storage.db.schema import lfs_objects, repo_lfs_objects


def _insert_ignore(conn: Connection, table, **values) -> None:  # type: ignore[no-untyped-def]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).values(**values).on_conflict_do_nothing())


def record_object(conn: Connection, repo_id: int, oid: str, size: int, now: float) -> None:
    _insert_ignore(conn, lfs_objects, oid=oid, size=size, created_at=now)
    _insert_ignore(conn, repo_lfs_objects, repo_id=repo_id, oid=oid)


def object_size(conn: Connection, oid: str) -> int | None:
    row = conn.execute(select(lfs_objects.c.size).where(lfs_objects.c.oid == oid)).first()
    return int(row.size) if row else None


def repo_has_object(conn: Connection, repo_id: int, oid: str) -> bool:
    row = conn.execute(
        select(repo_lfs_objects.c.oid).where(repo_lfs_objects.c.repo_id == repo_id, repo_lfs_objects.c.oid == oid)
    ).first()
    return row is not None
