"""The Xet CAS, server side: xorb and shard uploads, global dedup, file reconstructions, xorb byte ranges.

Verification, not trust:
* a xorb is validated while it streams to a temp file (chunk headers, decompression, every chunk hash, the
  xorb hash against the URL); nothing is kept unless it is right;
* a shard is parsed and checked against the xorbs the server holds: every xorb it names must exist and be
  held by this token's repo (uploaded with it) or by a repo the token's user may read; the segments' sizes,
  verification hashes (proof of knowing the chunk hashes) and file hashes must match; the SHA-256 each file
  claims is recomputed from the stored bytes before the file may back an LFS pointer;
* reconstructions are answered only for files this token's repo holds; xorb bytes only through URLs signed in
  those answers, for the ranges they name;
* dedup answers list only xorbs the caller may reference, with chunk hashes keyed per answer (see
  storage/xet/dedup.py), so one tenant learns nothing of another's chunks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass

import anyio

from inhouse.access.policy import Action, authorize
from inhouse.audit.log import Event
from inhouse.errors import (
    BadRequest,
    Forbidden,
    InhouseError,
    IntegrityError,
    NotFound,
    PayloadTooLarge,
)
from inhouse.errors import RangeNotSatisfiable as RangeError
from inhouse.services.largefiles import xet_content, xet_prehash
from inhouse.services.context import Stores
from inhouse.services.files import describe
from inhouse.services.signing import Signer
from inhouse.services.largefiles.xet_tokens import CasCaller
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.xet import XetFileRecord, XorbRecord
from inhouse.storage.git.trees import walk
from inhouse.storage.xet import (
    MerkleHash,
    RangeNotSatisfiable,
    Shard,
    XetFormatError,
    XorbValidator,
    build_dedup_response,
    check_shard_references,
    eligible_chunk_hashes,
    is_dedup_key_hash,
    parse_range_header,
    parse_shard,
    plan_reconstruction,
)
from inhouse.storage.xet.reconstruction import FetchRange
from inhouse.storage.xet.shard import MAX_SHARD_SIZE
from inhouse.storage.xet.xorb import MAX_XORB_SERIALIZED, XorbInfo

log = logging.getLogger("inhouse.xet")

XORB_URL_TTL_S = 3600
MAX_DEDUP_XORBS = 8
_FEED_BATCH = 1 << 20
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def parse_hash(text: str, what: str) -> MerkleHash:
    try:
        return MerkleHash.from_hex(text)
    except XetFormatError:
        raise BadRequest(f"'{text[:80]}' is not a {what} hash: expected 64 hex characters.") from None


def _rejected(what: str, exc: Exception) -> IntegrityError:
    return IntegrityError(f"The {what} was rejected and nothing was stored: {exc}. The client should build and "
                          "upload it again; if this repeats, update hf_xet or report it.")


# which xorbs a caller may reference --------------------------------------------------------------------------------

def _readable_repos(stores: Stores, caller: CasCaller, repo_ids: set[int]) -> set[int]:
    """Those of `repo_ids` the caller's user may download from (its token's repo always)."""
    ok = {caller.repo.id} & repo_ids
    others = repo_ids - ok
    if not others or caller.principal.anonymous:
        return ok
    with stores.db.read() as conn:
        repos = [r for r in (repo_store.repo_by_id(conn, i) for i in sorted(others)) if r is not None]
    for repo in repos:
        try:
            authorize(stores.db, caller.principal, Action.DOWNLOAD, repo)
        except InhouseError:
            continue
        ok.add(repo.id)
    return ok


def referencable(stores: Stores, caller: CasCaller, hashes: set[str]) -> set[str]:
    """Of `hashes`, the xorbs this caller may build files from: held by its repo or by a repo it may read."""
    if not hashes:
        return set()
    with stores.db.read() as conn:
        holders = xet_store.repos_holding(conn, hashes)
    readable = _readable_repos(stores, caller, set().union(*holders.values()) if holders else set())
    return {h for h, repos in holders.items() if repos & readable}


# xorb upload ---------------------------------------------------------------------------------------------------------

async def upload_xorb(stores: Stores, caller: CasCaller, hash_hex: str, body: AsyncIterator[bytes],
                      declared_length: int | None) -> bool:
    """Validates a xorb as it streams in and stores it under its hash; True when it was new."""
    expected = parse_hash(hash_hex, "xorb")
    hash_hex = expected.to_hex()
    if declared_length is not None and declared_length > MAX_XORB_SERIALIZED:
        raise PayloadTooLarge(f"A xorb may hold at most {MAX_XORB_SERIALIZED} bytes; this one says "
                              f"{declared_length}. Split the upload into smaller xorbs.")
    with stores.db.read() as conn:
        known = bool(xet_store.known_xorbs(conn, [hash_hex])) and stores.xorbs.exists(hash_hex)
    validator = XorbValidator(expected)
    upload = None if known else stores.xorbs.begin()
    pending: list[bytes] = []
    pending_len = 0

    def feed(pieces: list[bytes]) -> None:  # in a worker thread: joining (one copy), hashing, writing
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        validator.feed(data)
        if upload is not None:
            upload.write(data)

    try:
        async for piece in body:
            pending.append(piece)
            pending_len += len(piece)
            if pending_len >= _FEED_BATCH:
                batch, pending, pending_len = pending, [], 0
                await anyio.to_thread.run_sync(feed, batch)
        if pending:
            await anyio.to_thread.run_sync(feed, pending)
        info = await anyio.to_thread.run_sync(validator.finish)
    except XetFormatError as exc:
        if upload is not None:
            upload.abort()
        raise _rejected(f"xorb {hash_hex}", exc) from None
    except BaseException:
        if upload is not None:
            upload.abort()
        raise
    inserted = await anyio.to_thread.run_sync(_publish_xorb, stores, caller, info, upload)
    xet_prehash.note_xorb(stores, _uploader(stores, caller), hash_hex, info.num_chunks,
                          sum(c.uncompressed_size for c in info.chunks))
    return inserted


def _uploader(stores: Stores, caller: CasCaller) -> xet_prehash.ChainKey:
    return xet_prehash.chain_key(stores, caller.repo.id, caller.principal.token_id)


def _publish_xorb(stores: Stores, caller: CasCaller, info: XorbInfo, upload) -> bool:  # type: ignore[no-untyped-def]
    hash_hex = info.hash.to_hex()
    inserted = False
    if upload is not None:
        try:
            upload.truncate(info.content_length)  # a footer, if the client sent one, is not needed
            inserted = upload.publish(hash_hex)
        except BaseException:
            upload.abort()
            raise
    now = time.time()
    keys = [(c.hash.to_hex(), hash_hex) for c in info.chunks if is_dedup_key_hash(c.hash)]
    if info.chunks:
        keys.append((info.chunks[0].hash.to_hex(), hash_hex))
    with stores.db.write() as conn:
        xet_store.insert_xorb(conn, info, now)
        xet_store.touch_xorbs(conn, [hash_hex], now)
        xet_store.link_repo_xorbs(conn, caller.repo.id, [hash_hex], now)
        xet_store.add_dedup_keys(conn, keys)
    return inserted


# shard upload --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _NewFile:
    file_hash: str
    sha256: str
    size: int
    segments: tuple


def upload_shard(stores: Stores, caller: CasCaller, body: bytes) -> int:
    """Checks a shard against the stored xorbs and records its files for the token's repo.

    Returns 1 (the files were registered) or 0 (every file was already known to this repo)."""
    try:
        shard = parse_shard(body, allow_footer=False, max_size=MAX_SHARD_SIZE)
    except XetFormatError as exc:
        raise _rejected("shard", exc) from None
    named = {s.xorb_hash.to_hex() for f in shard.files for s in f.segments} | {x.hash.to_hex() for x in shard.xorbs}
    with stores.db.read() as conn:
        records = xet_store.get_xorbs(conn, named)
        known_files = {f.file_hash.to_hex(): xet_store.file_by_hash(conn, f.file_hash.to_hex()) for f in shard.files}
    allowed = referencable(stores, caller, set(records))
    for h in sorted(named):
        if h not in records or h not in allowed or not stores.xorbs.exists(h):
            raise _rejected("shard", XetFormatError(
                f"it references xorb {h}, which this server does not hold for you; upload that xorb first"))
    try:
        for entry in shard.xorbs:
            _check_entry(entry, records[entry.hash.to_hex()])
        check_shard_references(shard, {MerkleHash.from_hex(h): r.hashes_and_sizes() for h, r in records.items()},
                               require_verification=True)
    except XetFormatError as exc:
        raise _rejected("shard", exc) from None

    uploader = _uploader(stores, caller)
    try:
        files = [_verified_file(stores, f, known_files.get(f.file_hash.to_hex()), records, uploader)
                 for f in shard.files]
    finally:
        xet_prehash.forget(uploader)  # the uploader's next file starts a new chain
    return _register(stores, caller, shard, files, records)


def _check_entry(entry, record: XorbRecord) -> None:  # type: ignore[no-untyped-def]
    if entry.hashes_and_sizes() != record.hashes_and_sizes():
        raise XetFormatError(f"its description of the chunks of xorb {record.hash} does not match the xorb")
    if entry.unpacked_bytes != record.unpacked_bytes:
        raise XetFormatError(f"it gives xorb {record.hash} {entry.unpacked_bytes} bytes, it holds "
                             f"{record.unpacked_bytes}")
    if entry.serialized_bytes not in (0, record.stored_bytes):
        raise XetFormatError(f"it gives xorb {record.hash} a stored length of {entry.serialized_bytes}, "
                             f"not {record.stored_bytes}")


def _verified_file(stores: Stores, f, known: XetFileRecord | None,  # type: ignore[no-untyped-def]
                   records: dict[str, XorbRecord], uploader: xet_prehash.ChainKey) -> _NewFile:
    """The file with its SHA-256 recomputed from the stored bytes: hashed as its xorbs arrived when they came in
    file order (`xet_prehash`), else read back now (or taken from the same file seen before)."""
    file_hex = f.file_hash.to_hex()
    claimed = f.sha256.hex() if f.sha256 is not None else None
    if known is not None:
        sha = known.sha256
    elif not f.segments:
        sha = EMPTY_SHA256
    else:
        # the leading segments already hashed as their xorbs arrived; the rest (often nothing) is read back
        covered, hasher = xet_prehash.take(stores, uploader, f.segments, f.size) or (0, None)
        done = sum(s.unpacked_bytes for s in f.segments[:covered])
        rec = XetFileRecord(file_hex, claimed or "", f.size - done, tuple(f.segments[covered:]), 0.0)
        try:
            sha = xet_content.file_sha256(stores, rec, records, hasher)
        except (OSError, XetFormatError) as exc:
            log.exception("could not read back file %s", file_hex)
            raise InhouseError(f"Could not read back the xorbs of file {file_hex} to verify it ({exc}); "
                               "retry the upload, and tell your inhouse administrator if it repeats.") from None
    if claimed is not None and claimed != sha:
        raise _rejected("shard", XetFormatError(
            f"file {file_hex} claims sha256 {claimed}, its content hashes to {sha}"))
    return _NewFile(file_hex, sha, f.size, tuple(f.segments))


def _following(keys: list[tuple[str, str]], files: list[_NewFile]) -> list[tuple[str, str]]:
    """More answers for each key: the xorbs that come after its own in the files of this shard (up to
    MAX_DEDUP_XORBS), as the Hub answers with the whole uploaded shard. Keys are ~1 chunk in 1024, so a 64 MiB xorb
    often holds none: without these, a fresh client re-uploads every such xorb of a file it mostly shares."""
    after: dict[str, list[str]] = {}
    for f in files:
        order = list(dict.fromkeys(s.xorb_hash.to_hex() for s in f.segments))
        for i, x in enumerate(order):
            nxt = after.setdefault(x, [])
            for y in order[i + 1:i + MAX_DEDUP_XORBS]:
                if len(nxt) < MAX_DEDUP_XORBS - 1 and y not in nxt:
                    nxt.append(y)
    return [(c, y) for c, x in keys for y in after.get(x, ())]


def _register(stores: Stores, caller: CasCaller, shard: Shard, files: list[_NewFile],
              records: dict[str, XorbRecord]) -> int:
    now = time.time()
    keys = []
    where = {c.hash: x.hash for x in shard.xorbs for c in x.chunks}
    for chunk_hash in eligible_chunk_hashes(shard):
        if chunk_hash in where:
            keys.append((chunk_hash.to_hex(), where[chunk_hash].to_hex()))
    for f in files:  # the first chunk of every file is a dedup key, wherever it lives
        if f.segments:
            seg = f.segments[0]
            rec = records[seg.xorb_hash.to_hex()]
            keys.append((rec.chunk_hashes[seg.chunk_start].to_hex(), rec.hash))
    keys += _following(keys, files)
    repo = caller.repo
    new = 0
    with stores.db.write() as conn:
        missing = xet_store.touch_xorbs(conn, records, now)
        if missing:  # collected between the checks and now
            raise _rejected("shard", XetFormatError(
                f"xorb {min(missing)} was removed meanwhile; upload it again"))
        for f in files:
            if not lfs_store.repo_has_object(conn, repo.id, f.sha256):
                new += 1
            xet_store.insert_file(conn, f.file_hash, f.sha256, f.size, f.segments, now)
            lfs_store.record_object(conn, repo.id, f.sha256, f.size, now)
        xet_store.link_repo_xorbs(conn, repo.id, records, now)
        xet_store.add_dedup_keys(conn, keys)
        stores.audit.record(conn, caller.principal, Event("xet.upload", repo, details={
            "files": [{"sha256": f.sha256, "xet": f.file_hash, "size": f.size} for f in files[:100]],
            "files_total": len(files), "xorbs": len(records)}))
    return 1 if new or not files else 0


# global dedup --------------------------------------------------------------------------------------------------------

def dedup(stores: Stores, caller: CasCaller, chunk_hex: str) -> bytes:
    """The keyed shard answering a global-dedup query, listing only xorbs the caller may reference."""
    chunk = parse_hash(chunk_hex, "chunk").to_hex()
    with stores.db.read() as conn:
        candidates = xet_store.dedup_candidates(conn, chunk)
    usable = referencable(stores, caller, set(candidates))
    chosen = [h for h in candidates if h in usable and stores.xorbs.exists(h)][:MAX_DEDUP_XORBS]
    if not chosen:
        raise NotFound("No deduplication information for this chunk.")
    with stores.db.write() as conn:  # a shard may soon reference them: GC spares them for its grace window
        xet_store.touch_xorbs(conn, chosen, time.time())
        records = xet_store.get_xorbs(conn, chosen)
    return build_dedup_response([records[h].entry() for h in chosen if h in records])


# reconstruction ------------------------------------------------------------------------------------------------------

UrlFor = Callable[[MerkleHash, Sequence[FetchRange]], str]


def reconstruction(stores: Stores, caller: CasCaller, file_hex: str, range_header: str | None, version: int,
                   url_for: UrlFor) -> dict:  # type: ignore[type-arg]
    file_hex = parse_hash(file_hex, "file").to_hex()
    with stores.db.read() as conn:
        file = xet_store.file_by_hash(conn, file_hex)
        held = file is not None and lfs_store.repo_has_object(conn, caller.repo.id, file.sha256)
        records = xet_store.get_xorbs(conn, file.xorb_hashes()) if file is not None and held else {}
    if file is None or not held:
        raise NotFound(f"File {file_hex} is not stored in {caller.repo.repo_id}.")
    try:
        byte_range = parse_range_header(range_header, file.size) if range_header else None
        plan = plan_reconstruction(file.segments, {MerkleHash.from_hex(h): r.layout() for h, r in records.items()},
                                   byte_range)
    except RangeNotSatisfiable as exc:
        raise RangeError(f"{exc}; ask for bytes inside the file.",
                         headers={"Content-Range": f"bytes */{file.size}"}) from None
    except XetFormatError as exc:
        raise BadRequest(f"Cannot answer this reconstruction: {exc}.") from None
    note_read(stores, caller, file.sha256, file_hex)
    return plan.to_v2(url_for) if version == 2 else plan.to_v1(url_for)


def note_read(stores: Stores, caller: CasCaller, sha256: str, file_hex: str) -> None:
    """Reads of private and gated repos are audited as downloads of the paths holding this content at the
    commit the read token was issued for (as a resolve GET would be)."""
    repo: RepoRecord = caller.repo
    if not (repo.private or repo.gated):
        return
    commit = caller.grant.commit
    paths = paths_at(stores, commit, sha256) if commit else []
    stores.audit.record_now(stores.db, caller.principal, Event(
        "file.download", repo, revision=commit, path=paths[0] if paths else None,
        details={"via": "xet", "sha256": sha256, "xet_hash": file_hex, "paths": paths[:20]}))


_PATHS_CACHE: OrderedDict[str, dict[str, list[str]]] = OrderedDict()
_PATHS_LOCK = threading.Lock()


def paths_at(stores: Stores, commit: str, sha256: str) -> list[str]:
    """The paths of the large file `sha256` in the tree of `commit` (sorted; a small LRU per commit)."""
    with _PATHS_LOCK:
        found = _PATHS_CACHE.get(commit)
        if found is not None:
            _PATHS_CACHE.move_to_end(commit)
    if found is None:
        found = {}
        with stores.db.read() as conn:
            tree = stores.objects.commit(conn, commit).tree
            items = [(p, e) for p, e in walk(stores.objects, conn, tree) if not e.is_tree]
            for entry in describe(stores, conn, items):
                if entry.lfs is not None:
                    found.setdefault(entry.lfs.oid, []).append(entry.path)
        with _PATHS_LOCK:
            _PATHS_CACHE[commit] = found
            while len(_PATHS_CACHE) > 64:
                _PATHS_CACHE.popitem(last=False)
    return sorted(found.get(sha256, []))


# signed xorb byte ranges ---------------------------------------------------------------------------------------------

def xorb_url(signer: Signer, base: str, xorb_hash: MerkleHash, ranges: Sequence[FetchRange]) -> str:
    spans = ",".join(f"{r.byte_start}-{r.byte_end}" for r in ranges)
    hex_ = xorb_hash.to_hex()
    exp, sig = signer.sign(f"xorb|{hex_}|{spans}", XORB_URL_TTL_S)
    return f"{base}/xorb-data/{hex_}?r={spans}&exp={exp}&sig={sig}"


def _parse_spans(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        a, sep, b = part.strip().partition("-")
        if not sep or not a.isdigit() or not b.isdigit() or int(b) < int(a):
            raise BadRequest(f"Invalid byte range '{part}': use bytes=START-END.")
        out.append((int(a), int(b)))
    return out


@dataclass(frozen=True)
class XorbRead:
    size: int  # stored length of the xorb's chunk data
    ranges: list[tuple[int, int]]  # inclusive, each inside what the URL allows


def open_xorb_ranges(stores: Stores, signer: Signer, xorb_hex: str, spans: str | None, exp: str | None,
                     sig: str | None, range_header: str | None) -> XorbRead:
    """Checks a signed xorb URL and the Range asked for; the ranges to send."""
    xorb_hex = parse_hash(xorb_hex, "xorb").to_hex()
    try:
        signer.verify(f"xorb|{xorb_hex}|{spans or ''}", exp, sig)
    except InhouseError:
        raise Forbidden("This xorb link is not valid or has expired: ask the CAS for the file's reconstruction "
                        "again (the client does this by itself).") from None
    allowed = _parse_spans(spans or "")
    with stores.db.read() as conn:
        rec = xet_store.get_xorbs(conn, [xorb_hex]).get(xorb_hex)
    if rec is None or not stores.xorbs.exists(xorb_hex):
        raise NotFound(f"Xorb {xorb_hex} is not stored here any more; ask for the reconstruction again.")
    if not range_header:
        wanted = allowed
    else:
        unit, _, spec = range_header.strip().partition("=")
        if unit.strip() != "bytes":
            raise BadRequest("Only byte ranges are served: Range: bytes=START-END[,START-END…].")
        wanted = _parse_spans(spec)
    for a, b in wanted:
        if b >= rec.stored_bytes or not any(lo <= a and b <= hi for lo, hi in allowed):
            raise RangeError(f"Bytes {a}-{b} are outside what this link allows.",
                             headers={"Content-Range": f"bytes */{rec.stored_bytes}"})
    return XorbRead(rec.stored_bytes, wanted)


def read_xorb(stores: Stores, xorb_hex: str, start: int, end_inclusive: int) -> Iterator[bytes]:
    return stores.xorbs.read(xorb_hex, start, end_inclusive + 1)
