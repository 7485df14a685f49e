"""Global deduplication: which chunks are query keys, and keyed answers.

Clients ask ``GET /v1/chunks/default/{chunk_hash}`` for a few chunks of each
file: the first chunk of every file, and chunks whose hash is 0 modulo 1024
(the last 8 bytes read as a little-endian u64), at most one query per ~4 MB.
The server therefore indexes exactly those chunks when a shard is uploaded
(:func:`eligible_chunk_hashes`) and answers a hit with a shard that lists
xorbs the client may reference (empty file section, footer included).

In that answer every chunk hash is replaced by ``blake3(chunk_hash,
key=hmac_key)`` and the key travels in the footer. A client can recognise
chunks it already has (it keys its own hashes and compares) and so reuse
those xorb ranges, but it learns no raw hash of any chunk it does not hold,
and raw chunk hashes are what a shard upload needs to prove possession
(verification hashes). Use a fresh or regularly rotated key per answer, so
keyed hashes cannot be correlated across answers, and only list xorbs the
asking tenant is allowed to read.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

from .errors import XetFormatError
from .hashing import HASH_LEN, MerkleHash, hmac_hash
from .shard import CHUNK_FLAG_GLOBAL_DEDUP, Shard, XorbEntry, serialize_shard

GLOBAL_DEDUP_MODULUS = 1024
#: How long a client may use a dedup answer (the footer's key expiry).
DEFAULT_KEY_LIFETIME = 7 * 24 * 3600


def is_dedup_key_hash(chunk_hash: MerkleHash) -> bool:
    """True when a chunk's hash alone makes it a global-dedup query key."""
    return chunk_hash.mod(GLOBAL_DEDUP_MODULUS) == 0


def eligible_chunk_hashes(shard: Shard) -> set[MerkleHash]:
    """Chunk hashes of an uploaded shard to index for global dedup queries.

    Those are: the first chunk of every file whose xorb is described in the
    shard, every chunk the client flagged, and every chunk whose hash is a
    dedup key (:func:`is_dedup_key_hash`).
    """
    by_hash = {entry.hash: entry for entry in shard.xorbs}
    eligible: set[MerkleHash] = set()
    for f in shard.files:
        if not f.segments:
            continue
        first = f.segments[0]
        entry = by_hash.get(first.xorb_hash)
        if entry is not None and first.chunk_start < len(entry.chunks):
            eligible.add(entry.chunks[first.chunk_start].hash)
    for entry in shard.xorbs:
        for chunk in entry.chunks:
            if chunk.flags & CHUNK_FLAG_GLOBAL_DEDUP or is_dedup_key_hash(chunk.hash):
                eligible.add(chunk.hash)
    return eligible


def new_hmac_key() -> bytes:
    """A random 32-byte key for one dedup answer."""
    while True:
        key = secrets.token_bytes(HASH_LEN)
        if any(key):
            return key


def build_dedup_response(
    xorbs: Sequence[XorbEntry],
    hmac_key: bytes | None = None,
    *,
    now: int | None = None,
    valid_for: int = DEFAULT_KEY_LIFETIME,
) -> bytes:
    """The shard answering a global dedup hit: these xorbs, chunk hashes keyed.

    ``hmac_key`` defaults to a fresh random key. The footer records it with
    the creation time and an expiry ``valid_for`` seconds later.
    """
    if not xorbs:
        raise XetFormatError("a dedup answer lists at least one xorb (answer 404 instead)")
    key = new_hmac_key() if hmac_key is None else hmac_key
    created = int(time.time()) if now is None else now
    entries = [XorbEntry(x.hash, list(x.chunks), x.unpacked_bytes, x.serialized_bytes) for x in xorbs]
    return serialize_shard(
        Shard(files=[], xorbs=entries),
        with_footer=True,
        hmac_key=key,
        creation_timestamp=created,
        key_expiry=created + valid_for,
    )


def find_chunk(shard: Shard, chunk_hash: MerkleHash) -> list[tuple[MerkleHash, int]]:
    """Where a chunk the caller holds appears in a (possibly keyed) shard.

    This is the client's side of the scheme: key the known hash with the
    shard's key, if it has one, and look it up. Returns (xorb hash, chunk
    index) pairs.
    """
    key = shard.footer.hmac_key if shard.footer is not None else None
    wanted = hmac_hash(chunk_hash, key) if key else chunk_hash
    return [
        (entry.hash, index) for entry in shard.xorbs for index, chunk in enumerate(entry.chunks) if chunk.hash == wanted
    ]
