"""Response helpers: JSON, Hub dates, and the one mapping from error kinds to status and headers."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from starlette.responses import Response

from inhouse.errors import InhouseError, TooManyRequests


def iso(ts: float | None) -> str | None:
    """Hub date format: 2024-01-02T03:04:05.000Z (the client accepts only a trailing Z)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # a lone surrogate (echoed from a request in an error message) becomes the JSON escape \udXXX, not a 500
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def error_response(err: InhouseError, request_id: str, *, head: bool = False) -> Response:
    headers = {
        "X-Error-Code": err.code,
        "X-Error-Message": _header_safe(err.message),
        "X-Request-Id": request_id,
        **err.headers,
    }
    if isinstance(err, TooManyRequests):
        headers["Retry-After"] = str(err.retry_after_s)
    if head:
        return Response(b"", status_code=err.status, headers=headers)
    return json_response({**err.body, "error": err.message}, err.status, headers)


_CONTROLS = {i: " " for i in [*range(0x20), 0x7F]}  # no control character may reach a header (a NUL drops the answer)


def _header_safe(text: str) -> str:
    return text.translate(_CONTROLS).encode("latin-1", "replace").decode("latin-1")[:1000]
