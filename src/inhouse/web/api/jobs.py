"""JSON API: jobs (evaluations and other background work). A caller sees their own jobs, a site admin everyone's;
another user's job is 404, as a missing one.

GET  /api/jobs[?all=1&limit=N&before=ID&kind=K]  newest first (all=1: site admins only)
GET  /api/jobs/{id}                              state, progress, ETA, who asked, timestamps, error, tasks
GET  /api/jobs/{id}/logs[?after=N&limit=N]       log lines with an id above N (poll with the last id seen)
POST /api/jobs/{id}/cancel                       stops its workers; the job ends as cancelled
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.services import jobs as service
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_ID, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import Router


def task_json(t: service.TaskRecord) -> dict[str, Any]:
    return {"id": t.id, "seq": t.seq, "name": t.name, "state": t.state.value, "attempts": t.attempts,
            "progress": t.progress, "result": t.result, "errorCode": t.error_code, "error": t.error,
            "startedAt": iso(t.started_at), "finishedAt": iso(t.finished_at)}


def job_json(j: service.JobRecord, tasks: list[service.TaskRecord] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": j.id, "kind": j.kind, "state": j.state.value, "owner": j.owner_name, "progress": j.progress,
        "etaSeconds": j.eta_s, "message": j.message, "error": j.error, "result": j.result, "executor": j.executor,
        "createdAt": iso(j.created_at), "startedAt": iso(j.started_at), "finishedAt": iso(j.finished_at),
        "cancelRequestedAt": iso(j.cancel_requested_at),
    }
    if tasks is not None:
        out["spec"] = j.spec
        out["tasks"] = [task_json(t) for t in tasks]
    return out


def _job_id(ctx: Ctx) -> int:
    return parse_int(ctx.params["id"], "id", low=1, high=MAX_ID)


async def list_jobs(ctx: Ctx) -> Response:
    p = await ctx.principal()
    q = ctx.request.query_params
    before = query_int(ctx.request, "before", default=0, low=0, high=MAX_ID) or None
    limit = query_int(ctx.request, "limit", default=50, low=1, high=service.MAX_PAGE, clamp=True)
    found = await ctx.run(service.list_jobs, ctx.stores, p, everyone=ctx.query_bool("all"), limit=limit,
                          before=before, kind=q.get("kind") or None)
    return json_response([job_json(j) for j in found])


async def get_job(ctx: Ctx) -> Response:
    p = await ctx.principal()
    detail = await ctx.run(service.get, ctx.stores, p, _job_id(ctx))
    return json_response(job_json(detail.job, detail.tasks))


async def job_logs(ctx: Ctx) -> Response:
    p = await ctx.principal()
    after = query_int(ctx.request, "after", default=0, low=0)
    limit = query_int(ctx.request, "limit", default=1000, low=1, high=service.MAX_LOG_PAGE, clamp=True)
    lines = await ctx.run(service.logs, ctx.stores, p, _job_id(ctx), after=after, limit=limit)
    return json_response([{"id": line.id, "taskId": line.task_id, "at": iso(line.at), "level": line.level,
                           "message": line.message} for line in lines])


async def cancel_job(ctx: Ctx) -> Response:
    p = await ctx.principal()
    job = await ctx.run(service.cancel, ctx.stores, p, _job_id(ctx))
    return json_response(job_json(job))


def register(router: Router) -> None:
    router.add("GET", r"/api/jobs", list_jobs)
    router.add("GET", r"/api/jobs/(?P<id>[^/]+)", get_job)
    router.add("GET", r"/api/jobs/(?P<id>[^/]+)/logs", job_logs)
    router.add("POST", r"/api/jobs/(?P<id>[^/]+)/cancel", cancel_job)
