"""Jobs tests: a database with a user, a dispatcher factory on the local executor, and helpers that wait for rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inhouse.jobs.dispatcher import Dispatcher, DispatcherConfig
from inhouse.jobs.executors.base import Executor
from inhouse.jobs.executors.local import LocalExecutor
from inhouse.jobs.handlers import JobHandler, builtin_handlers
from inhouse.jobs.model import JobRecord
from inhouse.storage.db import jobs as store
from inhouse.storage.db import users
from inhouse.storage.db.engine import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    database.create_schema()
    yield database
    database.dispose()


@pytest.fixture
def owner(db: Database) -> int:
    with db.write() as conn:
        return users.insert_user(conn, name="alice", fullname="", email=None, kind="user", is_admin=False,
                                 now=time.time()).id


MakeDispatcher = Callable[..., Dispatcher]


@pytest.fixture
def make_dispatcher(db: Database, tmp_path: Path) -> Iterator[MakeDispatcher]:
    made: list[Dispatcher] = []

    def make(*, executor: Executor | None = None, handlers: dict[str, JobHandler] | None = None,
             start: bool = True, runner_id: str | None = None, **config: Any) -> Dispatcher:
        cfg = DispatcherConfig(**{"cache_dir": str(tmp_path / "cache"), "poll_s": 0.05, **config})
        d = Dispatcher(db, executor or LocalExecutor(), handlers if handlers is not None else builtin_handlers(),
                       cfg, runner_id=runner_id)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    for d in made:
        d.stop()


def wait_for(check: Callable[[], Any], *, timeout: float = 60.0, what: str = "the condition") -> Any:
    """Polls `check` until it answers something true (and returns that); fails after `timeout` seconds. A
    deadline against a hang, not a timed assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def job(db: Database, job_id: int) -> JobRecord:
    with db.read() as conn:
        j = store.job_by_id(conn, job_id)
    assert j is not None
    return j


def wait_ended(db: Database, job_id: int, timeout: float = 60.0) -> JobRecord:
    return wait_for(lambda: (lambda j: j if j.state.ended else None)(job(db, job_id)), timeout=timeout,
                    what=f"job {job_id} to end")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def worker_pid(db: Database, job_id: int) -> int:
    """The pid the selftest worker logged ("selftest pid N"), once it has."""
    def find() -> int | None:
        with db.read() as conn:
            for line in store.logs(conn, job_id):
                if line.message.startswith("selftest pid "):
                    return int(line.message.split()[-1])
        return None
    return int(wait_for(find, what=f"job {job_id}'s worker pid"))
