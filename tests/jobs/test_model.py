"""The rule deriving a job's state from its tasks', progress and ETA, and the worker protocol's pure parts."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from inhouse.config import Settings
from inhouse.errors import BadRequest
from inhouse.jobs import events
from inhouse.jobs.dispatcher import DispatcherConfig
from inhouse.jobs.executors import build_executor
from inhouse.jobs.executors.local import LocalExecutor
from inhouse.jobs.executors.ray import RayExecutor
from inhouse.jobs.model import JobState, TaskState, eta_s, job_outcome, job_progress

Q, R, S, F, C = TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED


@pytest.mark.parametrize(("states", "cancel", "handler_failed", "expected"), [
    ([S, S], False, False, JobState.SUCCEEDED),
    ([S, F], False, False, JobState.SUCCEEDED),  # the rest completes: failed tasks carry their errors
    ([F, F], False, False, JobState.FAILED),  # every task failed
    ([F], False, False, JobState.FAILED),
    ([S, S], False, True, JobState.FAILED),  # the handler says so
    ([S, R], False, False, None),  # still running
    ([Q, F], False, False, None),
    ([S, C], True, False, JobState.CANCELLED),
    ([C, C], True, False, JobState.CANCELLED),
    ([S, S], True, False, JobState.SUCCEEDED),  # the cancel came after everything finished
    ([F, C], True, True, JobState.CANCELLED),
    ([], False, False, JobState.SUCCEEDED),
])
def test_job_outcome(states: list[TaskState], cancel: bool, handler_failed: bool, expected: JobState | None) -> None:
    assert job_outcome(states, cancel_requested=cancel, handler_failed=handler_failed) == expected


def test_progress_is_the_mean_of_tasks_with_ended_ones_done_and_eta_follows_the_pace() -> None:
    assert job_progress([(S, 0.0), (R, 0.5), (Q, 0.0), (F, 0.2)]) == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert job_progress([]) == 0.0
    assert eta_s(0.25, 10.0) == pytest.approx(30.0)
    assert eta_s(0.0, 10.0) is None
    assert eta_s(1.0, 10.0) == 0.0


def test_decode_turns_anything_that_is_not_an_event_into_a_warning() -> None:
    assert events.decode(events.encode(events.progress(2, 5, "x"))) == {"event": "progress", "done": 2, "total": 5,
                                                                        "stage": "x"}
    assert events.decode(b'{"event":"result","result":{"a":1}}\n') == {"event": "result", "result": {"a": 1}}
    for junk in (b"hello from a library print", b"[1, 2]", b'{"event":"progress","done":"x","total":1}',
                 b'{"event":"result","result":3}'):
        ev = events.decode(junk)
        assert ev["event"] == "log" and ev["level"] == "warning" and "not an event" in ev["message"]


def test_a_worker_that_dies_without_a_last_line_gets_a_synthetic_error() -> None:
    assert events.died(-signal.SIGKILL, memory_limited=True)["code"] == "out-of-memory"
    killed = events.died(-signal.SIGKILL, memory_limited=False)
    assert killed["code"] == "crashed" and "SIGKILL" in killed["message"]
    assert "SIGSEGV" in events.died(-signal.SIGSEGV, memory_limited=True)["message"]
    assert events.died(3, memory_limited=False) == {
        "event": "error", "code": "crashed",
        "message": "The worker exited with status 3 without a result; see the job's log."}


def test_settings_choose_the_executor_and_the_workers_endpoint(tmp_path: Path) -> None:
    assert isinstance(build_executor(Settings(data_dir=tmp_path)), LocalExecutor)
    assert isinstance(build_executor(Settings(data_dir=tmp_path, job_executor="ray")), RayExecutor)  # ray not started
    with pytest.raises(BadRequest, match="use one of: local, ray"):
        build_executor(Settings(data_dir=tmp_path, job_executor="kubernetes"))
    cfg = DispatcherConfig.from_settings(Settings(data_dir=tmp_path, host="0.0.0.0", port=9000, job_workers=3,
                                                  worker_memory_bytes=0, worker_threads=2))
    assert (cfg.endpoint, cfg.workers, cfg.memory_bytes, cfg.threads) == ("http://127.0.0.1:9000", 3, None, 2)
    assert DispatcherConfig.from_settings(Settings(data_dir=tmp_path, public_url="https://hub.corp/")).endpoint == \
        "https://hub.corp"
    assert DispatcherConfig.from_settings(Settings(data_dir=tmp_path, public_url="https://hub.corp",
                                                   worker_endpoint="http://10.0.0.5:8000")).endpoint == \
        "http://10.0.0.5:8000"
