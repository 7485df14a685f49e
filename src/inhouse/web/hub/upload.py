"""Uploads: preupload (which path goes as a large file), the NDJSON commit, and validate-yaml."""

from __future__ import annotations

import base64
import binascii

from starlette.responses import Response

from inhouse.errors import BadRequest
from inhouse.names import check_path
from inhouse.services import cards
from inhouse.services import commits as commit_service
from inhouse.services import uploads as upload_service
from inhouse.vocabulary import RepoType
from inhouse.web.context import Ctx
from inhouse.web.hub.commit_body import read_commit_body
from inhouse.web.hub.common import repo_name
from inhouse.web.responses import json_response
from inhouse.web.routing import API_REPO, Router

MAX_PREUPLOAD_FILES = 1000


async def preupload(ctx: Ctx) -> Response:
    create_pr = ctx.query_bool("create_pr")
    body = await ctx.json_object()
    files = body.get("files")
    if not isinstance(files, list) or len(files) > MAX_PREUPLOAD_FILES:
        raise BadRequest(f"'files' must be a list of at most {MAX_PREUPLOAD_FILES} entries.")
    asks: list[upload_service.Ask] = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise BadRequest("Each entry of 'files' needs a 'path'.")
        size = f.get("size", 0)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"Invalid size for '{f['path']}': give the file size in bytes.")
        try:
            sample = base64.b64decode(f.get("sample") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):  # TypeError: a number or a list, not a string
            raise BadRequest(f"The sample of '{f['path']}' is not valid base64.") from None
        asks.append(upload_service.Ask(check_path(f["path"]), size, sample))
    git_ignore = body.get("gitIgnore")
    answers = await ctx.run(upload_service.preupload, ctx.stores, await ctx.principal(), repo_name(ctx),
                            ctx.params["rev"], asks, git_ignore if isinstance(git_ignore, str) else None,
                            create_pr=create_pr)
    return json_response({"files": [
        {"path": a.path, "uploadMode": a.mode, "shouldIgnore": a.ignore, "oid": a.oid} for a in answers
    ], "commitOid": None})


async def commit(ctx: Ctx) -> Response:
    create_pr = ctx.query_bool("create_pr")
    revision = ctx.params["rev"]
    # Who calls, and whether they may commit there, is settled before a byte of the body is read.
    p = await ctx.principal()
    target = await ctx.run(commit_service.begin, ctx.stores, p, repo_name(ctx), revision=revision,
                           create_pr=create_pr)
    header, ops = await read_commit_body(ctx, max_bytes=ctx.settings.max_commit_bytes,
                                         max_ops=ctx.settings.max_commit_operations)
    summary = header.get("summary") or ""
    description = header.get("description") or ""
    parent = header.get("parentCommit")
    if not isinstance(summary, str) or not isinstance(description, str) or (
            parent is not None and not isinstance(parent, str)):
        raise BadRequest("'summary', 'description' and 'parentCommit' must be strings.")
    result = await ctx.run(commit_service.commit, ctx.stores, p, target.repo, revision=revision, ops=ops,
                           summary=summary, description=description, parent_commit=parent or None,
                           create_pr=create_pr)
    base = f"{ctx.base_url}/{target.repo.url_path}"
    return json_response({
        "success": True, "commitOid": result.oid, "commitUrl": f"{base}/commit/{result.oid}",
        "commitMessage": summary, "hookOutput": "",
        "pullRequestUrl": f"{base}/discussions/{result.pr_num}" if result.pr_num else None,
    })


async def validate_yaml(ctx: Ctx) -> Response:
    try:
        body = await ctx.json_object()
        content = body.get("content")
        if not isinstance(content, str):
            raise BadRequest("Send {\"content\": <README text>, \"repoType\": \"model\"|\"dataset\"|\"space\"}.")
        repo_type = RepoType.parse(body.get("repoType"))
    except BadRequest as e:
        return json_response({"errors": [{"message": e.message}], "warnings": []}, 400)
    report = await ctx.run(cards.validate_card, content, repo_type)
    body_out = {"errors": [{"message": m} for m in report.errors], "warnings": [{"message": m} for m in report.warnings]}
    return json_response(body_out, 400 if report.errors else 200)


def register(router: Router) -> None:
    router.add("POST", API_REPO + "/preupload/(?P<rev>.+)", preupload)
    router.add("POST", API_REPO + "/commit/(?P<rev>.+)", commit)
    router.add("POST", "/api/validate-yaml", validate_yaml)


