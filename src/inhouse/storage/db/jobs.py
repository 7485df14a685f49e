"""Queries on jobs, their tasks and logs, and on evaluation results. The rows are the truth: a dispatcher claims a
queued task by changing its row, and whatever it learns (progress, logs, result, error) goes back into rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from inhouse.storage.db.schema import evaluation_results, job_logs, job_tasks, jobs, users

MAX_LOG_LINE = 4096  # characters of one log line kept; longer lines are cut and say so


class JobState(StrEnum):
    """The state of a job, and of each of its tasks (TaskState: the same states)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


TaskState = JobState  # a task goes through the same states as its job


@dataclass(frozen=True)
class TaskRecord:
    id: int
    job_id: int
    seq: int
    name: str
    state: TaskState
    attempts: int
    spec: dict[str, Any]
    result: dict[str, Any] | None
    error_code: str | None
    error: str | None
    progress: float
    started_at: float | None
    finished_at: float | None
    runner: str | None


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str
    state: JobState
    owner_id: int
    spec: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    progress: float
    eta_s: float | None
    message: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    cancel_requested_at: float | None
    executor: str
    owner_name: str = ""  # who asked (filled by the queries that join users)


@dataclass(frozen=True)
class LogRecord:
    id: int
    job_id: int
    task_id: int | None
    at: float
    level: str
    message: str


@dataclass(frozen=True)
class EvaluationResult:
    """One measured (or failed, or skipped) candidate row of an evaluation. `id` and `created_at` are set by the
    store (0 before insertion)."""

    job_id: int
    task_id: int | None
    task: str
    dataset_repo_id: str
    dataset_revision: str
    dataset_config: str | None
    dataset_split: str
    model_repo_id: str
    model_revision: str | None
    variant: str
    status: str  # ok | failed | skipped
    error: str | None = None
    quality: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    created_at: float = 0.0


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _job(m: Any, owner_name: str = "") -> JobRecord:
    return JobRecord(
        m["id"], m["kind"], JobState(m["state"]), m["owner_id"], json.loads(m["spec"]), _loads(m["result"]),
        m["error"], float(m["progress"]), m["eta_s"], m["message"], m["created_at"], m["started_at"],
        m["finished_at"], m["cancel_requested_at"], m["executor"], owner_name,
    )


def _task(m: Any) -> TaskRecord:
    return TaskRecord(
        m["id"], m["job_id"], m["seq"], m["name"], TaskState(m["state"]), m["attempts"], json.loads(m["spec"]),
        _loads(m["result"]), m["error_code"], m["error"], float(m["progress"]), m["started_at"], m["finished_at"],
        m["runner"],
    )


# jobs and tasks ----------------------------------------------------------------------------------------------------

def insert_job(conn: Connection, *, kind: str, owner_id: int, spec: dict[str, Any], executor: str, now: float,
               tasks: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Writes a queued job and its queued tasks (seq in the given order); returns the job id."""
    job_id = int(conn.execute(insert(jobs).values(
        kind=kind, state=JobState.QUEUED.value, owner_id=owner_id, spec=_dumps(spec), progress=0.0, message="queued",
        created_at=now, executor=executor,
    ).returning(jobs.c.id)).scalar_one())
    if tasks:
        conn.execute(insert(job_tasks), [
            {"job_id": job_id, "seq": i, "name": name[:200], "state": TaskState.QUEUED.value, "attempts": 0,
             "spec": _dumps(task_spec), "progress": 0.0}
            for i, (name, task_spec) in enumerate(tasks)
        ])
    return job_id


def job_by_id(conn: Connection, job_id: int) -> JobRecord | None:
    row = conn.execute(select(jobs, users.c.name.label("owner_name")).join(users, users.c.id == jobs.c.owner_id)
                       .where(jobs.c.id == job_id)).first()
    return _job(row._mapping, row._mapping["owner_name"]) if row else None


def list_jobs(conn: Connection, *, owner_id: int | None, limit: int, before: int | None = None,
              kind: str | None = None) -> list[JobRecord]:
    """Newest first; `owner_id` None lists everyone's; `before` a job id (paging)."""
    q = select(jobs, users.c.name.label("owner_name")).join(users, users.c.id == jobs.c.owner_id)
    if owner_id is not None:
        q = q.where(jobs.c.owner_id == owner_id)
    if before is not None:
        q = q.where(jobs.c.id < before)
    if kind is not None:
        q = q.where(jobs.c.kind == kind)
    rows = conn.execute(q.order_by(jobs.c.id.desc()).limit(limit))
    return [_job(r._mapping, r._mapping["owner_name"]) for r in rows]


def tasks_of(conn: Connection, job_id: int) -> list[TaskRecord]:
    rows = conn.execute(select(job_tasks).where(job_tasks.c.job_id == job_id).order_by(job_tasks.c.seq))
    return [_task(r._mapping) for r in rows]


def task_by_id(conn: Connection, task_id: int) -> TaskRecord | None:
    row = conn.execute(select(job_tasks).where(job_tasks.c.id == task_id)).first()
    return _task(row._mapping) if row else None


def next_queued_task(conn: Connection) -> TaskRecord | None:
    """The oldest job's first queued task, of a job nobody asked to cancel."""
    row = conn.execute(
        select(job_tasks).join(jobs, jobs.c.id == job_tasks.c.job_id)
        .where(job_tasks.c.state == TaskState.QUEUED.value, jobs.c.cancel_requested_at.is_(None))
        .order_by(job_tasks.c.job_id, job_tasks.c.seq).limit(1)
    ).first()
    return _task(row._mapping) if row else None


def claim_task(conn: Connection, task_id: int, *, runner: str, now: float) -> bool:
    """Moves a queued task to running under `runner` (one attempt more); False when someone else took it first."""
    n = conn.execute(update(job_tasks).where(job_tasks.c.id == task_id, job_tasks.c.state == TaskState.QUEUED.value)
                     .values(state=TaskState.RUNNING.value, runner=runner, started_at=now, finished_at=None,
                             attempts=job_tasks.c.attempts + 1, progress=0.0)).rowcount
    return bool(n)


def set_job_running(conn: Connection, job_id: int, *, now: float, executor: str) -> None:
    """A job's first claimed task starts it; every claim records the executor that runs it."""
    conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == JobState.QUEUED.value)
                 .values(state=JobState.RUNNING.value, started_at=now, message="running"))
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(executor=executor))


