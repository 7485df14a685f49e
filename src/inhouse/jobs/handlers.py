"""Job handlers: what a kind of job does around its tasks. The dispatcher runs the tasks; a handler (registered
per job kind) says what each task's worker gets and hears how each task and the whole job ended.

Services register theirs before the runtime starts (`Runtime.job_handlers[kind] = handler`, filled in by the
composition root); the "selftest" handler lives here.
"""

from __future__ import annotations

from typing import Any, Protocol

from inhouse.jobs.events import Failure
from inhouse.jobs.model import JobRecord, TaskRecord


class JobHandler(Protocol):
    def payload(self, job: JobRecord, task: TaskRecord) -> dict[str, Any]:
        """The parts of the worker payload this handler decides (events.payload names them all): usually "spec"
        (default: the task's spec), "token" (default: none) and "kind" (the worker kind; default: the job's kind).
        The dispatcher fills in the rest (job and task ids, endpoint, limits, cache folder). Raising fails the task
        ("bad-input" for an InhouseError, "crashed" otherwise) without starting a worker."""
        ...

    def task_finished(self, job: JobRecord, task: TaskRecord, result: dict[str, Any] | None,
                      failure: Failure | None) -> None:
        """One task ended: `result` on success, else `failure` (code "cancelled" when it was cancelled). Called
        before the task's row is marked ended; raising fails the task with the exception's message."""
        ...

    def job_finished(self, job: JobRecord) -> dict[str, Any] | None:
        """Every task of the job ended (the rows say how). What it returns joins the job's result (beside
        "tasks"); raising fails the job with the exception's message."""
        ...


class SelftestHandler:
    """The "selftest" kind: a worker that counts steps (inhouse.ml.selftest), to check that the job system and its
    executors work, and to measure their overhead. Each task's spec is the worker's spec, unchanged."""

    kind = "selftest"

    def payload(self, job: JobRecord, task: TaskRecord) -> dict[str, Any]:
        return {"kind": "selftest", "spec": task.spec}

    def task_finished(self, job: JobRecord, task: TaskRecord, result: dict[str, Any] | None,
                      failure: Failure | None) -> None:
        return None

    def job_finished(self, job: JobRecord) -> dict[str, Any] | None:
        return None


def builtin_handlers() -> dict[str, JobHandler]:
    """The handlers inhouse.jobs itself provides (services add theirs)."""
    return {SelftestHandler.kind: SelftestHandler()}
