"""Hub API: discussions and pull requests (open, read, list, comment, edit and hide comments, rename, status,
merge) and comment attachments (POST /uploads, as huggingface_hub's upload_attachment calls it)."""

from __future__ import annotations

import html
from typing import Any

from starlette.responses import Response, StreamingResponse

from inhouse.errors import BadRequest
from inhouse.services import attachments
from inhouse.services import discussions as service
from inhouse.services.records import DiscussionRecord, EventRecord, RepoRecord
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.params import MAX_ID, MAX_OFFSET, parse_int, query_int
from inhouse.web.responses import iso, json_response
from inhouse.web.routing import API_REPO, Router


def _summary(d: DiscussionRecord, repo: RepoRecord, comments: int) -> dict[str, Any]:
    return {
        "num": d.num, "title": d.title, "status": d.status, "isPullRequest": d.is_pr, "createdAt": iso(d.created_at),
        "author": {"name": d.author or "deleted", "type": "user"}, "repo": {"name": repo.repo_id, "type": repo.type},
        "pinned": False, "numComments": comments, "topReactions": [],
    }


def _user(name: str | None) -> dict[str, str]:
    return {"name": name or "deleted", "type": "user"}


def event_json(e: EventRecord) -> dict[str, Any]:
    """An event as the Hub shows it (huggingface_hub's deserialize_event reads it). Comments are stored raw; the
    'html' is that text escaped, not rendered Markdown."""
    out: dict[str, Any] = {"id": str(e.id), "type": e.type, "createdAt": iso(e.created_at), "author": _user(e.author)}
    if e.type != "comment":
        out["data"] = {k: v for k, v in e.data.items() if k != "base"}
        return out
    raw = str(e.data.get("content", ""))
    out["data"] = {
        "latest": {"raw": raw, "html": f"<p>{html.escape(raw)}</p>",
                   "updatedAt": iso(float(e.data.get("updatedAt", e.created_at))),
                   "author": _user(e.data.get("editedBy") or e.author)},
        "numEdits": int(e.data.get("numEdits", 0)), "editors": list(e.data.get("editors", [])),
        "edited": int(e.data.get("numEdits", 0)) > 0, "hidden": bool(e.data.get("hidden", False)),
        "history": [{"raw": h.get("raw", ""), "updatedAt": iso(float(h.get("updatedAt", e.created_at))),
                     "author": _user(h.get("author"))} for h in e.data.get("history", [])],
    }
    if e.data.get("hidden"):
        out["data"]["hiddenBy"] = e.data.get("hiddenBy")
    return out


async def create(ctx: Ctx) -> Response:
    body = await ctx.json_object()
    title, desc = body.get("title"), body.get("description") or ""
    if not isinstance(title, str) or not isinstance(desc, str):
        raise BadRequest("'title' (and optional 'description') must be strings.")
    repo, d = await ctx.run(service.create, ctx.stores, await ctx.principal(), repo_name(ctx), title=title,
                            description=desc, pull_request=body.get("pullRequest") is True)
    return json_response({"num": d.num, "pullRequest": d.is_pr,
                          "url": f"{ctx.base_url}/{repo.url_path}/discussions/{d.num}"})


def _num(ctx: Ctx) -> int:
    return parse_int(ctx.params["num"], "discussion number", low=1, high=MAX_ID)


async def detail(ctx: Ctx) -> Response:
    repo, det = await ctx.run(service.read, ctx.stores, await ctx.principal(), repo_name(ctx), _num(ctx),
                              with_diff=ctx.query_bool("diff"))
    d = det.discussion
    out = _summary(d, repo, sum(1 for e in det.events if e.type == "comment"))
    out["events"] = [event_json(e) for e in det.events]
    if d.is_pr and det.pr is not None:
        out["changes"] = {"base": d.base_ref, "mergeCommitId": d.merge_commit, "head": det.head,
                          "mergeBase": det.pr.merge_base, "baseHead": det.pr.base_head}
        out["filesWithConflicts"] = det.pr.conflicts
        if det.pr.diff is not None:
            out["diff"] = det.pr.diff
    return json_response(out)


