"""The Git LFS batch API and the links of the transfer grants it hands out (basic and multipart upload, download).

The batch service decides and signs what each object's client may do (services/largefiles/lfs_grants.py); this module
lays each grant out as a link and reads links back into grants:
/api/lfs-transfer/{repo pk}/{oid}/{size}[/part/{n}|/complete|/verify|/get]?t={token id}&c={commit}&exp=…&sig=…
(t for a Hub token, c for a download's commit, each only when there is one). Every use checks the signature and
re-checks that token and its permission on the repo (services/largefiles/lfs.link_caller).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response, StreamingResponse

from inhouse.errors import BadRequest, Forbidden
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services.largefiles import lfs_batch
from inhouse.services.largefiles.lfs_grants import MALFORMED, LfsGrant, Transfer
from inhouse.services.records import RepoRecord
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import LFS_JSON, json_response
from inhouse.web.routing import WEB_REPO, Router

TRANSFER = r"/api/lfs-transfer/(?P<pk>\d+)/(?P<oid>[0-9a-f]{64})/(?P<size>\d+)"
_PATH_OF = {Transfer.UPLOAD: "", Transfer.COMPLETE: "/complete", Transfer.VERIFY: "/verify", Transfer.DOWNLOAD: "/get"}
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")  # a whole number as this server writes it, below 10^19
_EXPIRY = re.compile(r"[0-9]{1,12}")


def href(base: str, grant: LfsGrant) -> str:
    """The link of a grant."""
    what = f"/part/{grant.part}" if grant.transfer is Transfer.PART else _PATH_OF[grant.transfer]
    query = [(k, v) for k, v in (("t", "" if grant.token_id is None else str(grant.token_id)),
                                 ("c", grant.commit or "")) if v]
    query += [("exp", str(grant.exp)), ("sig", grant.sig)]
    return f"{base}/api/lfs-transfer/{grant.repo_pk}/{grant.oid}/{grant.size}{what}?{urlencode(query)}"


def _action(base: str, grant: LfsGrant, ttl_s: int, **extra: Any) -> dict[str, Any]:
    """An LFS action: the link and when it expires (both ways the spec allows)."""
    expires_at = datetime.fromtimestamp(grant.exp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"href": href(base, grant), **extra, "expires_in": ttl_s, "expires_at": expires_at}


def _render(base: str, answer: lfs_batch.BatchAnswer) -> Response:
    out: list[dict[str, Any]] = []
    for it in answer.items:
        o: dict[str, Any] = {"oid": it.oid, "size": it.size, "authenticated": True}
        g = it.grants
        if it.error:
            o["error"] = {"code": it.error[0], "message": it.error[1]}
        elif g is not None and g.download is not None:
            o["actions"] = {"download": _action(base, g.download, g.ttl_s)}
        elif g is not None and g.upload is not None and g.verify is not None:
            extra: dict[str, Any] = {}
            if g.parts:
                header = {str(part.part): href(base, part) for part in g.parts}
                header["chunk_size"] = str(it.part_size)
                extra["header"] = header
            o["actions"] = {"upload": _action(base, g.upload, g.ttl_s, **extra),
                            "verify": _action(base, g.verify, g.ttl_s)}
        out.append(o)
    return json_response({"transfer": "basic", "objects": out, "hash_algo": "sha256"}, media_type=LFS_JSON)


async def batch(ctx: Ctx) -> Response:
    """Errors come in the LFS format ({"message": …}, next to the Hub's "error") to clients that accept LFS JSON,
    as git-lfs and huggingface_hub do (web/responses.py)."""
    req = lfs_batch.parse_request(await ctx.json_object())
    p = await ctx.principal()
    answer = await ctx.run(lfs_batch.batch, ctx.stores, ctx.signer, p, repo_name(ctx), req)
    # up to MAX_PART_LINKS links and the JSON holding them: off the event loop
    return await ctx.run(_render, ctx.base_url, answer)


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and _NUMBER.fullmatch(text) else None


def grant_of(ctx: Ctx, transfer: Transfer) -> LfsGrant:
    """The grant a transfer link states (whether this server signed it is checked where it is used); Forbidden when
    it does not read as one."""
    q = ctx.request.query_params
    pk, size, token = _number(ctx.params["pk"]), _number(ctx.params["size"]), q.get("t", "")
    token_id = _number(token) if token else None
    part = _number(ctx.params["n"]) if transfer is Transfer.PART else None
    exp = q.get("exp", "")
    if (pk is None or size is None or (token and token_id is None) or (transfer is Transfer.PART and not part)
            or not _EXPIRY.fullmatch(exp)):
        raise Forbidden(MALFORMED)
    return LfsGrant(pk, ctx.params["oid"], size, transfer, token_id, q.get("c") or None, int(exp), q.get("sig", ""),
                    part)


def _ip(ctx: Ctx) -> str | None:
    client = ctx.request.client
    return client.host if client else None


async def _linked(ctx: Ctx, transfer: Transfer) -> tuple[RepoRecord, LfsGrant]:
    """The grant of a transfer link once its signature and, again, the caller it was issued to are checked; its
    repo."""
    grant = grant_of(ctx, transfer)
    repo, _ = await ctx.run(lfs_service.link_caller, ctx.stores, ctx.signer, grant, ip=_ip(ctx),
                            request_id=ctx.request_id)
    return repo, grant


async def put_object(ctx: Ctx) -> Response:
    repo, g = await _linked(ctx, Transfer.UPLOAD)
    await lfs_service.store_async(ctx.stores, repo, g.oid, g.size, ctx.request.stream())
    return Response(status_code=200)


async def put_part(ctx: Ctx) -> Response:
    repo, g = await _linked(ctx, Transfer.PART)
    assert g.part is not None  # grant_of reads one for Transfer.PART
    etag = await lfs_service.write_part(ctx.stores, repo, g.oid, g.size, g.part, ctx.request.stream())
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


async def complete(ctx: Ctx) -> Response:
    repo, g = await _linked(ctx, Transfer.COMPLETE)
    body = await ctx.json_object()
    if body.get("oid") not in (None, g.oid):
        raise BadRequest("The oid to complete does not match this link.")
    await ctx.run(lfs_service.complete_multipart, ctx.stores, repo, g.oid, g.size, body.get("parts"))
    return json_response({"success": True})


async def verify(ctx: Ctx) -> Response:
    repo, g = await _linked(ctx, Transfer.VERIFY)
    body = await ctx.json_object(required=False)
    if body.get("oid") not in (None, g.oid) or body.get("size") not in (None, g.size):
        raise BadRequest("The oid and size to verify do not match this link.")
    await ctx.run(lfs_service.verify, ctx.stores, repo, g.oid, g.size)
    return json_response({"success": True})


async def download(ctx: Ctx) -> Response:
    grant = grant_of(ctx, Transfer.DOWNLOAD)
    body = await ctx.run(lfs_service.open_download, ctx.stores, ctx.signer, grant, ip=_ip(ctx),
                         request_id=ctx.request_id)
    return StreamingResponse(body, headers={"Content-Length": str(grant.size)}, media_type="application/octet-stream")


def register(router: Router) -> None:
    router.add("POST", WEB_REPO + r"\.git/info/lfs/objects/batch", batch)
    router.add("PUT", TRANSFER, put_object)
    router.add("PUT", TRANSFER + r"/part/(?P<n>\d+)", put_part)
    router.add("POST", TRANSFER + "/complete", complete)
    router.add("POST", TRANSFER + "/verify", verify)
    router.add("GET", TRANSFER + "/get", download)
