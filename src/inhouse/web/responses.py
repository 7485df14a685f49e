"""Response helpers: JSON, Hub dates, and the one mapping from error kinds (and the facts they carry) to status,
headers and body."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from inhouse.errors import (
    EntryNotFound,
    InhouseError,
    PolicyViolation,
    RangeNotSatisfiable,
    RepoDisabled,
    RepoExists,
    RepoMoved,
    TooManyRequests,
)

if TYPE_CHECKING:
    from inhouse.web.context import Ctx

LFS_JSON = "application/vnd.git-lfs+json"  # the Git LFS API's media type (its errors are {"message": …})


def iso(ts: float | None) -> str | None:
    """Hub date format: 2024-01-02T03:04:05.000Z (the client accepts only a trailing Z)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None, *,
                  media_type: str = "application/json") -> Response:
    # a lone surrogate (echoed from a request in an error message) becomes the JSON escape \udXXX, not a 500
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")
    return Response(body, status_code=status, headers=headers, media_type=media_type)


def error_response(err: InhouseError, request_id: str, *, head: bool = False, ctx: Ctx | None = None) -> Response:
    """The answer to an error: its status, X-Error-Code / X-Error-Message / X-Request-Id, the headers its facts
    call for, and {"error": message} (plus {"message"} in the Git LFS media type for clients that accept it).
    `ctx` is the request's, when the error came from a handler (redirects and URLs are built from it)."""
    if isinstance(err, RepoMoved) and ctx is not None:
        return Response(b"", status_code=err.status, headers={"Location": moved_location(ctx, err.repo_id),
                                                              "X-Request-Id": request_id})
    headers = {
        "X-Error-Code": err.code,
        "X-Error-Message": _header_safe(err.message),
        "X-Request-Id": request_id,
        **fact_headers(err),
    }
    if head:
        return Response(b"", status_code=err.status, headers=headers)
    body: dict[str, Any] = {"error": err.message}
    if isinstance(err, RepoExists) and ctx is not None:
        body["url"] = f"{ctx.base_url}/{err.url_path}"
    if isinstance(err, PolicyViolation):
        body["findings"] = err.findings
    if isinstance(err, RepoDisabled):
        body.update({"replacement": err.replacement, "reason": err.reason})
    accept = ctx.request.headers.get("accept", "") if ctx is not None else ""
    if LFS_JSON in accept:
        return json_response({**body, "message": err.message}, err.status, headers, media_type=LFS_JSON)
    return json_response(body, err.status, headers)


def fact_headers(err: InhouseError) -> dict[str, str]:
    """The HTTP headers that say an error's facts."""
    if isinstance(err, EntryNotFound) and err.commit is not None:
        return {"X-Repo-Commit": err.commit}
    if isinstance(err, RangeNotSatisfiable):
        return {"Content-Range": f"bytes */{err.size}"}
    if isinstance(err, TooManyRequests):
        return {"Retry-After": str(err.retry_after_s)}
    if isinstance(err, RepoDisabled) and err.replacement:
        return {"X-Replaced-By": err.replacement}
    return {}


def moved_location(ctx: Ctx, repo_id: str) -> str:
    """The URL the request would have had with the repo's current id: the path as the client encoded it, with the
    old namespace/name swapped, and the same query."""
    raw = ctx.request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or ctx.request.url.path
    if "ns" in ctx.raw and "name" in ctx.raw:
        new_path = raw.replace(f"/{ctx.raw['ns']}/{ctx.raw['name']}", f"/{repo_id}", 1)
    else:
        new_path = f"/{repo_id}"
    query = ctx.request.url.query
    return ctx.base_url + new_path + (f"?{query}" if query else "")


_CONTROLS = {i: " " for i in [*range(0x20), 0x7F]}  # no control character may reach a header (a NUL drops the answer)


def _header_safe(text: str) -> str:
    return text.translate(_CONTROLS).encode("latin-1", "replace").decode("latin-1")[:1000]