async def _body(ctx: Ctx) -> dict[str, Any]:
    return await ctx.json_object(required=False)


async def comment(ctx: Ctx) -> Response:
    body = await _body(ctx)
    _, event = await ctx.run(service.comment, ctx.stores, await ctx.principal(), repo_name(ctx), _num(ctx),
                             body.get("comment"))
    return json_response({"newMessage": event_json(event)})


async def edit_comment(ctx: Ctx) -> Response:
    body = await _body(ctx)
    _, event = await ctx.run(service.edit_comment, ctx.stores, await ctx.principal(), repo_name(ctx), _num(ctx),
                             ctx.params["cid"], body.get("content"))
    return json_response({"updatedComment": event_json(event)})


async def hide_comment(ctx: Ctx) -> Response:
    _, event = await ctx.run(service.hide_comment, ctx.stores, await ctx.principal(), repo_name(ctx), _num(ctx),
                             ctx.params["cid"])
    return json_response({"updatedComment": event_json(event)})


async def rename(ctx: Ctx) -> Response:
    body = await _body(ctx)
    _, event = await ctx.run(service.rename, ctx.stores, await ctx.principal(), repo_name(ctx), _num(ctx),
                             body.get("title"))
    return json_response({"newTitle": event_json(event)})


async def status(ctx: Ctx) -> Response:
    body = await _body(ctx)
    _, event = await ctx.run(service.change_status, ctx.stores, await ctx.principal(), repo_name(ctx), _num(ctx),
                             body.get("status"), body.get("comment"))
    return json_response({"newStatus": event_json(event)})


async def merge(ctx: Ctx) -> Response:
    body = await _body(ctx)
    sha = await ctx.run(service.merge, ctx.stores, await ctx.principal(), repo_name(ctx), _num(ctx),
                        body.get("comment"))
    return json_response({"mergeCommitId": sha})


async def upload_attachment(ctx: Ctx) -> Response:
    declared = ctx.request.headers.get("content-length")
    name = await attachments.upload(ctx.stores, await ctx.principal(), ctx.request.headers.get("content-type"),
                                    int(declared) if declared and declared.isdigit() else None,
                                    ctx.request.stream())
    return Response(f"{ctx.base_url}/uploads/{name}", media_type="text/plain")


async def read_attachment(ctx: Ctx) -> Response:
    found = await ctx.run(attachments.open_for, ctx.stores, await ctx.principal(), ctx.params["file"])
    return StreamingResponse(found.chunks, media_type=found.content_type, headers={
        "Content-Length": str(found.size), "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=31536000, immutable",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


async def listing(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    page = query_int(ctx.request, "p", default=0, low=0, high=MAX_OFFSET // service.PAGE)
    found = await ctx.run(service.list_for, ctx.stores, await ctx.principal(), repo_name(ctx), page=page,
                          kind=q.get("type"), status=q.get("status"), author=q.get("author"))
    return json_response({"discussions": [_summary(d, found.repo, found.comments.get(d.id, 0)) for d in found.items],
                          "count": found.count, "start": page * service.PAGE,
                          "numClosedDiscussions": found.closed})


def register(router: Router) -> None:
    router.add("POST", API_REPO + "/discussions", create)
    router.add("GET", API_REPO + "/discussions", listing)
    router.add("GET", API_REPO + r"/discussions/(?P<num>\d+)", detail)
    one = API_REPO + r"/discussions/(?P<num>\d+)"
    router.add("POST", one + "/comment", comment)
    router.add("POST", one + r"/comment/(?P<cid>[^/]+)/edit", edit_comment)
    router.add("POST", one + r"/comment/(?P<cid>[^/]+)/hide", hide_comment)
    router.add("POST", one + "/title", rename)
    router.add("POST", one + "/status", status)
    router.add("POST", one + "/merge", merge)
    router.add("POST", "/uploads", upload_attachment)
    router.add("GET", r"/uploads/(?P<file>[^/]+)", read_attachment)
