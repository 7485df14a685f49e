"""Hub API: users and likes, as huggingface_hub calls them.

GET    /api/users/{user}/overview                       get_user_overview (counts only what the caller may see)
GET    /api/users/{user}/likes                          list_liked_repos (only repos the caller may see)
POST   /api/{models|datasets|spaces}/{ns}/{name}/like   like (the Hub's web page; the client has no `like`)
DELETE /api/{models|datasets|spaces}/{ns}/{name}/like   unlike
GET    /api/{models|datasets|spaces}/{ns}/{name}/likers list_repo_likers
GET    /api/{models|datasets|spaces}/{ns}/{name}/auth-check[/write]   auth_check
GET    /api/settings/repositories                       list_user_repos() (the caller's own repos, with storage)
GET    /api/organizations/{org}/settings/repositories   list_user_repos(namespace=org) (members)
GET    /api/models-tags-by-type, /api/datasets-tags-by-type   get_model_tags / get_dataset_tags
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from inhouse.services import likes as like_service
from inhouse.services import repos as repo_service
from inhouse.services import users as user_service
from inhouse.vocabulary import RepoType
from inhouse.web.context import Ctx
from inhouse.web.hub.common import cursor, next_link, repo_name
from inhouse.web.params import query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import API_REPO, Router

PAGE_SIZE = 1000


def _page(ctx: Ctx) -> tuple[int, int]:
    return cursor(ctx), query_int(ctx.request, "limit", default=PAGE_SIZE, low=1, high=PAGE_SIZE, clamp=True)


def _paged(ctx: Ctx, items: list[Any], offset: int, more: bool) -> Response:
    headers = {"Link": next_link(ctx, offset + len(items))} if more else None
    return json_response(items, headers=headers)


async def overview(ctx: Ctx) -> Response:
    v = await ctx.run(user_service.overview, ctx.stores, await ctx.principal(), ctx.params["user"])
    u = v.user
    return json_response({
        "_id": str(u.id), "type": "user", "user": u.name, "fullname": u.fullname, "avatarUrl": "",
        "isPro": False, "createdAt": iso(u.created_at),
        "numModels": v.num_repos.get(RepoType.MODEL, 0), "numDatasets": v.num_repos.get(RepoType.DATASET, 0),
        "numSpaces": v.num_repos.get(RepoType.SPACE, 0), "numLikes": v.num_likes,
        "numFollowers": 0, "numFollowing": 0,
        "orgs": [{"type": "org", "name": n, "fullname": f, "avatarUrl": ""} for n, f in v.orgs],
    })


async def liked_repos(ctx: Ctx) -> Response:
    offset, limit = _page(ctx)
    found, more = await ctx.run(like_service.liked_repos, ctx.stores, await ctx.principal(), ctx.params["user"],
                                offset=offset, limit=limit)
    items = [{"createdAt": iso(x.liked_at),
              "repo": {"name": x.repo.repo_id, "type": x.repo.type.value, "private": x.repo.private}}
             for x in found]
    return _paged(ctx, items, offset, more)


async def like(ctx: Ctx) -> Response:
    await ctx.run(like_service.like, ctx.stores, await ctx.principal(), repo_name(ctx))
    return json_response({"success": True})


async def unlike(ctx: Ctx) -> Response:
    await ctx.run(like_service.unlike, ctx.stores, await ctx.principal(), repo_name(ctx))
    return json_response({"success": True})


async def likers(ctx: Ctx) -> Response:
    offset, limit = _page(ctx)
    found, more = await ctx.run(like_service.likers, ctx.stores, await ctx.principal(), repo_name(ctx),
                                offset=offset, limit=limit)
    items = [{"user": x.name, "fullname": x.fullname, "avatarUrl": "", "type": x.kind, "isPro": False}
             for x in found]
    return _paged(ctx, items, offset, more)


async def auth_check(ctx: Ctx) -> Response:
    write = ctx.request.url.path.endswith("/write")
    await ctx.run(repo_service.auth_check, ctx.stores, await ctx.principal(), repo_name(ctx), write=write)
    return json_response({"success": True})


async def repositories(ctx: Ctx) -> Response:
    offset, limit = _page(ctx)
    found, total, more = await ctx.run(user_service.repositories, ctx.stores, await ctx.principal(),
                                       ctx.params.get("org"), offset=offset, limit=limit)
    items = [{"id": x.repo.repo_id, "type": x.repo.type.value, "updatedAt": iso(x.repo.last_modified),
              "visibility": "private" if x.repo.private else "public", "storage": x.storage,
              "storagePercent": round(100 * x.storage / total, 2) if total else 0} for x in found]
    return _paged(ctx, items, offset, more)


async def tags_by_type(ctx: Ctx) -> Response:
    repo_type = RepoType.DATASET if ctx.request.url.path.startswith("/api/datasets") else RepoType.MODEL
    found = await ctx.run(repo_service.tags_by_type, ctx.stores, await ctx.principal(), repo_type)
    return json_response({kind: [{"id": t.id, "label": t.label, "type": t.type} for t in tags]
                          for kind, tags in found.items()})


def register(router: Router) -> None:
    router.add("GET", "/api/users/(?P<user>[^/]+)/overview", overview)
    router.add("GET", "/api/users/(?P<user>[^/]+)/likes", liked_repos)
    router.add("POST", API_REPO + "/like", like)
    router.add("DELETE", API_REPO + "/like", unlike)
    router.add("GET", API_REPO + "/likers", likers)
    router.add("GET", API_REPO + "/auth-check(?:/write)?", auth_check)
    router.add("GET", "/api/settings/repositories", repositories)
    router.add("GET", "/api/organizations/(?P<org>[^/]+)/settings/repositories", repositories)
    router.add("GET", "/api/(?:models|datasets)-tags-by-type", tags_by_type)
