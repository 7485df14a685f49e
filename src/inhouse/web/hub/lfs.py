"""The Git LFS batch API and the signed transfer URLs it hands out (basic and multipart upload, download)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response, StreamingResponse

from inhouse.access.policy import Action
from inhouse.errors import BadRequest
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services.largefiles import xet_content
from inhouse.storage.db.records import RepoRecord
from inhouse.web.context import Ctx
from inhouse.web.hub.common import load_repo
from inhouse.web.responses import json_response
from inhouse.web.routing import WEB_REPO, Router

LFS_JSON = "application/vnd.git-lfs+json"
TRANSFER = r"/api/lfs-transfer/(?P<pk>\d+)/(?P<oid>[0-9a-f]{64})/(?P<size>\d+)"


def _signed(ctx: Ctx, repo: RepoRecord, oid: str, size: int, suffix: str = "") -> str:
    msg = f"{repo.id}/{oid}/{size}{suffix}"
    exp, sig = ctx.signer.sign(msg, ctx.settings.upload_url_ttl_s)
    return f"{ctx.base_url}/api/lfs-transfer/{msg}?exp={exp}&sig={sig}"


async def batch(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    operation = body.get("operation")
    objects = body.get("objects")
    repo = await load_repo(ctx, Action.READ, follow_moves=False)
    p = await ctx.principal()
    items = await ctx.run(lfs_service.batch, ctx.stores, p, repo, operation, objects)
    part_size = ctx.settings.lfs_part_size
    out: list[dict[str, Any]] = []
    for it in items:
        o: dict[str, Any] = {"oid": it.oid, "size": it.size, "authenticated": True}
        if it.error:
            o["error"] = {"code": it.error[0], "message": it.error[1]}
        elif it.action == "download":
            o["actions"] = {"download": {"href": _signed(ctx, repo, it.oid, it.size, "/get"), "expires_in": 3600}}
        elif it.action == "upload":
            verify = {"href": f"{_signed(ctx, repo, it.oid, it.size, '/verify')}"}
            if it.size > part_size and "multipart" in (body.get("transfers") or []):
                n = lfs_service.part_count(it.size, part_size)
                header = {str(i): _signed(ctx, repo, it.oid, it.size, f"/part/{i}") for i in range(1, n + 1)}
                header["chunk_size"] = str(part_size)
                o["actions"] = {"upload": {"href": _signed(ctx, repo, it.oid, it.size, "/complete"),
                                           "header": header}, "verify": verify}
            else:
                o["actions"] = {"upload": {"href": _signed(ctx, repo, it.oid, it.size)}, "verify": verify}
        out.append(o)
    return json_response({"transfer": "basic", "objects": out, "hash_algo": "sha256"},
                         headers={"Content-Type": LFS_JSON})


async def _transfer_repo(ctx: Ctx, suffix: str = "") -> tuple[RepoRecord, str, int]:
    pk, oid, size = int(ctx.params["pk"]), ctx.params["oid"], int(ctx.params["size"])
    q = ctx.request.query_params
    ctx.signer.verify(f"{pk}/{oid}/{size}{suffix}", q.get("exp"), q.get("sig"))
    repo = await ctx.run(lfs_service.repo_for_transfer, ctx.stores, pk)
    return repo, oid, size


async def put_object(ctx: Ctx) -> Response:
    repo, oid, size = await _transfer_repo(ctx)
    await lfs_service.store_async(ctx.stores, repo, oid, size, ctx.request.stream())
    return Response(status_code=200)


async def put_part(ctx: Ctx) -> Response:
    n = int(ctx.params["n"])
    repo, oid, size = await _transfer_repo(ctx, f"/part/{n}")
    etag = await lfs_service.write_part(ctx.stores, repo, oid, size, n, ctx.request.stream())
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


async def complete(ctx: Ctx) -> Response:
    repo, oid, size = await _transfer_repo(ctx, "/complete")
    body = await ctx.json_object()
    parts = body.get("parts")
    if body.get("oid") not in (None, oid) or not isinstance(parts, list):
        raise BadRequest("Send {\"oid\": <sha256>, \"parts\": [{\"partNumber\": 1, \"etag\": …}, …]}.")
    await ctx.run(lfs_service.complete_multipart, ctx.stores, repo, oid, size, parts)
    return json_response({"success": True})


async def verify(ctx: Ctx) -> Response:
    repo, oid, size = await _transfer_repo(ctx, "/verify")
    body = await ctx.json_object(required=False)
    if body.get("oid") not in (None, oid) or body.get("size") not in (None, size):
        raise BadRequest("The oid and size to verify do not match this link.")
    p = await ctx.principal()
    await ctx.run(lfs_service.verify, ctx.stores, p, repo, oid, size)
    return json_response({"success": True})


async def download(ctx: Ctx) -> Response:
    repo, oid, size = await _transfer_repo(ctx, "/get")
    return StreamingResponse(xet_content.read_lfs(ctx.stores, oid), headers={"Content-Length": str(size)},
                             media_type="application/octet-stream")


def register(router: Router) -> None:
    router.add("POST", WEB_REPO + r"\.git/info/lfs/objects/batch", batch)
    router.add("PUT", TRANSFER, put_object)
    router.add("PUT", TRANSFER + r"/part/(?P<n>\d+)", put_part)
    router.add("POST", TRANSFER + "/complete", complete)
    router.add("POST", TRANSFER + "/verify", verify)
    router.add("GET", TRANSFER + "/get", download)
