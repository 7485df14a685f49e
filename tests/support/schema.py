"""Databases at a chosen schema revision, and what differs between a database and schema.py."""

from __future__ import annotations

import warnings
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from inhouse.storage.db.engine import Database
from inhouse.storage.db.migrations import runner
from inhouse.storage.db.schema import metadata


def migrate(url: str, revision: str = "head") -> None:
    """Runs the revisions on the database at `url` up to `revision` (from where it stands: empty, or stamped)."""
    db = Database(url)
    try:
        with db.write() as conn:
            command.upgrade(runner.alembic_config(conn), revision)
    finally:
        db.dispose()


def as_made_by_v0_1_0(url: str) -> None:
    """An empty database made into what inhouse 0.1.0 left: revision 0001's tables, and no revision recorded."""
    migrate(url, runner.V0_1_0)
    execute(url, f"DROP TABLE {runner.VERSION_TABLE}")


def execute(url: str, sql: str, **params: Any) -> list[Any]:
    db = Database(url)
    try:
        with db.write() as conn:
            result = conn.execute(text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        db.dispose()


def schema_diff(url: str) -> list[Any]:
    """What alembic's autogenerate sees between the database and schema.py's MetaData ([] when they agree)."""
    db = Database(url)
    try:
        with db.read() as conn, warnings.catch_warnings():
            # SQLite's reflection cannot read an expression index (repos' lower(namespace), lower(name)): alembic
            # and SQLAlchemy say so and leave it out; PostgreSQL compares it
            warnings.filterwarnings("ignore", message=".*expression-based index")
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(ctx, metadata))
    finally:
        db.dispose()
