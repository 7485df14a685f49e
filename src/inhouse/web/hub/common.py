"""Shared steps of hub handlers: the repo a route names, pagination links, and the answer to a repo id without a
namespace."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from inhouse.errors import RepoNotFound
from inhouse.names import shown
from inhouse.services.repo_access import RepoName
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_OFFSET, query_int
from inhouse.web.routing import API_SINGLE, WEB_SINGLE, Router


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


async def no_namespace(ctx: Ctx) -> Response:
    """A repo id without a namespace ('gpt2'): no repo is named so (every inhouse repo is 'namespace/name'), and
    the client gets the typed answer it knows, RepoNotFound (401 for an anonymous caller, as for any missing repo),
    not a bare 404."""
    p = await ctx.principal()  # invalid credentials are still a 401 that says so
    raise RepoNotFound(f"Repository not found: '{shown(ctx.params['single'], 100)}' has no namespace; inhouse names "
                       "every repo 'namespace/name' (e.g. 'my-org/gpt2'): use the full id.", anonymous=p.anonymous)


def register_fallbacks(router: Router) -> None:
    router.add_fallback(API_SINGLE, no_namespace)
    router.add_fallback(WEB_SINGLE, no_namespace)