def set_task_progress(conn: Connection, task_id: int, progress: float) -> None:
    conn.execute(update(job_tasks).where(job_tasks.c.id == task_id, job_tasks.c.state == TaskState.RUNNING.value)
                 .values(progress=progress))


def set_job_progress(conn: Connection, job_id: int, *, progress: float, eta_s: float | None,
                     message: str | None = None) -> None:
    values: dict[str, Any] = {"progress": progress, "eta_s": eta_s}
    if message is not None:
        values["message"] = message[:1000]
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def finish_task(conn: Connection, task_id: int, *, state: TaskState, now: float,
                result: dict[str, Any] | None = None, error_code: str | None = None,
                error: str | None = None) -> None:
    values: dict[str, Any] = {"state": state.value, "finished_at": now, "result": None if result is None else _dumps(result),
                              "error_code": error_code, "error": error}
    if state is TaskState.SUCCEEDED:
        values["progress"] = 1.0
    conn.execute(update(job_tasks).where(job_tasks.c.id == task_id).values(**values))


def requeue_task(conn: Connection, task_id: int) -> None:
    conn.execute(update(job_tasks).where(job_tasks.c.id == task_id)
                 .values(state=TaskState.QUEUED.value, runner=None, progress=0.0, started_at=None))


def finish_job(conn: Connection, job_id: int, *, state: JobState, now: float, result: dict[str, Any] | None,
               error: str | None, message: str) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(
        state=state.value, finished_at=now, result=None if result is None else _dumps(result), error=error,
        message=message[:1000], eta_s=None, **({"progress": 1.0} if state is JobState.SUCCEEDED else {}),
    ))


def request_cancel(conn: Connection, job_id: int, *, now: float) -> None:
    """Marks the job for cancelling and cancels its queued tasks at once (running ones are the dispatcher's)."""
    conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.cancel_requested_at.is_(None))
                 .values(cancel_requested_at=now))
    conn.execute(update(job_tasks).where(job_tasks.c.job_id == job_id, job_tasks.c.state == TaskState.QUEUED.value)
                 .values(state=TaskState.CANCELLED.value, finished_at=now, error="cancelled before it started"))


def cancel_requested(conn: Connection, job_ids: Sequence[int]) -> set[int]:
    """Those of `job_ids` somebody asked to cancel."""
    if not job_ids:
        return set()
    rows = conn.execute(select(jobs.c.id).where(jobs.c.id.in_(list(job_ids)), jobs.c.cancel_requested_at.is_not(None)))
    return {int(r[0]) for r in rows}


def running_tasks_not_of(conn: Connection, runner: str) -> list[TaskRecord]:
    """Tasks some other dispatcher (an earlier server process) left running."""
    rows = conn.execute(select(job_tasks).where(
        job_tasks.c.state == TaskState.RUNNING.value,
        (job_tasks.c.runner != runner) | job_tasks.c.runner.is_(None),
    ).order_by(job_tasks.c.id))
    return [_task(r._mapping) for r in rows]


