"""The evaluation job handler's tokens: one per task, scoped to its dataset and model, revoked when the task ends,
also when the task was started by an earlier server process (whose memory of the token is gone)."""

from __future__ import annotations

from inhouse.jobs import queue
from inhouse.jobs.events import Failure
from inhouse.services import users
from inhouse.services.context import Stores
from inhouse.services.evaluations.handler import EvaluationHandler, token_name


def _job(stores: Stores, owner: str):  # type: ignore[no-untyped-def]
    owner_id = users.get_user(stores, owner).id
    spec = {"task": "text-classification", "model": {"repo": f"{owner}/m", "revision": "a" * 40},
            "dataset": {"repo": f"{owner}/d", "revision": "b" * 40, "split": "test", "config": None, "columns": {}}}
    with stores.db.write() as conn:
        job = queue.submit(conn, "evaluation", owner_id, {"evaluation": {}}, [("m", spec)])
        return job, queue.tasks(conn, job.id)[0]


def test_the_task_token_reads_exactly_its_repos_and_is_revoked_at_the_end(stores: Stores) -> None:
    users.create_user(stores, "ann")
    job, task = _job(stores, "ann")
    handler = EvaluationHandler(stores)
    payload = handler.payload(job, task)
    assert payload["kind"] == "evaluation.candidate" and payload["token"].startswith(users.TOKEN_PREFIX)
    (tok,) = [t for t in users.list_tokens(stores, "ann") if t.name == token_name(job, task)]
    assert {s.name for s in tok.scopes} == {"ann/m", "datasets/ann/d"}
    assert all({p.value for p in s.permissions} == {"repo.content.read"} for s in tok.scopes)
    assert tok.expires_at is not None and tok.revoked_at is None
    handler.task_finished(job, task, None, Failure("crashed", "boom"))
    (tok,) = [t for t in users.list_tokens(stores, "ann") if t.name == token_name(job, task)]
    assert tok.revoked_at is not None


def test_a_token_minted_before_a_restart_is_revoked_too(stores: Stores) -> None:
    users.create_user(stores, "bea")
    job, task = _job(stores, "bea")
    EvaluationHandler(stores).payload(job, task)  # the process that started the task, then "restarted"
    EvaluationHandler(stores).task_finished(job, task, None, Failure("cancelled", "stopped"))
    (tok,) = [t for t in users.list_tokens(stores, "bea") if t.name == token_name(job, task)]
    assert tok.revoked_at is not None
