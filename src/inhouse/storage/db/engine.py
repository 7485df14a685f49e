"""Database: the connection pool and the two kinds of transaction (read, write) every service uses."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event

from inhouse.storage.private import private_file


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """One database, SQLite or PostgreSQL, chosen by URL scheme."""

    def __init__(self, url: str):
        self.url = _normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = threading.Lock()
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
                    if name == path or Path(name).exists():
                        private_file(Path(name))  # 0600; SQLite gives its -wal and -shm the database's mode
            self.engine: Engine = create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8, max_overflow=16
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)

    def create_schema(self, *, how_to_upgrade: str = "inhouse db upgrade") -> None:
        """Creates the schema on an empty database, at the newest migration (and records it); on one that has a
        schema, checks that it is that revision (SchemaMismatch, naming `how_to_upgrade`, otherwise)."""
        from inhouse.storage.db.migrations.runner import open_schema

        open_schema(self, how_to_upgrade=how_to_upgrade)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: a consistent snapshot, never blocks writers."""
        with self.engine.connect() as conn:
            if not self.is_sqlite:  # PostgreSQL's default (READ COMMITTED) takes a new snapshot per statement
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: commits on success, rolls back entirely on any exception."""
        if self.is_sqlite:
            # SQLite allows one writer: serialise in-process writers and take the write lock up front
            # (BEGIN IMMEDIATE) so that a read-then-write transaction can never deadlock on upgrade.
            with self._write_lock, self.engine.connect().execution_options(sqlite_immediate=True) as conn:
                with conn.begin():
                    yield conn
        else:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn

    def dispose(self) -> None:
        self.engine.dispose()


BUSY_TIMEOUT_S = 30.0


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    _use_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE as on PostgreSQL: case-sensitive
    cur.close()


def _use_wal(cur: sqlite3.Cursor) -> None:
    """Puts the database in WAL mode (kept in the file: later connections find it set). Switching a new database
    answers 'database is locked' at once, without waiting for the busy timeout, while another process opens it at
    the same moment (a server and a CLI command starting together): retry until the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")

