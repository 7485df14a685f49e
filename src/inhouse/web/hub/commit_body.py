"""The NDJSON commit body, parsed line by line as it arrives: one header line, then one line per file operation.

The body is never held whole. Each complete line is parsed and dropped; a regular file's base64 content is decoded
on its own line, so what stays in memory is the decoded content (bounded by the body limit, as the body is) and
the one line being parsed (at most about twice its size while JSON turns it into a string). The body, any single
line, and the number of operations are capped, each with a 413 that says what to do instead.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Any

from inhouse.errors import BadRequest, PayloadTooLarge
from inhouse.names import check_existing_path, check_path
from inhouse.services import commits as commit_service
from inhouse.web.context import Ctx
from inhouse.web.jsonbody import parse_json

OFF_LOOP_BYTES = 256 * 1024  # complete lines holding more than this together are parsed in a worker thread


@dataclass
class CommitBody:
    header: dict[str, Any] | None = None
    ops: list[commit_service.Operation] = field(default_factory=list)


class _Parser:
    """Turns complete lines into the header and operations, counting them against the operations cap."""

    def __init__(self, max_ops: int):
        self.body = CommitBody()
        self.max_ops = max_ops
        self.line_no = 0

    def feed(self, lines: list[bytes | bytearray]) -> None:
        """Parses `lines`, emptying the list's slots as it goes so that no parsed line stays referenced."""
        for i in range(len(lines)):
            self.line_no += 1
            raw = lines[i]
            lines[i] = b""
            if not raw or raw.isspace():
                continue
            self._add(self._load(raw), self.line_no)

    def _load(self, raw: bytes | bytearray) -> Any:
        try:
            text = raw.decode("utf-8")
            del raw  # the line's bytes go before JSON makes its strings
            return parse_json(text)  # depth, NaN/Infinity, NUL and lone surrogates refused (web/jsonbody.py)
        except UnicodeDecodeError:
            raise BadRequest(f"Line {self.line_no} of the commit is not valid JSON: send one JSON object per "
                             "line.") from None
        except BadRequest as e:
            raise BadRequest(f"Line {self.line_no} of the commit: {e.message}") from None

    def _add(self, item: Any, n: int) -> None:
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise BadRequest(f"Line {n} of the commit must be an object with 'key' and 'value'.")
        key, value = item.get("key"), item["value"]
        if key == "header":
            if self.body.header is not None:
                raise BadRequest(f"Line {n} is a second header line: a commit has exactly one.")
            self.body.header = value
            return
        path = value.get("path")
        if not isinstance(path, str):
            raise BadRequest(f"Line {n} ({key}) needs a 'path'.")
        if len(self.body.ops) >= self.max_ops:
            raise PayloadTooLarge(f"The commit has more than {self.max_ops} file operations, the most one commit "
                                  "may hold here: split the change into several commits (upload_large_folder "
                                  "does this for you).")
        self.body.ops.append(_operation(key, value, path, n))


def _operation(key: Any, value: dict[str, Any], path: str, n: int) -> commit_service.Operation:
    if key == "file":
        content = value.get("content")
        if value.get("encoding", "base64") != "base64" or not isinstance(content, str):
            raise BadRequest(f"Line {n}: 'file' needs base64 'content' (encoding 'base64').")
        check_path(path)
        try:
            data = binascii.a2b_base64(content, strict_mode=True)  # reads an ASCII str in place: no copy
        except (binascii.Error, ValueError):
            raise BadRequest(f"The content of '{path}' is not valid base64.") from None
        return commit_service.AddFile(path, data)
    if key == "lfsFile":
        oid, size = value.get("oid"), value.get("size")
        if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str):
            raise BadRequest(f"Line {n}: 'lfsFile' needs a sha256 'oid'.")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise BadRequest(f"Line {n}: 'size' must be a non-negative integer.")
        check_path(path)
        return commit_service.AddLfsFile(path, oid.lower(), size)
    if key == "deletedFile":
        check_existing_path(path)
        return commit_service.DeleteFile(path)
    if key == "deletedFolder":
        check_existing_path(path)
        return commit_service.DeleteFolder(path)
    raise BadRequest(f"Line {n}: unknown key {key!r}; use header, file, lfsFile, deletedFile or deletedFolder.")


async def read_commit_body(ctx: Ctx, *, max_bytes: int, max_ops: int) -> tuple[dict[str, Any], list[
        commit_service.Operation]]:
    """Reads and parses the request body as it arrives; raises at the first bad line or exceeded cap, without
    waiting for the rest. Call it only once the caller is known to be allowed to commit."""
    declared = ctx.request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The commit body is {declared} bytes; the limit here is {max_bytes} bytes: send large "
                              "files through the large-file path (preupload answers 'lfs') or split the commit.")
    parser = _Parser(max_ops)
    pending = bytearray()  # the start of a line whose end has not arrived yet
    received = 0
    async for chunk in ctx.request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLarge(f"The commit body exceeds the limit of {max_bytes} bytes: send large files "
                                  "through the large-file path (preupload answers 'lfs') or split the commit.")
        lines: list[bytes | bytearray] = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if pending:
                pending += memoryview(chunk)[start:end]
                lines.append(pending)
                pending = bytearray()
            else:
                lines.append(chunk[start:end])
            start = end + 1
        if start < len(chunk):
            pending += memoryview(chunk)[start:]
        del chunk
        await _parse(ctx, parser, lines)
    if pending:
        last: list[bytes | bytearray] = [pending]
        del pending
        await _parse(ctx, parser, last)
    if parser.body.header is None:
        raise BadRequest("The commit has no header line: start with {\"key\":\"header\",\"value\":{\"summary\":…}}.")
    return parser.body.header, parser.body.ops


async def _parse(ctx: Ctx, parser: _Parser, lines: list[bytes | bytearray]) -> None:
    if not lines:
        return
    if sum(len(line) for line in lines) > OFF_LOOP_BYTES:
        await ctx.run(parser.feed, lines)
    else:
        parser.feed(lines)
