"""Hub API: collections (`/api/collections…`), as huggingface_hub's create_collection, get_collection,
list_collections, update_collection_metadata, delete_collection, add_collection_item, update_collection_item and
delete_collection_item call them, answered in the Hub's JSON shapes."""

from __future__ import annotations

import html
from typing import Any

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services import collections as service
from inhouse.services.collections import CollectionRecord, CollectionView, ItemView
from inhouse.web.context import Ctx
from inhouse.web.hub.common import cursor, next_link
from inhouse.web.params import query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import Router

SLUG = r"/api/collections/(?P<ns>[^/]+)/(?P<slug>[^/]+)"


def _owner(c: CollectionRecord) -> dict[str, Any]:
    return {"_id": f"{c.owner_id:024x}", "name": c.owner_name, "fullname": c.owner_fullname or c.owner_name,
            "type": c.owner_kind, "avatarUrl": "", "isHf": False, "isHfAdmin": False, "isMod": False}


def _note(text: str | None) -> dict[str, str] | None:
    return {"text": text, "html": html.escape(text).replace("\n", "<br>")} if text else None


def _item(v: ItemView) -> dict[str, Any]:
    out: dict[str, Any] = {"_id": v.item.public_id, "position": v.item.position, "type": v.item.item_type}
    if v.repo is not None:
        r = v.repo
        out.update({"id": r.repo_id, "author": r.namespace, "repoType": r.type.value, "private": r.private,
                    "gated": r.gated or False, "lastModified": iso(r.last_modified), "likes": r.likes,
                    "downloads": r.downloads, "isLikedByUser": False})
        if r.pipeline_tag:
            out["pipeline_tag"] = r.pipeline_tag
    elif v.nested is not None:
        n = v.nested
        out.update({"id": n.hex_id, "slug": n.slug, "title": n.title, "description": n.description or "",
                    "owner": _owner(n), "lastUpdated": iso(n.updated_at), "private": n.private, "theme": n.theme,
                    "upvotes": n.upvotes})
    note = _note(v.item.note)
    if note is not None:
        out["note"] = note
    return out


def _collection(ctx: Ctx, view: CollectionView, *, listed: bool = False) -> dict[str, Any]:
    """The Hub's collection JSON. A listing leaves out `position` (list_collections numbers the collections itself
    and would get it twice)."""
    c = view.collection
    out = {
        "slug": c.slug, "title": c.title, "description": c.description or "", "lastUpdated": iso(c.updated_at),
        "gating": False, "owner": _owner(c), "items": [_item(v) for v in view.items], "position": c.position,
        "theme": c.theme, "private": c.private, "shareUrl": f"{ctx.base_url}/collections/{c.slug}",
        "upvotes": c.upvotes, "isUpvotedByUser": False,
    }
    if listed:
        del out["position"]
    return out


def _slug(ctx: Ctx) -> str:
    return f"{ctx.params['ns']}/{ctx.params['slug']}"


async def create(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    if body.get("resourceGroupId") is not None:
        raise BadRequest("Collections in resource groups are not supported here; leave resource_group_id unset.")
    try:
        view = await ctx.run(service.create, ctx.stores, await ctx.principal(), title=body.get("title"),
                             namespace=body.get("namespace"), description=body.get("description"),
                             private=body.get("private", False))
    except service.CollectionExists as err:  # the Hub's 409 names the collection: exists_ok reads its slug
        return json_response({"error": err.message, "slug": err.slug}, err.status,
                             {"X-Error-Code": err.code, "X-Error-Message": err.message})
    return json_response(_collection(ctx, view))


async def get(ctx: Ctx) -> Response:
    view = await ctx.run(service.get, ctx.stores, await ctx.principal(), _slug(ctx))
    return json_response(_collection(ctx, view))


async def listing(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    start = cursor(ctx)
    limit = query_int(ctx.request, "limit", default=service.MAX_PAGE, low=1, high=service.MAX_PAGE, clamp=True)
    views, more = await ctx.run(service.listing, ctx.stores, await ctx.principal(), owners=ctx.query_list("owner"),
                                items=ctx.query_list("item"), sort=q.get("sort"), offset=start, limit=limit)
    headers = {"Link": next_link(ctx, start + limit)} if more else {}
    return json_response([_collection(ctx, v, listed=True) for v in views], headers=headers)


async def update(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    view = await ctx.run(service.update_metadata, ctx.stores, await ctx.principal(), _slug(ctx),
                         title=body.get("title"), description=body.get("description"),
                         position=body.get("position"), private=body.get("private"), theme=body.get("theme"))
    return json_response({"success": True, "data": _collection(ctx, view)})


async def delete(ctx: Ctx) -> Response:
    await ctx.run(service.delete, ctx.stores, await ctx.principal(), _slug(ctx))
    return json_response({"success": True})


async def add_item(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    item = body.get("item")
    if not isinstance(item, dict):
        raise BadRequest("'item' is required: {\"id\": <repo id or collection slug>, \"type\": <model, dataset, "
                         "space or collection>}.")
    view = await ctx.run(service.add_item, ctx.stores, await ctx.principal(), _slug(ctx), item_id=item.get("id"),
                         item_type=item.get("type"), note=body.get("note"))
    return json_response(_collection(ctx, view))


async def update_item(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    await ctx.run(service.update_item, ctx.stores, await ctx.principal(), _slug(ctx), ctx.params["item"],
                  note=body.get("note"), position=body.get("position"))
    return json_response({"success": True})


async def delete_item(ctx: Ctx) -> Response:
    await ctx.run(service.delete_item, ctx.stores, await ctx.principal(), _slug(ctx), ctx.params["item"])
    return json_response({"success": True})


def register(router: Router) -> None:
    router.add("GET", "/api/collections", listing)
    router.add("POST", "/api/collections", create)
    router.add("GET", SLUG, get)
    router.add("PATCH", SLUG, update)
    router.add("DELETE", SLUG, delete)
    router.add("POST", SLUG + "/items", add_item)
    router.add("PATCH", SLUG + r"/items/(?P<item>[^/]+)", update_item)
    router.add("DELETE", SLUG + r"/items/(?P<item>[^/]+)", delete_item)
