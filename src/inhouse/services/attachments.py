"""Attachments of discussion comments: what huggingface_hub's `upload_attachment` sends to POST /uploads.

The client sends the file's bytes with the Content-Type of its extension (PNG, JPEG, GIF, WebP, MP4, MOV, WebM,
MP3, WAV) and embeds the URL the server answers in a comment. inhouse stores the bytes content-addressed
(sha256) in their own blob store under <data>/attachments (not the LFS store: storage GC there deletes what no
repo references), after checking that they start as a file of that type does. Sizes are capped
(`attachment_max_bytes`, `attachment_video_max_bytes`, as the Hub: 10 MB, 50 MB for videos), checked while the
body arrives.

Who: uploading needs a signed-in user whose token may take part in discussions (a write token, or a fine-grained
one with discussion.write or repo.write on some repo or namespace); a read token or an anonymous caller is refused.
Reading needs a signed-in user of this server (any token): an attachment is not tied to one repo (it is uploaded
before the comment exists), so it is never public, unlike the Hub's CDN. Each upload is audited
(attachment.upload).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anyio.to_thread

from inhouse.access.identity import Principal
from inhouse.access.policy import AccountAction, authorize_account
from inhouse.audit.log import Event
from inhouse.config import Settings
from inhouse.errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized
from inhouse.services.context import Stores
from inhouse.storage.blobs.local import LocalBlobStore, LocalUpload


@dataclass(frozen=True)
class Kind:
    content_type: str
    ext: str
    video: bool


KINDS = {
    "image/png": Kind("image/png", ".png", False),
    "image/jpeg": Kind("image/jpeg", ".jpg", False),
    "image/gif": Kind("image/gif", ".gif", False),
    "image/webp": Kind("image/webp", ".webp", False),
    "video/mp4": Kind("video/mp4", ".mp4", True),
    "video/quicktime": Kind("video/quicktime", ".mov", True),
    "video/webm": Kind("video/webm", ".webm", True),
    "audio/mpeg": Kind("audio/mpeg", ".mp3", False),
    "audio/wav": Kind("audio/wav", ".wav", False),
}
BY_EXT = {k.ext: k for k in KINDS.values()}
_HEAD = 16  # bytes needed to recognise every kind


def kind_of(content_type: str | None) -> Kind:
    kind = KINDS.get((content_type or "").split(";", 1)[0].strip().lower())
    if kind is None:
        raise BadRequest("Attachments are PNG, JPEG, GIF, WebP, MP4, MOV, WebM, MP3 or WAV files: send the file "
                         f"with one of these Content-Types: {', '.join(KINDS)}.")
    return kind


def _looks_like(kind: Kind, head: bytes) -> bool:
    ext = kind.ext
    if ext == ".png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if ext == ".jpg":
        return head.startswith(b"\xff\xd8\xff")
    if ext == ".gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    if ext == ".webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if ext == ".wav":
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if ext in (".mp4", ".mov"):
        return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")
    if ext == ".webm":
        return head.startswith(b"\x1a\x45\xdf\xa3")
    if ext == ".mp3":
        return head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    return False


def limit_for(settings: Settings, kind: Kind) -> int:
    return settings.attachment_video_max_bytes if kind.video else settings.attachment_max_bytes


def check_declared_size(settings: Settings, kind: Kind, declared: int | None) -> None:
    limit = limit_for(settings, kind)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"The attachment is {declared} bytes; the limit for {kind.content_type} is {limit} "
                              "bytes. Send a smaller or compressed file.")


def _store(root: Stores) -> LocalBlobStore:
    return LocalBlobStore(root.settings.data_dir / "attachments")


def _write(up: LocalUpload, chunk: bytes, limit: int, kind: Kind) -> None:
    if up.size + len(chunk) > limit:
        raise PayloadTooLarge(f"The attachment exceeds the limit for {kind.content_type} of {limit} bytes. Send a "
                              "smaller or compressed file.")
    up.write(chunk)


async def upload(stores: Stores, p: Principal, content_type: str | None, declared_size: int | None,
                 chunks: AsyncIterator[bytes]) -> str:
    """Stores a request body as an attachment, for a caller who may take part in discussions, audited as
    attachment.upload; its file name (sha256 + extension). The type and the announced size are checked before
    a byte is read; nothing stays behind when the body is too large, of another type, or cut off."""
    kind = kind_of(content_type)
    authorize_account(p, AccountAction.UPLOAD_ATTACHMENT)
    check_declared_size(stores.settings, kind, declared_size)
    limit = limit_for(stores.settings, kind)
    blobs = await anyio.to_thread.run_sync(_store, stores)
    up = blobs.begin()
    head = b""
    try:
        async for chunk in chunks:
            if len(head) < _HEAD:
                head += chunk[:_HEAD - len(head)]
            _write(up, chunk, limit, kind)
        if up.size == 0:
            raise BadRequest("The attachment is empty: send the file's bytes as the request body.")
        if not _looks_like(kind, head):
            raise BadRequest(f"The body is not a {kind.content_type} file: send the file with the Content-Type of "
                             "its real format.")
    except BaseException:
        up.abort()
        raise
    oid = await anyio.to_thread.run_sync(up.commit)
    name = oid + kind.ext
    await anyio.to_thread.run_sync(lambda: stores.audit.record_now(stores.db, p, Event(
        "attachment.upload", details={"file": name, "size": up.size, "type": kind.content_type})))
    return name


@dataclass(frozen=True)
class Opened:
    content_type: str
    size: int
    chunks: Iterator[bytes]


def open_for(stores: Stores, p: Principal, file: str) -> Opened:
    """An attachment's bytes, for a signed-in caller."""
    if p.anonymous:
        raise Unauthorized("Attachments are shown to signed-in users: pass a token.")
    oid, dot, ext = file.partition(".")
    kind = BY_EXT.get(dot + ext.lower())
    if kind is None or len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid):
        raise NotFound("No such attachment: its URL is the one upload_attachment returned.")
    blobs = _store(stores)
    size = blobs.size(oid)
    if size is None:
        raise NotFound("No such attachment: its URL is the one upload_attachment returned.")
    return Opened(kind.content_type, size, blobs.read(oid))
