"""JSON API: access tokens. Users manage their own, site admins anyone's (`?user=` / `"user"`).

GET    /api/tokens[?user=NAME]   list (never the secret: the hint, role, scopes, expiry, last use, state)
POST   /api/tokens               {"role": "read"|"write"|"fine-grained", "name"?, "scopes"?, "expiresInDays"?,
                                 "user"?}: the secret is in the answer's "token", shown this once
DELETE /api/tokens/{id}          revoke; takes effect on the next request
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from inhouse.errors import BadRequest, Unauthorized
from inhouse.services import users as service
from inhouse.services.records import TokenRecord
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_ID, json_number, parse_int
from inhouse.web.responses import iso, json_response
from inhouse.vocabulary import Scope, TokenRole
from inhouse.web.routing import Router


def token_json(t: TokenRecord, user: str) -> dict[str, Any]:
    now = time.time()
    state = ("revoked" if t.revoked_at is not None
             else "expired" if t.expires_at is not None and t.expires_at <= now else "active")
    return {"id": str(t.id), "user": user, "name": t.name, "role": t.role.value, "hint": t.hint,
            "scopes": [s.to_json() for s in t.scopes] if t.role is TokenRole.FINE_GRAINED else None,
            "createdAt": iso(t.created_at), "expiresAt": iso(t.expires_at), "lastUsedAt": iso(t.last_used_at),
            "revokedAt": iso(t.revoked_at), "state": state}


async def _caller_name(ctx: Ctx) -> str:
    p = await ctx.principal()
    if p.anonymous or p.name is None:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    return p.name


async def list_tokens(ctx: Ctx) -> Response:
    me = await _caller_name(ctx)
    user = ctx.request.query_params.get("user") or me
    found = await ctx.run(service.list_tokens, ctx.stores, user, by=await ctx.principal())
    return json_response([token_json(t, user) for t in found])


async def create_token(ctx: Ctx) -> Response:
    me = await _caller_name(ctx)
    body = await ctx.json_object()
    user = body.get("user") or me
    role, name, scopes, days = body.get("role"), body.get("name"), body.get("scopes"), body.get("expiresInDays")
    if not isinstance(user, str):
        raise BadRequest("'user' must be a user name.")
    if not isinstance(role, str):
        raise BadRequest("'role' is required: \"read\", \"write\" or \"fine-grained\".")
    token_role = TokenRole.parse(role)
    if name is not None and not isinstance(name, str):
        raise BadRequest("'name' must be a string: a label to recognise the token by.")
    lifetime_s = None
    if days is not None:
        lifetime_s = json_number(days, "expiresInDays", low=0, high=service.MAX_TOKEN_DAYS) * 86400
    if scopes is not None and token_role is not TokenRole.FINE_GRAINED:
        raise BadRequest("Only fine-grained tokens take 'scopes'; use \"role\": \"fine-grained\".")
    parsed = Scope.parse_list(scopes) if token_role is TokenRole.FINE_GRAINED else ()
    tok, secret = await ctx.run(service.create_token, ctx.stores, user, role=token_role, name=name,
                                expires_in_s=lifetime_s, scopes=parsed,
                                by=await ctx.principal())
    return json_response({**token_json(tok, user), "token": secret})


async def revoke_token(ctx: Ctx) -> Response:
    await _caller_name(ctx)
    token_id = parse_int(ctx.params["id"], "token id (from GET /api/tokens)", low=1, high=MAX_ID)
    await ctx.run(service.revoke_token, ctx.stores, token_id, by=await ctx.principal())
    return json_response({"success": True})


def register(router: Router) -> None:
    router.add("GET", "/api/tokens", list_tokens)
    router.add("POST", "/api/tokens", create_token)
    router.add("DELETE", "/api/tokens/(?P<id>[^/]+)", revoke_token)
