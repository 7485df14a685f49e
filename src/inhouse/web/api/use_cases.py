"""JSON API: an organisation's use cases and the models attached to them. Adapters only:
services/governance/use_cases.py decides (who may: its docstring) and does.

GET    /api/orgs/{org}/use-cases[?offset=&limit=]     members: a page of use cases by slug (Link rel="next",
                                                      X-Total-Count)
POST   /api/orgs/{org}/use-cases                      {"title", "riskTier", "slug"?, "owner"?, "purpose"?, "status"?}
GET    /api/orgs/{org}/use-cases/{slug}               members: the use case with the attached models you may see
PATCH  /api/orgs/{org}/use-cases/{slug}               {"title"?, "owner"?, "purpose"?, "riskTier"?, "status"?}
DELETE /api/orgs/{org}/use-cases/{slug}               delete (its models are detached)
POST   /api/orgs/{org}/use-cases/{slug}/models        {"repo": "ns/name"}: attach a model
DELETE /api/orgs/{org}/use-cases/{slug}/models        {"repo": "ns/name"}: detach it
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from inhouse.services.governance import use_cases as service
from inhouse.services.governance.use_cases import UseCaseRecord, UseCaseView
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_OFFSET, query_int, unquote_strict
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import Router

BASE = r"/api/orgs/(?P<org>[^/]+)/use-cases"
ONE = BASE + r"/(?P<slug>[^/]+)"


def use_case_json(u: UseCaseRecord) -> dict[str, Any]:
    return {"org": u.org, "slug": u.slug, "title": u.title, "owner": u.owner, "purpose": u.purpose,
            "riskTier": u.risk_tier.value, "status": u.status.value, "createdAt": iso(u.created_at),
            "updatedAt": iso(u.updated_at)}


def view_json(v: UseCaseView) -> dict[str, Any]:
    return {**use_case_json(v.use_case), "models": [
        {"id": m.repo.repo_id, "private": m.repo.private, "stage": m.repo.stage or "draft", "addedBy": m.added_by,
         "addedAt": iso(m.added_at)} for m in v.models]}


def _org(ctx: Ctx) -> str:
    return unquote_strict(ctx.params["org"], "organisation name")


def _slug(ctx: Ctx) -> str:
    return unquote_strict(ctx.params["slug"], "use case slug")


async def list_use_cases(ctx: Ctx) -> Response:
    offset = query_int(ctx.request, "offset", default=0, low=0, high=MAX_OFFSET)
    limit = query_int(ctx.request, "limit", default=50, low=1, high=service.MAX_PAGE, clamp=True)
    org = _org(ctx)
    page, total = await ctx.run(service.list_for_org, ctx.stores, await ctx.principal(), org, offset=offset,
                                limit=limit)
    headers = {"X-Total-Count": str(total)}
    if offset + len(page) < total:
        query = urlencode({"offset": offset + len(page), "limit": limit})
        headers["Link"] = f'<{ctx.base_url}/api/orgs/{ctx.params["org"]}/use-cases?{query}>; rel="next"'
    return json_response([use_case_json(u) for u in page], headers=headers)


async def create_use_case(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    made = await ctx.run(service.create, ctx.stores, await ctx.principal(), _org(ctx), title=body.get("title"),
                         slug=body.get("slug"), owner=body.get("owner"), purpose=body.get("purpose"),
                         risk_tier=body.get("riskTier"), status=body.get("status"))
    return json_response(view_json(made), status=201)


async def get_use_case(ctx: Ctx) -> Response:
    found = await ctx.run(service.get, ctx.stores, await ctx.principal(), _org(ctx), _slug(ctx))
    return json_response(view_json(found))


async def update_use_case(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    found = await ctx.run(service.update, ctx.stores, await ctx.principal(), _org(ctx), _slug(ctx), body)
    return json_response(view_json(found))


async def delete_use_case(ctx: Ctx) -> Response:
    await ctx.run(service.delete, ctx.stores, await ctx.principal(), _org(ctx), _slug(ctx))
    return json_response({"success": True})


async def attach_model(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    found = await ctx.run(service.attach, ctx.stores, await ctx.principal(), _org(ctx), _slug(ctx), body.get("repo"))
    return json_response(view_json(found))


async def detach_model(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    found = await ctx.run(service.detach, ctx.stores, await ctx.principal(), _org(ctx), _slug(ctx), body.get("repo"))
    return json_response(view_json(found))


def register(router: Router) -> None:
    router.add("GET", BASE, list_use_cases)
    router.add("POST", BASE, create_use_case)
    router.add("GET", ONE, get_use_case)
    router.add("PATCH", ONE, update_use_case)
    router.add("DELETE", ONE, delete_use_case)
    router.add("POST", ONE + "/models", attach_model)
    router.add("DELETE", ONE + "/models", detach_model)
