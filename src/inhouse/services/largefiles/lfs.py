"""Large files over the Git LFS protocol: the batch decision, streamed verified uploads, multipart parts."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, authorize
from inhouse.errors import BadRequest, IntegrityError, NotFound
from inhouse.services.largefiles import lfs_parts, xet_content, xet_convert
from inhouse.services.context import Stores
from inhouse.storage.blobs.local import LocalUpload, check_oid
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord

MAX_OBJECTS_PER_BATCH = 1000
_PART_DIR = re.compile(r"^mp-[0-9a-f]{64}-\d+-\d+$")


@dataclass(frozen=True)
class BatchItem:
    oid: str
    size: int
    action: str | None  # upload | download | None (nothing to do)
    error: tuple[int, str] | None = None


def batch(stores: Stores, p: Principal, repo: RepoRecord, operation: str,
          objects: list[dict[str, object]]) -> list[BatchItem]:
    if operation not in ("upload", "download"):
        raise BadRequest(f"Invalid LFS operation '{operation}': use 'upload' or 'download'.")
    if not isinstance(objects, list) or len(objects) > MAX_OBJECTS_PER_BATCH:
        raise BadRequest(f"'objects' must be a list of at most {MAX_OBJECTS_PER_BATCH} items.")
    # uploading only stores bytes; committing them is checked against the target branch or pull request
    authorize(stores.db, p, Action.PROPOSE if operation == "upload" else Action.DOWNLOAD, repo)
    items: list[BatchItem] = []
    with stores.db.read() as conn:
        for obj in objects:
            oid = obj.get("oid") if isinstance(obj, dict) else None
            size = obj.get("size") if isinstance(obj, dict) else None
            if not isinstance(oid, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
                items.append(BatchItem(str(oid), -1, None, (422, "Each object needs a sha256 'oid' and a 'size'.")))
                continue
            try:
                check_oid(oid)
            except IntegrityError as e:
                items.append(BatchItem(oid, size, None, (422, e.message)))
                continue
            held = lfs_store.repo_has_object(conn, repo.id, oid) and xet_content.available(stores, conn, oid)
            stored_size = lfs_store.object_size(conn, oid) if held else None
            if operation == "download":
                if not held:
                    items.append(BatchItem(oid, size, None, (404, "Object does not exist in this repo.")))
                else:
                    items.append(BatchItem(oid, stored_size or size, "download"))
            elif held:
                if stored_size != size:
                    items.append(BatchItem(oid, size, None, (422, f"Object {oid} exists with size {stored_size}.")))
                else:
                    items.append(BatchItem(oid, size, None))
            else:
                items.append(BatchItem(oid, size, "upload"))
    return items


def repo_for_transfer(stores: Stores, repo_pk: int) -> RepoRecord:
    """The repo a signed transfer link was issued for (the signature already proved the caller's right)."""
    with stores.db.read() as conn:
        repo = repo_store.repo_by_id(conn, repo_pk)
    if repo is None:
        raise NotFound("The repo this transfer link was issued for no longer exists.")
    return repo


def _link(stores: Stores, repo: RepoRecord, oid: str, size: int) -> None:
    with stores.db.write() as conn:
        lfs_store.record_object(conn, repo.id, oid, size, time.time())
    xet_convert.submit(stores, oid)  # verified and linked: the background converter moves it into xorbs


def _write_within(up: LocalUpload, chunk: bytes, size: int, oid: str) -> None:
    if chunk:
        up.write(chunk)
    if up.size > size:
        raise IntegrityError(f"More than the announced {size} bytes were sent for {oid}.")


def store_stream(stores: Stores, repo: RepoRecord, oid: str, size: int, chunks: Iterable[bytes]) -> str:
    """Writes an object from byte chunks; verifies hash and size; links it to the repo. Nothing stays on failure."""
    check_oid(oid)
    up = stores.blobs.begin()
    try:
        for chunk in chunks:
            _write_within(up, chunk, size, oid)
    except BaseException:
        up.abort()
        raise
    up.commit(oid, size)
    _link(stores, repo, oid, size)
    return oid


async def store_async(stores: Stores, repo: RepoRecord, oid: str, size: int, chunks: AsyncIterator[bytes]) -> str:
    """`store_stream` for a request body: a client that disconnects half-way leaves nothing behind."""
    check_oid(oid)
    up = stores.blobs.begin()
    try:
        async for chunk in chunks:
            _write_within(up, chunk, size, oid)
    except BaseException:
        up.abort()
        raise
    await anyio.to_thread.run_sync(up.commit, oid, size)
    await anyio.to_thread.run_sync(_link, stores, repo, oid, size)
    return oid


def part_dir(stores: Stores, repo: RepoRecord, oid: str, size: int) -> Path:
    return stores.blobs.tmp / f"mp-{oid}-{size}-{repo.id}"


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def complete_multipart(stores: Stores, repo: RepoRecord, oid: str, size: int, parts: list[dict[str, object]]) -> None:
    d = part_dir(stores, repo, oid, size)
    expected = part_count(size, stores.settings.lfs_part_size)
    numbers = sorted(int(str(p.get("partNumber", 0))) for p in parts if isinstance(p, dict))
    if numbers != list(range(1, expected + 1)):
        raise BadRequest(f"Expected parts 1..{expected} for this object; upload the missing parts and retry.")
    files = [d / f"part-{n}" for n in numbers]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise BadRequest(f"Parts {', '.join(missing)} were never uploaded; upload them, then complete again.")

    def chunks():  # type: ignore[no-untyped-def]
        for f in files:
            with open(f, "rb") as fh:
                while data := fh.read(1 << 20):
                    yield data

    joined_sha256 = lfs_parts.take(d, expected, size)
    try:
        if joined_sha256 == oid:  # the parts were joined and hashed as they arrived: publish part-1 as it is
            stores.blobs.adopt(files[0], oid, size)
            _link(stores, repo, oid, size)
        else:
            store_stream(stores, repo, oid, size, chunks())
    finally:
        shutil.rmtree(d, ignore_errors=True)


async def write_part(stores: Stores, repo: RepoRecord, oid: str, size: int, number: int,
                     chunks: AsyncIterator[bytes]) -> str:
    """Stores one part of a multipart upload; returns its ETag."""
    expected = part_count(size, stores.settings.lfs_part_size)
    if not 1 <= number <= expected:
        raise BadRequest(f"Part number {number} is out of range 1..{expected}.")
    d = part_dir(stores, repo, oid, size)
    d.mkdir(parents=True, exist_ok=True)
    return await lfs_parts.write(d, number, stores.settings.lfs_part_size, chunks)


def verify(stores: Stores, p: Principal, repo: RepoRecord, oid: str, size: int) -> None:
    authorize(stores.db, p, Action.PROPOSE, repo)
    check_oid(oid)
    with stores.db.read() as conn:
        ok = lfs_store.repo_has_object(conn, repo.id, oid) and lfs_store.object_size(conn, oid) == size
        ok = ok and xet_content.available(stores, conn, oid)
    if not ok:
        raise IntegrityError(f"Object {oid} ({size} bytes) was not uploaded completely; upload it again.")


def clean_stale_parts(stores: Stores) -> None:
    for d in stores.blobs.tmp.iterdir():
        if d.is_dir() and _PART_DIR.match(d.name):
            shutil.rmtree(d, ignore_errors=True)
