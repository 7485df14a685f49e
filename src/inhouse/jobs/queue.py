"""The job queue as services use it, inside their own transactions: submit writes the job and its tasks (the rows
are the truth; a dispatcher finds them), the reads, and the cancel request (queued tasks are cancelled at once,
running ones by the dispatcher that runs them)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from inhouse.errors import Conflict, NotFound
from inhouse.jobs.model import JobRecord, LogRecord, TaskRecord
from inhouse.storage.db import jobs as store

MAX_TASKS = 10_000  # per job
MAX_LIST = 1000


def submit(conn: Connection, kind: str, owner_id: int, spec: dict[str, Any],
           tasks: Sequence[tuple[str, dict[str, Any]]] = (), *, executor: str = "local",
           now: float | None = None) -> JobRecord:
    """Writes a queued job of `kind` for `owner_id` with its tasks ((name, spec) pairs, run in this order; a job
    with none gets one task named after the kind, with the job's spec). The dispatcher picks it up once the
    transaction commits (Runtime.jobs_submitted wakes it at once)."""
    if not tasks:
        tasks = [(kind, spec)]
    if len(tasks) > MAX_TASKS:
        raise Conflict(f"A job has at most {MAX_TASKS} tasks; this one has {len(tasks)}: split it.")
    job_id = store.insert_job(conn, kind=kind, owner_id=owner_id, spec=spec, executor=executor,
                              now=time.time() if now is None else now, tasks=tasks)
    job = store.job_by_id(conn, job_id)
    assert job is not None
    return job


def get(conn: Connection, job_id: int) -> JobRecord | None:
    return store.job_by_id(conn, job_id)


def tasks(conn: Connection, job_id: int) -> list[TaskRecord]:
    return store.tasks_of(conn, job_id)


def list_for(conn: Connection, owner_id: int | None, *, limit: int = 100, before: int | None = None,
             kind: str | None = None) -> list[JobRecord]:
    """Jobs of `owner_id` (None: everyone's), newest first."""
    return store.list_jobs(conn, owner_id=owner_id, limit=max(1, min(limit, MAX_LIST)), before=before, kind=kind)


def request_cancel(conn: Connection, job_id: int, *, now: float | None = None) -> JobRecord:
    """Asks for the job to stop: its queued tasks are cancelled now, its running ones by their dispatcher within a
    second or so, which then marks the job cancelled. Cancelling an ended job is a Conflict."""
    job = store.job_by_id(conn, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} not found.")
    if job.state.ended:
        raise Conflict(f"Job {job_id} already {job.state}: there is nothing to cancel.")
    store.request_cancel(conn, job_id, now=time.time() if now is None else now)
    again = store.job_by_id(conn, job_id)
    assert again is not None
    return again


def logs(conn: Connection, job_id: int, *, after: int = 0, limit: int = 1000) -> list[LogRecord]:
    """The job's log lines with an id above `after`, oldest first."""
    return store.logs(conn, job_id, after=after, limit=max(1, min(limit, 10_000)))
