"""Downloads: HEAD and GET /{repo}/resolve/{rev}/{path}, with single byte ranges."""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from inhouse.errors import RangeNotSatisfiable
from inhouse.services import files as file_service
from inhouse.services import repos as repo_service
from inhouse.web.context import Ctx
from inhouse.access.policy import Action
from inhouse.web.hub.common import load_repo, moved_aware
from inhouse.web.routing import WEB_REPO, Router, split_revision

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) for a single satisfiable range; None to send the whole file; 416 when unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None:
        return None  # multiple ranges or another unit: answer with the whole file, as RFC 9110 allows
    a, b = m.group(1), m.group(2)
    if a == "" and b == "":
        return None
    if a == "":
        n = int(b)
        if n == 0:
            raise RangeNotSatisfiable("The requested range is empty.", headers={"Content-Range": f"bytes */{size}"})
        return max(0, size - n), size
    start = int(a)
    end = min(int(b) + 1, size) if b else size
    if start >= size or (b and int(b) < start):
        raise RangeNotSatisfiable(
            f"The requested range starts at byte {start} but the file has {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


@moved_aware
async def resolve(ctx: Ctx) -> Response:
    repo = await load_repo(ctx, Action.DOWNLOAD)
    rev, path = split_revision(ctx.raw["rest"])
    principal = await ctx.principal()
    action = "file.download" if ctx.request.method == "GET" else "file.metadata"

    def open_and_note() -> file_service.FileHandle:  # one trip to a worker thread, not two (audited reads)
        handle = file_service.open_file(ctx.stores, repo, rev, path)
        repo_service.note_read(ctx.stores, principal, repo, action, revision=handle.commit, path=path)
        return handle

    handle = await ctx.run(open_and_note)
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
    status = 200
    start, end = 0, handle.size
    rng = parse_range(ctx.request.headers.get("range"), handle.size)
    if rng is not None:
        start, end = rng
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{handle.size}"
    headers["Content-Length"] = str(end - start)
    if ctx.request.method == "HEAD":
        return Response(None, status_code=status, headers=headers, media_type=ctype)
    if handle.lfs is None:
        assert handle.content is not None
        return Response(handle.content[start:end], status_code=status, headers=headers, media_type=ctype)
    return StreamingResponse(file_service.read_range(ctx.stores, handle, start, end), status_code=status,
                             headers=headers, media_type=ctype)


def _ascii(name: str) -> str:
    return name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")


def register(router: Router) -> None:
    router.add("GET|HEAD", WEB_REPO + "/resolve/(?P<rest>.+)", resolve)
