"""JSON API: a model's lifecycle (stages, promotions) and the approval requests of models and datasets. Adapters only:
services/governance/lifecycle.py and approvals.py decide and do.

GET  /api/models/{ns}/{name}/lifecycle                       stage, revision, replacement, production tag, open
                                                             promotions (READ access)
POST /api/models/{ns}/{name}/promotions                      {"stage", "revision"?, "reason", "replacement"?}:
                                                             opens a promotion (write access), 201 + the request
GET  /api/{models|datasets}/{ns}/{name}/approvals[?status=&limit=&before=]   requests, newest first, with reviews
GET  /api/{models|datasets}/{ns}/{name}/approvals/{number}   one request with its reviews
POST /api/{models|datasets}/{ns}/{name}/approvals/{number}/approve|reject|cancel   {"reason"} (required to reject)
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.services.governance import approvals, lifecycle
from inhouse.services.records import ApprovalRequestRecord, StageRecord
from inhouse.services.repo_access import RepoName
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_ID, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import REPO, Router

MODEL = "/api/(?P<plural>models)/" + REPO
REPOS = "/api/(?P<plural>models|datasets)/" + REPO
REQUEST = REPOS + r"/approvals/(?P<number>[^/]+)"


def _name(ctx: Ctx) -> RepoName:
    return RepoName(ctx.repo_type, ctx.params["ns"], ctx.params["name"])


def _number(ctx: Ctx) -> int:
    return parse_int(ctx.params["number"], "request number (from GET …/approvals)", low=1, high=MAX_ID)


def request_json(r: ApprovalRequestRecord) -> dict[str, Any]:
    return {
        "number": r.number, "kind": r.kind, "target": r.target, "revision": r.revision, "author": r.author,
        "reason": r.reason, "status": r.status, "approvals": r.approvals, "approvalsRequired": r.approvals_required,
        "approverRoles": list(r.approver_roles), "replacement": r.replacement, "details": r.details,
        "createdAt": iso(r.created_at), "decidedAt": iso(r.decided_at) if r.decided_at is not None else None,
        "reviews": [{"reviewer": v.reviewer, "decision": v.decision, "reason": v.reason,
                     "createdAt": iso(v.created_at)} for v in r.reviews],
    }


def _stage_json(rec: StageRecord | None) -> dict[str, Any]:
    if rec is None:
        return {"revision": None, "replacement": None, "reason": None, "request": None, "updatedAt": None,
                "updatedBy": None}
    return {"revision": rec.revision, "replacement": rec.replacement, "reason": rec.reason,
            "request": rec.request_number, "updatedAt": iso(rec.updated_at), "updatedBy": rec.updated_by}


async def get_lifecycle(ctx: Ctx) -> Response:
    v = await ctx.run(lifecycle.view, ctx.stores, await ctx.principal(), _name(ctx))
    return json_response({"id": v.repo.repo_id, "stage": v.stage.value, **_stage_json(v.record),
                          "production": v.production, "openRequests": [request_json(r) for r in v.open_requests]})


async def promote(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    req = await ctx.run(lifecycle.promote, ctx.stores, await ctx.principal(), _name(ctx), stage=body.get("stage"),
                        revision=body.get("revision"), reason=body.get("reason"),
                        replacement=body.get("replacement"))
    return json_response(request_json(req), 201)


async def list_requests(ctx: Ctx) -> Response:
    limit = query_int(ctx.request, "limit", default=50, low=1, high=approvals.MAX_PAGE, clamp=True)
    before = query_int(ctx.request, "before", default=0, low=0, high=MAX_ID) or None
    found = await ctx.run(approvals.list_for, ctx.stores, await ctx.principal(), _name(ctx), limit=limit,
                          status=ctx.request.query_params.get("status") or None, before=before)
    return json_response([request_json(r) for r in found])


async def get_request(ctx: Ctx) -> Response:
    req = await ctx.run(approvals.get, ctx.stores, await ctx.principal(), _name(ctx), _number(ctx))
    return json_response(request_json(req))


async def _reason(ctx: Ctx) -> object:
    return (await ctx.json_object(required=False)).get("reason")


async def approve(ctx: Ctx) -> Response:
    number, reason = _number(ctx), await _reason(ctx)
    req = await ctx.run(approvals.review, ctx.stores, await ctx.principal(), _name(ctx), number,
                        decision="approve", reason=reason)
    return json_response(request_json(req))


async def reject(ctx: Ctx) -> Response:
    number, reason = _number(ctx), await _reason(ctx)
    req = await ctx.run(approvals.review, ctx.stores, await ctx.principal(), _name(ctx), number,
                        decision="reject", reason=reason)
    return json_response(request_json(req))


async def cancel(ctx: Ctx) -> Response:
    number, reason = _number(ctx), await _reason(ctx)
    req = await ctx.run(approvals.cancel, ctx.stores, await ctx.principal(), _name(ctx), number, reason=reason)
    return json_response(request_json(req))


def register(router: Router) -> None:
    router.add("GET", MODEL + "/lifecycle", get_lifecycle)
    router.add("POST", MODEL + "/promotions", promote)
    router.add("GET", REPOS + "/approvals", list_requests)
    router.add("GET", REQUEST, get_request)
    router.add("POST", REQUEST + "/approve", approve)
    router.add("POST", REQUEST + "/reject", reject)
    router.add("POST", REQUEST + "/cancel", cancel)
