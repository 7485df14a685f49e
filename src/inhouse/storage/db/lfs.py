"""Queries on large-file objects and which repos hold them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inhouse.storage.db.schema import lfs_objects, repo_lfs_objects


def _insert_ignore(conn: Connection, table: Table, **values: Any) -> None:
    """INSERT … ON CONFLICT DO NOTHING, in the connection's dialect."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(table).values(**values).on_conflict_do_nothing())


def record_object(conn: Connection, repo_id: int, oid: str, size: int, now: float) -> None:
    """Links an object to a repo. `created_at` is the object's last use (upload or commit): storage GC only
    deletes objects unused for its grace window, and tests that inside its DELETE."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(lfs_objects).values(oid=oid, size=size, created_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["oid"], set_={"created_at": now}))
    _insert_ignore(conn, repo_lfs_objects, repo_id=repo_id, oid=oid)


def touch_object(conn: Connection, oid: str, now: float) -> int | None:
    """Marks an object as used now (a commit names it) and returns its size; None when it is not stored."""
    row = conn.execute(update(lfs_objects).where(lfs_objects.c.oid == oid).values(created_at=now)
                       .returning(lfs_objects.c.size)).first()
    return int(row.size) if row else None


def all_objects(conn: Connection) -> list[tuple[str, int, float]]:
    """(oid, size, last use) of every object."""
    return [(r.oid, int(r.size), float(r.created_at)) for r in
            conn.execute(select(lfs_objects.c.oid, lfs_objects.c.size, lfs_objects.c.created_at))]


def delete_unused_objects(conn: Connection, oids: list[str], used_before: float) -> list[str]:
    """Forgets those of `oids` not used since `used_before` (and which repos held them); returns them."""
    gone: list[str] = []
    for i in range(0, len(oids), 500):
        part = oids[i : i + 500]
        old = select(lfs_objects.c.oid).where(lfs_objects.c.oid.in_(part), lfs_objects.c.created_at < used_before)
        conn.execute(delete(repo_lfs_objects).where(repo_lfs_objects.c.oid.in_(old)))
        res = conn.execute(delete(lfs_objects).where(lfs_objects.c.oid.in_(part),
                                                     lfs_objects.c.created_at < used_before)
                           .returning(lfs_objects.c.oid))
        gone.extend(r.oid for r in res)
    return gone


def object_size(conn: Connection, oid: str) -> int | None:
    row = conn.execute(select(lfs_objects.c.size).where(lfs_objects.c.oid == oid)).first()
    return int(row.size) if row else None


def repo_has_object(conn: Connection, repo_id: int, oid: str) -> bool:
    row = conn.execute(
        select(repo_lfs_objects.c.oid).where(repo_lfs_objects.c.repo_id == repo_id, repo_lfs_objects.c.oid == oid)
    ).first()
    return row is not None
