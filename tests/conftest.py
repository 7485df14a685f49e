"""Fixtures: a live inhouse server (SQLite by default), factories, and the Hub client pointed at it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The real clients read these at import time: set them before any test imports huggingface_hub.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("DISABLE_SAFETENSORS_CONVERSION", "1")
os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
# Xet is on, as in a default client install: large files go through the server's Xet CAS. Tests of the Git LFS
# path turn it off themselves (the `lfs_only` fixture).
os.environ.pop("HF_HUB_DISABLE_XET", None)

from inhouse.config import Settings  # noqa: E402
from inhouse.services.context import Stores  # noqa: E402
from tests.support.live import LiveServer, drop_pg_database, new_pg_database  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the session; tests isolate themselves by using fresh users and repos."""
    srv = LiveServer(tmp_path_factory.mktemp("inhouse") / "data").start()
    yield srv
    srv.close()


@pytest.fixture
def user(server: LiveServer) -> tuple[str, str]:
    """(name, write token) of a fresh user."""
    name = server.make_user()
    return name, server.make_token(name, "write")


@pytest.fixture
def api(server: LiveServer, user: tuple[str, str]):  # type: ignore[no-untyped-def]
    """huggingface_hub's HfApi for a fresh user with a write token."""
    return server.api(user[1])


@pytest.fixture
def repo_id(user: tuple[str, str]) -> str:
    return f"{user[0]}/r{uuid.uuid4().hex[:8]}"


@pytest.fixture
def lfs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub without Xet (HF_HUB_DISABLE_XET=1, read into this constant at import): large files go
    through the Git LFS batch API."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = new_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on a fresh PostgreSQL database, one per test module (dropped afterwards)."""
    url = new_pg_database()
    srv = LiveServer(tmp_path_factory.mktemp("inhouse-pg") / "data", database_url=url)
    try:
        srv.start()
        yield srv
    finally:
        srv.close()
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'inhouse.db'}"
    else:
        url = new_pg_database()
        yield url
        drop_pg_database(url)


@pytest.fixture
def stores(tmp_path: Path, database_url: str) -> Iterator[Stores]:
    """The services' stores on a fresh data folder, on each backend."""
    s = Stores.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
    yield s
    s.close()
