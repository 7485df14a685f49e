"""Jobs as their owners see them: read one (with its tasks), list, read its log, cancel. Each caller sees their
own jobs and a site admin everyone's; another user's job answers exactly as a missing one does (NotFound), so job
ids reveal nothing. Cancelling is audited (job.cancel). Services that start jobs (evaluations, variant saves) use
`submit`, or queue.submit inside their own transaction followed by `stores.runtime.jobs_submitted()`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inhouse.access.identity import Principal
from inhouse.audit.log import Event
from inhouse.errors import Forbidden, NotFound, Unauthorized
from inhouse.jobs import queue
from inhouse.jobs.model import JobRecord, JobState, LogRecord, TaskRecord, TaskState
from inhouse.services.context import Stores

__all__ = ["JobDetail", "JobRecord", "JobState", "LogRecord", "TaskRecord", "TaskState", "cancel", "get",
           "list_jobs", "logs", "submit"]

MAX_PAGE = 200
MAX_LOG_PAGE = 5000


@dataclass(frozen=True)
class JobDetail:
    job: JobRecord
    tasks: list[TaskRecord]


def _caller(p: Principal) -> int:
    if p.anonymous or p.user_id is None:
        raise Unauthorized("Jobs belong to their owners: pass a token of your account in the Authorization header.")
    return p.user_id


def _not_found(job_id: int) -> NotFound:
    return NotFound(f"Job {job_id} not found: check the id (`inhouse jobs list` shows yours).")


def _visible(conn: Any, p: Principal, job_id: int) -> JobRecord:
    uid = _caller(p)
    job = queue.get(conn, job_id)
    if job is None or (job.owner_id != uid and not p.is_admin):
        raise _not_found(job_id)
    return job


def submit(stores: Stores, owner_id: int, kind: str, spec: dict[str, Any],
           tasks: Sequence[tuple[str, dict[str, Any]]] = ()) -> JobRecord:
    """Queues a job (its rows first) and wakes the dispatcher."""
    with stores.db.write() as conn:
        job = queue.submit(conn, kind, owner_id, spec, tasks, executor=stores.settings.job_executor)
    stores.runtime.jobs_submitted()
    return job


def get(stores: Stores, p: Principal, job_id: int) -> JobDetail:
    with stores.db.read() as conn:
        job = _visible(conn, p, job_id)
        return JobDetail(job, queue.tasks(conn, job_id))


def list_jobs(stores: Stores, p: Principal, *, everyone: bool = False, limit: int = 50,
              before: int | None = None, kind: str | None = None) -> list[JobRecord]:
    """The caller's jobs, newest first; `everyone` (site admins only) lists all users'."""
    uid = _caller(p)
    if everyone and not p.is_admin:
        raise Forbidden("Only site admins list everyone's jobs: leave out all=1 to list yours.")
    with stores.db.read() as conn:
        return queue.list_for(conn, None if everyone else uid, limit=max(1, min(limit, MAX_PAGE)), before=before,
                              kind=kind)


def logs(stores: Stores, p: Principal, job_id: int, *, after: int = 0, limit: int = 1000) -> list[LogRecord]:
    with stores.db.read() as conn:
        _visible(conn, p, job_id)
        return queue.logs(conn, job_id, after=after, limit=max(1, min(limit, MAX_LOG_PAGE)))


def cancel(stores: Stores, p: Principal, job_id: int) -> JobRecord:
    """Asks the job to stop (its workers are stopped within about a second); Conflict when it already ended."""
    with stores.db.write() as conn:
        job = _visible(conn, p, job_id)
        job = queue.request_cancel(conn, job_id)
        stores.audit.record(conn, p, Event("job.cancel", details={"job": job_id, "kind": job.kind,
                                                                  "owner": job.owner_name}))
    stores.runtime.jobs_submitted()
    return job
