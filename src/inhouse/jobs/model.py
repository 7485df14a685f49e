"""What a job is, as services see it: its states, its records, and the rule that derives a job's state from its
tasks' (in one place: `job_outcome`)."""

from __future__ import annotations

from collections.abc import Sequence

from inhouse.storage.db.jobs import JobRecord, JobState, LogRecord, TaskRecord, TaskState

__all__ = ["JobRecord", "JobState", "LogRecord", "TaskRecord", "TaskState", "eta_s", "job_outcome", "job_progress"]


def job_outcome(states: Sequence[TaskState], *, cancel_requested: bool = False,
                handler_failed: bool = False) -> JobState | None:
    """The state a job ends in, or None while any of its tasks is queued or running.

    * asked to be cancelled (and some task did not run to its end): cancelled;
    * the handler said the job failed (its `job_finished` raised), or every task failed: failed;
    * otherwise succeeded, even when some tasks failed: those tasks carry their own errors (an evaluation whose
      one candidate crashed still answers for the others).
    A job without tasks succeeds (unless its handler fails it)."""
    if any(not s.ended for s in states):
        return None
    if cancel_requested and any(s is TaskState.CANCELLED for s in states):
        return JobState.CANCELLED
    if handler_failed:
        return JobState.FAILED
    if states and all(s is TaskState.FAILED for s in states):
        return JobState.FAILED
    if states and all(s is TaskState.CANCELLED for s in states):
        return JobState.CANCELLED
    return JobState.SUCCEEDED


def job_progress(task_progress: Sequence[tuple[TaskState, float]]) -> float:
    """The mean of the tasks' fractions done, an ended task counting as done."""
    if not task_progress:
        return 0.0
    return sum(1.0 if s.ended else min(max(p, 0.0), 1.0) for s, p in task_progress) / len(task_progress)


def eta_s(progress: float, elapsed_s: float) -> float | None:
    """Seconds left at the pace so far (None until something is done)."""
    if progress <= 0.0 or elapsed_s < 0:
        return None
    return max(0.0, elapsed_s / progress * (1.0 - progress))
