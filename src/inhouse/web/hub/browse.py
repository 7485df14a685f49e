"""Hub API for reading a repo: tree, paths-info, refs, commits; and branches and tags."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services import files as file_service
from inhouse.services import refs as ref_service
from inhouse.web.context import Ctx
from inhouse.web.hub.common import cursor, next_link, repo_name
from inhouse.web.hub.render import commit_json, entry_json
from inhouse.web.jsonbody import parse_json
from inhouse.web.params import query_int
from inhouse.web.responses import json_response
from inhouse.web.routing import API_REPO, Router, split_revision

TREE_PAGE = 1000
TREE_PAGE_EXPANDED = 50
COMMITS_PAGE = 50
MAX_COMMITS_PAGE = 1000  # a larger ?limit= gets this many
MAX_PATHS = 1000


async def tree(ctx: Ctx) -> Response:
    rev, path = split_revision(ctx.raw["rest"])
    expand = ctx.query_bool("expand")
    page = TREE_PAGE_EXPANDED if expand else TREE_PAGE
    start = cursor(ctx)
    listing = await ctx.run(file_service.tree, ctx.stores, await ctx.principal(), repo_name(ctx), rev, path,
                            recursive=ctx.query_bool("recursive"), expand=expand, offset=start, limit=page)
    headers = {"Link": next_link(ctx, start + page)} if listing.more else {}
    return json_response([entry_json(e, listing.last.get(e.path), listing.security.get(e.path))
                          for e in listing.entries], headers=headers)


async def paths_info(ctx: Ctx) -> Response:
    ctype = ctx.request.headers.get("content-type", "")
    raw = await ctx.body(ctx.settings.max_json_bytes)
    if "json" in ctype:
        data = parse_json(raw or b"{}")
        paths = data.get("paths", []) if isinstance(data, dict) else []
        expand = bool(data.get("expand")) if isinstance(data, dict) else False
    else:
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        paths = form.get("paths", []) + form.get("paths[]", [])
        expand = (form.get("expand") or ["false"])[0].lower() == "true"
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise BadRequest("'paths' must be a list of file paths.")
    if len(paths) > MAX_PATHS:
        raise BadRequest(f"At most {MAX_PATHS} paths per request; split the request.")
    listing = await ctx.run(file_service.paths_info, ctx.stores, await ctx.principal(), repo_name(ctx),
                            ctx.params["rev"], paths, expand=expand)
    return json_response([entry_json(e, listing.last.get(e.path), listing.security.get(e.path))
                          for e in listing.entries])


async def refs(ctx: Ctx) -> Response:
    r = await ctx.run(ref_service.read_refs, ctx.stores, await ctx.principal(), repo_name(ctx))
    body = {
        "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": t} for n, t in r.branches],
        "converts": [{"name": n, "ref": f"refs/convert/{n}", "targetCommit": t} for n, t in r.converts],
        "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": t} for n, t in r.tags],
    }
    if ctx.query_bool("include_prs"):
        body["pullRequests"] = [{"name": ref.rsplit("/", 1)[1], "ref": ref, "targetCommit": t}
                                for ref, t in r.pull_requests]
    return json_response(body)


async def commits(ctx: Ctx) -> Response:
    formatted = "formatted" in ctx.query_list("expand")
    start = cursor(ctx)
    limit = query_int(ctx.request, "limit", default=COMMITS_PAGE, low=1, high=MAX_COMMITS_PAGE, clamp=True)
    items, more = await ctx.run(file_service.commits, ctx.stores, await ctx.principal(), repo_name(ctx),
                                ctx.params["rev"], offset=start, limit=limit)
    headers = {"Link": next_link(ctx, start + limit)} if more else {}
    return json_response([commit_json(c, formatted) for c in items], headers=headers)


async def branch(ctx: Ctx) -> Response:
    p = await ctx.principal()
    name = ctx.params["branch"]
    if ctx.request.method == "DELETE":
        await ctx.run(ref_service.delete_branch, ctx.stores, p, repo_name(ctx), name)
        return json_response({"success": True})
    body = await ctx.json_object(required=False)
    start = body.get("startingPoint")
    if start is not None and not isinstance(start, str):
        raise BadRequest("'startingPoint' must be a revision (branch, tag or commit sha).")
    await ctx.run(ref_service.create_branch, ctx.stores, p, repo_name(ctx), name, start)
    return json_response({"success": True})


async def create_tag(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    tag = body.get("tag")
    if not isinstance(tag, str):
        raise BadRequest("'tag' is required: the name of the tag to create.")
    await ctx.run(ref_service.create_tag, ctx.stores, await ctx.principal(), repo_name(ctx), ctx.params["rev"], tag)
    return json_response({"success": True})


async def delete_tag(ctx: Ctx) -> Response:
    await ctx.run(ref_service.delete_tag, ctx.stores, await ctx.principal(), repo_name(ctx), ctx.params["rev"])
    return json_response({"success": True})


def register(router: Router) -> None:
    router.add("GET", API_REPO + "/tree/(?P<rest>.+)", tree)
    router.add("POST", API_REPO + "/paths-info/(?P<rev>.+)", paths_info)
    router.add("GET", API_REPO + "/refs", refs)
    router.add("GET", API_REPO + "/commits/(?P<rev>.+)", commits)
    router.add("POST|DELETE", API_REPO + "/branch/(?P<branch>.+)", branch)
    router.add("POST", API_REPO + "/tag/(?P<rev>.+)", create_tag)
    router.add("DELETE", API_REPO + "/tag/(?P<rev>.+)", delete_tag)
