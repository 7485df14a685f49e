"""Schema migrations (Alembic), shipped inside the package: `env.py`, `versions/` and `runner` (what Stores.open and
`inhouse db` call). There is no alembic.ini: `runner.alembic_config` builds the configuration in code.

Every change to storage/db/schema.py needs a revision here: tests/storage/test_migrations.py runs all revisions on
empty SQLite and PostgreSQL databases and fails when the result differs from schema.py. Write a revision by hand in
`versions/` (the next number, `down_revision` the current head), or start one from a database at head with
`alembic.command.revision(runner.alembic_config(connection), "what changed", autogenerate=True)`, then review it.
Revisions never import schema.py: history must not change when the schema does.
"""
