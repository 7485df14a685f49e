"""The Git LFS batch API and the signed transfer links it hands out (basic and multipart upload, download).

A link is /api/lfs-transfer/{repo pk}/{oid}/{size}[/action]?t={token id}&c={commit}&exp=…&sig=…: the signature
covers all of it, so a link names the repo, the object, what may be done with it, the Hub token that asked for it
(none for anonymous downloads) and, for downloads, the commit the batch request's ref named (for the audit). Every
use re-checks that token and its permission on the repo (services/largefiles/lfs.link_caller).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response, StreamingResponse

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.errors import BadRequest
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services.largefiles import lfs_batch
from inhouse.services.signing import Signer
from inhouse.storage.db.records import RepoRecord
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import LFS_JSON, json_response
from inhouse.web.routing import WEB_REPO, Router

TRANSFER = r"/api/lfs-transfer/(?P<pk>\d+)/(?P<oid>[0-9a-f]{64})/(?P<size>\d+)"


def _message(pk: str, oid: str, size: str, suffix: str, token: str, commit: str) -> str:
    return f"lfs|{pk}/{oid}/{size}{suffix}|{token}|{commit}"


class _Links:
    """Signs the links of one batch answer: one repo, one caller, one commit."""

    def __init__(self, signer: Signer, base: str, repo: RepoRecord, p: Principal, commit: str | None):
        self.signer, self.base, self.repo = signer, base, repo
        self.token = "" if p.token_id is None else str(p.token_id)
        self.commit = commit or ""

    def action(self, oid: str, size: int, suffix: str, ttl_s: int, **extra: Any) -> dict[str, Any]:
        """An LFS action: the signed href and when it expires (both ways the spec allows)."""
        href, exp = self.href(oid, size, suffix, ttl_s)
        expires_at = datetime.fromtimestamp(exp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"href": href, **extra, "expires_in": ttl_s, "expires_at": expires_at}

    def href(self, oid: str, size: int, suffix: str, ttl_s: int) -> tuple[str, int]:
        pk = str(self.repo.id)
        exp, sig = self.signer.sign(_message(pk, oid, str(size), suffix, self.token, self.commit), ttl_s)
        query = [(k, v) for k, v in (("t", self.token), ("c", self.commit)) if v]
        query += [("exp", str(exp)), ("sig", sig)]
        return f"{self.base}/api/lfs-transfer/{pk}/{oid}/{size}{suffix}?{urlencode(query)}", exp


def _render(links: _Links, answer: lfs_batch.BatchAnswer, upload_ttl_s: int) -> Response:
    out: list[dict[str, Any]] = []
    for it in answer.items:
        o: dict[str, Any] = {"oid": it.oid, "size": it.size, "authenticated": True}
        if it.error:
            o["error"] = {"code": it.error[0], "message": it.error[1]}
        elif it.action == "download":
            o["actions"] = {"download": links.action(it.oid, it.size, "/get", lfs_service.DOWNLOAD_LINK_TTL_S)}
        elif it.action == "upload":
            verify = links.action(it.oid, it.size, "/verify", upload_ttl_s)
            if it.part_size is not None:
                n = lfs_service.part_count(it.size, it.part_size)
                header = {str(i): links.href(it.oid, it.size, f"/part/{i}", upload_ttl_s)[0] for i in range(1, n + 1)}
                header["chunk_size"] = str(it.part_size)
                upload = links.action(it.oid, it.size, "/complete", upload_ttl_s, header=header)
            else:
                upload = links.action(it.oid, it.size, "", upload_ttl_s)
            o["actions"] = {"upload": upload, "verify": verify}
        out.append(o)
    return json_response({"transfer": "basic", "objects": out, "hash_algo": "sha256"}, media_type=LFS_JSON)


async def batch(ctx: Ctx) -> Response:
    """Errors come in the LFS format ({"message": …}, next to the Hub's "error") to clients that accept LFS JSON,
    as git-lfs and huggingface_hub do (web/responses.py)."""
    req = lfs_batch.parse_request(await ctx.json_object())
    p = await ctx.principal()
    answer = await ctx.run(lfs_batch.batch, ctx.stores, p, repo_name(ctx), req)
    links = _Links(ctx.signer, ctx.base_url, answer.repo, p, answer.commit)
    # up to MAX_PART_LINKS signatures and the JSON holding them: off the event loop
    return await ctx.run(_render, links, answer, ctx.settings.upload_url_ttl_s)


def _signed(ctx: Ctx, suffix: str) -> tuple[int, str, int, int | None, str | None]:
    """(repo pk, oid, size, token id, commit) of a transfer link whose signature holds (Forbidden otherwise)."""
    pk, oid, size = ctx.params["pk"], ctx.params["oid"], ctx.params["size"]
    q = ctx.request.query_params
    token, commit = q.get("t", ""), q.get("c", "")
    ctx.signer.verify(_message(pk, oid, size, suffix, token, commit), q.get("exp"), q.get("sig"))
    return int(pk), oid, int(size), int(token) if token else None, commit or None  # signed: our own numbers


def _ip(ctx: Ctx) -> str | None:
    client = ctx.request.client
    return client.host if client else None


async def _linked(ctx: Ctx, suffix: str, action: Action) -> tuple[RepoRecord, str, int]:
    """Checks a transfer link's signature and, again, the caller it was issued to; its repo, oid and size."""
    pk, oid, size, token_id, _ = _signed(ctx, suffix)
    repo, _ = await ctx.run(lfs_service.link_caller, ctx.stores, token_id, pk, action, ip=_ip(ctx),
                            request_id=ctx.request_id)
    return repo, oid, size


async def put_object(ctx: Ctx) -> Response:
    repo, oid, size = await _linked(ctx, "", Action.PROPOSE)
    await lfs_service.store_async(ctx.stores, repo, oid, size, ctx.request.stream())
    return Response(status_code=200)


async def put_part(ctx: Ctx) -> Response:
    repo, oid, size = await _linked(ctx, f"/part/{ctx.params['n']}", Action.PROPOSE)
    n = int(ctx.params["n"])
    etag = await lfs_service.write_part(ctx.stores, repo, oid, size, n, ctx.request.stream())
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


async def complete(ctx: Ctx) -> Response:
    repo, oid, size = await _linked(ctx, "/complete", Action.PROPOSE)
    body = await ctx.json_object()
    if body.get("oid") not in (None, oid):
        raise BadRequest("The oid to complete does not match this link.")
    await ctx.run(lfs_service.complete_multipart, ctx.stores, repo, oid, size, body.get("parts"))
    return json_response({"success": True})


async def verify(ctx: Ctx) -> Response:
    repo, oid, size = await _linked(ctx, "/verify", Action.PROPOSE)
    body = await ctx.json_object(required=False)
    if body.get("oid") not in (None, oid) or body.get("size") not in (None, size):
        raise BadRequest("The oid and size to verify do not match this link.")
    await ctx.run(lfs_service.verify, ctx.stores, repo, oid, size)
    return json_response({"success": True})


async def download(ctx: Ctx) -> Response:
    pk, oid, size, token_id, commit = _signed(ctx, "/get")
    body = await ctx.run(lfs_service.open_download, ctx.stores, token_id, pk, oid, commit, ip=_ip(ctx),
                         request_id=ctx.request_id)
    return StreamingResponse(body, headers={"Content-Length": str(size)}, media_type="application/octet-stream")


def register(router: Router) -> None:
    router.add("POST", WEB_REPO + r"\.git/info/lfs/objects/batch", batch)
    router.add("PUT", TRANSFER, put_object)
    router.add("PUT", TRANSFER + r"/part/(?P<n>\d+)", put_part)
    router.add("POST", TRANSFER + "/complete", complete)
    router.add("POST", TRANSFER + "/verify", verify)
    router.add("GET", TRANSFER + "/get", download)
