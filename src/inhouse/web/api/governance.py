"""JSON API: what an organisation's policy did to a repo, and the admins' acts on it. Adapters only:
services/governance/views.py and quarantine.py decide and do.

GET  /api/{models|datasets}/{ns}/{name}/governance[?limit=]   latest policy evaluations (newest first, at most
                                                              50, each with its policy version), quarantined files,
                                                              lifecycle stage (download access)
POST /api/{models|datasets}/{ns}/{name}/quarantine/{id}/release   {"reason"}: serve a quarantined file again
                                                              (org admins; audited policy.release)
POST /api/orgs/{org}/policy/recheck[?offset=&limit=]          evaluate the head of main of a page of the org's
                                                              repos under its current policy, changing nothing
                                                              (org admins; audited policy.recheck)
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.services.governance import quarantine, views
from inhouse.services.governance.views import EvaluationRecord, QuarantineRecord
from inhouse.services.repo_access import RepoName
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_ID, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import REPO, Router

REPOS = "/api/(?P<plural>models|datasets)/" + REPO
RECHECK = r"/api/orgs/(?P<org>[^/]+)/policy/recheck"


def _name(ctx: Ctx) -> RepoName:
    return RepoName(ctx.repo_type, ctx.params["ns"], ctx.params["name"])


def evaluation_json(e: EvaluationRecord) -> dict[str, Any]:
    return {"id": e.id, "trigger": e.trigger, "ref": e.ref, "commit": e.commit, "outcome": e.outcome,
            "policyVersion": e.policy_version, "findings": e.findings, "actor": e.actor,
            "createdAt": iso(e.created_at)}


def quarantine_json(q: QuarantineRecord) -> dict[str, Any]:
    return {"id": q.id, "path": q.path, "contentKey": q.content_key, "commit": q.commit, "rule": q.rule,
            "reason": q.reason, "createdAt": iso(q.created_at), "active": q.active,
            "releasedAt": iso(q.released_at) if q.released_at is not None else None, "releasedBy": q.released_by,
            "releaseReason": q.release_reason}


async def get_governance(ctx: Ctx) -> Response:
    limit = query_int(ctx.request, "limit", default=views.MAX_EVALUATIONS, low=1, high=views.MAX_EVALUATIONS,
                      clamp=True)
    v = await ctx.run(views.governance, ctx.stores, await ctx.principal(), _name(ctx), limit=limit)
    return json_response({"id": v.repo.repo_id, "stage": v.stage,
                          "evaluations": [evaluation_json(e) for e in v.evaluations],
                          "quarantined": [quarantine_json(q) for q in v.quarantined]})


async def release(ctx: Ctx) -> Response:
    qid = parse_int(ctx.params["id"], "quarantine id (from GET …/governance)", low=1, high=MAX_ID)
    body = await ctx.json_object()
    q = await ctx.run(quarantine.release, ctx.stores, await ctx.principal(), _name(ctx), qid, body.get("reason"))
    return json_response(quarantine_json(q))


async def recheck(ctx: Ctx) -> Response:
    offset = query_int(ctx.request, "offset", default=0, low=0, high=MAX_ID)
    limit = query_int(ctx.request, "limit", default=views.MAX_RECHECK_REPOS, low=1,
                      high=views.MAX_RECHECK_REPOS, clamp=True)
    r = await ctx.run(views.recheck, ctx.stores, await ctx.principal(), ctx.params["org"], offset=offset,
                      limit=limit)
    out: dict[str, Any] = {
        "org": r.org, "policyVersion": r.version, "offset": r.offset,
        "note": "Nothing was changed: a policy applies to changes made after it; this says what the current policy "
                "would do to each repo's main branch now.",
        "repos": [{"repo": repo.repo_id, "type": repo.type.value, "outcome": v.outcome.value,
                   "findings": [f.to_json() for f in v.findings]} for repo, v in r.results]}
    if r.more:
        out["next"] = f"POST /api/orgs/{r.org}/policy/recheck?offset={r.offset + limit}&limit={limit}"
    return json_response(out)


def register(router: Router) -> None:
    router.add("GET", REPOS + "/governance", get_governance)
    router.add("POST", REPOS + r"/quarantine/(?P<id>[^/]+)/release", release)
    router.add("POST", RECHECK, recheck)
