"""git over smart HTTP: clone, fetch and pull (git-upload-pack) and push (git-receive-pack), protocol v2 and v0.

    GET  /{repo}[.git]/info/refs?service=git-upload-pack|git-receive-pack   the advertisement
    POST /{repo}[.git]/git-upload-pack                                      ls-refs / fetch (v2), want/have (v0)
    POST /{repo}[.git]/git-receive-pack                                     a push

The token travels as the HTTP Basic password (web/credentials.py reads it), as the Hub accepts it. A caller without
one gets 401 with `WWW-Authenticate: Basic` wherever the answer would have been "not found" or "not allowed", so that
git asks for credentials; a missing repo and one the caller may not see answer the same. Errors are text/plain:
git shows such a body to its user as `remote: …` lines. The protocol itself lives in services/git_fetch.py (upload)
and services/git_push.py (receive); this module reads bodies (gzip decoded, capped) and streams answers.
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import IO

from starlette.responses import Response, StreamingResponse

from inhouse.errors import BadRequest, InhouseError, PayloadTooLarge, Unauthorized
from inhouse.services import git_fetch, git_push
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import fact_headers
from inhouse.web.routing import WEB_REPO, Router

GIT_REPO = WEB_REPO + r"(?:\.git)?"
UPLOAD, RECEIVE = "git-upload-pack", "git-receive-pack"
_NO_CACHE = {"Cache-Control": "no-cache, max-age=0, must-revalidate", "Expires": "Fri, 01 Jan 1980 00:00:00 GMT",
             "Pragma": "no-cache"}
_SPOOL_IN_MEMORY = 8 * 1024 * 1024  # a push body larger than this is spooled to disk


def _error(ctx: Ctx, err: InhouseError, *, anonymous: bool) -> Response:
    """An error as git shows it: the message as text/plain (git prints it as `remote: …`), the usual X-Error-*
    headers, and for a caller without a token, 401 + WWW-Authenticate wherever the answer is not-found or
    not-allowed (git then asks for credentials)."""
    status = err.status
    headers = {"X-Error-Code": err.code, "X-Error-Message": _one_line(err.message), **fact_headers(err), **_NO_CACHE}
    if anonymous and status in (401, 403, 404):
        status = 401
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="inhouse"'
    return Response((err.message.rstrip("\n") + "\n").encode("utf-8", "backslashreplace"), status_code=status,
                    headers=headers, media_type="text/plain; charset=utf-8")


def _one_line(text: str) -> str:
    return " ".join(text.split()).encode("latin-1", "replace").decode("latin-1")[:1000]


async def _answer(ctx: Ctx, make: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await make()
    except InhouseError as err:
        # a bad or revoked token is a 401 already; no token at all: not found / not allowed become 401 too
        return _error(ctx, err, anonymous=ctx.credentials.secret is None)


def _pkt(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


def _protocol(ctx: Ctx) -> int:
    """2 when the client asked for protocol v2 (`Git-Protocol: version=2`), else 0."""
    header = ctx.request.headers.get("git-protocol", "")
    return 2 if "version=2" in header.split(":") else 0


async def info_refs(ctx: Ctx) -> Response:
    service = ctx.request.query_params.get("service")
    if service not in (UPLOAD, RECEIVE):
        # the "dumb" protocol (no ?service=) is not served: every git since 1.6.6 speaks the smart one
        raise BadRequest("Only git's smart HTTP protocol is served: use ?service=git-upload-pack or "
                         "?service=git-receive-pack (any git since 1.6.6 does).")

    async def make() -> Response:
        p = await ctx.principal()
        if service == UPLOAD:
            body = await ctx.run(git_fetch.advertise_upload, ctx.stores, p, repo_name(ctx), _protocol(ctx))
        else:
            if p.anonymous:
                raise Unauthorized("A push needs a token with write access: give it as the password.")
            body = await ctx.run(git_push.advertise_receive, ctx.stores, p, repo_name(ctx))
        head = _pkt(f"# service={service}\n".encode()) + b"0000"
        return Response(head + body, media_type=f"application/x-{service}-advertisement", headers=_NO_CACHE)

    return await _answer(ctx, make)


async def _read_body(ctx: Ctx, limit: int, sink: IO[bytes]) -> int:
    """Reads the request body into `sink`, gzip `Content-Encoding` decoded, refusing more than `limit` bytes (after
    decoding: a small gzip body cannot inflate past it). Returns the decoded size."""
    encoding = ctx.request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported: send the body as is or gzip-encoded.")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding in ("gzip", "x-gzip") else None
    declared = ctx.request.headers.get("content-length", "")
    if inflater is None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {declared} bytes; the limit here is {limit} bytes.")
    size = 0

    def write(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes here.")
        sink.write(data)

    async for chunk in ctx.request.stream():
        if inflater is None:
            write(chunk)
            continue
        try:
            data = inflater.decompress(chunk, limit + 1 - size)
            write(data)
            while inflater.unconsumed_tail:
                data = inflater.decompress(inflater.unconsumed_tail, limit + 1 - size)
                if not data:
                    break
                write(data)
        except zlib.error:
            raise BadRequest("The gzip-encoded request body is corrupt.") from None
    if inflater is not None and not inflater.eof and size:
        raise BadRequest("The gzip-encoded request body ends early.")
    return size


def _stream(chunks: Iterator[bytes], service: str) -> Response:
    return StreamingResponse(chunks, media_type=f"application/x-{service}-result", headers=_NO_CACHE)


async def upload_pack(ctx: Ctx) -> Response:
    async def make() -> Response:
        p = await ctx.principal()
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            await _read_body(ctx, git_fetch.MAX_REQUEST_BYTES, spool)
            spool.seek(0)
            request = spool.read()
        chunks = await ctx.run(git_fetch.upload_pack, ctx.stores, p, repo_name(ctx), request, _protocol(ctx))
        return _stream(chunks, UPLOAD)

    return await _answer(ctx, make)


async def receive_pack(ctx: Ctx) -> Response:
    async def make() -> Response:
        p = await ctx.principal()
        if p.anonymous:
            raise Unauthorized("A push needs a token with write access: give it as the password.")
        await ctx.run(git_push.begin, ctx.stores, p, repo_name(ctx))  # refused before the body is read
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
        try:
            await _read_body(ctx, ctx.settings.git_max_push_bytes, spool)
            spool.seek(0)
            chunks = await ctx.run(git_push.receive_pack, ctx.stores, p, repo_name(ctx), spool)
        except BaseException:
            spool.close()
            raise

        def stream() -> Iterator[bytes]:
            try:
                yield from chunks
            finally:
                spool.close()

        return _stream(stream(), RECEIVE)

    return await _answer(ctx, make)


def register(router: Router) -> None:
    router.add("GET", GIT_REPO + "/info/refs", info_refs)
    router.add("POST", GIT_REPO + "/" + UPLOAD, upload_pack)
    router.add("POST", GIT_REPO + "/" + RECEIVE, receive_pack)
