"""Hub API: a dataset's leaderboard, from the eval results model repos hold (`get_dataset_leaderboard`)."""

from __future__ import annotations

from starlette.responses import Response

from inhouse.services.evaluations import eval_results
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import json_response
from inhouse.web.routing import REPO, Router


async def dataset_leaderboard(ctx: Ctx) -> Response:
    """`?base_model=false` includes models whose card declares a base model (left out by default, as on the Hub);
    `?task_id=` keeps one task."""
    rows = await ctx.run(eval_results.leaderboard, ctx.stores, await ctx.principal(), repo_name(ctx),
                         base_model_only=ctx.query_bool("base_model", default=True),
                         task_id=ctx.request.query_params.get("task_id"))
    return json_response(rows)


def register(router: Router) -> None:
    router.add("GET", "/api/(?P<plural>datasets)/" + REPO + "/leaderboard", dataset_leaderboard)
