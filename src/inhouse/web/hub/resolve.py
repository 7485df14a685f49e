"""Downloads: HEAD and GET /{repo}/resolve/{rev}/{path}, with single byte ranges."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from inhouse.services import files as file_service
from inhouse.vocabulary import Stage
from inhouse.web.context import Ctx
from inhouse.web.hub.common import repo_name
from inhouse.web.ranges import single_range
from inhouse.web.routing import WEB_REPO, Router, split_revision


async def resolve(ctx: Ctx) -> Response:
    rev, path = split_revision(ctx.raw["rest"])
    get = ctx.request.method == "GET"
    dl = await ctx.run(file_service.download, ctx.stores, await ctx.principal(), repo_name(ctx), rev, path,
                       content=get, byte_range=single_range(ctx.request.headers.get("range")))
    handle, repo = dl.file, dl.repo
    name = path.rsplit("/", 1)[-1]
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/json", "application/javascript"):
        ctype = ctype + "; charset=utf-8"
    headers = {
        "X-Repo-Commit": handle.commit,
        "ETag": f'"{handle.etag}"',
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{_ascii(name)}\";",
        # Served files are data, never pages: no script runs and nothing is sniffed, whatever a file holds.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=0, must-revalidate",
        "Vary": "Origin, Accept-Encoding",
    }
    if handle.lfs is not None:
        headers["X-Linked-Etag"] = f'"{handle.lfs.oid}"'
        headers["X-Linked-Size"] = str(handle.size)
    if handle.xet_hash is not None:  # the content lives in xorbs: Xet clients fetch it from the CAS
        route = f"/api/{repo.plural}/{repo.repo_id}/xet-read-token/{handle.commit}"
        headers["X-Xet-Hash"] = handle.xet_hash
        headers["X-Xet-Refresh-Route"] = route
        headers["Link"] = f'<{ctx.base_url}{route}>; rel="xet-auth"'
    if repo.stage == Stage.DEPRECATED:  # still served; the lifecycle names what to use instead
        headers["X-Deprecated"] = f"{ctx.base_url}/api/{repo.plural}/{repo.repo_id}/lifecycle"
    status = 200
    if dl.partial:
        status = 206
        headers["Content-Range"] = f"bytes {dl.start}-{dl.end - 1}/{handle.size}"
    headers["Content-Length"] = str(dl.end - dl.start)
    if not get:
        return Response(None, status_code=status, headers=headers, media_type=ctype)
    if handle.lfs is None:
        assert handle.content is not None
        return Response(handle.content[dl.start:dl.end], status_code=status, headers=headers, media_type=ctype)
    return StreamingResponse(file_service.read_range(ctx.stores, handle, dl.start, dl.end), status_code=status,
                             headers=headers, media_type=ctype)


def _ascii(name: str) -> str:
    return name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")


def register(router: Router) -> None:
    router.add("GET|HEAD", WEB_REPO + "/resolve/(?P<rest>.+)", resolve)
