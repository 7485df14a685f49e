"""The dispatcher: one thread per server process that runs queued job tasks on an executor and writes back what
happens. The rows are the truth: it claims a task by changing its row, records progress (the job's: the mean of its
tasks', with an ETA), logs, the result or the error, and derives the job's state from its tasks' (model.job_outcome).

* At most `workers` tasks run at once, each watched by a thread of its own.
* Cancel: a job marked by queue.request_cancel has its running tasks' workers stopped (executor Handle.cancel)
  within about `poll_s` and they end as cancelled; then the job.
* Restart: at start, tasks another dispatcher (an earlier server process) left running are queued again if they
  were started fewer than `max_attempts` times, else failed with "interrupted by a server restart"; jobs whose
  tasks all ended get their final state. A job never stays running with nobody running it.
* Stop: the workers are stopped and their rows left running under this dispatcher's id, for the next start.

One dispatcher per database: a second server on the same database would take the first one's tasks for
interrupted ones.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from inhouse.config import Settings
from inhouse.errors import InhouseError
from inhouse.jobs import events
from inhouse.jobs.events import ErrorCode, Failure
from inhouse.jobs.executors.base import Executor, Handle
from inhouse.jobs.handlers import JobHandler
from inhouse.jobs.model import JobRecord, JobState, TaskRecord, TaskState, eta_s, job_outcome, job_progress
from inhouse.storage.db import jobs as store
from inhouse.storage.db.engine import Database

log = logging.getLogger("inhouse.jobs")

RESTART_REASON = "interrupted by a server restart"
PROGRESS_WRITE_S = 0.25  # a task's progress row is written at most this often (and always at 0 and at the end)


@dataclass(frozen=True)
class DispatcherConfig:
    workers: int = 1
    max_attempts: int = 2
    max_log_lines: int = 10_000
    endpoint: str = "http://127.0.0.1:8000"
    memory_bytes: int | None = None
    threads: int = 0
    cache_dir: str | None = None
    poll_s: float = 0.2

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatcherConfig:
        return cls(
            workers=max(1, settings.job_workers), max_attempts=max(1, settings.job_max_attempts),
            max_log_lines=max(2, settings.job_max_log_lines), endpoint=settings.resolved_worker_endpoint,
            memory_bytes=settings.worker_memory_bytes or None, threads=max(0, settings.worker_threads),
            cache_dir=str((Path(settings.data_dir) / "worker-cache").resolve()),
        )


@dataclass
class _Running:
    job_id: int
    task_id: int
    handle: Handle | None = None
    cancelled: bool = False


class Dispatcher:
    def __init__(self, db: Database, executor: Executor, handlers: Mapping[str, JobHandler],
                 config: DispatcherConfig, *, runner_id: str | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = db
        self.executor = executor
        self.handlers = handlers
        self.config = config
        self.runner_id = runner_id or f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # guards _running
        self._finish_lock = threading.Lock()  # one thread at a time settles a job's final state
        self._running: dict[int, _Running] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._thread: threading.Thread | None = None
        self._last_progress_write: dict[int, float] = {}

    # lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="inhouse-job-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the loop and the running workers; their rows stay running under this runner id, so the next
        start queues them again (or fails them) as interrupted."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        self._thread = None
        with self._lock:
            running = list(self._running.values())
            threads = list(self._threads.values())
        for r in running:
            if r.handle is not None:
                r.handle.cancel()
        for t in threads:
            t.join(timeout=10)
        self.executor.close()

    def wake(self) -> None:
        """Look for queued tasks and cancel requests now rather than at the next poll."""
        self._wake.set()

    @property
    def running_task_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    # restart --------------------------------------------------------------------------------------------------

    def recover(self) -> None:
        """Tasks other dispatchers left running: queued again, or failed after max_attempts starts; then every
        unfinished job whose tasks all ended is settled."""
        now = self._clock()
        failed: list[TaskRecord] = []
        with self.db.write() as conn:
            for task in store.running_tasks_not_of(conn, self.runner_id):
                if task.attempts < self.config.max_attempts:
                    store.requeue_task(conn, task.id)
                    store.add_log(conn, job_id=task.job_id, task_id=task.id, level="warning", now=now,
                                  message=f"task {task.name}: {RESTART_REASON}; queued again (it was started "
                                          f"{task.attempts} of at most {self.config.max_attempts} times)",
                                  max_lines=self.config.max_log_lines)
                else:
                    store.finish_task(conn, task.id, state=TaskState.FAILED, now=now, error_code=ErrorCode.CRASHED,
                                      error=f"{RESTART_REASON.capitalize()} (started {task.attempts} times, the "
                                            f"most INHOUSE_JOB_MAX_ATTEMPTS allows).")
                    store.add_log(conn, job_id=task.job_id, task_id=task.id, level="error", now=now,
                                  message=f"task {task.name} failed: {RESTART_REASON}",
                                  max_lines=self.config.max_log_lines)
                    failed.append(task)
            unfinished = store.unfinished_job_ids(conn)
        for task in failed:
            job = self._job(task.job_id)
            handler = self.handlers.get(job.kind) if job else None
            if job is not None and handler is not None:
                try:
                    handler.task_finished(job, task, None, Failure(ErrorCode.CRASHED.value, RESTART_REASON))
                except Exception:  # noqa: BLE001 - the task is failed either way
                    log.exception("job %s: the %s handler failed on an interrupted task", job.id, job.kind)
        for job_id in unfinished:
            self._settle(job_id)

    # the loop -------------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._check_cancels()
                self._settle_cancelled_jobs()
                while not self._stopping.is_set() and len(self.running_task_ids) < self.config.workers:
                    if not self._claim_and_start():
                        break
            except Exception:  # noqa: BLE001 - a database hiccup must not end the dispatcher; it retries
                log.exception("job dispatcher: an iteration failed")
            self._wake.wait(self.config.poll_s)
            self._wake.clear()

    def _claim_and_start(self) -> bool:
        with self.db.read() as conn:  # an idle server polls with reads only (SQLite: no write lock taken)
            if store.next_queued_task(conn) is None:
                return False
        now = self._clock()
        with self.db.write() as conn:
            task = store.next_queued_task(conn)
            if task is None:
                return False
            if not store.claim_task(conn, task.id, runner=self.runner_id, now=now):
                return True  # somebody else took it: look again
            store.set_job_running(conn, task.job_id, now=now, executor=self.executor.name)
            job = store.job_by_id(conn, task.job_id)
            claimed = store.task_by_id(conn, task.id)
        assert job is not None and claimed is not None
        running = _Running(job.id, claimed.id)
        thread = threading.Thread(target=self._run_task, args=(job, claimed, running), daemon=True,
                                  name=f"inhouse-job-{job.id}-task-{claimed.id}")
        with self._lock:
            self._running[claimed.id] = running
            self._threads[claimed.id] = thread
        thread.start()
        return True

    def _check_cancels(self) -> None:
        with self._lock:
            job_ids = sorted({r.job_id for r in self._running.values() if not r.cancelled})
        if not job_ids:
            return
        with self.db.read() as conn:
            asked = store.cancel_requested(conn, job_ids)
        with self._lock:
            targets = [r for r in self._running.values() if r.job_id in asked and not r.cancelled]
            for r in targets:
                r.cancelled = True
        for r in targets:
            if r.handle is not None:
                r.handle.cancel()

    def _settle_cancelled_jobs(self) -> None:
        """Jobs asked to cancel with nothing of theirs running here (their queued tasks were cancelled by the
        request): settle them."""
        with self.db.read() as conn:
            job_ids = store.unfinished_job_ids(conn, cancel_requested=True)
        with self._lock:
            busy = {r.job_id for r in self._running.values()}
        for job_id in job_ids:
            if job_id not in busy:
                self._settle(job_id)

    # one task -------------------------------------------------------------------------------------------------

    def _run_task(self, job: JobRecord, task: TaskRecord, running: _Running) -> None:
        try:
            result, failure = self._execute(job, task, running)
            if self._stopping.is_set() and running.handle is not None:
                return  # the server is stopping: the row stays running, for the next start to recover
            if running.cancelled:
                result, failure = None, Failure(ErrorCode.CANCELLED.value, "Cancelled on request.")
            self._finish_task(job, task, result, failure)
        except Exception as e:  # noqa: BLE001 - a task never stays running because its watcher failed
            log.exception("job %s task %s: the dispatcher failed", job.id, task.id)
            try:
                self._finish_task(job, task, None, Failure(ErrorCode.CRASHED.value, f"{type(e).__name__}: {e}"))
            except Exception:  # noqa: BLE001
                log.exception("job %s task %s: could not record the failure", job.id, task.id)
        finally:
            with self._lock:
                self._running.pop(task.id, None)
                self._threads.pop(task.id, None)
            self._last_progress_write.pop(task.id, None)
            self._wake.set()

    def _execute(self, job: JobRecord, task: TaskRecord,
                 running: _Running) -> tuple[dict[str, Any] | None, Failure | None]:
        handler = self.handlers.get(job.kind)
        if handler is None:
            return None, Failure(ErrorCode.CRASHED.value, f"This server has no handler for jobs of kind "
                                                          f"'{job.kind}'; it knows {', '.join(sorted(self.handlers))}.")
        try:
            extra = handler.payload(job, task)
        except InhouseError as e:
            return None, Failure(ErrorCode.BAD_INPUT.value, e.message)
        except Exception as e:  # noqa: BLE001
            return None, Failure(ErrorCode.CRASHED.value, f"{type(e).__name__}: {e}")
        payload = events.payload(kind=job.kind, job_id=job.id, task_id=task.id, endpoint=self.config.endpoint,
                                 token=None, spec=task.spec, memory_bytes=self.config.memory_bytes,
                                 threads=self.config.threads, cache_dir=self.config.cache_dir)
        payload.update(extra)
        self._log(job.id, task.id, "info", f"task {task.name} started on the {self.executor.name} executor "
                                           f"(attempt {task.attempts})")
        with self._lock:
            if running.cancelled:
                return None, Failure(ErrorCode.CANCELLED.value, "Cancelled on request.")
        handle = self.executor.start(payload)
        with self._lock:
            running.handle = handle
            cancel_now = running.cancelled
        if cancel_now:
            handle.cancel()
        last: dict[str, Any] | None = None
        for event in handle.events():
            kind = event.get("event")
            if kind == "progress":
                self._progress(job, task, event)
            elif kind == "log":
                self._log(job.id, task.id, str(event["level"]), str(event["message"]))
            elif events.is_last(event):
                last = event
                break
        handle.wait()
        if last is not None and last["event"] == "result":
            return dict(last["result"]), None
        if last is None:
            return None, Failure(ErrorCode.CRASHED.value, "The worker ended without a result.")
        return None, Failure(str(last["code"]), str(last["message"]))

    def _progress(self, job: JobRecord, task: TaskRecord, event: dict[str, Any]) -> None:
        total = max(int(event["total"]), 0)
        fraction = min(1.0, max(0.0, int(event["done"]) / total)) if total else 0.0
        now = self._clock()
        done = total > 0 and int(event["done"]) >= total
        if not done and now - self._last_progress_write.get(task.id, 0.0) < PROGRESS_WRITE_S:
            return
        self._last_progress_write[task.id] = now
        stage = str(event.get("stage") or "")
        with self.db.write() as conn:
            store.set_task_progress(conn, task.id, fraction)
            self._write_job_progress(conn, job.id, now,
                                     message=f"{task.name}: {stage} {event['done']}/{total}".replace("  ", " "))

    def _write_job_progress(self, conn: Connection, job_id: int, now: float, *, message: str | None = None) -> None:
        tasks = store.tasks_of(conn, job_id)
        job = store.job_by_id(conn, job_id)
        if job is None:
            return
        progress = job_progress([(t.state, t.progress) for t in tasks])
        started = job.started_at if job.started_at is not None else now
        store.set_job_progress(conn, job_id, progress=progress, eta_s=eta_s(progress, now - started), message=message)

    def _log(self, job_id: int, task_id: int | None, level: str, message: str) -> None:
        with self.db.write() as conn:
            store.add_log(conn, job_id=job_id, task_id=task_id, level=level, message=message, now=self._clock(),
                          max_lines=self.config.max_log_lines)

    def _finish_task(self, job: JobRecord, task: TaskRecord, result: dict[str, Any] | None,
                     failure: Failure | None) -> None:
        handler = self.handlers.get(job.kind)
        if handler is not None:
            try:
                handler.task_finished(job, task, result, failure)
            except Exception as e:  # noqa: BLE001 - the task fails with what went wrong
                log.exception("job %s task %s: the %s handler failed", job.id, task.id, job.kind)
                message = e.message if isinstance(e, InhouseError) else f"{type(e).__name__}: {e}"
                result, failure = None, Failure(ErrorCode.CRASHED.value, f"Could not record the task's outcome: "
                                                                         f"{message}")
        if failure is None:
            state = TaskState.SUCCEEDED
        elif failure.code == ErrorCode.CANCELLED.value:
            state = TaskState.CANCELLED
        else:
            state = TaskState.FAILED
        now = self._clock()
        with self.db.write() as conn:
            store.finish_task(conn, task.id, state=state, now=now, result=result,
                              error_code=None if failure is None else failure.code,
                              error=None if failure is None else failure.message)
            store.add_log(conn, job_id=job.id, task_id=task.id, level="info" if failure is None else "error",
                          now=now, max_lines=self.config.max_log_lines,
                          message=f"task {task.name} {state}" + ("" if failure is None else
                                                                   f" ({failure.code}): {failure.message}"))
            self._write_job_progress(conn, job.id, now)
        self._settle(job.id)

    # the job's state ------------------------------------------------------------------------------------------

    def _job(self, job_id: int) -> JobRecord | None:
        with self.db.read() as conn:
            return store.job_by_id(conn, job_id)

    def _settle(self, job_id: int) -> None:
        """Gives the job its final state once all its tasks ended (model.job_outcome), after its handler's
        job_finished (which fails the job by raising)."""
        with self._finish_lock:
            with self.db.read() as conn:
                job = store.job_by_id(conn, job_id)
                tasks = store.tasks_of(conn, job_id)
            if job is None or job.state.ended:
                return
            cancel_requested = job.cancel_requested_at is not None
            states = [t.state for t in tasks]
            if job_outcome(states, cancel_requested=cancel_requested) is None:
                return
            handler_error: str | None = None
            extra: dict[str, Any] | None = None
            handler = self.handlers.get(job.kind)
            if handler is not None:
                try:
                    extra = handler.job_finished(job)
                except Exception as e:  # noqa: BLE001 - the job fails with the handler's words
                    log.exception("job %s: the %s handler failed to finish it", job.id, job.kind)
                    handler_error = e.message if isinstance(e, InhouseError) else f"{type(e).__name__}: {e}"
            outcome = job_outcome(states, cancel_requested=cancel_requested, handler_failed=handler_error is not None)
            assert outcome is not None
            counts = {s.value: sum(1 for t in tasks if t.state is s) for s in TaskState if s.ended}
            error: str | None = None
            if outcome is JobState.FAILED:
                first = next((t for t in tasks if t.state is TaskState.FAILED), None)
                error = handler_error or (f"Every task failed; the first ({first.name}): {first.error}" if first
                                          else "The job failed.")
            elif outcome is JobState.CANCELLED:
                error = "Cancelled on request."
            message = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or str(outcome)
            with self.db.write() as conn:
                store.finish_job(conn, job_id, state=outcome, now=self._clock(),
                                 result={**(extra or {}), "tasks": counts}, error=error, message=message)
