"""Evaluations, the use cases: submit, read, list, cancel, the leaderboard of a dataset revision, the Pareto
picture, and saving a winning variant as a new model repo. Each one authorizes and audits itself.

An evaluation is a job of kind "evaluation" (inhouse.jobs: its rows are the truth) with one task per candidate
model; `handler.EvaluationHandler` gives each task's worker its spec and a scoped token and stores what comes
back. Who may see an evaluation: the user who asked and site admins; to anyone else it does not exist (404, the
same answer as for an id never used).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Forbidden, InhouseError, NotFound, TooManyRequests, Unauthorized
from inhouse.jobs import queue
from inhouse.jobs.model import JobRecord, TaskRecord
from inhouse.names import split_repo_id
from inhouse.services import repo_access, repos
from inhouse.services.context import Stores
from inhouse.services.evaluations import results
from inhouse.services.evaluations.candidates import Candidate
from inhouse.services.evaluations.handler import KIND
from inhouse.services.evaluations.pareto import AXES, pareto_front
from inhouse.services.evaluations.recommend import recommend
from inhouse.services.evaluations.spec import EvaluationSpec, Limits, RepoAt, from_json, parse_request
from inhouse.services.records import RepoRecord
from inhouse.services.revisions import resolve
from inhouse.storage.db import jobs as job_store
from inhouse.vocabulary import EvalTask, RepoType, TokenRole, Variant

SAVE_KIND = "variant.save"
AXIS_NAMES = {"latency": "latency_p50_ms", "memory": "peak_memory_bytes", "cost": "cost_per_million_usd"}
MAX_LEADERBOARD_ROWS = 2000
NOT_FOUND = "Evaluation {id} not found; list yours with `GET /api/evaluations` (or `inhouse eval list`)."


def limits(stores: Stores) -> Limits:
    s = stores.settings
    return Limits(max_candidates=s.eval_max_candidates, max_examples=s.eval_max_examples,
                  max_resamples=s.eval_max_resamples, default_price_per_hour=s.eval_price_per_hour)


def _require_writer(p: Principal, what: str) -> None:
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    if p.role is TokenRole.READ:
        raise Forbidden(f"{what} runs jobs and writes results: use a write or fine-grained token, not a read token.")


def _repo_name(repo_type: RepoType, repo: str) -> repo_access.RepoName:
    ns, name = split_repo_id(repo)
    return repo_access.RepoName(repo_type, ns, name)


def _resolve_repo(stores: Stores, p: Principal, repo_type: RepoType, at: RepoAt,
                  action: Action = Action.DOWNLOAD) -> tuple[RepoRecord, str]:
    """(the repo, the commit `at.revision` names), once `p` may do `action` on it."""
    repo = repo_access.load(stores, p, _repo_name(repo_type, at.repo), action, follow_moves=False)
    with stores.db.read() as conn:
        return repo, resolve(conn, repo, at.revision).commit


def _resolve(stores: Stores, p: Principal, repo_type: RepoType, at: RepoAt) -> tuple[str, str]:
    """(the repo's id now, the commit `at.revision` names), once `p` may download it."""
    repo, sha = _resolve_repo(stores, p, repo_type, at)
    return repo.repo_id, sha


@dataclass(frozen=True)
class Rejected:
    repo: str
    revision: str
    error: str


def _check_room(stores: Stores, conn: Connection, p: Principal) -> None:
    """A user's queued and running jobs are capped (Settings.job_max_unfinished_per_user)."""
    cap = stores.settings.job_max_unfinished_per_user
    if p.user_id is not None and job_store.count_unfinished(conn, p.user_id) >= cap:
        raise TooManyRequests(f"You have {cap} jobs queued or running, the most allowed "
                              "(INHOUSE_JOB_MAX_UNFINISHED_PER_USER): wait for some to end, or cancel some with "
                              "`inhouse jobs cancel ID`.", retry_after_s=60)


def worker_spec(spec: EvaluationSpec, model: RepoAt) -> dict[str, Any]:
    """What one candidate's worker is asked to do (inhouse.ml.evaluate.run_candidate reads it)."""
    out: dict[str, Any] = {
        "task": spec.task.value, "dataset": spec.dataset.to_json(), "model": model.to_json(),
        "variants": [v.value for v in spec.variants], "max_examples": spec.max_examples,
        "resamples": spec.resamples, "seed": spec.seed, "price_per_hour": spec.price_per_hour}
    if spec.max_new_tokens is not None:
        out["max_new_tokens"] = spec.max_new_tokens
    return out


def submit(stores: Stores, p: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Checks the request, resolves every revision to a commit and queues the evaluation. The dataset must be
    readable (else 404); a candidate that is missing or unreadable gets a failed row that says "not found" (the
    same words for both) and the others run."""
    _require_writer(p, "An evaluation")
    spec = parse_request(body, limits(stores))
    dataset_id, dataset_sha = _resolve(stores, p, RepoType.DATASET, RepoAt(spec.dataset.repo, spec.dataset.revision))
    accepted: list[RepoAt] = []
    rejected: list[Rejected] = []
    for cand in spec.candidates:
        try:
            repo_id, sha = _resolve(stores, p, RepoType.MODEL, cand)
            accepted.append(RepoAt(repo_id, sha))
        except InhouseError as e:
            if e.status not in (401, 403, 404):
                raise
            rejected.append(Rejected(cand.repo, cand.revision, f"not-found: model {cand.repo}@{cand.revision} not "
                                     "found, or you may not read it"))
    if not accepted:
        raise NotFound("None of the candidate models was found among the repos you may read: "
                       + "; ".join(f"{r.repo}@{r.revision}" for r in rejected))
    resolved = replace(spec, dataset=replace(spec.dataset, repo=dataset_id, revision=dataset_sha),
                       candidates=tuple(accepted))
    job_spec = {"evaluation": resolved.to_json(), "tokenId": p.token_id,
                "rejected": [{"repo": r.repo, "revision": r.revision, "error": r.error} for r in rejected]}
    with stores.db.write() as conn:
        _check_room(stores, conn, p)
        job = queue.submit(conn, KIND, p.user_id or 0, job_spec,
                           [(c.repo, worker_spec(resolved, c)) for c in accepted],
                           executor=stores.settings.job_executor)
        if rejected:
            job_store.insert_results(conn, [job_store.EvaluationResult(
                job_id=job.id, task_id=None, task=resolved.task.value, dataset_repo_id=dataset_id,
                dataset_revision=dataset_sha, dataset_config=resolved.dataset.config,
                dataset_split=resolved.dataset.split, model_repo_id=r.repo, model_revision=None,
                variant=Variant.ORIGINAL.value, status="failed", error=r.error) for r in rejected], now=time.time())
        stores.audit.record(conn, p, Event("evaluation.submit", f"datasets/{dataset_id}", revision=dataset_sha,
                                           details={"evaluation": job.id, "task": resolved.task.value,
                                                    "candidates": [c.to_json() for c in accepted],
                                                    "rejected": len(rejected)}))
    stores.runtime.jobs_submitted()
    return get(stores, p, job.id)


def _job(stores: Stores, p: Principal, evaluation_id: int, kind: str = KIND) -> tuple[JobRecord, list[TaskRecord]]:
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    with stores.db.read() as conn:
        job = queue.get(conn, evaluation_id)
        if job is None or job.kind != kind or not (p.is_admin or job.owner_id == p.user_id):
            raise NotFound(NOT_FOUND.format(id=evaluation_id))
        return job, queue.tasks(conn, job.id)


def view(stores: Stores, job: JobRecord, tasks: list[TaskRecord]) -> dict[str, Any]:
    """The evaluation as the API shows it."""
    spec = from_json(job.spec["evaluation"])
    with stores.db.read() as conn:
        rows = job_store.results_for_job(conn, job.id)
    out: dict[str, Any] = {
        "id": str(job.id), "state": job.state.value, "progress": job.progress, "etaSeconds": job.eta_s,
        "message": job.message, "owner": job.owner_name, "createdAt": job.created_at, "startedAt": job.started_at,
        "finishedAt": job.finished_at, "task": spec.task.value, "dataset": spec.dataset.to_json(),
        "spec": spec.to_json(), "executor": job.executor,
        "candidates": [{"model": t.spec["model"]["repo"], "revision": t.spec["model"]["revision"],
                        "state": t.state.value, "progress": t.progress, "attempts": t.attempts,
                        "errorCode": t.error_code, "error": t.error} for t in tasks]
        + [{"model": r["repo"], "revision": r["revision"], "state": "failed", "progress": 0.0, "attempts": 0,
            "errorCode": "not-found", "error": r["error"]} for r in job.spec.get("rejected", [])],
        **results.answer(rows, spec.tolerance),
        "machine": next((r.machine for r in rows if r.machine), None),
        "evalResults": (job.result or {}).get("evalResults", []),
        "links": {"paretoSvg": f"/api/evaluations/{job.id}/pareto.svg",
                  "paretoPng": f"/api/evaluations/{job.id}/pareto.png",
                  "job": f"/api/jobs/{job.id}"},
    }
    if job.error:
        out["error"] = job.error
    return out


def get(stores: Stores, p: Principal, evaluation_id: int) -> dict[str, Any]:
    job, tasks = _job(stores, p, evaluation_id)
    return view(stores, job, tasks)


def list_for(stores: Stores, p: Principal, *, limit: int = 50, everyone: bool = False) -> list[dict[str, Any]]:
    """The caller's evaluations, newest first (site admins: everyone's with `everyone`)."""
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    with stores.db.read() as conn:
        jobs = queue.list_for(conn, None if (everyone and p.is_admin) else p.user_id, limit=limit, kind=KIND)
        out = []
        for job in jobs:
            spec = from_json(job.spec["evaluation"])
            out.append({"id": str(job.id), "state": job.state.value, "progress": job.progress, "task": spec.task.value,
                        "dataset": spec.dataset.to_json(), "owner": job.owner_name, "createdAt": job.created_at,
                        "candidates": [c.to_json() for c in spec.candidates]})
    return out


def cancel(stores: Stores, p: Principal, evaluation_id: int) -> dict[str, Any]:
    _require_writer(p, "Cancelling an evaluation")
    job, _ = _job(stores, p, evaluation_id)
    with stores.db.write() as conn:
        queue.request_cancel(conn, job.id)
        stores.audit.record(conn, p, Event("evaluation.cancel", details={"evaluation": job.id}))
    stores.runtime.jobs_submitted()
    return get(stores, p, evaluation_id)


def _axis(axis: str) -> str:
    if axis in AXIS_NAMES:
        return AXIS_NAMES[axis]
    if axis in AXES:
        return axis
    raise BadRequest(f"Unknown axis {axis[:50]!r}: use latency, memory or cost.")


def picture(cands: list[Candidate], *, axis: str, fmt: str, title: str, tolerance: float) -> bytes:
    if fmt not in ("svg", "png"):
        raise BadRequest("A Pareto picture is svg or png.")
    # matplotlib (about 0.7 s to import) is loaded when the first picture is drawn, not at every server start
    from inhouse.services.evaluations.plots import render_pareto

    key = _axis(axis)
    rec = recommend(cands, tolerance)
    return render_pareto(cands, pareto_front(cands, (key,)), axis=key, fmt="svg" if fmt == "svg" else "png",
                         title=title, choice=rec.choice)


def pareto_picture(stores: Stores, p: Principal, evaluation_id: int, *, axis: str, fmt: str) -> bytes:
    job, _ = _job(stores, p, evaluation_id)
    spec = from_json(job.spec["evaluation"])
    with stores.db.read() as conn:
        rows = job_store.results_for_job(conn, job.id)
    _, cands = results.candidates_of(rows)
    return picture(cands, axis=axis, fmt=fmt, tolerance=spec.tolerance,
                   title=f"Evaluation {job.id}: {spec.task.value} on {spec.dataset.repo}")


def leaderboard_rows(stores: Stores, p: Principal, *, task: str, dataset: str, revision: str | None,
                     config: str | None, split: str | None) -> tuple[str, str, list[job_store.EvaluationResult]]:
    """The latest row per (model, revision, variant) measured on `dataset` at `revision` (default: its main
    branch's commit) for `task`, among the model repos `p` may read; the dataset must be readable too."""
    task_value = EvalTask.parse(task).value
    repo, sha = _resolve_repo(stores, p, RepoType.DATASET, RepoAt(*_split_at(dataset, revision)), Action.READ)
    dataset_id = repo.repo_id
    # results measured on a private or gated dataset say something about its content: reading them is evidence
    repo_access.audit_read(stores, p, repo, "evaluation.leaderboard", revision=sha, details={"task": task_value})
    with stores.db.read() as conn:
        rows = job_store.results_for_dataset(conn, task=task_value, dataset_repo_id=dataset_id, dataset_revision=sha,
                                             config=config, split=split, limit=MAX_LEADERBOARD_ROWS)
    latest: dict[tuple[str, str | None, str], job_store.EvaluationResult] = {}
    for r in rows:
        key = (r.model_repo_id, r.model_revision, r.variant)
        if key not in latest or (latest[key].status != "ok" and r.status == "ok") or (
                (latest[key].status == "ok") == (r.status == "ok") and r.created_at > latest[key].created_at):
            latest[key] = r
    readable: dict[str, bool] = {}
    shown = []
    for r in latest.values():
        if r.model_repo_id not in readable:
            try:
                repo_access.load(stores, p, _repo_name(RepoType.MODEL, r.model_repo_id), Action.READ,
                                 follow_moves=False)
                readable[r.model_repo_id] = True
            except InhouseError:
                readable[r.model_repo_id] = False
        if readable[r.model_repo_id]:
            shown.append(r)
    return dataset_id, sha, shown


def _split_at(dataset: str, revision: str | None) -> tuple[str, str]:
    repo, _, rev = dataset.partition("@")
    return repo, revision or rev or "main"


@dataclass(frozen=True)
class Comparable:
    """The rows one leaderboard compares: measured on one (config, split) with one primary metric, and the other
    groups the dataset revision has rows for (asked for with `config`, `split`, `metric`)."""

    config: str | None
    split: str | None
    metric: str | None
    rows: list[job_store.EvaluationResult]
    others: list[dict[str, Any]]


def _primary(r: job_store.EvaluationResult) -> str:
    return str((r.metrics or {}).get("primary") or "")


def comparable(rows: list[job_store.EvaluationResult], metric: str | None = None) -> Comparable:
    """Rows measured on different splits or ranked by different metrics (text generation scores exact match or
    perplexity, by the columns mapped) cannot share a ranking: the group with the most successful rows is shown
    (the requested `metric`'s, when given), the others are named."""
    groups: dict[tuple[str | None, str, str], int] = {}
    for r in rows:
        if r.status == "ok":
            k = (r.dataset_config, r.dataset_split, _primary(r))
            groups[k] = groups.get(k, 0) + 1
    wanted = [k for k in groups if metric is None or k[2] == metric]
    if not wanted:
        if metric is not None and groups:
            raise NotFound(f"No row of this leaderboard is ranked by {metric[:100]!r}; its metrics: "
                           f"{', '.join(sorted({k[2] for k in groups}))}.")
        return Comparable(None, None, metric, [r for r in rows], [])
    chosen = max(wanted, key=lambda k: (groups[k], k[1], k[0] or "", k[2]))
    keep = [r for r in rows if (r.dataset_config, r.dataset_split) == chosen[:2]
            and (r.status != "ok" or _primary(r) == chosen[2])]
    others = [{"config": k[0], "split": k[1], "metric": k[2], "rows": n} for k, n in sorted(
        groups.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0] or "", kv[0][2])) if k != chosen]
    return Comparable(chosen[0], chosen[1], chosen[2], keep, others)


