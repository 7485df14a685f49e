"""Xet token routes: GET /api/{models|datasets|spaces}/NS/NAME/xet-{read|write}-token/REV[?create_pr=1]."""

from __future__ import annotations

from starlette.responses import Response

from inhouse.access.policy import Action
from inhouse.services.largefiles import xet_tokens
from inhouse.web.context import Ctx
from inhouse.web.hub.common import load_repo, moved_aware
from inhouse.web.responses import json_response
from inhouse.web.routing import API_REPO, Router

CAS_PREFIX = "/cas"


def cas_url(ctx: Ctx) -> str:
    return ctx.base_url + CAS_PREFIX


@moved_aware
async def token(ctx: Ctx) -> Response:
    access = ctx.params["access"]
    rev = ctx.params["rev"]
    if access == xet_tokens.READ:
        action = Action.DOWNLOAD
    else:  # pushing to a pull request (new or existing) needs only the right to propose
        action = Action.PROPOSE if ctx.query_bool("create_pr") or rev.startswith("refs/pr/") else Action.WRITE
    repo = await load_repo(ctx, action, follow_moves=access == xet_tokens.READ)
    p = await ctx.principal()
    issued = await ctx.run(xet_tokens.issue_for_revision, ctx.stores, ctx.signer, p, repo, access, action, rev)
    secret, exp = issued.token, issued.exp
    # hf_xet keeps a cache per CAS URL: write tokens name one per user (a new one once GC forgot their xorbs)
    url = cas_url(ctx) + (f"/u/{issued.cache_key}" if issued.cache_key else "")
    return json_response(
        {"accessToken": secret, "exp": exp, "casUrl": url},
        headers={"X-Xet-Cas-Url": url, "X-Xet-Access-Token": secret, "X-Xet-Token-Expiration": str(exp),
                 "Cache-Control": "no-store"},
    )


def register(router: Router) -> None:
    router.add("GET", API_REPO + r"/xet-(?P<access>read|write)-token/(?P<rev>.+)", token)
