"""Hub API: gated-repo access requests — ask (API and the Hub's web form), list, handle, grant."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services import access_requests as service
from inhouse.services.records import AccessRequest, RepoRecord
from inhouse.web.context import Ctx
from inhouse.web.hub.common import cursor, next_link, repo_name
from inhouse.web.jsonbody import parse_json
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import API_REPO, WEB_REPO, Router

BASE = API_REPO + "/user-access-request"
PAGE = 100  # requests per page of a listing; the next page is in the Link header


def _entry(repo: RepoRecord, r: AccessRequest) -> dict[str, object]:
    out: dict[str, object] = {
        "requestId": service.request_id(repo, r.user_id),
        "user": {"user": r.user, "fullname": r.fullname, "email": r.email, "type": "user"},
        "status": r.status, "timestamp": iso(r.created_at), "updatedAt": iso(r.updated_at),
    }
    if r.fields:
        out["fields"] = r.fields
    if r.reason:
        out["rejectionReason"] = r.reason
    return out


async def _ask(ctx: Ctx, fields: object) -> Response:
    repo, status = await ctx.run(service.ask, ctx.stores, await ctx.principal(), repo_name(ctx), fields=fields)
    return json_response({"status": status, "repo": {"name": repo.repo_id, "type": repo.type}})


async def ask(ctx: Ctx) -> Response:
    """POST /api/{t}/{repo}/user-access-request with an optional JSON body {"fields": {...}}."""
    body = await ctx.json_object(required=False)
    return await _ask(ctx, body.get("fields"))


async def ask_form(ctx: Ctx) -> Response:
    """POST /{repo}/ask-access: the Hub's web form (url-encoded answers, or the same JSON as the API route)."""
    raw = await ctx.body(ctx.settings.max_json_bytes)
    if "json" in (ctx.request.headers.get("content-type") or ""):
        body = parse_json(raw or b"{}")
        if not isinstance(body, dict):
            raise BadRequest("Expected a JSON object as the request body.")
        fields = body.get("fields", {k: v for k, v in body.items() if k != "fields"})
    else:
        try:
            fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            raise BadRequest("The form answers must be UTF-8, url-encoded.") from None
    return await _ask(ctx, fields)


async def listing(ctx: Ctx) -> Response:
    start = cursor(ctx)
    repo, items = await ctx.run(service.listing, ctx.stores, await ctx.principal(), repo_name(ctx),
                                ctx.params["status"], offset=start, limit=PAGE + 1)
    headers = {"Link": next_link(ctx, start + PAGE)} if len(items) > PAGE else {}
    return json_response([_entry(repo, r) for r in items[:PAGE]], headers=headers)


async def handle(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    await ctx.run(service.handle, ctx.stores, await ctx.principal(), repo_name(ctx), status=body.get("status"),
                  user=body.get("user"), rid=body.get("requestId"), reason=body.get("rejectionReason"))
    return json_response({"success": True})


async def grant(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    rid = await ctx.run(service.grant, ctx.stores, await ctx.principal(), repo_name(ctx), user=body.get("user"))
    return json_response({"success": True, "requestId": rid, "status": "accepted"})


def register(router: Router) -> None:
    router.add("POST", BASE, ask)
    router.add("POST", BASE + "/handle", handle)
    router.add("POST", BASE + "/grant", grant)
    router.add("GET", BASE + r"/(?P<status>[a-z]+)", listing)
    router.add("POST", WEB_REPO + "/ask-access", ask_form)
