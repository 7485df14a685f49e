"""The Xet CAS API under /cas (the casUrl that the token routes hand out), authenticated by Xet tokens.

Write tokens name /cas/u/{key} (a key of their user, see services/largefiles/xet_tokens.py): the routes below,
except xorb-data, answer under both /cas and /cas/u/{key}.

POST /cas/v1/xorbs/default/{hash}          upload a xorb          -> {"was_inserted": bool} (new for this user)
POST /cas/v1/shards                        upload a shard         -> {"result": 1}
GET  /cas/v1/chunks/default/{hash}         global dedup query     -> keyed shard, or 404
GET  /cas/v1|v2/reconstructions/{file}     file reconstruction    -> JSON (Range: bytes=a-b honoured)
GET  /cas/xorb-data/{hash}?r=&p=&t=&exp=&sig=  xorb byte ranges at the signed URLs of reconstruction answers
                                           (Range: bytes=a-b[,c-d…], merged, inside the signed ranges)
POST /cas/v1/telemetry                     accepted and dropped
Not offered (404, the client falls back): POST /v1/xorb-grants/… (direct object-store uploads), POST /v2/shards.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

from starlette.responses import Response, StreamingResponse

from inhouse.errors import BadRequest, Forbidden, NotFound
from inhouse.services.largefiles import xet as xet_service
from inhouse.services.largefiles import xet_tokens
from inhouse.web.context import Ctx
from inhouse.web.hub.xet import cas_url
from inhouse.web.ranges import parse_ranges
from inhouse.web.responses import json_response
from inhouse.web.routing import Router

CAS = "/cas"
CACHE = r"(?:/u/(?P<cache>[0-9a-f]{16}))?"  # the user's cache key in the CAS URL of write tokens
HASH = r"(?P<hash>[0-9a-fA-F]{64})"
MAX_TELEMETRY_BYTES = 1 << 20
#: ranges one Range header may list (hf_xet asks for the ranges a URL was signed for, a handful)
MAX_RANGE_PARTS = 1024


def xorb_ranges(header: str | None) -> list[tuple[int, int]] | None:
    """The inclusive (start, end) pairs a xorb-data request asks for, in the order given; None without a Range
    header. Only explicit ranges (bytes=START-END[,…]): this is how hf_xet asks for the spans a xorb URL names."""
    ranges = parse_ranges(header, max_parts=MAX_RANGE_PARTS)
    if ranges is None:
        return None
    out = []
    for r in ranges:
        if r.first is None or r.last is None:
            raise BadRequest("Ask a xorb link for explicit byte ranges: Range: bytes=START-END[,START-END…].")
        out.append((r.first, r.last))
    return out


async def _caller(ctx: Ctx, *, write: bool) -> xet_tokens.CasCaller:
    client = ctx.request.client
    presented = ctx.credentials  # the Xet token, as a bearer token
    return await ctx.run(xet_tokens.caller, ctx.stores, ctx.signer, presented.secret, write=write,
                         malformed=presented.malformed, ip=client.host if client else None,
                         request_id=ctx.request_id)


async def upload_xorb(ctx: Ctx) -> Response:
    caller = await _caller(ctx, write=True)
    declared = ctx.request.headers.get("content-length")
    inserted = await xet_service.upload_xorb(ctx.stores, caller, ctx.params["hash"].lower(), ctx.request.stream(),
                                             int(declared) if declared and declared.isdigit() else None)
    return json_response({"was_inserted": inserted})


async def upload_shard(ctx: Ctx) -> Response:
    caller = await _caller(ctx, write=True)
    body = await ctx.body(xet_service.MAX_SHARD_BYTES)
    result = await ctx.run(xet_service.upload_shard, ctx.stores, caller, body, ctx.params.get("cache"))
    return json_response({"result": result})


async def dedup(ctx: Ctx) -> Response:
    caller = await _caller(ctx, write=True)
    data = await ctx.run(xet_service.dedup, ctx.stores, caller, ctx.params["hash"].lower())
    return Response(data, media_type="application/octet-stream")


def xorb_link(cas: str, grant: xet_service.XorbGrant) -> str:
    """The URL of a xorb grant, under the CAS URL `cas`."""
    spans = ",".join(f"{a}-{b}" for a, b in grant.spans)
    token = "" if grant.token_id is None else str(grant.token_id)
    return f"{cas}/xorb-data/{grant.xorb_hex}?r={spans}&p={grant.repo_pk}&t={token}&exp={grant.exp}&sig={grant.sig}"


_NUMBER = r"(?:0|[1-9][0-9]{0,18})"  # a whole number as this server writes it, below 10^19
_SPANS = re.compile(rf"{_NUMBER}-{_NUMBER}(?:,{_NUMBER}-{_NUMBER})*")
_ID = re.compile(_NUMBER)
_EXPIRY = re.compile(r"[0-9]{1,12}")


def xorb_grant(ctx: Ctx) -> xet_service.XorbGrant:
    """The grant a xorb link states (whether this server signed it is checked by the service); Forbidden when it
    does not read as one."""
    q = ctx.request.query_params
    spans, repo, token, exp = q.get("r", ""), q.get("p", ""), q.get("t", ""), q.get("exp", "")
    if not (_SPANS.fullmatch(spans) and _ID.fullmatch(repo) and (not token or _ID.fullmatch(token))
            and _EXPIRY.fullmatch(exp)):
        raise Forbidden(xet_service.XORB_LINK_INVALID)
    pairs = tuple((int(a), int(b)) for a, _, b in (span.partition("-") for span in spans.split(",")))
    return xet_service.XorbGrant(ctx.params["hash"].lower(), pairs, int(repo), int(token) if token else None,
                                 int(exp), q.get("sig", ""))


async def reconstruction(ctx: Ctx) -> Response:
    caller = await _caller(ctx, write=False)
    cas = cas_url(ctx)
    wanted = parse_ranges(ctx.request.headers.get("range"), max_parts=1)  # hf_xet asks for one range, if any
    body = await ctx.run(xet_service.reconstruction, ctx.stores, ctx.signer, caller, ctx.params["hash"].lower(),
                         wanted[0] if wanted else None, int(ctx.params["v"]), lambda g: xorb_link(cas, g))
    return json_response(body)


async def xorb_data(ctx: Ctx) -> Response:
    xorb_hex = ctx.params["hash"].lower()
    grant = xorb_grant(ctx)
    wanted = xorb_ranges(ctx.request.headers.get("range"))
    read = await ctx.run(xet_service.open_xorb_ranges, ctx.stores, ctx.signer, grant, wanted)
    stores = ctx.stores
    if len(read.ranges) == 1:
        a, b = read.ranges[0]
        return StreamingResponse(
            xet_service.read_xorb(stores, xorb_hex, a, b), status_code=206, media_type="application/octet-stream",
            headers={"Content-Range": f"bytes {a}-{b}/{read.size}", "Content-Length": str(b - a + 1)})
    boundary = secrets.token_hex(12)

    def parts() -> Iterator[bytes]:
        for a, b in read.ranges:
            yield (f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                   f"Content-Range: bytes {a}-{b}/{read.size}\r\n\r\n").encode()
            yield from xet_service.read_xorb(stores, xorb_hex, a, b)
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    return StreamingResponse(parts(), status_code=206, media_type=f"multipart/byteranges; boundary={boundary}")


async def not_offered(ctx: Ctx) -> Response:
    raise NotFound("Not offered by this CAS; use POST /v1/xorbs/default/{hash} and POST /v1/shards.")


async def telemetry(ctx: Ctx) -> Response:
    await ctx.body(MAX_TELEMETRY_BYTES)
    return json_response({})


def register(router: Router) -> None:
    router.add("POST", CAS + CACHE + r"/v1/xorbs/default/" + HASH, upload_xorb)
    router.add("POST", CAS + CACHE + r"/v1/shards", upload_shard)
    router.add("GET", CAS + CACHE + r"/v1/chunks/default/" + HASH, dedup)
    router.add("GET", CAS + CACHE + r"/v(?P<v>[12])/reconstructions/" + HASH, reconstruction)
    router.add("GET", CAS + r"/xorb-data/" + HASH, xorb_data)
    router.add("POST", CAS + CACHE + r"/v1/xorb-grants/.*", not_offered)
    router.add("POST", CAS + CACHE + r"/v2/shards", not_offered)
    router.add("POST", CAS + CACHE + r"/v1/telemetry", telemetry)
