"""Shared steps of hub handlers: the repo a route names, and pagination links."""

from __future__ import annotations

from urllib.parse import urlencode

from inhouse.services.repo_access import RepoName
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_OFFSET, query_int


def repo_name(ctx: Ctx) -> RepoName:
    """The repo the route names (type, namespace, name), as the services take it: they find it for the caller."""
    return RepoName(ctx.repo_type, ctx.params["ns"], ctx.params["name"])


def cursor(ctx: Ctx) -> int:
    """The offset a paginated listing starts at (`?cursor=`, as the `Link` of the page before gives it)."""
    return query_int(ctx.request, "cursor", default=0, low=0, high=MAX_OFFSET)


def next_link(ctx: Ctx, offset: int) -> str:
    """The `Link: <…>; rel="next"` header of a paginated listing whose next page starts at `offset`."""
    params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", str(offset)))
    raw = ctx.request.scope.get("raw_path", b"").decode("latin-1") or ctx.request.url.path
    return f'<{ctx.base_url}{raw}?{urlencode(params)}>; rel="next"'
