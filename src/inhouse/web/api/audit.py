"""GET /api/audit: the audit log for site admins, as paginated JSON (absolute Link) or streamed JSON Lines.

Query: actor, repo, action (`repo.*` for a family), since, until (ISO 8601), limit, cursor; `format=jsonl` or
`Accept: application/x-ndjson` streams every matching entry instead of a page. Each call is itself audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response, StreamingResponse

from inhouse.services import audit as audit_service
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_DB_INT, query_int
from inhouse.web.responses import json_response
from inhouse.web.routing import Router

DEFAULT_PAGE = 100


def _filters(ctx: Ctx) -> audit_service.Filters:
    q = ctx.request.query_params
    return audit_service.Filters(
        actor=q.get("actor") or None, repo=q.get("repo") or None, action=q.get("action") or None,
        since=audit_service.parse_time(q.get("since"), "since"), until=audit_service.parse_time(q.get("until"), "until"),
    )


def _lines(entries: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for e in entries:
        yield json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def read_log(ctx: Ctx) -> Response:
    p = await ctx.principal()
    filters = _filters(ctx)
    jsonl = (ctx.request.query_params.get("format") == "jsonl"
             or "application/x-ndjson" in ctx.request.headers.get("accept", "")
             or "application/jsonl" in ctx.request.headers.get("accept", ""))
    if jsonl:
        entries = await ctx.run(audit_service.stream, ctx.stores, p, filters)
        return StreamingResponse(_lines(entries), media_type="application/x-ndjson")
    after = query_int(ctx.request, "cursor", default=0, low=0, high=MAX_DB_INT)
    limit = query_int(ctx.request, "limit", default=DEFAULT_PAGE, low=1, high=audit_service.MAX_PAGE)
    page, next_after = await ctx.run(audit_service.read_page, ctx.stores, p, filters, after=after, limit=limit)
    headers = {}
    if next_after is not None:
        params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", str(next_after)))
        headers["Link"] = f'<{ctx.base_url}/api/audit?{urlencode(params)}>; rel="next"'
    return json_response(page, headers=headers)


def register(router: Router) -> None:
    router.add("GET", r"/api/audit", read_log)
