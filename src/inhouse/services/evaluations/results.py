"""What an evaluation's workers report, stored and shown: result rows from a task's outcome, the view of one
evaluation (its rows, the Pareto fronts, the recommendation), and the `.eval_results` files written back.

Rows are `evaluation_results` records, one per (candidate, variant): "ok" with metrics and measured cost, "failed"
with the error that candidate hit (the others complete), or "skipped" with the reason (a variant a task does not
offer). The view turns them into `Candidate`s, which the leaderboard, fronts and recommendation compare.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.errors import InhouseError
from inhouse.jobs.events import Failure
from inhouse.jobs.model import JobRecord, TaskRecord
from inhouse.names import split_repo_id
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.evaluations import eval_results
from inhouse.services.evaluations.candidates import Candidate, candidates_from_rows
from inhouse.services.evaluations.pareto import pareto_fronts
from inhouse.services.evaluations.recommend import recommend
from inhouse.services.evaluations.spec import EvaluationSpec
from inhouse.storage.db.jobs import EvaluationResult
from inhouse.vocabulary import RepoType, Variant

MAX_ERROR = 2000


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def rows_from_task(job: JobRecord, task: TaskRecord, result: dict[str, Any] | None,
                   failure: Failure | None) -> list[EvaluationResult]:
    """The stored rows of one candidate's task: the worker's rows, or one failed row with the task's error."""
    spec = task.spec
    ds, model = spec["dataset"], spec["model"]
    base = dict(job_id=job.id, task_id=task.id, task=spec["task"], dataset_repo_id=ds["repo"],
                dataset_revision=ds["revision"], dataset_config=ds.get("config"), dataset_split=ds["split"],
                model_repo_id=model["repo"], model_revision=model["revision"])
    if result is None:
        why = failure or Failure("crashed", "the worker reported nothing")
        return [EvaluationResult(**base, variant=Variant.ORIGINAL.value, status="failed",
                                 error=f"{why.code}: {why.message}"[:MAX_ERROR])]
    machine = result.get("machine") if isinstance(result.get("machine"), dict) else {}
    rows: list[EvaluationResult] = []
    for r in result.get("rows") or []:
        if not isinstance(r, dict):
            continue
        raw_metrics = r.get("metrics")
        metrics: dict[str, Any] = raw_metrics if isinstance(raw_metrics, dict) else {}
        raw_cost = r.get("cost")
        cost: dict[str, Any] = raw_cost if isinstance(raw_cost, dict) else {}
        primary = str(r.get("primary_metric") or "")
        quality = _finite((metrics.get(primary) or {}).get("value")) if primary else None
        stored_metrics = {"primary": primary, "higher_is_better": bool(r.get("higher_is_better", True)),
                          "values": metrics, "examples": result.get("examples")}
        error = r.get("error")
        rows.append(EvaluationResult(
            **base, variant=str(r.get("variant") or Variant.ORIGINAL.value), status=str(r.get("status") or "failed"),
            error=None if error is None else str(error)[:MAX_ERROR], quality=quality, metrics=stored_metrics,
            cost=cost, machine=machine or {}))
    if not rows:
        rows.append(EvaluationResult(**base, variant=Variant.ORIGINAL.value, status="failed",
                                     error="crashed: the worker returned no rows"))
    return rows


def row_json(r: EvaluationResult) -> dict[str, Any]:
    """A stored row as the API shows it (and as `candidates_from_rows` reads it)."""
    m = r.metrics or {}
    values = m.get("values") or {}
    primary = m.get("primary") or ""
    q = values.get(primary) if primary else None
    return {
        "model": r.model_repo_id, "revision": r.model_revision, "variant": r.variant, "status": r.status,
        "error": r.error, "primaryMetric": primary, "primary_metric": primary,
        "higherIsBetter": m.get("higher_is_better", True), "higher_is_better": m.get("higher_is_better", True),
        "quality": q if r.status == "ok" else None, "metrics": values, "examples": m.get("examples"),
        "cost": r.cost, "machine": r.machine, "evaluation": str(r.job_id),
    }


def candidates_of(rows: Sequence[EvaluationResult]) -> tuple[list[dict[str, Any]], list[Candidate]]:
    shown = [row_json(r) for r in rows]
    feed = [{**s, "quality": (s["quality"] or {}).get("value") if s["quality"] else None} for s in shown]
    cands = candidates_from_rows(feed)
    for s, c in zip(shown, cands, strict=True):
        s["label"] = c.label
    return shown, cands


def answer(rows: Sequence[EvaluationResult], tolerance: float) -> dict[str, Any]:
    """Rows (best first), the Pareto fronts and the recommendation of a set of compared rows."""
    shown, cands = candidates_of(rows)
    rec = recommend(cands, tolerance)
    fronts = pareto_fronts(cands)
    order = {c.label: i for i, c in enumerate(_ranked(cands))}
    shown.sort(key=lambda s: order.get(s["label"], len(order)))
    return {"rows": shown, "recommendation": rec.to_dict(), "pareto": fronts.to_dict()}


def _ranked(cands: Iterable[Candidate]) -> list[Candidate]:
    from inhouse.services.evaluations.candidates import leaderboard

    return leaderboard(cands)


def write_to_repos(stores: Stores, principal: Principal, job: JobRecord, spec: EvaluationSpec) -> list[dict[str, Any]]:
    """Writes each candidate's original-form results into its repo as `.eval_results/inhouse-eval-<id>.yaml`, as
    `principal` (the token that asked). A repo the principal may not write to is left alone, and said so."""
    from inhouse.storage.db import jobs as job_store

    with stores.db.read() as conn:
        rows = job_store.results_for_job(conn, job.id)
    out: list[dict[str, Any]] = []
    for r in rows:
        if r.status != "ok" or r.variant != Variant.ORIGINAL.value or r.model_revision is None:
            continue
        ns, name = split_repo_id(r.model_repo_id)
        target = repo_access.RepoName(RepoType.MODEL, ns, name)
        entry: dict[str, Any] = {"model": r.model_repo_id, "file": f"{eval_results.EVAL_DIR}/inhouse-eval-{job.id}.yaml"}
        try:
            repo = repo_access.load(stores, principal, target, Action.WRITE)
            entries = eval_results.entries_for_candidate(
                stores, evaluation_id=job.id, task=r.task, dataset_id=r.dataset_repo_id,
                dataset_revision=r.dataset_revision, config=r.dataset_config, split=r.dataset_split,
                model_repo_pk=repo.id, model_revision=r.model_revision, variant=r.variant,
                metrics=(r.metrics or {}).get("values") or {}, evaluated_at=r.created_at)
            entry["commit"] = eval_results.write_eval_results(stores, principal, target, f"inhouse-eval-{job.id}",
                                                              entries)
        except InhouseError as e:
            entry["commit"] = None
            entry["error"] = f"not written: {e.message}"
        out.append(entry)
    return out
