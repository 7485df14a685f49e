"""Alembic's environment: runs the revisions on the connection `runner` hands over, inside its transaction."""

from __future__ import annotations

from alembic import context

from inhouse.storage.db.schema import metadata

if context.is_offline_mode():
    raise RuntimeError("inhouse's migrations run against a database: use `inhouse db upgrade`, not --sql.")

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,  # for autogenerate only: the revisions themselves never read schema.py
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
