"""Shared steps of hub handlers: find the repo a route names, redirect when it was moved."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from inhouse.access.policy import Action
from inhouse.names import check_revision
from inhouse.services import repos as repo_service
from inhouse.storage.db.records import RepoRecord
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_OFFSET, query_int


class Moved(Exception):
    def __init__(self, response: Response):
        self.response = response


async def load_repo(ctx: Ctx, action: Action = Action.READ, *, follow_moves: bool = True) -> RepoRecord:
    p = await ctx.principal()
    found = await ctx.run(repo_service.find, ctx.stores, p, ctx.repo_type, ctx.params["ns"], ctx.params["name"],
                          action)
    if found.moved and follow_moves:
        old = f"/{ctx.raw['ns']}/{ctx.raw['name']}"
        raw = ctx.request.scope.get("raw_path", b"").decode("latin-1") or ctx.request.url.path
        new_path = raw.replace(old, f"/{found.repo.repo_id}", 1)
        query = ctx.request.url.query
        raise Moved(RedirectResponse(ctx.base_url + new_path + (f"?{query}" if query else ""), status_code=307))
    return found.repo


async def note_read(ctx: Ctx, repo: RepoRecord, action: str, *, revision: str | None = None,
                    path: str | None = None) -> None:
    if revision is not None:
        check_revision(revision)  # before the audit entry is written: a revision no ref can have is a 400
    if repo.private or repo.gated:
        await ctx.run(repo_service.note_read, ctx.stores, await ctx.principal(), repo, action, revision=revision,
                      path=path)


def moved_aware(handler):  # type: ignore[no-untyped-def]
    """Turns a Moved raised while loading the repo into the redirect response."""
    async def wrapper(ctx: Ctx) -> Response:
        try:
            return await handler(ctx)
        except Moved as m:
            return m.response
    wrapper.__name__ = handler.__name__
    return wrapper


def cursor(ctx: Ctx) -> int:
    """The offset a paginated listing starts at (`?cursor=`, as the `Link` of the page before gives it)."""
    return query_int(ctx.request, "cursor", default=0, low=0, high=MAX_OFFSET)


def next_link(ctx: Ctx, offset: int) -> str:
    """The `Link: <…>; rel="next"` header of a paginated listing whose next page starts at `offset`."""
    params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", str(offset)))
    raw = ctx.request.scope.get("raw_path", b"").decode("latin-1") or ctx.request.url.path
    return f'<{ctx.base_url}{raw}?{urlencode(params)}>; rel="next"'
