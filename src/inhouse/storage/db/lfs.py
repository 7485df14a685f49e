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
    _insert_ignore(conn, repo_lfs_objects, repo_id=repo_id, oid=oid, pushed_at=now)


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


# a repo's large files, and removing them (services/lfs_files.py, services/forks.py) -----------------------------

def repo_objects(conn: Connection, repo_id: int, *, after: str = "", limit: int = 1000
                 ) -> list[tuple[str, int, float]]:
    """(oid, size, when the repo received it) of the repo's objects with an oid above `after`, by oid."""
    rows = conn.execute(
        select(repo_lfs_objects.c.oid, lfs_objects.c.size, repo_lfs_objects.c.pushed_at, lfs_objects.c.created_at)
        .join(lfs_objects, lfs_objects.c.oid == repo_lfs_objects.c.oid)
        .where(repo_lfs_objects.c.repo_id == repo_id, repo_lfs_objects.c.oid > after)
        .order_by(repo_lfs_objects.c.oid).limit(limit))
    return [(r.oid, int(r.size), float(r.pushed_at if r.pushed_at is not None else r.created_at)) for r in rows]


def unlink_objects(conn: Connection, repo_id: int, oids: list[str]) -> list[str]:
    """The repo no longer holds these objects; returns those it held."""
    out: list[str] = []
    for i in range(0, len(oids), 500):
        res = conn.execute(delete(repo_lfs_objects).where(repo_lfs_objects.c.repo_id == repo_id,
                                                          repo_lfs_objects.c.oid.in_(oids[i : i + 500]))
                           .returning(repo_lfs_objects.c.oid))
        out.extend(r.oid for r in res)
    return out


def held_by_any(conn: Connection, oids: list[str]) -> set[str]:
    """Those of `oids` some repo still holds."""
    out: set[str] = set()
    for i in range(0, len(oids), 500):
        out.update(r.oid for r in conn.execute(select(repo_lfs_objects.c.oid).where(
            repo_lfs_objects.c.oid.in_(oids[i : i + 500])).distinct()))
    return out


def forget_objects(conn: Connection, oids: list[str]) -> None:
    """Deletes the rows of objects no repo holds (whenever they were last used)."""
    for i in range(0, len(oids), 500):
        part = oids[i : i + 500]
        conn.execute(delete(lfs_objects).where(lfs_objects.c.oid.in_(part),
                                               ~lfs_objects.c.oid.in_(select(repo_lfs_objects.c.oid))))


def copy_repo_objects(conn: Connection, src_repo_id: int, dst_repo_id: int) -> int:
    """The repo `dst_repo_id` holds every object `src_repo_id` holds (same content, linked not copied)."""
    rows = [{"repo_id": dst_repo_id, "oid": r.oid, "pushed_at": r.pushed_at} for r in conn.execute(
        select(repo_lfs_objects.c.oid, repo_lfs_objects.c.pushed_at).where(repo_lfs_objects.c.repo_id == src_repo_id))]
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for i in range(0, len(rows), 500):
        conn.execute(insert(repo_lfs_objects).values(rows[i : i + 500]).on_conflict_do_nothing())
    return len(rows)
