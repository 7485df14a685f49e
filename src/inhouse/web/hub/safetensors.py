"""GET /api/models/{repo}/safetensors-metadata/{index file}: a sharded model's index and every shard's header in
one answer (`get_sharded_safetensors_metadata`)."""

from __future__ import annotations

from starlette.responses import Response

from inhouse.services import safetensors
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import json_response
from inhouse.web.routing import REPO, Router


async def sharded_metadata(ctx: Ctx) -> Response:
    found = await ctx.run(safetensors.sharded_metadata, ctx.stores, await ctx.principal(), repo_name(ctx),
                          ctx.params["path"])
    return json_response(found)


def register(router: Router) -> None:
    router.add("GET", "/api/(?P<plural>models)/" + REPO + "/safetensors-metadata/(?P<path>.+)", sharded_metadata)
