"""The dispatcher on the local executor: real worker subprocesses running the selftest kind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from inhouse.errors import BadRequest
from inhouse.jobs import events, queue
from inhouse.jobs.dispatcher import RESTART_REASON
from inhouse.jobs.events import Failure
from inhouse.jobs.handlers import SelftestHandler
from inhouse.jobs.model import JobRecord, JobState, TaskRecord, TaskState
from inhouse.storage.db import jobs as store
from inhouse.storage.db.engine import Database
from tests.jobs.conftest import MakeDispatcher, alive, job, wait_ended, wait_for, worker_pid


def _submit(db: Database, owner: int, tasks: list[tuple[str, dict[str, Any]]], kind: str = "selftest") -> int:
    with db.write() as conn:
        return queue.submit(conn, kind, owner, {"what": "test"}, tasks).id


def _tasks(db: Database, job_id: int) -> list[TaskRecord]:
    with db.read() as conn:
        return queue.tasks(conn, job_id)


def test_a_job_runs_with_progress_logs_and_result_one_task_at_a_time(db: Database, owner: int,
                                                                    make_dispatcher: MakeDispatcher) -> None:
    job_id = _submit(db, owner, [("a", {"steps": 4, "step_s": 0.05}), ("b", {"steps": 2, "step_s": 0.05})])
    seen: list[tuple[float, float | None]] = []
    make_dispatcher(workers=1)

    def progressed() -> bool:
        j = job(db, job_id)
        if 0 < j.progress < 1:
            seen.append((j.progress, j.eta_s))
        return j.state.ended

    wait_for(progressed, what="the job to end")
    done = job(db, job_id)
    assert done.state is JobState.SUCCEEDED and done.progress == 1.0 and done.executor == "local"
    assert done.result == {"tasks": {"succeeded": 2, "failed": 0, "cancelled": 0}} and done.error is None
    assert done.started_at is not None and done.finished_at is not None and done.finished_at >= done.started_at
    a, b = _tasks(db, job_id)
    assert a.result is not None and a.result["steps"] == 4 and b.result is not None and b.result["steps"] == 2
    assert a.result["pid"] != os.getpid() and not alive(a.result["pid"])
    assert (a.state, b.state, a.attempts, a.progress) == (TaskState.SUCCEEDED, TaskState.SUCCEEDED, 1, 1.0)
    assert a.finished_at is not None and b.started_at is not None and b.started_at >= a.finished_at  # one worker
    with db.read() as conn:
        messages = [line.message for line in queue.logs(conn, job_id)]
    assert f"selftest pid {a.result['pid']}" in messages and "task b succeeded" in messages
    assert any(m.startswith("task a started on the local executor") for m in messages)
    if seen:  # progress between 0 and 1 was written as it happened (the poll may miss a fast job)
        assert all(0 < p < 1 for p, _ in seen)


def test_two_workers_run_two_tasks_at_once(db: Database, owner: int, make_dispatcher: MakeDispatcher) -> None:
    job_id = _submit(db, owner, [("a", {"steps": 20, "step_s": 0.1}), ("b", {"steps": 20, "step_s": 0.1}),
                                 ("c", {"steps": 1})])
    d = make_dispatcher(workers=2)
    wait_for(lambda: [t.state for t in _tasks(db, job_id)][:2] == [TaskState.RUNNING] * 2, what="two running")
    assert _tasks(db, job_id)[2].state is TaskState.QUEUED and len(d.running_task_ids) == 2
    assert wait_ended(db, job_id).state is JobState.SUCCEEDED


def test_failed_tasks_carry_their_errors_and_the_rest_completes(db: Database, owner: int,
                                                                make_dispatcher: MakeDispatcher) -> None:
    job_id = _submit(db, owner, [
        ("ok", {"steps": 1}),
        ("clear", {"fail": "no column 'text' in the dataset"}),
        ("exit", {"crash": True}),
        ("killed", {"crash": int(signal.SIGKILL)}),
        ("oom", {"alloc_bytes": 4 * 1024**3}),
    ])
    make_dispatcher(memory_bytes=1024**3)
    done = wait_ended(db, job_id)
    assert done.state is JobState.SUCCEEDED  # not every task failed
    assert done.result == {"tasks": {"succeeded": 1, "failed": 4, "cancelled": 0}}
    got = {t.name: (t.state, t.error_code) for t in _tasks(db, job_id)}
    assert got == {"ok": (TaskState.SUCCEEDED, None), "clear": (TaskState.FAILED, "bad-input"),
                   "exit": (TaskState.FAILED, "crashed"), "killed": (TaskState.FAILED, "out-of-memory"),
                   "oom": (TaskState.FAILED, "out-of-memory")}
    errors = {t.name: t.error for t in _tasks(db, job_id)}
    assert errors["clear"] == "no column 'text' in the dataset"
    assert errors["exit"] is not None and "status 3" in errors["exit"]
    assert errors["killed"] is not None and "SIGKILL" in errors["killed"]


def test_a_job_whose_every_task_failed_fails_and_a_kill_without_a_memory_limit_is_a_crash(
        db: Database, owner: int, make_dispatcher: MakeDispatcher) -> None:
    job_id = _submit(db, owner, [("x", {"fail": "bad"}), ("y", {"crash": int(signal.SIGKILL)})])
    make_dispatcher()
    done = wait_ended(db, job_id)
    assert done.state is JobState.FAILED and done.error == "Every task failed; the first (x): bad"
    assert [t.error_code for t in _tasks(db, job_id)] == ["bad-input", "crashed"]


def test_cancel_stops_the_worker_process_and_marks_tasks_and_job_cancelled(db: Database, owner: int,
                                                                          make_dispatcher: MakeDispatcher) -> None:
    job_id = _submit(db, owner, [("long", {"steps": 600, "step_s": 0.1}), ("later", {"steps": 1})])
    d = make_dispatcher()
    pid = worker_pid(db, job_id)
    assert alive(pid)
    with db.write() as conn:
        queue.request_cancel(conn, job_id)
    d.wake()
    done = wait_ended(db, job_id, timeout=20)
    assert done.state is JobState.CANCELLED and done.error == "Cancelled on request."
    assert [(t.state, t.error_code) for t in _tasks(db, job_id)] == [(TaskState.CANCELLED, "cancelled"),
                                                                    (TaskState.CANCELLED, None)]
    assert not alive(pid)


def test_a_job_cancelled_while_queued_never_starts(db: Database, owner: int, make_dispatcher: MakeDispatcher) -> None:
    job_id = _submit(db, owner, [("a", {"steps": 1})])
    with db.write() as conn:
        queue.request_cancel(conn, job_id)
    make_dispatcher()
    done = wait_ended(db, job_id)
    assert done.state is JobState.CANCELLED and _tasks(db, job_id)[0].attempts == 0


def _left_running(db: Database, owner: int, attempts: int) -> int:
    """A job whose one task a dispatcher that is gone (another runner id) left running after `attempts` starts."""
    job_id = _submit(db, owner, [("t", {"steps": 1})])
    with db.write() as conn:
        task = queue.tasks(conn, job_id)[0]
        for _ in range(attempts):
            store.requeue_task(conn, task.id)
            assert store.claim_task(conn, task.id, runner="old-host:1:dead", now=time.time())
        store.set_job_running(conn, job_id, now=time.time(), executor="local")
    return job_id


def test_a_task_interrupted_by_a_restart_is_queued_again_below_the_attempt_limit(
        db: Database, owner: int, make_dispatcher: MakeDispatcher) -> None:
    job_id = _left_running(db, owner, attempts=1)
    make_dispatcher(max_attempts=2)
    done = wait_ended(db, job_id)
    assert done.state is JobState.SUCCEEDED
    (task,) = _tasks(db, job_id)
    assert task.attempts == 2 and task.runner != "old-host:1:dead"
    with db.read() as conn:
        assert any(RESTART_REASON in line.message and "queued again" in line.message for line in queue.logs(conn, job_id))


def test_a_task_interrupted_by_a_restart_fails_at_the_attempt_limit(db: Database, owner: int,
                                                                    make_dispatcher: MakeDispatcher) -> None:
    job_id = _left_running(db, owner, attempts=2)
    d = make_dispatcher(max_attempts=2, start=False)
    d.recover()  # what start does first; the job is settled at once, nothing is left running
    done = job(db, job_id)
    assert done.state is JobState.FAILED and done.error is not None and RESTART_REASON in done.error.lower()
    (task,) = _tasks(db, job_id)
    assert task.state is TaskState.FAILED and task.error is not None and RESTART_REASON in task.error.lower()


class Recorder(SelftestHandler):
    """A handler that records its calls; `payload_error` / `finish_error` make those calls fail."""

    kind = "recorded"

    def __init__(self, *, payload_error: Exception | None = None, finish_error: Exception | None = None):
        self.payload_error = payload_error
        self.finish_error = finish_error
        self.finished_tasks: list[tuple[str, dict[str, Any] | None, Failure | None]] = []
        self.finished_jobs: list[int] = []

    def payload(self, job: JobRecord, task: TaskRecord) -> dict[str, Any]:
        if self.payload_error is not None and task.name == "bad":
            raise self.payload_error
        return {"kind": "selftest", "spec": {**task.spec, "steps": 1}, "token": "hf_not_a_real_token"}

    def task_finished(self, job: JobRecord, task: TaskRecord, result: dict[str, Any] | None,
                      failure: Failure | None) -> None:
        self.finished_tasks.append((task.name, result, failure))

    def job_finished(self, job: JobRecord) -> dict[str, Any] | None:
        self.finished_jobs.append(job.id)
        if self.finish_error is not None:
            raise self.finish_error
        return {"recorded": len(self.finished_tasks)}


def test_handlers_shape_payloads_hear_outcomes_and_can_fail_the_job(db: Database, owner: int,
                                                                    make_dispatcher: MakeDispatcher) -> None:
    rec = Recorder(payload_error=BadRequest("The dataset has no split 'test'."),
                   finish_error=RuntimeError("could not store the results"))
    make_dispatcher(handlers={"recorded": rec})
    job_id = _submit(db, owner, [("good", {}), ("bad", {})], kind="recorded")
    done = wait_ended(db, job_id)
    assert done.state is JobState.FAILED and done.error == "RuntimeError: could not store the results"
    assert rec.finished_jobs == [job_id]
    (good_name, good_result, good_failure), (bad_name, bad_result, bad_failure) = rec.finished_tasks
    assert good_name == "good" and good_result is not None and good_result["steps"] == 1 and good_failure is None
    assert bad_name == "bad" and bad_result is None
    assert bad_failure == Failure("bad-input", "The dataset has no split 'test'.")
    assert [t.attempts for t in _tasks(db, job_id)] == [1, 1]


def test_what_job_finished_returns_joins_the_jobs_result(db: Database, owner: int,
                                                         make_dispatcher: MakeDispatcher) -> None:
    rec = Recorder()
    make_dispatcher(handlers={"recorded": rec})
    job_id = _submit(db, owner, [("one", {}), ("two", {})], kind="recorded")
    done = wait_ended(db, job_id)
    assert done.state is JobState.SUCCEEDED
    assert done.result == {"recorded": 2, "tasks": {"succeeded": 2, "failed": 0, "cancelled": 0}}


def test_a_job_of_a_kind_without_handler_fails_with_the_reason(db: Database, owner: int,
                                                              make_dispatcher: MakeDispatcher) -> None:
    make_dispatcher()
    job_id = _submit(db, owner, [("t", {})], kind="nobody-handles-this")
    done = wait_ended(db, job_id)
    assert done.state is JobState.FAILED
    assert "no handler for jobs of kind 'nobody-handles-this'" in (_tasks(db, job_id)[0].error or "")


def test_a_jobs_log_is_capped(db: Database, owner: int, make_dispatcher: MakeDispatcher) -> None:
    job_id = _submit(db, owner, [("chatty", {"steps": 1, "logs": 50, "log_chars": 10_000})])
    make_dispatcher(max_log_lines=8)
    assert wait_ended(db, job_id).state is JobState.SUCCEEDED
    with db.read() as conn:
        lines = queue.logs(conn, job_id)
    assert len(lines) == 8 and "later lines were dropped" in lines[-1].message
    assert all(len(line.message) <= store.MAX_LOG_LINE for line in lines)


def test_a_worker_ends_itself_when_its_parent_dies() -> None:
    """The parent watchdog: a worker started by a process that is then killed (a server's crash, a cancelled Ray
    task) exits instead of running on."""
    code = ("import sys, json; from inhouse.jobs.executors.local import start_worker; "
            "h = start_worker({'kind': 'selftest', 'spec': {'steps': 600, 'step_s': 0.1}, 'limits': {}}); "
            "print(h.pid, flush=True); next(h.events()); sys.stdin.read()")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert alive(pid)
    parent.kill()
    parent.wait()
    wait_for(lambda: not alive(pid), timeout=20, what="the orphaned worker to exit")


def test_the_worker_keeps_its_event_stream_clean_of_prints() -> None:
    """print() in a kind goes to stderr: stdout holds only events."""
    payload = events.encode({"kind": "selftest", "spec": {"steps": 1}, "limits": {"threads": 1}})
    code = ("import builtins, runpy, sys; real = builtins.print; "
            "sys.argv = ['worker']; import inhouse.ml.selftest as s; old = s.run\n"
            "def run(p, e):\n    print('noise from a library')\n    return old(p, e)\n"
            "s.run = run; runpy.run_module('inhouse.ml.worker', run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, timeout=60)
    lines = out.stdout.decode().splitlines()
    assert [events.decode(line)["event"] for line in lines] == ["log", "progress", "progress", "result"]
    assert b"noise from a library" in out.stderr
