"""The Xet CAS, server side: xorb and shard uploads, global dedup, file reconstructions, xorb byte ranges.

Verification, not trust:
* a xorb is validated while it streams to a temp file (chunk headers, decompression, every chunk hash, the
  xorb hash against the URL); nothing is kept unless it is right. It is written and validated in full whether
  the server holds it already or not, and `was_inserted` says only whether *this user* had sent it before, so
  the answer and its timing tell nothing about other tenants' content;
* a shard is parsed and checked against the xorbs the server holds: every xorb it names must exist and be one
  the caller may name (`referencable`): held by a repo the caller may download from, uploaded by the caller's
  user, or named to that user by a dedup answer that has not expired; the segments' sizes, verification hashes
  (proof of knowing the chunk hashes) and file hashes must match; the SHA-256 each file claims is recomputed
  from the stored bytes before the file may back an LFS pointer;
* reconstructions need the right to download from the token's repo (whatever the token was issued for) and are
  answered only for files that repo holds; xorb bytes only through URLs signed in those answers, for the ranges
  they name (overlapping asks merged: never more bytes than the signed ranges), while the token that asked may
  still download from that repo;
* dedup answers list only xorbs the caller may name through a repo it may download from or its own uploads,
  with chunk hashes keyed per answer (see storage/xet/dedup.py), so one tenant learns nothing of another's chunks.

Re-uploads. hf_xet remembers, per CAS URL, the xorbs of its past uploads and of the dedup answers it was given
(for three weeks, resp. until the answer's expiry) and names them in new shards without sending them again. A
user's own uploads stay nameable by that user for as long as the server keeps them, whatever happens to the
repos that held them, and a dedup answer's xorbs until it expires; when storage GC deletes xorbs, the users who
could name them get a new CAS URL (services/largefiles/xet_tokens.py), so their next upload starts a fresh cache.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

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
from inhouse.services.largefiles import xet_content, xet_prehash, xet_tokens
from inhouse.services.byte_ranges import ByteRange
from inhouse.services.context import Stores
from inhouse.services.governance import quarantine
from inhouse.services.files import describe
from inhouse.services.repo_access import authorize_audited
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
    parse_shard,
    plan_reconstruction,
)
from inhouse.storage.xet.reconstruction import FetchRange
from inhouse.storage.xet.shard import MAX_SHARD_SIZE, FileInfo, FileSegment, XorbEntry
from inhouse.storage.blobs.xorbs import XorbUpload
from inhouse.storage.xet.xorb import MAX_XORB_SERIALIZED, XorbInfo

log = logging.getLogger("inhouse.xet")

XORB_URL_TTL_S = 3600
#: the largest shard `upload_shard` takes, in bytes (the web layer reads no more of a request body)
MAX_SHARD_BYTES = MAX_SHARD_SIZE
MAX_DEDUP_XORBS = 8
#: how long a client may dedup against a dedup answer (its footer's key expiry), and so how long the user may name
#: its xorbs without still being able to download a repo holding them (plus DEDUP_ANSWER_GRACE_S)
DEDUP_ANSWER_S = 24 * 3600
#: uploads that started before an answer expired may still name its xorbs this much later (and client clocks drift)
DEDUP_ANSWER_GRACE_S = 24 * 3600
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
    """Those of `repo_ids` the caller's user may download from now (the token's own repo included only then)."""
    if not repo_ids or caller.principal.anonymous:
        return set()
    with stores.db.read() as conn:
        repos = [r for r in (repo_store.repo_by_id(conn, i) for i in sorted(repo_ids)) if r is not None]
    ok: set[int] = set()
    for repo in repos:
        try:
            authorize(stores.db, caller.principal, Action.DOWNLOAD, repo)
        except InhouseError:
            continue
        ok.add(repo.id)
    return ok


def referencable(stores: Stores, caller: CasCaller, hashes: set[str], *, answered: bool = True) -> set[str]:
    """Of `hashes`, the xorbs this caller may build files from: uploaded by its user, held by a repo it may
    download from, or (with `answered`) named to its user by a dedup answer that has not run out."""
    user = caller.principal.user_id
    if not hashes or user is None:
        return set()
    with stores.db.read() as conn:
        own = xet_store.user_may_name(conn, user, hashes, time.time() - DEDUP_ANSWER_GRACE_S, answered=answered)
        holders = xet_store.repos_holding(conn, hashes - own)
    readable = _readable_repos(stores, caller, set().union(*holders.values()) if holders else set())
    return own | {h for h, repos in holders.items() if repos & readable}


# xorb upload ---------------------------------------------------------------------------------------------------------

async def upload_xorb(stores: Stores, caller: CasCaller, hash_hex: str, body: AsyncIterator[bytes],
                      declared_length: int | None) -> bool:
    """Validates a xorb as it streams in and stores it under its hash; True unless the caller's user had sent it
    before (whether anyone else stored it does not show, in the answer or in the time it takes)."""
    expected = parse_hash(hash_hex, "xorb")
    hash_hex = expected.to_hex()
    if declared_length is not None and declared_length > MAX_XORB_SERIALIZED:
        raise PayloadTooLarge(f"A xorb may hold at most {MAX_XORB_SERIALIZED} bytes; this one says "
                              f"{declared_length}. Split the upload into smaller xorbs.")
    validator = XorbValidator(expected)
    # written whether the server holds it or not: how long this takes must not tell who else stored it
    upload = stores.xorbs.begin()
    pending: list[bytes] = []
    pending_len = 0

    def feed(pieces: list[bytes]) -> None:  # in a worker thread: joining (one copy), hashing, writing
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        validator.feed(data)
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
        upload.abort()
        raise _rejected(f"xorb {hash_hex}", exc) from None
    except BaseException:
        upload.abort()
        raise
    inserted = await anyio.to_thread.run_sync(_publish_xorb, stores, caller, info, upload)
    xet_prehash.note_xorb(stores, _uploader(caller), hash_hex, info.num_chunks,
                          sum(c.uncompressed_size for c in info.chunks))
    return inserted


def _uploader(caller: CasCaller) -> xet_prehash.ChainKey:
    return xet_prehash.chain_key(caller.repo.id, caller.principal.token_id)


def _publish_xorb(stores: Stores, caller: CasCaller, info: XorbInfo, upload: XorbUpload) -> bool:
    """Stores the validated xorb (the same bytes again when it is there already) and records that the caller's
    user uploaded it; True unless that user had uploaded it before (what others stored does not show)."""
    hash_hex = info.hash.to_hex()
    try:
        upload.truncate(info.content_length)  # a footer, if the client sent one, is not needed
        upload.publish(hash_hex)
    except BaseException:
        upload.abort()
        raise
    user = caller.principal.user_id
    now = time.time()
    keys = [(c.hash.to_hex(), hash_hex) for c in info.chunks if is_dedup_key_hash(c.hash)]
    if info.chunks:
        keys.append((info.chunks[0].hash.to_hex(), hash_hex))
    with stores.db.write() as conn:
        seen = user is not None and bool(xet_store.users_uploaded(conn, user, [hash_hex]))
        xet_store.insert_xorb(conn, info, now)
        xet_store.touch_xorbs(conn, [hash_hex], now)
        xet_store.link_repo_xorbs(conn, caller.repo.id, [hash_hex], now)
        if user is not None:
            xet_store.note_uploaded(conn, user, [hash_hex], now)
        xet_store.add_dedup_keys(conn, keys)
    return not seen


# shard upload --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _NewFile:
    file_hash: str
    sha256: str
    size: int
    segments: tuple[FileSegment, ...]


def upload_shard(stores: Stores, caller: CasCaller, body: bytes, cache_key: str | None = None) -> int:
    """Checks a shard against the stored xorbs and records its files for the token's repo; returns 1.

    (Not 0 when the repo held every file already: a caller who may only propose to a repo must not learn what it
    holds.) `cache_key` is the key in the CAS URL the client used, if any: when it is not its user's key any more,
    storage GC forgot xorbs since the upload began, and the error says to run it again (from a fresh cache)."""
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
                f"it references xorb {h}, which this server does not hold for you; "
                + _missing_xorb_hint(stores, caller, cache_key)))
    try:
        for entry in shard.xorbs:
            _check_entry(entry, records[entry.hash.to_hex()])
        check_shard_references(shard, {MerkleHash.from_hex(h): r.hashes_and_sizes() for h, r in records.items()},
                               require_verification=True)
    except XetFormatError as exc:
        raise _rejected("shard", exc) from None

    uploader = _uploader(caller)
    try:
        files = [_verified_file(stores, f, known_files.get(f.file_hash.to_hex()), records, uploader)
                 for f in shard.files]
    finally:
        xet_prehash.forget(stores, uploader)  # the uploader's next file starts a new chain
    return _register(stores, caller, shard, files, records)


def _missing_xorb_hint(stores: Stores, caller: CasCaller, cache_key: str | None) -> str:
    user = caller.principal.user_id
    if cache_key is not None and user is not None:
        with stores.db.read() as conn:
            current = xet_store.xet_cache_key(conn, user)
        if current != cache_key:
            return ("storage was collected on this server since this upload began, and your client's Xet cache "
                    "still lists what was removed: run the upload again (it starts from a fresh cache and sends it)")
    return "upload that xorb first"


def _check_entry(entry: XorbEntry, record: XorbRecord) -> None:
    if entry.hashes_and_sizes() != record.hashes_and_sizes():
        raise XetFormatError(f"its description of the chunks of xorb {record.hash} does not match the xorb")
    if entry.unpacked_bytes != record.unpacked_bytes:
        raise XetFormatError(f"it gives xorb {record.hash} {entry.unpacked_bytes} bytes, it holds "
                             f"{record.unpacked_bytes}")
    if entry.serialized_bytes not in (0, record.stored_bytes):
        raise XetFormatError(f"it gives xorb {record.hash} a stored length of {entry.serialized_bytes}, "
                             f"not {record.stored_bytes}")


def _verified_file(stores: Stores, f: FileInfo, known: XetFileRecord | None,
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
    with stores.db.write() as conn:
        missing = xet_store.touch_xorbs(conn, records, now)
        if missing:  # collected between the checks and now
            raise _rejected("shard", XetFormatError(
                f"xorb {min(missing)} was removed meanwhile; upload it again"))
        for f in files:
            xet_store.insert_file(conn, f.file_hash, f.sha256, f.size, f.segments, now)
            lfs_store.record_object(conn, repo.id, f.sha256, f.size, now)
        xet_store.link_repo_xorbs(conn, repo.id, records, now)
        xet_store.add_dedup_keys(conn, keys)
        stores.audit.record(conn, caller.principal, Event("xet.upload", repo, details={
            "files": [{"sha256": f.sha256, "xet": f.file_hash, "size": f.size} for f in files[:100]],
            "files_total": len(files), "xorbs": len(records)}))
    return 1


# global dedup --------------------------------------------------------------------------------------------------------

def dedup(stores: Stores, caller: CasCaller, chunk_hex: str) -> bytes:
    """The keyed shard answering a global-dedup query, listing only xorbs the caller may name through a repo it
    may download from or its own uploads (not through earlier answers: an answer cannot prolong itself). Its user
    may name them until the answer expires, even if those repos go away meanwhile (the client keeps the answer)."""
    chunk = parse_hash(chunk_hex, "chunk").to_hex()
    with stores.db.read() as conn:
        candidates = xet_store.dedup_candidates(conn, chunk)
    usable = referencable(stores, caller, set(candidates), answered=False)
    chosen = [h for h in candidates if h in usable and stores.xorbs.exists(h)][:MAX_DEDUP_XORBS]
    if not chosen:
        raise NotFound("No deduplication information for this chunk.")
    now = int(time.time())
    with stores.db.write() as conn:  # a shard may soon reference them: GC spares them for its grace window
        xet_store.touch_xorbs(conn, chosen, now)
        if caller.principal.user_id is not None:
            xet_store.note_answered(conn, caller.principal.user_id, chosen, now + DEDUP_ANSWER_S,
                                    now - DEDUP_ANSWER_GRACE_S)
        records = xet_store.get_xorbs(conn, chosen)
    return build_dedup_response([records[h].entry() for h in chosen if h in records], now=now,
                                valid_for=DEDUP_ANSWER_S)


# reconstruction ------------------------------------------------------------------------------------------------------

def reconstruction(stores: Stores, signer: Signer, caller: CasCaller, file_hex: str, byte_range: ByteRange | None,
                   version: int, link: Callable[[XorbGrant], str]) -> dict[str, Any]:
    """Where the bytes of a file the token's repo holds are (all of it, or `byte_range` of it), with a signed grant
    for each xorb's ranges that `link` lays out as the URL to fetch them, for a caller who may download from that
    repo, whatever kind of token brought it here (a write token issued to propose a change to a gated repo does not
    read its files: refused, and audited as a refused download on a private or gated repo). Reads of private and
    gated repos are audited."""
    file_hex = parse_hash(file_hex, "file").to_hex()
    authorize_audited(stores, caller.principal, Action.DOWNLOAD, caller.repo)
    with stores.db.read() as conn:
        file = xet_store.file_by_hash(conn, file_hex)
        held = file is not None and lfs_store.repo_has_object(conn, caller.repo.id, file.sha256)
        records = xet_store.get_xorbs(conn, file.xorb_hashes()) if file is not None and held else {}
        hold = quarantine.held_back(conn, caller.repo, f"sha256:{file.sha256}") if file is not None else None
    if file is None or not held:
        raise NotFound(f"File {file_hex} is not stored in {caller.repo.repo_id}.")
    if hold is not None:  # held back by the organisation's policy: not served from this repo, by any path
        raise quarantine.refuse_download(caller.repo, hold.path, hold)
    span = byte_range.span(file.size) if byte_range is not None else None  # RangeError, with the file's size
    try:
        plan = plan_reconstruction(file.segments, {MerkleHash.from_hex(h): r.layout() for h, r in records.items()},
                                   span)
    except RangeNotSatisfiable as exc:
        raise RangeError(f"{exc}; ask for bytes inside the file.", size=file.size) from None
    except XetFormatError as exc:
        raise BadRequest(f"Cannot answer this reconstruction: {exc}.") from None
    note_read(stores, caller, file.sha256, file_hex)

    def url_for(xorb_hash: MerkleHash, ranges: Sequence[FetchRange]) -> str:
        return link(grant_xorb(signer, xorb_hash, ranges, caller))

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


def paths_at(stores: Stores, commit: str, sha256: str) -> list[str]:
    """The paths of the large file `sha256` in the tree of `commit` (sorted; a small LRU per commit, in the app's
    runtime)."""
    found = stores.runtime.commit_paths.get(commit)
    if found is None:
        found = {}
        with stores.db.read() as conn:
            tree = stores.objects.commit(conn, commit).tree
            items = [(p, e) for p, e in walk(stores.objects, conn, tree) if not e.is_tree]
            for entry in describe(conn, items):
                if entry.lfs is not None:
                    found.setdefault(entry.lfs.oid, []).append(entry.path)
        stores.runtime.commit_paths.put(commit, found)
    return sorted(found.get(sha256, []))


# signed xorb byte ranges ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class XorbGrant:
    """The right to read these byte ranges of a xorb, for the Hub token that read the reconstruction (None:
    anonymous) while it may download from the repo it was read from, until `exp`. The web layer lays it out as a
    URL (web/hub/cas.py) and reads it back; `sig` signs all the rest."""

    xorb_hex: str
    spans: tuple[tuple[int, int], ...]  # inclusive byte ranges of the stored xorb
    repo_pk: int
    token_id: int | None
    exp: int
    sig: str


def _xorb_message(xorb_hex: str, spans: Sequence[tuple[int, int]], repo_pk: int, token_id: int | None) -> str:
    text = ",".join(f"{a}-{b}" for a, b in spans)
    return f"xorb|{xorb_hex}|{text}|{repo_pk}|{'' if token_id is None else token_id}"


def grant_xorb(signer: Signer, xorb_hash: MerkleHash, ranges: Sequence[FetchRange], caller: CasCaller) -> XorbGrant:
    """A grant for these byte ranges of a xorb, for an hour, bound to the caller's Hub token and repo (checked again
    when it is used)."""
    spans = tuple((r.byte_start, r.byte_end) for r in ranges)
    hex_, repo, token = xorb_hash.to_hex(), caller.repo.id, caller.grant.token_id
    exp, sig = signer.sign(_xorb_message(hex_, spans, repo, token), XORB_URL_TTL_S)
    return XorbGrant(hex_, spans, repo, token, exp, sig)


XORB_LINK_INVALID = ("This xorb link is not valid or has expired: ask the CAS for the file's reconstruction again "
                     "(the client does this by itself).")


def merge_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive byte ranges sorted, with overlapping and adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class XorbRead:
    size: int  # stored length of the xorb's chunk data
    ranges: list[tuple[int, int]]  # inclusive, sorted, disjoint, each inside what the URL allows


def open_xorb_ranges(stores: Stores, signer: Signer, grant: XorbGrant,
                     wanted: Sequence[tuple[int, int]] | None) -> XorbRead:
    """Checks a xorb grant's signature (and that its caller may still download from its repo) and the inclusive
    byte ranges asked for (None: all the grant allows); the ranges to send. Overlapping or adjacent asks are merged,
    so no byte goes out twice and never more than the signed ranges cover."""
    xorb_hex = parse_hash(grant.xorb_hex, "xorb").to_hex()
    try:
        signer.verify(_xorb_message(xorb_hex, grant.spans, grant.repo_pk, grant.token_id), grant.exp, grant.sig,
                      renew="ask the CAS for the reconstruction again")
    except InhouseError:
        raise Forbidden(XORB_LINK_INVALID) from None
    allowed = merge_ranges(grant.spans)
    try:
        xet_tokens.check_link(stores, grant.token_id, grant.repo_pk)
    except InhouseError:
        raise Forbidden("This xorb link is no longer valid: the token it was issued for was revoked or lost access "
                        "to the repo. Ask for the file again with a valid token.") from None
    with stores.db.read() as conn:
        rec = xet_store.get_xorbs(conn, [xorb_hex]).get(xorb_hex)
    if rec is None or not stores.xorbs.exists(xorb_hex):
        raise NotFound(f"Xorb {xorb_hex} is not stored here any more; ask for the reconstruction again.")
    ranges = allowed if wanted is None else merge_ranges(wanted)
    for a, b in ranges:
        if b >= rec.stored_bytes or not any(lo <= a and b <= hi for lo, hi in allowed):
            raise RangeError(f"Bytes {a}-{b} are outside what this link allows.", size=rec.stored_bytes)
    return XorbRead(rec.stored_bytes, ranges)


def read_xorb(stores: Stores, xorb_hex: str, start: int, end_inclusive: int) -> Iterator[bytes]:
    return stores.xorbs.read(xorb_hex, start, end_inclusive + 1)
