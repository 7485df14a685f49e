"""The Ray executor on a local Ray instance (started once for this module: it is slow)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from inhouse.jobs import queue
from inhouse.jobs.executors.ray import RayExecutor
from inhouse.jobs.model import JobState, TaskState
from inhouse.storage.db.engine import Database
from tests.jobs.conftest import MakeDispatcher, alive, wait_ended, wait_for


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _pid_from_ray_log(db: Database, job_id: int) -> int:
    def find() -> int | None:
        with db.read() as conn:
            for line in queue.logs(conn, job_id):
                if line.message.startswith("selftest pid "):
                    return int(line.message.split()[-1])
        return None
    return int(wait_for(find, timeout=120, what="the worker's pid"))


def test_a_selftest_job_runs_through_ray_with_progress(ray_instance: Any, db: Database, owner: int,
                                                       make_dispatcher: MakeDispatcher) -> None:
    with db.write() as conn:
        job_id = queue.submit(conn, "selftest", owner, {}, [("a", {"steps": 5, "step_s": 0.2}),
                                                            ("b", {"fail": "bad column"})]).id
    make_dispatcher(executor=RayExecutor(), workers=2)
    progress: list[float] = []

    def ended() -> bool:
        with db.read() as conn:
            j = queue.get(conn, job_id)
            tasks = queue.tasks(conn, job_id)
        assert j is not None
        progress.append(tasks[0].progress)
        return j.state.ended

    wait_for(ended, timeout=180, what="the Ray job to end")
    with db.read() as conn:
        j = queue.get(conn, job_id)
        a, b = queue.tasks(conn, job_id)
        messages = [line.message for line in queue.logs(conn, job_id)]
    assert j is not None and j.state is JobState.SUCCEEDED and j.executor == "ray"
    assert a.state is TaskState.SUCCEEDED and a.result is not None and a.result["steps"] == 5
    assert (b.state, b.error_code, b.error) == (TaskState.FAILED, "bad-input", "bad column")
    assert any(0 < p < 1 for p in progress), progress  # progress streamed back while it ran
    assert any(m.endswith("on a Ray node") for m in messages)


def test_a_cancelled_ray_job_stops_its_worker_process(ray_instance: Any, db: Database, owner: int,
                                                      make_dispatcher: MakeDispatcher) -> None:
    with db.write() as conn:
        job_id = queue.submit(conn, "selftest", owner, {}, [("long", {"steps": 600, "step_s": 0.1})]).id
    d = make_dispatcher(executor=RayExecutor())
    pid = _pid_from_ray_log(db, job_id)
    assert alive(pid)
    with db.write() as conn:
        queue.request_cancel(conn, job_id)
    d.wake()
    done = wait_ended(db, job_id, timeout=60)
    assert done.state is JobState.CANCELLED
    with db.read() as conn:
        assert [t.state for t in queue.tasks(conn, job_id)] == [TaskState.CANCELLED]
    wait_for(lambda: not alive(pid), timeout=20, what="the Ray task's worker process to end")
