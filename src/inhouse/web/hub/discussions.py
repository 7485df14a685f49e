"""Hub API: discussions and pull requests (open, read, list)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services import discussions as service
from inhouse.services.records import DiscussionRecord, RepoRecord
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.params import MAX_ID, MAX_OFFSET, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import API_REPO, Router


def _summary(d: DiscussionRecord, repo: RepoRecord) -> dict[str, Any]:
    return {
        "num": d.num, "title": d.title, "status": d.status, "isPullRequest": d.is_pr, "createdAt": iso(d.created_at),
        "author": {"name": d.author or "deleted", "type": "user"}, "repo": {"name": repo.repo_id, "type": repo.type},
        "pinned": False, "numComments": 1, "topReactions": [],
    }


async def create(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    title, desc = body.get("title"), body.get("description") or ""
    if not isinstance(title, str) or not isinstance(desc, str):
        raise BadRequest("'title' (and optional 'description') must be strings.")
    repo, d = await ctx.run(service.create, ctx.stores, await ctx.principal(), repo_name(ctx), title=title,
                            description=desc, pull_request=body.get("pullRequest") is True)
    return json_response({"num": d.num, "pullRequest": d.is_pr,
                          "url": f"{ctx.base_url}/{repo.url_path}/discussions/{d.num}"})


async def detail(ctx: Ctx) -> Response:
    num = parse_int(ctx.params["num"], "discussion number", low=1, high=MAX_ID)
    repo, det = await ctx.run(service.read, ctx.stores, await ctx.principal(), repo_name(ctx), num)
    d = det.discussion
    out = _summary(d, repo)
    out["events"] = [{
        "id": str(e.id), "type": e.type, "createdAt": iso(e.created_at),
        "author": {"name": e.author or "deleted", "type": "user"},
        "data": {"latest": {"raw": e.data.get("content", ""), "html": "", "updatedAt": iso(e.created_at)},
                 "numEdits": 0, "editors": [], "edited": False, "hidden": False, "history": []}
        if e.type == "comment" else e.data,
    } for e in det.events]
    if d.is_pr:
        out["changes"] = {"base": d.base_ref, "mergeCommitId": d.merge_commit, "head": det.head}
        out["filesWithConflicts"] = []
        out["diff"] = ""
    return json_response(out)


async def listing(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    page = query_int(ctx.request, "p", default=0, low=0, high=MAX_OFFSET // service.PAGE)
    found = await ctx.run(service.list_for, ctx.stores, await ctx.principal(), repo_name(ctx), page=page,
                          kind=q.get("type"), status=q.get("status"), author=q.get("author"))
    return json_response({"discussions": [_summary(d, found.repo) for d in found.items], "count": found.count,
                          "start": page * service.PAGE, "numClosedDiscussions": 0})


def register(router: Router) -> None:
    router.add("POST", API_REPO + "/discussions", create)
    router.add("GET", API_REPO + "/discussions", listing)
    router.add("GET", API_REPO + r"/discussions/(?P<num>\d+)", detail)
