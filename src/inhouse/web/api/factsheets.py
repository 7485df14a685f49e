"""JSON API: a model revision's factsheet. HTTP adapter only; services/governance/factsheet_render does the work.

GET /api/models/{ns}/{name}/factsheet[?revision=<branch, tag or sha>&format=json|md|pdf]
    json (the default): {"format_version", "repo", "repo_type", "revision", "ref", "generated_at", "facts": [{"section",
    "name", "value", "source"}], "sections": {...}, "annex_iv": [...]}; md: text/markdown; pdf: application/pdf as an
    attachment. Needs download access (RepositoryNotFound / GatedRepo otherwise); a private or gated repo's read is
    audited as factsheet.read.
"""

from __future__ import annotations

from starlette.responses import Response

from inhouse.services.governance import factsheet_render
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.routing import REPO, Router

# a factsheet is a document about a model, never a page of this origin that could run script
_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "no-store"}


async def factsheet(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    found = await ctx.run(factsheet_render.export, ctx.stores, await ctx.principal(), repo_name(ctx),
                          q.get("revision") or None, q.get("format") or "json")
    headers = dict(_HEADERS)
    if found.media_type == "application/pdf":
        headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return Response(found.body, media_type=found.media_type, headers=headers)


def register(router: Router) -> None:
    router.add("GET", "/api/(?P<plural>models)/" + REPO + "/factsheet", factsheet)
