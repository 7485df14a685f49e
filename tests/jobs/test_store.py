"""The job and evaluation-result queries on both backends (SQLite, PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from inhouse.errors import Conflict, NotFound
from inhouse.jobs import queue
from inhouse.jobs.model import JobState, TaskState
from inhouse.storage.db import jobs as store
from inhouse.storage.db import users
from inhouse.storage.db.engine import Database
from inhouse.storage.db.jobs import MAX_LOG_LINE, EvaluationResult


@pytest.fixture
def anydb(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.create_schema()
    yield database
    database.dispose()


def _user(db: Database, name: str) -> int:
    with db.write() as conn:
        return users.insert_user(conn, name=name, fullname="", email=None, kind="user", is_admin=False,
                                 now=time.time()).id


def test_submit_claim_finish_and_cancel(anydb: Database) -> None:
    alice, bob = _user(anydb, "alice"), _user(anydb, "bob")
    with anydb.write() as conn:
        a = queue.submit(conn, "selftest", alice, {"n": 1}, [("one", {"steps": 1}), ("two", {"steps": 2})])
        b = queue.submit(conn, "selftest", bob, {"n": 2})  # no tasks given: one task with the job's spec
    assert a.state is JobState.QUEUED and a.owner_name == "alice" and a.spec == {"n": 1}
    with anydb.read() as conn:
        assert [(t.seq, t.name, t.spec, t.state) for t in queue.tasks(conn, a.id)] == [
            (0, "one", {"steps": 1}, TaskState.QUEUED), (1, "two", {"steps": 2}, TaskState.QUEUED)]
        assert [(t.name, t.spec) for t in queue.tasks(conn, b.id)] == [("selftest", {"n": 2})]
        assert [j.id for j in queue.list_for(conn, alice)] == [a.id]
        assert [j.id for j in queue.list_for(conn, None)] == [b.id, a.id]

    with anydb.write() as conn:  # the oldest job's first task first; a claim is taken once
        first = store.next_queued_task(conn)
        assert first is not None and first.name == "one"
        assert store.claim_task(conn, first.id, runner="r1", now=1.0)
        assert not store.claim_task(conn, first.id, runner="r2", now=1.0)
        store.set_job_running(conn, a.id, now=1.0, executor="ray")
        second = store.next_queued_task(conn)
        assert second is not None and second.name == "two"
    with anydb.read() as conn:
        claimed = store.task_by_id(conn, first.id)
        assert claimed is not None and (claimed.state, claimed.runner, claimed.attempts) == (TaskState.RUNNING, "r1", 1)
        running = queue.get(conn, a.id)
        assert running is not None and (running.state, running.executor) == (JobState.RUNNING, "ray")
        assert [t.id for t in store.running_tasks_not_of(conn, "r2")] == [first.id]
        assert store.running_tasks_not_of(conn, "r1") == []

    with anydb.write() as conn:  # cancel: the queued task at once, the running one is the dispatcher's
        cancelled = queue.request_cancel(conn, a.id)
        assert cancelled.cancel_requested_at is not None
        assert store.next_queued_task(conn) is not None  # bob's job, not alice's cancelled one
        assert store.cancel_requested(conn, [a.id, b.id]) == {a.id}
    with anydb.read() as conn:
        assert [t.state for t in queue.tasks(conn, a.id)] == [TaskState.RUNNING, TaskState.CANCELLED]
    with anydb.write() as conn:
        store.finish_task(conn, first.id, state=TaskState.CANCELLED, now=2.0)
        store.finish_job(conn, a.id, state=JobState.CANCELLED, now=2.0, result=None, error="Cancelled", message="")
        with pytest.raises(Conflict, match="already cancelled"):
            queue.request_cancel(conn, a.id)
        with pytest.raises(NotFound):
            queue.request_cancel(conn, 10_000)


def test_logs_are_capped_per_job_and_per_line(anydb: Database) -> None:
    uid = _user(anydb, "carol")
    with anydb.write() as conn:
        job = queue.submit(conn, "selftest", uid, {})
        kept = [store.add_log(conn, job_id=job.id, task_id=None, level="info", message=f"m{i}" + "y" * 5000,
                              now=float(i), max_lines=4) for i in range(6)]
    assert kept == [True, True, True, False, False, False]
    with anydb.read() as conn:
        lines = queue.logs(conn, job.id)
        assert len(lines) == 4
        assert all(len(line.message) <= MAX_LOG_LINE for line in lines)
        assert lines[0].message.startswith("m0yyy") and lines[0].message.endswith("[line truncated]")
        assert lines[-1].level == "warning" and "later lines were dropped" in lines[-1].message
        assert [line.id for line in queue.logs(conn, job.id, after=lines[1].id)] == [lines[2].id, lines[3].id]


def _row(job_id: int, model: str, variant: str, *, revision: str = "a" * 40, split: str = "test",
         config: str | None = None, quality: float | None = 0.9) -> EvaluationResult:
    return EvaluationResult(
        job_id=job_id, task_id=None, task="text-classification", dataset_repo_id="acme/data",
        dataset_revision=revision, dataset_config=config, dataset_split=split, model_repo_id=model,
        model_revision="b" * 40, variant=variant, status="ok" if quality is not None else "failed",
        error=None if quality is not None else "crashed: boom", quality=quality,
        metrics={"accuracy": {"value": quality, "low": 0.8, "high": 0.95}} if quality is not None else {},
        cost={"latency_p50_ms": 3.5}, machine={"cores": 2})


def test_evaluation_results_by_job_and_by_dataset_revision(anydb: Database) -> None:
    uid = _user(anydb, "dave")
    with anydb.write() as conn:
        j1 = queue.submit(conn, "evaluation", uid, {})
        j2 = queue.submit(conn, "evaluation", uid, {})
        ids = store.insert_results(conn, [_row(j1.id, "acme/small", "original"), _row(j1.id, "acme/small", "int8"),
                                          _row(j1.id, "acme/big", "original", quality=None)], now=5.0)
        store.insert_results(conn, [_row(j2.id, "acme/small", "original", split="validation"),
                                    _row(j2.id, "acme/small", "original", revision="c" * 40),
                                    _row(j2.id, "acme/small", "original", config="en")], now=6.0)
    with anydb.read() as conn:
        rows = store.results_for_job(conn, j1.id)
        assert [r.id for r in rows] == ids
        assert [(r.model_repo_id, r.variant, r.status, r.quality) for r in rows] == [
            ("acme/small", "original", "ok", 0.9), ("acme/small", "int8", "ok", 0.9), ("acme/big", "original", "failed", None)]
        assert rows[0].metrics == {"accuracy": {"value": 0.9, "low": 0.8, "high": 0.95}}
        assert rows[0].cost == {"latency_p50_ms": 3.5} and rows[0].machine == {"cores": 2} and rows[0].created_at == 5.0
        assert rows[2].error == "crashed: boom"

        def find(**kw: str) -> list[tuple[int, str]]:
            found = store.results_for_dataset(conn, task="text-classification", dataset_repo_id="acme/data", **kw)
            return [(r.job_id, r.dataset_split) for r in found]

        assert len(find(dataset_revision="a" * 40)) == 5
        assert find(dataset_revision="a" * 40, split="validation") == [(j2.id, "validation")]
        assert find(dataset_revision="a" * 40, config="en") == [(j2.id, "test")]
        assert find(dataset_revision="c" * 40) == [(j2.id, "test")]
        assert store.results_for_dataset(conn, task="translation", dataset_repo_id="acme/data",
                                         dataset_revision="a" * 40) == []
