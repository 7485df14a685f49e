"""Xet hashes: the 32-byte MerkleHash type and the keyed BLAKE3 functions.

Every hash in Xet is 32 bytes. They are computed with BLAKE3 in keyed mode, a
different key per purpose:

* chunk hash: ``blake3(chunk_bytes, key=DATA_KEY)``;
* internal node of the merkle tree: ``blake3(text, key=INTERNAL_NODE_KEY)``
  where ``text`` lists the children as ``"{hash_hex} : {size}\\n"`` lines;
* xorb hash: root of the merkle tree over the xorb's (chunk hash, size) pairs;
* file hash: the same tree over all of a file's chunks, then that root
  hashed once more with an all-zero key (the "salt"); an empty file's hash is
  all zeros;
* verification (range) hash: ``blake3(concat(raw chunk hashes), key=VERIFICATION_KEY)``;
* HMAC of a chunk hash (global dedup): ``blake3(raw hash, key=hmac_key)``.

String form. Hashes appear as 64 hex characters in URLs, JSON and in the
internal node text, but NOT as the plain hex of the 32 bytes: each 8-byte
word is read as a little-endian u64 and printed as 16 hex digits. So the
bytes ``00 01 .. 07 | 08 .. 0f | ...`` print as ``0706050403020100 0f0e..08 ...``.
:meth:`MerkleHash.to_hex` / :meth:`MerkleHash.from_hex` do that conversion;
``bytes.hex()`` (inherited) still gives the raw byte order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Self

from blake3 import blake3

from .errors import XetFormatError

HASH_LEN = 32

# fmt: off
DATA_KEY = bytes(
    [102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]
)
INTERNAL_NODE_KEY = bytes(
    [1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]
)
VERIFICATION_KEY = bytes(
    [127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195]
)
# fmt: on
#: The salt of the plain file hash: 32 zero bytes.
ZERO_SALT = bytes(32)

#: Mean branching factor of the aggregated merkle tree: a node is closed after a
#: child whose hash is 0 mod 4 (with at least 3 and at most 9 children, except
#: at the end of a level where 1 or 2 remain).
TREE_BRANCHING_FACTOR = 4
_MAX_GROUP = 2 * TREE_BRANCHING_FACTOR + 1

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_WORDS = struct.Struct("<4Q")


class MerkleHash(bytes):
    """A 32-byte Xet hash (raw bytes; ``str()`` gives the API hex form)."""

    __slots__ = ()

    def __new__(cls, value: bytes | bytearray | memoryview) -> Self:
        raw = bytes(value)
        if len(raw) != HASH_LEN:
            raise XetFormatError(f"a Xet hash is {HASH_LEN} bytes, got {len(raw)}")
        return super().__new__(cls, raw)

    @classmethod
    def from_hex(cls, text: str) -> Self:
        """Parse the 64-character API/URL form (little-endian 8-byte words)."""
        if len(text) != 2 * HASH_LEN or not _HEX_DIGITS.issuperset(text):
            raise XetFormatError(f"not a Xet hash (want 64 hex characters): {text[:80]!r}")
        words = [int(text[i : i + 16], 16) for i in range(0, 64, 16)]
        return cls(_WORDS.pack(*words))

    def to_hex(self) -> str:
        """The 64-character API/URL form (each 8-byte word as a little-endian u64)."""
        return "".join(f"{w:016x}" for w in _WORDS.unpack(self))

    def words(self) -> tuple[int, ...]:
        """The hash as four little-endian u64 words (xet-core's ``[u64; 4]``)."""
        return tuple(_WORDS.unpack(self))

    def truncated(self) -> int:
        """The first word, used as the key of shard lookup tables."""
        return int(_WORDS.unpack(self)[0])

    def mod(self, modulus: int) -> int:
        """The last word modulo ``modulus`` (xet-core's ``hash % n``)."""
        return int(_WORDS.unpack(self)[3]) % modulus

    def __str__(self) -> str:
        return self.to_hex()

    def __repr__(self) -> str:
        return f"MerkleHash.from_hex({self.to_hex()!r})"


ZERO_HASH = MerkleHash(bytes(HASH_LEN))
#: All one bits: the bookend marker of shard sections.
BOOKEND_HASH = MerkleHash(b"\xff" * HASH_LEN)


def as_hash(value: MerkleHash | bytes | str) -> MerkleHash:
    """Coerce raw bytes or the API hex form to a :class:`MerkleHash`."""
    if isinstance(value, MerkleHash):
        return value
    if isinstance(value, str):
        return MerkleHash.from_hex(value)
    return MerkleHash(value)


def keyed_hash(data: bytes | bytearray | memoryview, key: bytes) -> MerkleHash:
    """BLAKE3 in keyed mode with a 32-byte key."""
    if len(key) != HASH_LEN:
        raise XetFormatError(f"a BLAKE3 key is {HASH_LEN} bytes, got {len(key)}")
    return MerkleHash(blake3(data, key=key).digest())


def compute_chunk_hash(data: bytes | bytearray | memoryview) -> MerkleHash:
    """Hash of one chunk's (uncompressed) bytes."""
    return MerkleHash(blake3(data, key=DATA_KEY).digest())


def compute_internal_node_hash(text: bytes) -> MerkleHash:
    """Hash of an internal merkle node, given its ``hash : size`` lines."""
    return MerkleHash(blake3(text, key=INTERNAL_NODE_KEY).digest())


def hmac_hash(value: MerkleHash | bytes, key: bytes) -> MerkleHash:
    """Xet's "HMAC" of a hash: BLAKE3 keyed by ``key`` over the 32 raw bytes."""
    return keyed_hash(value, key)


def merge_hashes(children: Sequence[tuple[MerkleHash, int]]) -> tuple[MerkleHash, int]:
    """One internal node: the hash of its children's lines, and their total size."""
    text = "".join(f"{h.to_hex()} : {size}\n" for h, size in children)
    return compute_internal_node_hash(text.encode("ascii")), sum(size for _, size in children)


def _next_cut(level: Sequence[tuple[MerkleHash, int]], start: int) -> int:
    """How many nodes starting at ``start`` form the next parent."""
    remaining = len(level) - start
    if remaining <= 2:
        return remaining
    end = min(_MAX_GROUP, remaining)
    for i in range(2, end):
        if level[start + i][0].mod(TREE_BRANCHING_FACTOR) == 0:
            return i + 1
    return end


def aggregated_hash(chunks: Iterable[tuple[MerkleHash, int]]) -> MerkleHash:
    """Root of Xet's content-defined merkle tree over (hash, size) leaves.

    Each level is cut into groups (closing a group after a node whose hash is
    0 mod 4, groups of 3..9, the tail of a level may be 1 or 2); each group
    becomes one parent via :func:`merge_hashes`, until one node is left. An
    empty list gives the zero hash; one leaf is its own root.
    """
    level = [(as_hash(h), int(size)) for h, size in chunks]
    if not level:
        return ZERO_HASH
    while len(level) > 1:
        parents: list[tuple[MerkleHash, int]] = []
        i = 0
        while i < len(level):
            n = _next_cut(level, i)
            parents.append(merge_hashes(level[i : i + n]))
            i += n
        level = parents
    return level[0][0]


def compute_xorb_hash(chunks: Iterable[tuple[MerkleHash, int]]) -> MerkleHash:
    """The xorb hash: merkle root over the xorb's (chunk hash, uncompressed size)."""
    return aggregated_hash(chunks)


def compute_file_hash(chunks: Iterable[tuple[MerkleHash, int]], salt: bytes = ZERO_SALT) -> MerkleHash:
    """The file hash (file id): merkle root re-hashed keyed by ``salt``.

    A file with no chunks (the empty file) hashes to all zeros.
    """
    chunk_list = list(chunks)
    if not chunk_list:
        return ZERO_HASH
    return keyed_hash(aggregated_hash(chunk_list), salt)


def compute_verification_hash(chunk_hashes: Iterable[MerkleHash | bytes]) -> MerkleHash:
    """Verification hash of a term: keyed hash over the concatenated raw chunk hashes."""
    hasher = blake3(key=VERIFICATION_KEY)
    for h in chunk_hashes:
        if len(h) != HASH_LEN:
            raise XetFormatError(f"a Xet hash is {HASH_LEN} bytes, got {len(h)}")
        hasher.update(h)
    return MerkleHash(hasher.digest())


def swap_words(raw: bytes) -> bytes:
    """Reverse the bytes within each 8-byte word (an involution)."""
    if len(raw) != HASH_LEN:
        raise XetFormatError(f"expected {HASH_LEN} bytes, got {len(raw)}")
    return b"".join(raw[i : i + 8][::-1] for i in range(0, HASH_LEN, 8))


def sha256_to_stored(digest: bytes) -> MerkleHash:
    """Encode a SHA-256 digest the way shards store it (FileMetadataExt).

    xet-core keeps a SHA-256 as a MerkleHash whose *string form* equals the
    usual sha256 hex digest, so the stored bytes are the digest with each
    8-byte word reversed.
    """
    return MerkleHash(swap_words(digest))


def stored_to_sha256(stored: bytes) -> bytes:
    """Inverse of :func:`sha256_to_stored`: the plain 32-byte SHA-256 digest."""
    return swap_words(stored)
