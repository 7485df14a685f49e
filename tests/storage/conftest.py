"""The metadata database on each backend (SQLite, PostgreSQL: `database_url` in tests/conftest.py), at the newest
schema, for the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inhouse.storage.db.engine import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.create_schema()
    yield database
    database.dispose()