def count_unfinished(conn: Connection, owner_id: int) -> int:
    """How many of `owner_id`'s jobs are queued or running (not counting those asked to cancel: they are ending)."""
    q = select(func.count()).select_from(jobs).where(
        jobs.c.owner_id == owner_id, jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
        jobs.c.cancel_requested_at.is_(None))
    return int(conn.execute(q).scalar_one())


def unfinished_job_ids(conn: Connection, *, cancel_requested: bool = False) -> list[int]:
    """Jobs whose row is not in an ended state (queued or running); only those asked to cancel if
    `cancel_requested`."""
    q = select(jobs.c.id).where(jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))
    if cancel_requested:
        q = q.where(jobs.c.cancel_requested_at.is_not(None))
    rows = conn.execute(q.order_by(jobs.c.id))
    return [int(r[0]) for r in rows]


# logs ------------------------------------------------------------------------------------------------------------

def add_log(conn: Connection, *, job_id: int, task_id: int | None, level: str, message: str, now: float,
            max_lines: int) -> bool:
    """Appends one line (cut to MAX_LOG_LINE characters) unless the job holds `max_lines` already; the last line
    kept says that later lines were dropped. False when the line was dropped."""
    count = int(conn.execute(select(func.count()).select_from(job_logs).where(job_logs.c.job_id == job_id)).scalar_one())
    if count >= max_lines:
        return False
    if count == max_lines - 1:
        level, message = "warning", (f"log truncated: a job keeps at most {max_lines} lines; later lines were dropped "
                                     "(raise INHOUSE_JOB_MAX_LOG_LINES to keep more)")
    elif len(message) > MAX_LOG_LINE:
        message = message[:MAX_LOG_LINE - 20] + " … [line truncated]"
    conn.execute(insert(job_logs).values(job_id=job_id, task_id=task_id, at=now, level=level[:8], message=message))
    return count != max_lines - 1


def logs(conn: Connection, job_id: int, *, after: int = 0, limit: int = 1000) -> list[LogRecord]:
    rows = conn.execute(select(job_logs).where(job_logs.c.job_id == job_id, job_logs.c.id > after)
                        .order_by(job_logs.c.id).limit(limit))
    return [LogRecord(r.id, r.job_id, r.task_id, r.at, r.level, r.message) for r in rows]


# evaluation results ----------------------------------------------------------------------------------------------

def insert_results(conn: Connection, rows: Sequence[EvaluationResult], *, now: float) -> list[int]:
    """Stores the rows; returns their ids in order."""
    ids = []
    for r in rows:
        ids.append(int(conn.execute(insert(evaluation_results).values(
            job_id=r.job_id, task_id=r.task_id, task=r.task, dataset_repo_id=r.dataset_repo_id,
            dataset_revision=r.dataset_revision, dataset_config=r.dataset_config, dataset_split=r.dataset_split,
            model_repo_id=r.model_repo_id, model_revision=r.model_revision, variant=r.variant, status=r.status,
            error=r.error, quality=r.quality, metrics=_dumps(r.metrics), cost=_dumps(r.cost),
            machine=_dumps(r.machine), created_at=now,
        ).returning(evaluation_results.c.id)).scalar_one()))
    return ids


def _result(m: Any) -> EvaluationResult:
    return EvaluationResult(
        m["job_id"], m["task_id"], m["task"], m["dataset_repo_id"], m["dataset_revision"], m["dataset_config"],
        m["dataset_split"], m["model_repo_id"], m["model_revision"], m["variant"], m["status"], m["error"],
        m["quality"], json.loads(m["metrics"]), json.loads(m["cost"]), json.loads(m["machine"]), m["id"],
        m["created_at"],
    )


def results_for_job(conn: Connection, job_id: int) -> list[EvaluationResult]:
    rows = conn.execute(select(evaluation_results).where(evaluation_results.c.job_id == job_id)
                        .order_by(evaluation_results.c.id))
    return [_result(r._mapping) for r in rows]


def results_for_dataset(conn: Connection, *, task: str, dataset_repo_id: str, dataset_revision: str,
                        config: str | None = None, split: str | None = None,
                        limit: int = 10_000) -> list[EvaluationResult]:
    """Every row measured on this dataset revision for this task (oldest first), optionally of one config/split."""
    c = evaluation_results.c
    cond = [c.task == task, c.dataset_repo_id == dataset_repo_id, c.dataset_revision == dataset_revision]
    if config is not None:
        cond.append(c.dataset_config == config)
    if split is not None:
        cond.append(c.dataset_split == split)
    rows = conn.execute(select(evaluation_results).where(and_(*cond)).order_by(c.id).limit(limit))
    return [_result(r._mapping) for r in rows]