def leaderboard(stores: Stores, p: Principal, *, task: str, dataset: str, revision: str | None = None,
                config: str | None = None, split: str | None = None, tolerance: float = 0.01,
                metric: str | None = None) -> dict[str, Any]:
    dataset_id, sha, rows = leaderboard_rows(stores, p, task=task, dataset=dataset, revision=revision,
                                             config=config, split=split)
    group = comparable(rows, metric)
    return {"task": task, "dataset": {"repo": dataset_id, "revision": sha, "config": group.config,
                                      "split": group.split},
            "metric": group.metric, "otherGroups": group.others, "tolerance": tolerance,
            **results.answer(group.rows, tolerance)}


def leaderboard_picture(stores: Stores, p: Principal, *, task: str, dataset: str, revision: str | None,
                        config: str | None, split: str | None, axis: str, fmt: str, tolerance: float,
                        metric: str | None = None) -> bytes:
    dataset_id, sha, rows = leaderboard_rows(stores, p, task=task, dataset=dataset, revision=revision,
                                             config=config, split=split)
    _, cands = results.candidates_of(comparable(rows, metric).rows)
    return picture(cands, axis=axis, fmt=fmt, tolerance=tolerance,
                   title=f"{task} on {dataset_id}@{sha[:7]}")


def save_variant(stores: Stores, p: Principal, evaluation_id: int, *, model: str, variant: str, target: str,
                 private: bool = True) -> dict[str, Any]:
    """Creates the model repo `target` as the caller and queues a "variant.save" job that rebuilds `variant` of
    `model` (at the revision the evaluation measured) and uploads it there, with its lineage in the card."""
    _require_writer(p, "Saving a variant")
    v = Variant.parse(variant)
    if v not in (Variant.ONNX, Variant.ONNX_INT8):
        raise BadRequest(f"Only ONNX variants (onnx, onnx-int8) can be saved as a model repo: PyTorch's dynamically "
                         f"quantised weights cannot be reloaded with from_pretrained; save {Variant.ONNX_INT8.value} "
                         "instead.")
    job, _ = _job(stores, p, evaluation_id)
    spec = from_json(job.spec["evaluation"])
    with stores.db.read() as conn:
        rows = job_store.results_for_job(conn, job.id)
    measured = [r for r in rows if r.model_repo_id == model and r.variant == v.value and r.status == "ok"]
    if not measured:
        raise NotFound(f"Evaluation {job.id} has no successful {v.value} row for {model}; save a variant the "
                       "evaluation measured (see its rows).")
    base = measured[0]
    # the base must still be readable by the caller (access may have changed since)
    repo_access.load(stores, p, _repo_name(RepoType.MODEL, model), Action.DOWNLOAD, follow_moves=False)
    with stores.db.read() as conn:
        _check_room(stores, conn, p)  # before the repo is created (and again, atomically, with the job)
    ns, name = split_repo_id(target)
    created = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=ns, name=name, private=private)
    save_spec = {"base": {"repo": model, "revision": base.model_revision}, "task": spec.task.value,
                 "variant": v.value, "target_repo": created.repo_id, "evaluation": job.id,
                 "quality": base.quality, "metrics": (base.metrics or {}).get("values") or {}}
    with stores.db.write() as conn:
        _check_room(stores, conn, p)
        saved = queue.submit(conn, SAVE_KIND, p.user_id or 0, {"save": save_spec, "tokenId": p.token_id},
                             [(created.repo_id, save_spec)], executor=stores.settings.job_executor)
        stores.audit.record(conn, p, Event("evaluation.save_variant", created, details={
            "evaluation": job.id, "base": model, "base_revision": base.model_revision, "variant": v.value,
            "job": saved.id}))
    stores.runtime.jobs_submitted()
    return {"id": str(saved.id), "state": saved.state.value, "target": created.repo_id,
            "links": {"job": f"/api/jobs/{saved.id}"}}

