"""A real inhouse server in a subprocess on a free port, and factories for users, tokens and repos."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from inhouse.config import Settings
from inhouse.services import users
from inhouse.services.context import Stores
from inhouse.vocabulary import TokenRole

PG_ADMIN_URL = os.environ.get("INHOUSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_pg_database() -> str:
    """Creates a fresh PostgreSQL database for one test run and returns its URL."""
    import psycopg

    name = f"inhouse_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LiveServer:
    data_dir: Path
    database_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    access_log: bool = False  # on: uvicorn's access log (at info level) goes to self.log too
    port: int = 0
    proc: subprocess.Popen | None = None  # type: ignore[type-arg]
    _stores: Stores | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url)

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            self._stores = Stores.open(self.settings)
        return self._stores

    def start(self) -> "LiveServer":
        self.port = free_port()
        # The suite makes many failed token checks from 127.0.0.1 on purpose (revoked, expired, forged tokens):
        # the failed-token throttle gets room for them unless a test sets its own limit.
        env = {**os.environ, "INHOUSE_AUTH_FAILURE_LIMIT": "100000", **self.env,
               "INHOUSE_DATABASE_URL": self.database_url}
        cmd = [sys.executable, "-m", "inhouse", "serve", "--data", str(self.data_dir), "--port", str(self.port),
               *(["--log-level", "info"] if self.access_log else ["--log-level", "warning", "--no-access-log"])]
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"inhouse exited early; see {self.log.name}")
            try:
                httpx.get(self.url + "/api/models?limit=1", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("inhouse did not start within 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None) is not None and not self.log.closed:
            self.log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def close(self) -> None:
        self.stop()
        if self._stores is not None:
            self._stores.close()
            self._stores = None

    # factories ---------------------------------------------------------------------------------------------------

    def stored(self, oid: str) -> bytes | None:
        """The content of large file `oid` as this server holds it (an LFS blob, or xorbs once the background
        converter has moved it), or None when it holds none."""
        from inhouse.errors import EntryNotFound
        from inhouse.services.largefiles import xet_content

        try:
            return b"".join(xet_content.read_lfs(self.stores, oid))
        except EntryNotFound:
            return None

    def make_user(self, name: str | None = None, *, admin: bool = False) -> str:
        name = name or f"u{uuid.uuid4().hex[:10]}"
        users.create_user(self.stores, name, admin=admin)
        return name

    def make_token(self, user: str, role: str = "write", expires_in_s: float | None = None) -> str:
        return users.create_token(self.stores, user, role=TokenRole(role), expires_in_s=expires_in_s)[1]

    def make_repo(self, *, private: bool = False) -> tuple[str, str]:
        """(repo id, write token) of a new model repo owned by a fresh user."""
        name = self.make_user()
        token = self.make_token(name, "write")
        repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
        self.api(token).create_repo(repo_id, private=private)
        return repo_id, token

    def api(self, token: str | None = None):  # type: ignore[no-untyped-def]
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.url, token=token if token is not None else False)
