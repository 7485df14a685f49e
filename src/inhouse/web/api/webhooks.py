"""JSON API: webhooks, as huggingface_hub's create_webhook … delete_webhook call them, plus the delivery log.
Adapters only: services/webhooks.py decides and does; services/webhook_delivery.py sends. A write token is needed
for all of them; a webhook is its owner's alone (another user's answers 404 like a missing one).

GET    /api/settings/webhooks                        your webhooks: [{id, url, watched, domains, secret, disabled}]
POST   /api/settings/webhooks                        {"url", "watched": [{"type", "name"}], "domains"?, "secret"?}
GET    /api/settings/webhooks/{id}                   {"webhook": {...}}
POST   /api/settings/webhooks/{id}                   {"url"?, "watched"?, "domains"?, "secret"?}: update
DELETE /api/settings/webhooks/{id}                   delete (with its delivery log)
POST   /api/settings/webhooks/{id}/enable|disable    {"webhook": {...}}; enabling resends its failed deliveries
GET    /api/settings/webhooks/{id}/deliveries[?limit=&before=&status=]   the delivery log, newest first
POST   /api/settings/webhooks/{id}/deliveries/{delivery}/resend          send one again
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services import webhooks as service
from inhouse.services.webhooks import DeliveryRecord, WebhookRecord
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_ID, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import Router

BASE = "/api/settings/webhooks"
HOOK = BASE + r"/(?P<id>[^/]+)"


def webhook_json(h: WebhookRecord) -> dict[str, Any]:
    """The keys huggingface_hub's WebhookInfo reads, plus when it was created and changed."""
    return {"id": h.public_id, "url": h.url, "job": None, "watched": h.watched, "domains": h.domains,
            "secret": h.secret, "disabled": h.disabled, "createdAt": iso(h.created_at),
            "updatedAt": iso(h.updated_at)}


def delivery_json(d: DeliveryRecord, *, payload: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(d.id), "event": d.event, "status": d.status, "attempts": d.attempts,
        "nextAttemptAt": iso(d.next_attempt_at) if d.status == "pending" else None,
        "responseStatus": d.last_status, "error": d.last_error, "createdAt": iso(d.created_at),
        "deliveredAt": iso(d.delivered_at)}
    if payload:
        out["payload"] = json.loads(d.payload)
    return out


def _refuse_jobs(body: dict[str, Any]) -> None:
    if "jobSourceId" in body or "secrets" in body:
        raise BadRequest("Webhooks that start a Job are not served by inhouse; give the webhook a 'url' and start "
                         "the work from your receiver.")


async def list_webhooks(ctx: Ctx) -> Response:
    found = await ctx.run(service.list_mine, ctx.stores, await ctx.principal())
    return json_response([webhook_json(h) for h in found])


async def create_webhook(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    _refuse_jobs(body)
    hook = await ctx.run(service.create, ctx.stores, await ctx.principal(), url=body.get("url"),
                         watched=body.get("watched"), domains=body.get("domains", list(service.DOMAINS)),
                         secret=body.get("secret"))
    return json_response({"webhook": webhook_json(hook)})


async def get_webhook(ctx: Ctx) -> Response:
    hook = await ctx.run(service.get, ctx.stores, await ctx.principal(), ctx.params["id"])
    return json_response({"webhook": webhook_json(hook)})


async def update_webhook(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    _refuse_jobs(body)
    hook = await ctx.run(service.update, ctx.stores, await ctx.principal(), ctx.params["id"], url=body.get("url"),
                         watched=body.get("watched"), domains=body.get("domains"), secret=body.get("secret"))
    return json_response({"webhook": webhook_json(hook)})


async def enable_webhook(ctx: Ctx) -> Response:
    hook = await ctx.run(service.set_disabled, ctx.stores, await ctx.principal(), ctx.params["id"], False)
    return json_response({"webhook": webhook_json(hook)})


async def disable_webhook(ctx: Ctx) -> Response:
    hook = await ctx.run(service.set_disabled, ctx.stores, await ctx.principal(), ctx.params["id"], True)
    return json_response({"webhook": webhook_json(hook)})


async def delete_webhook(ctx: Ctx) -> Response:
    await ctx.run(service.delete, ctx.stores, await ctx.principal(), ctx.params["id"])
    return json_response({"success": True})


async def list_deliveries(ctx: Ctx) -> Response:
    before = query_int(ctx.request, "before", default=0, low=0, high=MAX_ID) or None
    limit = query_int(ctx.request, "limit", default=50, low=1, high=service.MAX_LOG_PAGE, clamp=True)
    status = ctx.request.query_params.get("status") or None
    found = await ctx.run(service.deliveries, ctx.stores, await ctx.principal(), ctx.params["id"], before=before,
                          limit=limit, status=status)
    return json_response([delivery_json(d, payload=True) for d in found])


async def resend_delivery(ctx: Ctx) -> Response:
    delivery_id = parse_int(ctx.params["delivery"], "delivery id (from the delivery log)", low=1, high=MAX_ID)
    found = await ctx.run(service.resend, ctx.stores, await ctx.principal(), ctx.params["id"], delivery_id)
    return json_response(delivery_json(found, payload=False))


def register(router: Router) -> None:
    router.add("GET", BASE, list_webhooks)
    router.add("POST", BASE, create_webhook)
    router.add("GET", HOOK, get_webhook)
    router.add("POST", HOOK, update_webhook)
    router.add("DELETE", HOOK, delete_webhook)
    router.add("POST", HOOK + "/enable", enable_webhook)
    router.add("POST", HOOK + "/disable", disable_webhook)
    router.add("GET", HOOK + "/deliveries", list_deliveries)
    router.add("POST", HOOK + r"/deliveries/(?P<delivery>[^/]+)/resend", resend_delivery)
