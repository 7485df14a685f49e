"""Hub API: repository operations — super-squash a branch, list and permanently delete large files, link large
files into another repo (copy_files), duplicate a repo."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services import forks, history, lfs_files
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import API_REPO, Router


async def super_squash(ctx: Ctx) -> Response:
    body = await ctx.json_object(required=False)
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise BadRequest("'message' must be a string: the squashed commit's message.")
    sha = await ctx.run(history.super_squash, ctx.stores, await ctx.principal(), repo_name(ctx), ctx.params["rev"],
                        message)
    return json_response({"commitId": sha})


async def list_lfs_files(ctx: Ctx) -> Response:
    cursor = ctx.request.query_params.get("cursor")
    page = await ctx.run(lfs_files.list_files, ctx.stores, await ctx.principal(), repo_name(ctx), after=cursor)
    items = [{"fileOid": f.oid, "oid": f.blob_id, "size": f.size, "pushedAt": iso(f.pushed_at),
              "filename": f.filename, "ref": f.ref, **({"xetHash": f.xet_hash} if f.xet_hash else {})}
             for f in page.files]
    headers = {}
    if page.next_after is not None:
        params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", page.next_after))
        raw = ctx.request.scope.get("raw_path", b"").decode("latin-1") or ctx.request.url.path
        headers["Link"] = f'<{ctx.base_url}{raw}?{urlencode(params)}>; rel="next"'
    return json_response(items, headers=headers)


async def delete_lfs_files(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    deletions = body.get("deletions")
    if not isinstance(deletions, dict):
        raise BadRequest("'deletions' is required: {\"sha\": [sha256, …], \"rewriteHistory\": true|false}.")
    oids = lfs_files.check_oids(deletions.get("sha"))
    rewrite = deletions.get("rewriteHistory", True)
    if not isinstance(rewrite, bool):
        raise BadRequest("'deletions.rewriteHistory' must be true or false.")
    out = await ctx.run(lfs_files.delete_files, ctx.stores, await ctx.principal(), repo_name(ctx), oids,
                        rewrite_history=rewrite)
    return json_response({"deleted": out.removed, "purged": out.purged,
                          "rewrittenRefs": {r: new for r, (_, new) in out.refs_rewritten.items()}})


async def duplicate_lfs_files(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    target = lfs_files.parse_target(body.get("target"))
    files = lfs_files.check_duplicates(body.get("files"))
    failed = await ctx.run(lfs_files.duplicate_to, ctx.stores, await ctx.principal(), repo_name(ctx), target, files)
    return json_response({"failed": failed})


async def duplicate_repo(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    visibility = body.get("visibility")
    private = body.get("private")
    if visibility is None and isinstance(private, bool):
        visibility = "private" if private else "public"
    if visibility is not None and not isinstance(visibility, str):
        raise BadRequest("'visibility' must be \"public\" or \"private\".")
    repo = await ctx.run(forks.duplicate, ctx.stores, await ctx.principal(), repo_name(ctx), body.get("repository"),
                         visibility=visibility)
    return json_response({"url": f"{ctx.base_url}/{repo.url_path}", "name": repo.repo_id, "id": str(repo.id),
                          "filesCopyPending": False})


def register(router: Router) -> None:
    router.add("POST", API_REPO + "/super-squash/(?P<rev>.+)", super_squash)
    router.add("GET", API_REPO + "/lfs-files", list_lfs_files)
    router.add("POST", API_REPO + "/lfs-files/batch", delete_lfs_files)
    router.add("POST", API_REPO + "/lfs-files/duplicate", duplicate_lfs_files)
    router.add("POST", API_REPO + "/duplicate", duplicate_repo)
