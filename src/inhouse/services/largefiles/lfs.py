"""Large files over the Git LFS protocol: the callers of signed transfer grants, streamed verified uploads,
multipart parts, downloads (audited for private and gated repos). The batch decision is in lfs_batch, the grants
in lfs_grants."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import anyio

from inhouse.access.identity import Principal, principal_by_token_id
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, EntryNotFound, Forbidden, InhouseError, IntegrityError, RepoNotFound
from inhouse.services.largefiles import lfs_grants, xet_content
from inhouse.services.largefiles.lfs_grants import LfsGrant, Transfer
from inhouse.services.largefiles.xet import paths_at
from inhouse.services.context import Stores
from inhouse.services.repos import authorize_audited
from inhouse.services.signing import Signer
from inhouse.storage.blobs.local import LocalUpload, check_oid
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord

MAX_PARTS = 10_000  # parts of one multipart upload, at most (as S3): larger files get larger parts
DOWNLOAD_LINK_TTL_S = 3600  # how long a signed download link works (each use re-checks who asked for it)
_PART_DIR = re.compile(r"^mp-[0-9a-f]{64}-\d+-\d+$")


def link_caller(stores: Stores, signer: Signer, grant: LfsGrant, *, ip: str | None = None,
                request_id: str | None = None) -> tuple[RepoRecord, Principal]:
    """The repo a transfer grant was signed for and the caller it acts for, once its signature holds (Forbidden
    otherwise): the Hub token that asked for it (anonymous for None), checked again on every use. A revoked or
    expired token fails as a bad token does (401); a caller who lost access to the repo (left the organisation) gets
    the answer of a missing repo; refusals on private and gated repos are audited."""
    lfs_grants.check(signer, grant)
    principal = principal_by_token_id(stores.db, grant.token_id, ip=ip, request_id=request_id)
    with stores.db.read() as conn:
        repo = repo_store.repo_by_id(conn, grant.repo_pk)
    if repo is None:
        raise RepoNotFound(anonymous=principal.anonymous)
    authorize_audited(stores, principal, grant.transfer.action, repo)
    return repo, principal


def open_download(stores: Stores, signer: Signer, grant: LfsGrant, *, ip: str | None = None,
                  request_id: str | None = None) -> Iterator[bytes]:
    """The use of a download grant: checks it and, again, its caller, audits the read of a private or gated repo
    (as a resolve GET is), and returns the object's bytes."""
    if grant.transfer is not Transfer.DOWNLOAD:
        raise Forbidden(f"This link does not download: {lfs_grants.RENEW}.")
    repo, principal = link_caller(stores, signer, grant, ip=ip, request_id=request_id)
    oid = grant.oid
    with stores.db.read() as conn:
        held = lfs_store.repo_has_object(conn, repo.id, oid)
    if not held:
        raise EntryNotFound(f"Object {oid} is not stored in {repo.repo_id} any more; ask the batch API again.")
    if repo.private or repo.gated:
        paths = _paths(stores, grant.commit, oid)
        stores.audit.record_now(stores.db, principal, Event(
            "file.download", repo, revision=grant.commit, path=paths[0] if paths else None,
            details={"via": "lfs", "sha256": oid, "paths": paths[:20]}))
    return xet_content.read_lfs(stores, oid)


def _paths(stores: Stores, commit: str | None, oid: str) -> list[str]:
    """The paths of object `oid` at the commit the batch request's ref named (none when it named none)."""
    if commit is None:
        return []
    try:
        return paths_at(stores, commit, oid)
    except (InhouseError, LookupError):  # the commit is gone (the repo was rewritten): the object id still says what
        return []


def _link(stores: Stores, repo: RepoRecord, oid: str, size: int) -> None:
    with stores.db.write() as conn:
        lfs_store.record_object(conn, repo.id, oid, size, time.time())
    stores.runtime.converter.submit(oid)  # verified and linked: the app's background converter moves it into xorbs


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


def part_size_for(size: int, configured: int) -> int:
    """The part size of a multipart upload of `size` bytes: the configured one, grown so that there are at most
    MAX_PARTS parts."""
    return max(configured, -(-size // MAX_PARTS))


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def part_numbers(parts: object, expected: int) -> list[int]:
    """The part numbers a completion lists, checked: a list of at most `expected` {"partNumber": n, "etag": …}."""
    usage = ('Send {"oid": <sha256>, "parts": [{"partNumber": 1, "etag": "…"}, …]} listing parts '
             f"1..{expected} once each.")
    if not isinstance(parts, list) or len(parts) > expected:
        raise BadRequest(f"'parts' must list at most {expected} parts. {usage}")
    numbers = []
    for part in parts:
        n = part.get("partNumber") if isinstance(part, dict) else None
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= expected:
            shown = repr(n) if len(repr(n)) <= 40 else repr(n)[:37] + "..."
            raise BadRequest(f"Invalid partNumber {shown}: expected a whole number from 1 to {expected}. {usage}")
        numbers.append(n)
    return numbers


def complete_multipart(stores: Stores, repo: RepoRecord, oid: str, size: int, parts: object) -> None:
    d = part_dir(stores, repo, oid, size)
    expected = part_count(size, part_size_for(size, stores.settings.lfs_part_size))
    numbers = sorted(part_numbers(parts, expected))
    if numbers != list(range(1, expected + 1)):
        raise BadRequest(f"Expected parts 1..{expected} for this object; upload the missing parts and retry.")
    files = [d / f"part-{n}" for n in numbers]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise BadRequest(f"Parts {', '.join(missing)} were never uploaded; upload them, then complete again.")

    def chunks() -> Iterator[bytes]:
        for f in files:
            with open(f, "rb") as fh:
                while data := fh.read(1 << 20):
                    yield data

    joined_sha256 = stores.runtime.lfs_parts.take(d, expected, size)
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
    part_size = part_size_for(size, stores.settings.lfs_part_size)
    expected = part_count(size, part_size)
    if not 1 <= number <= expected:
        raise BadRequest(f"Part number {number} is out of range 1..{expected}.")
    d = part_dir(stores, repo, oid, size)
    d.mkdir(parents=True, exist_ok=True)
    return await stores.runtime.lfs_parts.write(d, number, part_size, chunks)


def verify(stores: Stores, repo: RepoRecord, oid: str, size: int) -> None:
    """The object behind a verify link was stored whole (the link's caller was checked by `link_caller`)."""
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
