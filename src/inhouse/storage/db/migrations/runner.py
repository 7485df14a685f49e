"""Which schema revision a database is at, and bringing it to this code's newest (`inhouse db upgrade`).

A fresh database is created at the newest revision and stamped with it. A database made by inhouse 0.1.0 has the
tables but no `alembic_version` (0.1.0 recorded none): it is stamped 0001, its schema, before the later revisions
run. Opening a database at any other revision than the newest fails with SchemaMismatch, never upgrades silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, make_url, text

from inhouse.errors import SchemaMismatch
from inhouse.storage.db.schema import metadata

if TYPE_CHECKING:
    from inhouse.storage.db.engine import Database

MIGRATIONS = Path(__file__).resolve().parent
V0_1_0 = "0001"
"""The revision of the schema inhouse 0.1.0 created."""
V0_1_0_TABLES = frozenset({
    "users", "tokens", "repos", "repo_aliases", "refs", "git_objects", "lfs_objects", "repo_lfs_objects",
    "discussions", "discussion_events", "repo_commits", "org_members", "resource_groups", "resource_group_members",
    "resource_group_repos", "access_requests", "audit_log", "xet_xorbs", "xet_files", "xet_dedup", "repo_xorbs",
})
VERSION_TABLE = "alembic_version"
_PG_LOCK = 0x696E686F75  # a PostgreSQL advisory lock: one schema change (or creation) at a time


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, built in code (no alembic.ini): the scripts shipped in this package, run on
    `connection` inside its transaction (env.py reads it from `attributes`)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    """This code's newest schema revision."""
    head = _scripts().get_current_head()
    assert head is not None, "no revisions in storage/db/migrations/versions"
    return head


def display_url(url: str) -> str:
    """The database URL for messages, as an operator writes it: no driver name, the password hidden."""
    u = make_url(url)
    return u.set(drivername=u.get_backend_name()).render_as_string(hide_password=True)


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: the revision it records and which of inhouse 0.1.0's tables it holds."""

    revision: str | None  # recorded in alembic_version; None when none is
    head: str  # this code's newest revision
    known: bool  # whether this code has `revision` among its scripts
    tables: frozenset[str]  # inhouse 0.1.0's tables present

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.tables

    @property
    def legacy(self) -> bool:
        """Made by inhouse 0.1.0, before migrations: its tables, no revision recorded."""
        return self.revision is None and bool(self.tables)

    @property
    def current(self) -> bool:
        return self.revision == self.head

    @property
    def ahead(self) -> bool:
        """Upgraded by a newer inhouse: a revision this code does not know."""
        return self.revision is not None and not self.known

    def describe(self) -> str:
        if self.empty:
            return "none (an empty database)"
        if self.legacy:
            return f"none recorded (made by inhouse 0.1.0, whose schema is revision {V0_1_0})"
        return f"{self.revision}{'' if self.known else ' (unknown to this inhouse: a newer one upgraded it)'}"


def read_state(conn: Connection) -> SchemaState:
    names = set(inspect(conn).get_table_names())
    revision = MigrationContext.configure(conn).get_current_revision() if VERSION_TABLE in names else None
    scripts = _scripts()
    head = scripts.get_current_head()
    assert head is not None, "no revisions in storage/db/migrations/versions"
    known = revision is not None and revision in {s.revision for s in scripts.walk_revisions()}
    return SchemaState(revision, head, known, frozenset(names & V0_1_0_TABLES))


def state(db: Database) -> SchemaState:
    with db.read() as conn:
        return read_state(conn)


def mismatch(s: SchemaState, where: str, how_to_upgrade: str) -> SchemaMismatch | None:
    """The error for opening a database at `s` with this code (None when it is at the newest revision)."""
    if s.current or s.empty:
        return None
    if s.ahead:
        return SchemaMismatch(
            f"The database {where} is at schema revision {s.revision}, which this inhouse does not know (its newest "
            f"is {s.head}): a newer inhouse upgraded it. Run that newer version; inhouse never downgrades a "
            "database (restore the backup taken before the upgrade to go back).")
    was = (f"was made by inhouse 0.1.0 (it records no schema revision; 0.1.0's is {V0_1_0})" if s.legacy
           else f"is at schema revision {s.revision}")
    return SchemaMismatch(f"The database {where} {was}; this inhouse needs schema revision {s.head}. Stop the "
                          f"server, back up the data folder and database, then upgrade in place: {how_to_upgrade}")


def open_schema(db: Database, *, how_to_upgrade: str = "inhouse db upgrade") -> None:
    """Makes `db` ready for this code: an empty database is created at the newest revision and stamped with it;
    one at any other revision raises SchemaMismatch, whose message ends with `how_to_upgrade`."""
    s = state(db)
    if s.empty:
        with _locked(db) as conn:
            s = read_state(conn)  # another process may have created it meanwhile
            if s.empty:
                _create_at_head(conn)
                return
    error = mismatch(s, display_url(db.url), how_to_upgrade)
    if error is not None:
        raise error


@dataclass(frozen=True)
class Upgrade:
    before: SchemaState
    after: str  # the revision the database is at now


def upgrade(db: Database) -> Upgrade:
    """Brings `db` to this code's newest revision in one transaction (on SQLite and PostgreSQL alike, a failure
    leaves it as it was): an empty one is created; one made by inhouse 0.1.0 is stamped 0001, then upgraded."""
    with _migrating(db) as conn:
        before = read_state(conn)
        where = display_url(db.url)
        if before.ahead:
            raise mismatch(before, where, "") or AssertionError("unreachable")
        if before.empty:
            _create_at_head(conn)
        elif not before.current:
            cfg = alembic_config(conn)
            if before.legacy:
                missing = V0_1_0_TABLES - before.tables
                if missing:
                    raise SchemaMismatch(
                        f"The database {where} records no schema revision but lacks tables inhouse 0.1.0 created "
                        f"({', '.join(sorted(missing))}): it is not an inhouse database, or a damaged one. Point "
                        "inhouse at the right one (--data / --database-url), or restore a backup.")
                command.stamp(cfg, V0_1_0)
            command.upgrade(cfg, "head")
        if db.is_sqlite:
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaMismatch(f"Upgrading {where} would leave rows whose references are missing "
                                     f"({broken[:5]}): nothing was changed. Report this with `inhouse db current`'s "
                                     "output.")
        after = read_state(conn).revision
    assert after is not None
    return Upgrade(before, after)


def _create_at_head(conn: Connection) -> None:
    metadata.create_all(conn)
    command.stamp(alembic_config(conn), "head")


@contextmanager
def _locked(db: Database) -> Iterator[Connection]:
    """A write transaction no other process's schema creation or upgrade runs beside."""
    with db.write() as conn:
        if not db.is_sqlite:  # SQLite: write() already holds the database's one write lock
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        yield conn


@contextmanager
def _migrating(db: Database) -> Iterator[Connection]:
    """Like _locked, for revisions. On SQLite, foreign keys are off while they run: altering a table copies it and
    drops the old one, which with them on would cascade-delete every row that refers to it (upgrade checks the
    references before it commits)."""
    if not db.is_sqlite:
        with _locked(db) as conn:
            yield conn
        return
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")  # autocommit mode: takes effect now, outside any transaction
        try:
            with conn.execution_options(sqlite_immediate=True).begin():
                yield conn
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
