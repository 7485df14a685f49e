"""JSON API: an organisation's policy (YAML, versioned). Adapters only: services/governance/policies.py decides and
does. Members read, admins write; a mistake in a document is a 400 naming its line and column.

GET  /api/orgs/{org}/policy                     {"org", "version", "document", "message", "author", "createdAt",
                                                 "default", "policy": {...parsed, defaults filled}, "note"}
PUT  /api/orgs/{org}/policy                     {"document": "<yaml>", "message"?, "parentVersion"?}, or the YAML
                                                 itself with Content-Type application/yaml (message and
                                                 parentVersion then as query parameters): a new version; the
                                                 answer adds "warnings" and says it is not retroactive
GET  /api/orgs/{org}/policy/versions[?limit=&before=]   {"versions": [{"version", "message", "author", "createdAt"}]}
GET  /api/orgs/{org}/policy/versions/{version}  one version, as GET /policy answers it
POST /api/orgs/{org}/policy/validate            a document (as PUT takes it): {"valid": true, "warnings", "policy"}
                                                 or the 400 PUT would answer; nothing is written
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services.governance import policies as service
from inhouse.services.governance.policy_doc import MAX_DOCUMENT_BYTES, Policy
from inhouse.web.context import Ctx
from inhouse.web.params import MAX_ID, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import Router

ORG = r"/api/orgs/(?P<org>[^/]+)/policy"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def _version_json(v: service.PolicyVersion, *, document: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"org": v.org, "version": v.version, "message": v.message, "author": v.author,
                           "createdAt": iso(v.created_at) if v.created_at is not None else None,
                           "default": v.version == 0}
    if document:
        out["document"] = v.document
        out["policy"] = v.policy.to_json() if v.policy is not None else None
        out["note"] = service.not_retroactive(v.org)
    return out


async def _document(ctx: Ctx) -> tuple[object, object, object]:
    """(document, message, parentVersion) from a JSON object or a YAML body."""
    kind = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in YAML_TYPES:
        raw = await ctx.body(MAX_DOCUMENT_BYTES)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("The policy document is not UTF-8 text; save it as UTF-8.") from None
        parent = ctx.request.query_params.get("parentVersion")
        return text, ctx.request.query_params.get("message"), parent
    body = await ctx.json_object()
    return body.get("document"), body.get("message"), body.get("parentVersion")


def _parent(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return parse_int(value, "parentVersion", low=0, high=MAX_ID)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise BadRequest("'parentVersion' must be the version you edited (a whole number; 0: none was set).")
    return value


def _checked(policy: Policy) -> dict[str, Any]:
    return {"valid": True, "warnings": list(policy.warnings), "policy": policy.to_json()}


async def get_policy(ctx: Ctx) -> Response:
    v = await ctx.run(service.get, ctx.stores, await ctx.principal(), ctx.params["org"])
    return json_response(_version_json(v))


async def put_policy(ctx: Ctx) -> Response:
    document, message, parent = await _document(ctx)
    v = await ctx.run(service.put, ctx.stores, await ctx.principal(), ctx.params["org"], document, message,
                      parent=_parent(parent))
    out = _version_json(v)
    out["warnings"] = list(v.policy.warnings) if v.policy is not None else []
    return json_response(out)


async def list_versions(ctx: Ctx) -> Response:
    before = query_int(ctx.request, "before", default=0, low=0, high=MAX_ID) or None
    limit = query_int(ctx.request, "limit", default=50, low=1, high=service.MAX_PAGE, clamp=True)
    found = await ctx.run(service.versions, ctx.stores, await ctx.principal(), ctx.params["org"], limit=limit,
                          before=before)
    return json_response({"versions": [_version_json(v, document=False) for v in found]})


async def get_version(ctx: Ctx) -> Response:
    number = parse_int(ctx.params["version"], "policy version", low=1, high=MAX_ID)
    v = await ctx.run(service.version, ctx.stores, await ctx.principal(), ctx.params["org"], number)
    return json_response(_version_json(v))


async def validate_policy(ctx: Ctx) -> Response:
    document, _, _ = await _document(ctx)
    policy = await ctx.run(service.validate, ctx.stores, await ctx.principal(), ctx.params["org"], document)
    return json_response(_checked(policy))


def register(router: Router) -> None:
    router.add("GET", ORG, get_policy)
    router.add("PUT", ORG, put_policy)
    router.add("GET", ORG + "/versions", list_versions)
    router.add("GET", ORG + r"/versions/(?P<version>[^/]+)", get_version)
    router.add("POST", ORG + "/validate", validate_policy)
