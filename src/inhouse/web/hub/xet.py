"""Xet token routes: GET /api/{models|datasets|spaces}/NS/NAME/xet-{read|write}-token/REV[?create_pr=1]."""

from __future__ import annotations

from starlette.responses import Response

from inhouse.services.largefiles import xet_grants
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import json_response
from inhouse.web.routing import API_REPO, Router

CAS_PREFIX = "/cas"


def cas_url(ctx: Ctx) -> str:
    return ctx.base_url + CAS_PREFIX


async def token(ctx: Ctx) -> Response:
    issued = await ctx.run(xet_grants.issue, ctx.stores, ctx.signer, await ctx.principal(), repo_name(ctx),
                           ctx.params["access"], ctx.params["rev"], create_pr=ctx.query_bool("create_pr"))
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
