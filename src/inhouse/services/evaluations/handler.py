"""The "evaluation" job kind around its tasks (one task per candidate model): what each worker gets, and what
happens to what it reports.

* `payload`: the candidate's worker spec and a fresh **fine-grained token of the job's owner, scoped to read
  exactly the dataset and that model**, expiring after `Settings.eval_token_lifetime_s`. Workers load with
  `from_pretrained` / `load_dataset` through the hub like any client, so the permission check and the audit log
  apply to evaluations too, and a worker on another machine needs nothing but the hub's URL.
* `task_finished`: the worker's rows (original and each variant) become `evaluation_results` rows; a failed task
  becomes one failed row carrying its error. The task's token is revoked.
* `job_finished`: when the spec says so, the candidates' results are written into each model repo the submitter's
  token may write to, as `.eval_results/inhouse-eval-<id>.yaml` in the Hub's format, with a `verifyToken` inhouse
  signs; the outcome per model (commit or reason) becomes the job's result.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from inhouse.access.identity import principal_by_token_id
from inhouse.errors import InhouseError
from inhouse.jobs.events import Failure
from inhouse.jobs.model import JobRecord, TaskRecord
from inhouse.services import users
from inhouse.services.context import Stores
from inhouse.services.evaluations import results as results_service
from inhouse.services.evaluations.spec import from_json
from inhouse.storage.db import jobs as job_store
from inhouse.storage.db import users as user_store
from inhouse.vocabulary import Permission, Scope, ScopeKind, TokenRole

log = logging.getLogger("inhouse.evaluations")

KIND = "evaluation"
WORKER_KIND = "evaluation.candidate"


def dataset_scope_name(repo: str) -> str:
    return f"datasets/{repo}"


def token_name(job: JobRecord, task: TaskRecord) -> str:
    return f"{job.kind} {job.id}, task {task.id}"


class TaskTokens:
    """The fine-grained tokens minted for a kind's tasks: one per task, of the job's owner, with exactly the scopes
    the task needs, expiring after `Settings.eval_token_lifetime_s`, revoked when the task ends."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self._minted: dict[int, int] = {}  # task id -> the id of the token minted for it
        self._lock = threading.Lock()

    def mint(self, job: JobRecord, task: TaskRecord, scopes: list[Scope]) -> str:
        with self.stores.db.read() as conn:
            owner = user_store.user_by_id(conn, job.owner_id)
        if owner is None:
            raise InhouseError(f"The user who asked for job {job.id} no longer exists.", status=404)
        tok, secret = users.create_token(
            self.stores, owner.name, role=TokenRole.FINE_GRAINED, name=token_name(job, task),
            expires_in_s=self.stores.settings.eval_token_lifetime_s, scopes=scopes)
        with self._lock:
            self._minted[task.id] = tok.id
        return secret

    def revoke(self, job: JobRecord, task: TaskRecord) -> None:
        """Revokes the task's token: the one this process remembers, and any other active token of the owner by
        that name (minted before a restart, when an earlier server process started the task)."""
        with self._lock:
            remembered = self._minted.pop(task.id, None)
        with self.stores.db.read() as conn:
            owner = user_store.user_by_id(conn, job.owner_id)
        ids = {remembered} if remembered is not None else set()
        if owner is not None:
            name = token_name(job, task)
            ids |= {t.id for t in users.list_tokens(self.stores, owner.name)
                    if t.name == name and t.revoked_at is None}
        for token_id in ids:
            try:
                users.revoke_token(self.stores, token_id)
            except InhouseError:  # already gone: it expires anyway
                log.warning("could not revoke token %s of task %s", token_id, task.id)


def _read(repo: str) -> Scope:
    return Scope(ScopeKind.REPO, repo, frozenset({Permission.READ_CONTENT}))


class EvaluationHandler:
    kind = KIND

    def __init__(self, stores: Stores):
        self.stores = stores
        self.tokens = TaskTokens(stores)

    def payload(self, job: JobRecord, task: TaskRecord) -> dict[str, Any]:
        spec = task.spec
        secret = self.tokens.mint(job, task, [_read(dataset_scope_name(spec["dataset"]["repo"])),
                                              _read(spec["model"]["repo"])])
        return {"kind": WORKER_KIND, "spec": spec, "token": secret}

    def task_finished(self, job: JobRecord, task: TaskRecord, result: dict[str, Any] | None,
                      failure: Failure | None) -> None:
        try:
            rows = results_service.rows_from_task(job, task, result, failure)
            with self.stores.db.write() as conn:
                job_store.insert_results(conn, rows, now=time.time())
        finally:
            self.tokens.revoke(job, task)

    def job_finished(self, job: JobRecord) -> dict[str, Any] | None:
        spec = from_json(job.spec["evaluation"])
        if not spec.write_results or job.cancel_requested_at is not None:
            return None
        token_id = job.spec.get("tokenId")
        try:
            principal = principal_by_token_id(self.stores.db, token_id)
        except InhouseError as e:
            return {"evalResults": [], "evalResultsError": f"not written: the token that asked for the evaluation "
                                                             f"no longer works ({e.message})"}
        return {"evalResults": results_service.write_to_repos(self.stores, principal, job, spec)}


class VariantSaveHandler:
    """The "variant.save" job kind: one task whose worker (inhouse.ml.variants.save_variant) rebuilds an evaluated
    variant from its base model and uploads it to the new repo. Its token reads exactly the base and writes exactly
    the new repo; it is revoked when the task ends."""

    kind = "variant.save"

    def __init__(self, stores: Stores):
        self.tokens = TaskTokens(stores)

    def payload(self, job: JobRecord, task: TaskRecord) -> dict[str, Any]:
        spec = task.spec
        secret = self.tokens.mint(job, task, [
            _read(spec["base"]["repo"]),
            Scope(ScopeKind.REPO, spec["target_repo"], frozenset({Permission.WRITE}))])
        return {"kind": self.kind, "spec": spec, "token": secret}

    def task_finished(self, job: JobRecord, task: TaskRecord, result: dict[str, Any] | None,
                      failure: Failure | None) -> None:
        self.tokens.revoke(job, task)

    def job_finished(self, job: JobRecord) -> dict[str, Any] | None:
        return None


def handlers(stores: Stores) -> dict[str, Any]:
    """The job handlers evaluations add (the composition root registers them)."""
    return {KIND: EvaluationHandler(stores), VariantSaveHandler.kind: VariantSaveHandler(stores)}
