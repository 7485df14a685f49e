"""JSON API: evaluations (right-sizing) and leaderboards. HTTP adapters only; services/evaluations does the work.

POST /api/evaluations                         submit {"task", "dataset": {"repo", "revision"?, "config"?, "split",
                                              "columns"?}, "candidates": [...], "variants"?, "maxExamples"?,
                                              "tolerance"?, "pricePerHour"?, "resamples"?, "seed"?, "writeResults"?}
GET  /api/evaluations[?limit=&all=1]          yours, newest first (site admins: everyone's with all=1)
GET  /api/evaluations/{id}                    state, progress, ETA, rows, Pareto fronts, recommendation
POST /api/evaluations/{id}/cancel             stops its workers
GET  /api/evaluations/{id}/pareto.{svg|png}?axis=latency|memory|cost
POST /api/evaluations/{id}/save-variant       {"model", "variant": "onnx"|"onnx-int8", "target", "private"?}
GET  /api/leaderboards/{task}/datasets/{ns}/{name}[.svg|.png]?revision=&config=&split=&metric=&tolerance=&axis=
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services.evaluations import service
from inhouse.services.evaluations.spec import MAX_TOLERANCE
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_ID, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import Router

_TIMES = ("createdAt", "startedAt", "finishedAt")
_MEDIA = {"svg": "image/svg+xml", "png": "image/png"}


def _dated(data: dict[str, Any]) -> dict[str, Any]:
    for key in _TIMES:
        if key in data:
            value = data[key]
            data[key] = iso(value) if isinstance(value, (int, float)) else value
    return data


def _id(ctx: Ctx) -> int:
    return parse_int(ctx.params["id"], "evaluation id (from GET /api/evaluations)", low=1, high=MAX_ID)


def _picture(data: bytes, fmt: str) -> Response:
    # an SVG is served as an attachment-free image, but never as a document that could run script in this origin
    return Response(data, media_type=_MEDIA[fmt], headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


async def submit(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    ev = await ctx.run(service.submit, ctx.stores, await ctx.principal(), body)
    return json_response(_dated(ev), 201)


async def list_evaluations(ctx: Ctx) -> Response:
    limit = query_int(ctx.request, "limit", default=50, low=1, high=1000)
    found = await ctx.run(service.list_for, ctx.stores, await ctx.principal(), limit=limit,
                          everyone=ctx.query_bool("all"))
    return json_response([_dated(e) for e in found])


async def get_evaluation(ctx: Ctx) -> Response:
    ev = await ctx.run(service.get, ctx.stores, await ctx.principal(), _id(ctx))
    return json_response(_dated(ev))


async def cancel(ctx: Ctx) -> Response:
    ev = await ctx.run(service.cancel, ctx.stores, await ctx.principal(), _id(ctx))
    return json_response(_dated(ev))


def _axis(ctx: Ctx) -> str:
    return ctx.request.query_params.get("axis", "latency")


async def pareto(ctx: Ctx) -> Response:
    fmt = ctx.params["fmt"]
    data = await ctx.run(service.pareto_picture, ctx.stores, await ctx.principal(), _id(ctx), axis=_axis(ctx),
                         fmt=fmt)
    return _picture(data, fmt)


async def save_variant(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    model, variant, target, private = body.get("model"), body.get("variant"), body.get("target"), body.get("private", True)
    if not isinstance(model, str) or not isinstance(variant, str) or not isinstance(target, str):
        raise BadRequest("Give 'model' (an evaluated candidate), 'variant' (onnx or onnx-int8) and 'target' (the new "
                         "model repo, e.g. acme/bert-small-onnx).")
    if not isinstance(private, bool):
        raise BadRequest("'private' must be true or false.")
    job = await ctx.run(service.save_variant, ctx.stores, await ctx.principal(), _id(ctx), model=model,
                        variant=variant, target=target, private=private)
    return json_response(job, 201)


def _tolerance(ctx: Ctx) -> float:
    raw = ctx.request.query_params.get("tolerance")
    if raw is None:
        return 0.01
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= MAX_TOLERANCE:  # NaN fails too
        raise BadRequest(f"'tolerance' must be a number from 0 to {MAX_TOLERANCE:g}.")
    return value


def _board_args(ctx: Ctx) -> dict[str, Any]:
    q = ctx.request.query_params
    return {"task": ctx.params["task"], "dataset": f"{ctx.params['ns']}/{ctx.params['name']}",
            "revision": q.get("revision") or None, "config": q.get("config") or None, "split": q.get("split") or None,
            "tolerance": _tolerance(ctx), "metric": q.get("metric") or None}


async def leaderboard(ctx: Ctx) -> Response:
    board = await ctx.run(service.leaderboard, ctx.stores, await ctx.principal(), **_board_args(ctx))
    return json_response(board)


async def leaderboard_picture(ctx: Ctx) -> Response:
    fmt = ctx.params["fmt"]
    data = await ctx.run(service.leaderboard_picture, ctx.stores, await ctx.principal(), **_board_args(ctx),
                         axis=_axis(ctx), fmt=fmt)
    return _picture(data, fmt)


def register(router: Router) -> None:
    router.add("POST", "/api/evaluations", submit)
    router.add("GET", "/api/evaluations", list_evaluations)
    router.add("GET", r"/api/evaluations/(?P<id>[^/]+)", get_evaluation)
    router.add("POST", r"/api/evaluations/(?P<id>[^/]+)/cancel", cancel)
    router.add("GET", r"/api/evaluations/(?P<id>[^/]+)/pareto\.(?P<fmt>svg|png)", pareto)
    router.add("POST", r"/api/evaluations/(?P<id>[^/]+)/save-variant", save_variant)
    board = r"/api/leaderboards/(?P<task>[a-z-]{1,40})/datasets/(?P<ns>[^/]+)/"
    router.add("GET", board + r"(?P<name>[^/]+?)\.(?P<fmt>svg|png)", leaderboard_picture)  # before the JSON route
    router.add("GET", board + r"(?P<name>[^/]+)", leaderboard)
