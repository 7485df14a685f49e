"""JSON API: organisations, their members and resource groups. Adapters only: services/orgs.py decides and does.

POST   /api/organizations                                      {"name", "fullname"?}: create; you become its admin
GET    /api/organizations/{org}/overview                       anyone (huggingface_hub get_organization_overview)
GET    /api/organizations/{org}/settings                       members: {"defaultPrivate", "newReposPrivate"}
PUT    /api/organizations/{org}/settings                       {"defaultPrivate": true|false|null} (org admins)
GET    /api/organizations/{org}/members                        members (huggingface_hub list_organization_members)
PUT    /api/organizations/{org}/members/{user}                 {"role"}: add or change a member (org admins)
DELETE /api/organizations/{org}/members/{user}                 remove a member (org admins, or oneself to leave)
GET    /api/organizations/{org}/resource-groups                members: groups with their members and repos
POST   /api/organizations/{org}/resource-groups                {"name", "description"?} (org admins)
GET    /api/organizations/{org}/resource-groups/{group}        members
DELETE /api/organizations/{org}/resource-groups/{group}        org admins
PUT    /api/organizations/{org}/resource-groups/{group}/members/{user}   {"role"}
DELETE /api/organizations/{org}/resource-groups/{group}/members/{user}
PUT    /api/organizations/{org}/resource-groups/{group}/repos  {"type"?, "name": "org/repo"}: put a repo in the group
DELETE /api/organizations/{org}/resource-groups/{group}/repos  {"type"?, "name": "org/repo"}
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.services import orgs as service
from inhouse.services import users as user_service
from inhouse.services.records import Member, RepoRecord
from inhouse.vocabulary import RepoType, Role
from inhouse.web.context import Ctx
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import Router

ORG = r"/api/organizations/(?P<org>[^/]+)"
GROUP = ORG + r"/resource-groups/(?P<group>[^/]+)"


def _member(m: Member) -> dict[str, Any]:
    # the keys huggingface_hub's User(**member) reads, plus the role
    return {"type": "user", "user": m.name, "fullname": m.fullname, "avatarUrl": "", "isPro": False, "role": m.role}


def _repo(r: RepoRecord) -> dict[str, Any]:
    return {"type": r.type, "name": r.repo_id, "private": r.private}


def _group(v: service.GroupView) -> dict[str, Any]:
    g = v.group
    return {"id": str(g.id), "name": g.name, "description": g.description,
            "members": [_member(m) for m in v.members], "repos": [_repo(r) for r in v.repos]}


def _str(body: dict[str, Any], key: str, example: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{key}' is required, e.g. {{\"{key}\": \"{example}\"}}.")
    return value


async def create_org(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    fullname = body.get("fullname")
    org = await ctx.run(service.create_org, ctx.stores, _str(body, "name", "acme"),
                        fullname=fullname if isinstance(fullname, str) else "", by=await ctx.principal())
    return json_response({"type": "org", "name": org.name, "fullname": org.fullname,
                          "url": f"{ctx.base_url}/{org.name}", "createdAt": iso(org.created_at)})


async def overview(ctx: Ctx) -> Response:
    v = await ctx.run(service.get_org, ctx.stores, ctx.params["org"])
    counts = await ctx.run(user_service.org_repo_counts, ctx.stores, await ctx.principal(), v.name)
    return json_response({"type": "org", "name": v.name, "fullname": v.fullname, "avatarUrl": "",
                          "isVerified": False, "numUsers": v.num_members, "createdAt": iso(v.created_at),
                          "numModels": counts.get(RepoType.MODEL, 0), "numDatasets": counts.get(RepoType.DATASET, 0),
                          "numSpaces": counts.get(RepoType.SPACE, 0), "numFollowers": 0})


async def list_members(ctx: Ctx) -> Response:
    found = await ctx.run(service.list_members, ctx.stores, ctx.params["org"], by=await ctx.principal())
    return json_response([_member(m) for m in found])


async def set_member(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    m = await ctx.run(service.set_member, ctx.stores, ctx.params["org"], ctx.params["user"],
                      Role.parse(_str(body, "role", "write")), by=await ctx.principal())
    return json_response(_member(m))


async def remove_member(ctx: Ctx) -> Response:
    await ctx.run(service.remove_member, ctx.stores, ctx.params["org"], ctx.params["user"],
                  by=await ctx.principal())
    return json_response({"success": True})


async def list_groups(ctx: Ctx) -> Response:
    found = await ctx.run(service.list_groups, ctx.stores, ctx.params["org"], by=await ctx.principal())
    return json_response([_group(v) for v in found])


async def create_group(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    description = body.get("description")
    p = await ctx.principal()
    g = await ctx.run(service.create_group, ctx.stores, ctx.params["org"], _str(body, "name", "research"),
                      description=description if isinstance(description, str) else "", by=p)
    v = await ctx.run(service.get_group, ctx.stores, ctx.params["org"], g.name, by=p)
    return json_response(_group(v))


async def get_group(ctx: Ctx) -> Response:
    v = await ctx.run(service.get_group, ctx.stores, ctx.params["org"], ctx.params["group"],
                      by=await ctx.principal())
    return json_response(_group(v))


async def delete_group(ctx: Ctx) -> Response:
    await ctx.run(service.delete_group, ctx.stores, ctx.params["org"], ctx.params["group"],
                  by=await ctx.principal())
    return json_response({"success": True})


async def set_group_member(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    m = await ctx.run(service.set_group_member, ctx.stores, ctx.params["org"], ctx.params["group"],
                      ctx.params["user"], Role.parse(_str(body, "role", "write")), by=await ctx.principal())
    return json_response(_member(m))


async def remove_group_member(ctx: Ctx) -> Response:
    await ctx.run(service.remove_group_member, ctx.stores, ctx.params["org"], ctx.params["group"],
                  ctx.params["user"], by=await ctx.principal())
    return json_response({"success": True})


async def _group_repo_args(ctx: Ctx) -> tuple[str, RepoType]:
    body = await ctx.json_object()
    repo_type = RepoType.parse(body.get("type"))
    return _str(body, "name", f"{ctx.params['org']}/my-model"), repo_type


async def add_group_repo(ctx: Ctx) -> Response:
    name, repo_type = await _group_repo_args(ctx)
    repo = await ctx.run(service.add_group_repo, ctx.stores, ctx.params["org"], ctx.params["group"], name,
                         repo_type=repo_type, by=await ctx.principal())
    return json_response(_repo(repo))


async def remove_group_repo(ctx: Ctx) -> Response:
    name, repo_type = await _group_repo_args(ctx)
    await ctx.run(service.remove_group_repo, ctx.stores, ctx.params["org"], ctx.params["group"], name,
                  repo_type=repo_type, by=await ctx.principal())
    return json_response({"success": True})


def _settings(v: service.OrgSettings) -> dict[str, Any]:
    return {"defaultPrivate": v.default_private, "newReposPrivate": v.new_repos_private}


async def get_settings(ctx: Ctx) -> Response:
    v = await ctx.run(service.get_settings, ctx.stores, ctx.params["org"], by=await ctx.principal())
    return json_response(_settings(v))


async def update_settings(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    if "defaultPrivate" not in body or not (body["defaultPrivate"] is None or isinstance(body["defaultPrivate"], bool)):
        raise BadRequest('\'defaultPrivate\' is required: true (new repos are private unless asked otherwise), false, '
                         'or null (follow the site-wide INHOUSE_NEW_REPOS_PRIVATE), e.g. {"defaultPrivate": true}.')
    v = await ctx.run(service.set_default_private, ctx.stores, ctx.params["org"], body["defaultPrivate"],
                      by=await ctx.principal())
    return json_response(_settings(v))


def register(router: Router) -> None:
    router.add("POST", "/api/organizations", create_org)
    router.add("GET", ORG + "/overview", overview)
    router.add("GET", ORG + "/settings", get_settings)
    router.add("PUT", ORG + "/settings", update_settings)
    router.add("GET", ORG + "/members", list_members)
    router.add("PUT", ORG + "/members/(?P<user>[^/]+)", set_member)
    router.add("DELETE", ORG + "/members/(?P<user>[^/]+)", remove_member)
    router.add("GET", ORG + "/resource-groups", list_groups)
    router.add("POST", ORG + "/resource-groups", create_group)
    router.add("GET", GROUP, get_group)
    router.add("DELETE", GROUP, delete_group)
    router.add("PUT", GROUP + "/members/(?P<user>[^/]+)", set_group_member)
    router.add("DELETE", GROUP + "/members/(?P<user>[^/]+)", remove_group_member)
    router.add("PUT", GROUP + "/repos", add_group_repo)
    router.add("DELETE", GROUP + "/repos", remove_group_repo)
