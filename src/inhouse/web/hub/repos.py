"""Hub API: whoami, repo create/delete/move/settings, repo info and listings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from inhouse.errors import BadRequest, Unauthorized
from inhouse.services import info as info_service
from inhouse.services import repos as repo_service
from inhouse.services import users as user_service
from inhouse.vocabulary import RepoType
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.hub.render import info_json
from inhouse.web.params import MAX_OFFSET, query_int
from inhouse.web.responses import json_response
from inhouse.web.routing import API_REPO, Router

PAGE_SIZE = 1000
FULL_PAGE_SIZE = 100  # repos per page of a `full=True` listing (their files are listed too)
SORTS = {"lastModified": "last_modified", "last_modified": "last_modified", "createdAt": "created_at",
         "created_at": "created_at", "downloads": "downloads", "likes": "likes", "trendingScore": "trending_score",
         "trending_score": "trending_score", "id": "id"}


async def whoami(ctx: Ctx) -> Response:
    p = await ctx.principal()
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    return json_response({
        "type": "user", "id": str(p.user_id), "name": p.name, "fullname": p.fullname, "email": p.email,
        "isPro": False, "canPay": False,
        "orgs": [{"type": "org", "name": n, "fullname": f, "roleInOrg": r}
                 for n, f, r in await ctx.run(user_service.orgs_of, ctx.stores, p)], "emailVerified": p.email is not None,
        "auth": {"type": "access_token", "accessToken": {"displayName": p.token_name, "role": p.role}},
    })


async def create_repo(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("'name' is required: the repo name without its namespace.")
    org = body.get("organization")
    visibility = body.get("visibility")
    private: bool | None = None  # neither said: the organisation's (or the site's) default decides
    if visibility is not None:
        if visibility not in ("public", "private", "protected"):
            raise BadRequest("'visibility' must be \"public\" or \"private\".")
        private = visibility != "public"
    elif isinstance(body.get("private"), bool):
        private = body["private"]
    p = await ctx.principal()
    namespace = org if isinstance(org, str) else None
    repo_type = RepoType.parse(body.get("type"))
    # Like the Hub, a 409 (RepoExists) names the existing repo: create_repo(exist_ok=True) reads its "url".
    repo = await ctx.run(repo_service.create, ctx.stores, p, repo_type=repo_type, namespace=namespace,
                         name=name, private=private)
    url = f"{ctx.base_url}/{repo.url_path}"
    return json_response({"url": url, "name": repo.repo_id, "id": str(repo.id)})


def _repo_from_body(body: dict[str, Any]) -> tuple[RepoType, str | None, str]:
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("'name' is required.")
    org = body.get("organization")
    return RepoType.parse(body.get("type")), org if isinstance(org, str) else None, name


async def delete_repo(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    repo_type, org, name = _repo_from_body(body)
    p = await ctx.principal()
    await ctx.run(repo_service.delete, ctx.stores, p, repo_type, org or p.name or "", name)
    return json_response({"success": True})


async def move_repo(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    src, dst = body.get("fromRepo"), body.get("toRepo")
    if not isinstance(src, str) or not isinstance(dst, str):
        raise BadRequest("'fromRepo' and 'toRepo' are required, as 'namespace/name'.")
    p = await ctx.principal()
    repo = await ctx.run(repo_service.move, ctx.stores, p, RepoType.parse(body.get("type")), src, dst)
    return json_response({"url": f"{ctx.base_url}/{repo.url_path}"})


async def update_settings(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    private = body.get("private")
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private", "protected"):
            raise BadRequest("'visibility' must be \"public\" or \"private\".")
        private = visibility != "public"
    await ctx.run(repo_service.update_settings, ctx.stores, await ctx.principal(), repo_name(ctx),
                  private=private if isinstance(private, bool) else None, gated=body.get("gated"))
    return json_response({"success": True})


async def repo_info(ctx: Ctx) -> Response:
    expand = ctx.query_list("expand")
    blobs = ctx.query_bool("blobs")
    security = ctx.query_bool("securityStatus") or "securityRepoStatus" in expand
    with_files = not expand or "siblings" in expand or "usedStorage" in expand or security
    view = await ctx.run(info_service.read, ctx.stores, await ctx.principal(), repo_name(ctx),
                         ctx.params.get("rev"), with_files=with_files,
                         eval_results="evalResults" in expand and ctx.repo_type is RepoType.MODEL,
                         security=security)
    return json_response(info_json(view, blobs=blobs, expand=expand, security=security))


async def list_repos(ctx: Ctx) -> Response:
    repo_type = ctx.repo_type
    q = ctx.request.query_params
    page = query_int(ctx.request, "limit", default=PAGE_SIZE, low=1, high=PAGE_SIZE, clamp=True)
    offset = query_int(ctx.request, "cursor", default=0, low=0, high=MAX_OFFSET)
    sort = q.get("sort") or "lastModified"
    if sort not in SORTS:
        raise BadRequest(f"Invalid sort '{sort}': use one of lastModified, createdAt, downloads, likes, trendingScore.")
    direction = q.get("direction")
    descending = direction != "1"
    expand = ctx.query_list("expand")
    full = ctx.query_bool("full") or "siblings" in expand
    if full:
        page = min(page, FULL_PAGE_SIZE)  # each repo's files are read: smaller pages
    gated = _optional_bool(q.get("gated"), "gated")
    p = await ctx.principal()
    filters = ctx.query_list("filter") + [v for k in ("pipeline_tag", "library") for v in q.getlist(k)]
    repos = await ctx.run(repo_service.search, ctx.stores, p, repo_type=repo_type, search=ctx.query_list("search"),
                          author=q.get("author"), tags=filters, sort=SORTS[sort], descending=descending,
                          limit=page + 1, offset=offset, gated=gated)
    more = len(repos) > page
    repos = repos[:page]
    if full:  # the page ends early when its repos' files reach the budget: the next one starts there
        views = await ctx.run(repo_service.with_files, ctx.stores, repos)
        more = more or len(views) < len(repos)
    else:
        views = [info_service.view_from_record(r) for r in repos]
    headers = {}
    if more:
        params = [(k, v) for k, v in q.multi_items() if k != "cursor"] + [("cursor", str(offset + len(views)))]
        headers["Link"] = f'<{ctx.base_url}/api/{repo_type.plural}?{urlencode(params)}>; rel="next"'
    items = [info_json(v, blobs=False, expand=expand) for v in views]
    return json_response(items, headers=headers)


def _optional_bool(raw: str | None, name: str) -> bool | None:
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise BadRequest(f"Invalid '{name}' value: use true or false (or leave it out for both).")


def register(router: Router) -> None:
    router.add("GET", "/api/whoami-v2", whoami)
    router.add("POST", "/api/repos/create", create_repo)
    router.add("DELETE", "/api/repos/delete", delete_repo)
    router.add("POST", "/api/repos/move", move_repo)
    router.add("GET", "/api/(?P<plural>models|datasets|spaces)", list_repos)
    router.add("GET", API_REPO, repo_info)
    router.add("GET", API_REPO + "/revision/(?P<rev>.+)", repo_info)
    router.add("PUT", API_REPO + "/settings", update_settings)


