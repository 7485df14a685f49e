"""Shards (MDB shard files): parse and validate uploads, serialize new ones.

Layout (all integers little-endian, every record 48 bytes)::

    header      tag[32] | version u64 (=2) | footer_size u64 (0 or 200)
    file info   per file: FileDataSequenceHeader
                            file_hash[32] | flags u32 | num_entries u32 | unused[8]
                          num_entries x FileDataSequenceEntry
                            xorb_hash[32] | xorb_flags u32 | unpacked_bytes u32 | chunk_start u32 | chunk_end u32
                          num_entries x FileVerificationEntry  (if flags & 1<<31)
                            range_hash[32] | unused[16]
                          1 x FileMetadataExt                  (if flags & 1<<30)
                            sha256[32] | unused[16]
                bookend: 32 x 0xff + 16 x 0x00
    xorb info   per xorb: CASChunkSequenceHeader
                            xorb_hash[32] | flags u32 | num_entries u32 | bytes_in_xorb u32 | bytes_on_disk u32
                          num_entries x CASChunkSequenceEntry
                            chunk_hash[32] | unpacked_offset u32 | unpacked_bytes u32 | flags u32 | unused u32
                bookend
    [lookup tables and 200-byte footer]   (omitted in uploads: footer_size = 0)

The footer as xet-core writes it (the spec calls most of it "reserved")::

    version u64 (=1) | file_info_offset | xorb_info_offset
    file_lookup_offset | file_lookup_num | xorb_lookup_offset | xorb_lookup_num
    chunk_lookup_offset | chunk_lookup_num | chunk_hash_hmac_key[32]
    creation_timestamp | key_expiry | reserved[48]
    stored_bytes_on_disk | materialized_bytes | stored_bytes | footer_offset

Lookup tables map the first 8 bytes of a hash (as a u64) to the index, in
48-byte records from the start of its section, of the file/xorb record (and
for chunks also the chunk's index in its xorb); each is sorted by that key.
Clients search them when they load a shard into their dedup cache.

Quirks the spec does not spell out: a chunk's ``chunk_byte_range_start`` is
its offset in the xorb's *uncompressed* data (the sum of the sizes of the
chunks before it), not in the serialized xorb; clients send
``bytes_on_disk = 0``; and the SHA-256 in FileMetadataExt is stored
word-swapped (its API hex form is the usual hex digest), see
:func:`.hashing.sha256_to_stored`. The model here exposes the plain digest.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import XetFormatError
from .hashing import (
    BOOKEND_HASH,
    HASH_LEN,
    ZERO_HASH,
    MerkleHash,
    compute_file_hash,
    compute_verification_hash,
    hmac_hash,
    sha256_to_stored,
    stored_to_sha256,
)
from .xorb import XorbInfo

SHARD_HEADER_TAG = bytes(
    b"HFRepoMetaData\x00" + bytes([85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169])
)
SHARD_HEADER_VERSION = 2
SHARD_FOOTER_VERSION = 1
SHARD_HEADER_SIZE = 48
SHARD_FOOTER_SIZE = 200
ENTRY_SIZE = 48
#: Uploads larger than this must be split by the client.
MAX_SHARD_SIZE = 64 * 1024 * 1024

FILE_FLAG_WITH_VERIFICATION = 1 << 31
FILE_FLAG_WITH_METADATA_EXT = 1 << 30
#: Chunk flag: the client marked this chunk as a global-dedup key.
CHUNK_FLAG_GLOBAL_DEDUP = 1 << 31
#: Expiry of a shard that never expires.
NO_EXPIRY = (1 << 64) - 1

_ENTRY = struct.Struct("<32sIIII")  # FileDataSequenceEntry / CAS header / CAS entry
_FILE_HEADER = struct.Struct("<32sIIQ")
_HASH_AND_PAD = struct.Struct("<32s16s")
_HEADER = struct.Struct("<32sQQ")
_FOOTER = struct.Struct("<9Q32sQQ48s4Q")
_LOOKUP = struct.Struct("<QI")
_CHUNK_LOOKUP = struct.Struct("<QII")
_BOOKEND = BOOKEND_HASH + bytes(16)
assert _FOOTER.size == SHARD_FOOTER_SIZE


@dataclass(frozen=True)
class FileSegment:
    """One term of a file: chunks ``[chunk_start, chunk_end)`` of a xorb."""

    xorb_hash: MerkleHash
    chunk_start: int
    chunk_end: int
    unpacked_bytes: int
    flags: int = 0


@dataclass
class FileInfo:
    """A file reconstruction as carried in a shard's file info section."""

    file_hash: MerkleHash
    segments: list[FileSegment]
    #: One verification (range) hash per segment, or None when the shard has none.
    verification_hashes: list[MerkleHash] | None = None
    #: Plain 32-byte SHA-256 digest of the file, if the client sent one.
    sha256: bytes | None = None

    @property
    def size(self) -> int:
        return sum(s.unpacked_bytes for s in self.segments)

    @property
    def flags(self) -> int:
        flags = 0
        if self.verification_hashes is not None:
            flags |= FILE_FLAG_WITH_VERIFICATION
        if self.sha256 is not None:
            flags |= FILE_FLAG_WITH_METADATA_EXT
        return flags


@dataclass(frozen=True)
class ShardChunk:
    """A chunk listed in a shard's xorb info section."""

    hash: MerkleHash
    #: Where the chunk starts in the xorb's uncompressed data (sum of earlier chunk sizes).
    unpacked_offset: int
    unpacked_bytes: int
    flags: int = 0


@dataclass
class XorbEntry:
    """A xorb listed in a shard's xorb (CAS) info section."""

    hash: MerkleHash
    chunks: list[ShardChunk]
    #: Sum of the chunks' uncompressed sizes.
    unpacked_bytes: int
    #: Length of the serialized xorb; clients send 0 here.
    serialized_bytes: int
    flags: int = 0

    @classmethod
    def from_xorb_info(cls, info: XorbInfo) -> XorbEntry:
        chunks = []
        offset = 0
        for c in info.chunks:
            chunks.append(ShardChunk(c.hash, offset, c.uncompressed_size))
            offset += c.uncompressed_size
        return cls(info.hash, chunks, offset, info.content_length)

    def hashes_and_sizes(self) -> list[tuple[MerkleHash, int]]:
        return [(c.hash, c.unpacked_bytes) for c in self.chunks]


@dataclass(frozen=True)
class ShardFooter:
    """The 200-byte footer (absent from uploaded shards)."""

    file_info_offset: int
    xorb_info_offset: int
    file_lookup_offset: int
    file_lookup_count: int
    xorb_lookup_offset: int
    xorb_lookup_count: int
    chunk_lookup_offset: int
    chunk_lookup_count: int
    chunk_hash_hmac_key: MerkleHash
    creation_timestamp: int
    key_expiry: int
    stored_bytes_on_disk: int
    materialized_bytes: int
    stored_bytes: int
    footer_offset: int
    version: int = SHARD_FOOTER_VERSION

    @property
    def hmac_key(self) -> bytes | None:
        """The key protecting the chunk hashes, or None when they are plain."""
        return None if self.chunk_hash_hmac_key == ZERO_HASH else bytes(self.chunk_hash_hmac_key)


@dataclass
class Shard:
    files: list[FileInfo] = field(default_factory=list)
    xorbs: list[XorbEntry] = field(default_factory=list)
    footer: ShardFooter | None = None

    def xorb(self, xorb_hash: MerkleHash) -> XorbEntry | None:
        for entry in self.xorbs:
            if entry.hash == xorb_hash:
                return entry
        return None


class _Cursor:
    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0

    def remaining(self) -> int:
        return len(self.view) - self.pos

    def need(self, n: int, what: str) -> None:
        if self.remaining() < n:
            raise XetFormatError(f"shard truncated at byte {self.pos}: {what} needs {n} bytes, {self.remaining()} left")

    def unpack(self, fmt: struct.Struct, what: str) -> tuple[Any, ...]:
        self.need(fmt.size, what)
        values = fmt.unpack_from(self.view, self.pos)
        self.pos += fmt.size
        return values


def _parse_file_section(cur: _Cursor) -> list[FileInfo]:
    files: list[FileInfo] = []
    while True:
        where = f"file info record at byte {cur.pos}"
        raw_hash, flags, num_entries, _unused = cur.unpack(_FILE_HEADER, where)
        if raw_hash == BOOKEND_HASH:
            return files
        file_hash = MerkleHash(raw_hash)
        n_records = num_entries * (1 + bool(flags & FILE_FLAG_WITH_VERIFICATION))
        n_records += bool(flags & FILE_FLAG_WITH_METADATA_EXT)
        cur.need(n_records * ENTRY_SIZE, f"file {file_hash} ({num_entries} segments)")
        segments = []
        for i in range(num_entries):
            xorb_hash, xorb_flags, unpacked, start, end = _ENTRY.unpack_from(cur.view, cur.pos)
            if not start < end:
                raise XetFormatError(f"file {file_hash} segment {i}: empty or reversed chunk range [{start}, {end})")
            if unpacked == 0:
                raise XetFormatError(f"file {file_hash} segment {i}: zero unpacked bytes")
            segments.append(FileSegment(MerkleHash(xorb_hash), start, end, unpacked, xorb_flags))
            cur.pos += ENTRY_SIZE
        verification = None
        if flags & FILE_FLAG_WITH_VERIFICATION:
            verification = []
            for _ in range(num_entries):
                range_hash, _pad = _HASH_AND_PAD.unpack_from(cur.view, cur.pos)
                verification.append(MerkleHash(range_hash))
                cur.pos += ENTRY_SIZE
        sha256 = None
        if flags & FILE_FLAG_WITH_METADATA_EXT:
            stored, _pad = _HASH_AND_PAD.unpack_from(cur.view, cur.pos)
            sha256 = stored_to_sha256(stored)
            cur.pos += ENTRY_SIZE
        files.append(FileInfo(file_hash, segments, verification, sha256))


def _parse_xorb_section(cur: _Cursor) -> list[XorbEntry]:
    xorbs: list[XorbEntry] = []
    while True:
        where = f"xorb info record at byte {cur.pos}"
        raw_hash, flags, num_entries, bytes_in_xorb, bytes_on_disk = cur.unpack(_ENTRY, where)
        if raw_hash == BOOKEND_HASH:
            return xorbs
        xorb_hash = MerkleHash(raw_hash)
        if num_entries == 0:
            raise XetFormatError(f"xorb {xorb_hash} is listed with no chunks")
        cur.need(num_entries * ENTRY_SIZE, f"xorb {xorb_hash} ({num_entries} chunks)")
        chunks = []
        total = 0
        for i in range(num_entries):
            chunk_hash, offset, unpacked, chunk_flags, _unused = _ENTRY.unpack_from(cur.view, cur.pos)
            cur.pos += ENTRY_SIZE
            if offset != total:
                raise XetFormatError(
                    f"xorb {xorb_hash} chunk {i}: starts at uncompressed offset {offset}, "
                    f"the chunks before it add up to {total}"
                )
            if unpacked == 0:
                raise XetFormatError(f"xorb {xorb_hash} chunk {i}: zero unpacked bytes")
            total += unpacked
            chunks.append(ShardChunk(MerkleHash(chunk_hash), offset, unpacked, chunk_flags))
        if total != bytes_in_xorb:
            raise XetFormatError(f"xorb {xorb_hash}: chunks add up to {total} bytes, the record says {bytes_in_xorb}")
        xorbs.append(XorbEntry(xorb_hash, chunks, bytes_in_xorb, bytes_on_disk, flags))


def _parse_footer(view: memoryview, footer_start: int, sections_end: int, cas_start: int) -> ShardFooter:
    values = _FOOTER.unpack_from(view, footer_start)
    (
        version,
        file_off,
        xorb_off,
        fl_off,
        fl_n,
        xl_off,
        xl_n,
        cl_off,
        cl_n,
        key,
        created,
        expiry,
        _reserved,
        on_disk,
        materialized,
        stored,
        footer_off,
    ) = values
    if version != SHARD_FOOTER_VERSION:
        raise XetFormatError(f"shard footer version {version}, only {SHARD_FOOTER_VERSION} is known")
    if file_off != SHARD_HEADER_SIZE or xorb_off != cas_start or footer_off != footer_start:
        raise XetFormatError("shard footer section offsets do not match the shard layout")
    tables = [(fl_off, fl_n, _LOOKUP.size), (xl_off, xl_n, _LOOKUP.size), (cl_off, cl_n, _CHUNK_LOOKUP.size)]
    for offset, count, size in tables:
        if not sections_end <= offset <= offset + count * size <= footer_start:
            raise XetFormatError("shard footer lookup tables lie outside the lookup area")
    return ShardFooter(
        file_off,
        xorb_off,
        fl_off,
        fl_n,
        xl_off,
        xl_n,
        cl_off,
        cl_n,
        MerkleHash(key),
        created,
        expiry,
        on_disk,
        materialized,
        stored,
        footer_off,
        version,
    )


def parse_shard(
    data: bytes | bytearray | memoryview,
    *,
    allow_footer: bool = True,
    max_size: int = MAX_SHARD_SIZE,
) -> Shard:
    """Parse and structurally validate a serialized shard.

    Checks the magic tag and versions, that every record is complete, chunk
    ranges and offsets are ordered, byte totals add up, both bookends are
    present, verification entries are on all files or none, and nothing
    trails the last section (or the footer). An upload must not carry a
    footer: pass ``allow_footer=False`` for that. Whether the referenced
    xorbs exist and the hashes are right is :func:`check_shard_references`'s job.
    """
    view = memoryview(data).cast("B")
    if len(view) > max_size:
        raise XetFormatError(f"shard is larger than the {max_size}-byte limit")
    cur = _Cursor(view)
    tag, version, footer_size = cur.unpack(_HEADER, "header")
    if tag != SHARD_HEADER_TAG:
        raise XetFormatError("not a shard: wrong magic tag")
    if version != SHARD_HEADER_VERSION:
        raise XetFormatError(f"shard header version {version}, only {SHARD_HEADER_VERSION} is known")
    if footer_size not in (0, SHARD_FOOTER_SIZE):
        raise XetFormatError(f"shard footer size {footer_size}, expected 0 or {SHARD_FOOTER_SIZE}")
    if footer_size and not allow_footer:
        raise XetFormatError("an uploaded shard must not include a footer")

    files = _parse_file_section(cur)
    with_verification = {f.verification_hashes is not None for f in files}
    if len(with_verification) > 1:
        raise XetFormatError("some files in the shard have verification entries and some do not")
    cas_start = cur.pos
    xorbs = _parse_xorb_section(cur)

    footer = None
    if footer_size:
        footer_start = len(view) - SHARD_FOOTER_SIZE
        if footer_start < cur.pos:
            raise XetFormatError("shard truncated: no room for the footer after the xorb info section")
        footer = _parse_footer(view, footer_start, cur.pos, cas_start)
    elif cur.remaining():
        raise XetFormatError(f"{cur.remaining()} unexpected bytes after the shard's xorb info section")
    return Shard(files, xorbs, footer)


def _lookup_tables(
    shard: Shard, chunk_hashes: Sequence[Sequence[MerkleHash]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int, int]]]:
    file_lookup: list[tuple[int, int]] = []
    index = 0
    for f in shard.files:
        file_lookup.append((f.file_hash.truncated(), index))
        index += 1 + len(f.segments) * (1 + (f.verification_hashes is not None)) + (f.sha256 is not None)
    xorb_lookup: list[tuple[int, int]] = []
    chunk_lookup: list[tuple[int, int, int]] = []
    index = 0
    for entry, hashes in zip(shard.xorbs, chunk_hashes, strict=True):
        xorb_lookup.append((entry.hash.truncated(), index))
        chunk_lookup.extend((h.truncated(), index, i) for i, h in enumerate(hashes))
        index += 1 + len(entry.chunks)
    return sorted(file_lookup), sorted(xorb_lookup), sorted(chunk_lookup)


def serialize_shard(
    shard: Shard,
    *,
    with_footer: bool = False,
    hmac_key: bytes | None = None,
    creation_timestamp: int | None = None,
    key_expiry: int | None = None,
) -> bytes:
    """Serialize a shard.

    Without a footer this is the upload form. With ``with_footer`` the lookup
    tables and footer are added, as clients expect of shards they download
    (global dedup responses). ``hmac_key`` replaces every chunk hash by its
    keyed hash and records the key in the footer (it requires the footer).
    """
    if hmac_key is not None:
        if len(hmac_key) != HASH_LEN or hmac_key == bytes(HASH_LEN):
            raise XetFormatError("an HMAC key must be 32 bytes and not all zero")
        if not with_footer:
            raise XetFormatError("an HMAC-protected shard needs its footer to carry the key")
    for f in shard.files:
        if f.verification_hashes is not None and len(f.verification_hashes) != len(f.segments):
            raise XetFormatError(f"file {f.file_hash}: need one verification hash per segment")
    if len({f.verification_hashes is not None for f in shard.files}) > 1:
        raise XetFormatError("verification entries must be on all files or none")

    parts: list[bytes] = [_HEADER.pack(SHARD_HEADER_TAG, SHARD_HEADER_VERSION, SHARD_FOOTER_SIZE if with_footer else 0)]
    for f in shard.files:
        parts.append(_FILE_HEADER.pack(f.file_hash, f.flags, len(f.segments), 0))
        parts.extend(
            _ENTRY.pack(s.xorb_hash, s.flags, s.unpacked_bytes, s.chunk_start, s.chunk_end) for s in f.segments
        )
        if f.verification_hashes is not None:
            parts.extend(_HASH_AND_PAD.pack(h, bytes(16)) for h in f.verification_hashes)
        if f.sha256 is not None:
            parts.append(_HASH_AND_PAD.pack(sha256_to_stored(f.sha256), bytes(16)))
    parts.append(_BOOKEND)
    xorb_info_offset = sum(len(p) for p in parts)

    chunk_hashes: list[list[MerkleHash]] = []
    for entry in shard.xorbs:
        parts.append(
            _ENTRY.pack(entry.hash, entry.flags, len(entry.chunks), entry.unpacked_bytes, entry.serialized_bytes)
        )
        hashes = [hmac_hash(c.hash, hmac_key) if hmac_key else c.hash for c in entry.chunks]
        chunk_hashes.append(hashes)
        parts.extend(
            _ENTRY.pack(h, c.unpacked_offset, c.unpacked_bytes, c.flags, 0)
            for h, c in zip(hashes, entry.chunks, strict=True)
        )
    parts.append(_BOOKEND)
    if not with_footer:
        return b"".join(parts)

    position = sum(len(p) for p in parts)
    file_lookup, xorb_lookup, chunk_lookup = _lookup_tables(shard, chunk_hashes)
    file_lookup_offset = position
    parts.extend(_LOOKUP.pack(*row) for row in file_lookup)
    xorb_lookup_offset = file_lookup_offset + len(file_lookup) * _LOOKUP.size
    parts.extend(_LOOKUP.pack(*row) for row in xorb_lookup)
    chunk_lookup_offset = xorb_lookup_offset + len(xorb_lookup) * _LOOKUP.size
    parts.extend(_CHUNK_LOOKUP.pack(*row) for row in chunk_lookup)
    footer_offset = chunk_lookup_offset + len(chunk_lookup) * _CHUNK_LOOKUP.size
    created = int(time.time()) if creation_timestamp is None else creation_timestamp
    parts.append(
        _FOOTER.pack(
            SHARD_FOOTER_VERSION,
            SHARD_HEADER_SIZE,
            xorb_info_offset,
            file_lookup_offset,
            len(file_lookup),
            xorb_lookup_offset,
            len(xorb_lookup),
            chunk_lookup_offset,
            len(chunk_lookup),
            hmac_key or bytes(HASH_LEN),
            created,
            NO_EXPIRY if key_expiry is None else key_expiry,
            bytes(48),
            sum(x.serialized_bytes for x in shard.xorbs),
            sum(f.size for f in shard.files),
            sum(x.unpacked_bytes for x in shard.xorbs),
            footer_offset,
        )
    )
    return b"".join(parts)


#: Resolves a xorb hash to its chunks' (hash, uncompressed size), or None if unknown.
XorbChunkLookup = Callable[[MerkleHash], Sequence[tuple[MerkleHash, int]] | None]


def check_xorb_entry(entry: XorbEntry, info: XorbInfo) -> None:
    """Check a shard's description of a xorb against the validated xorb itself."""
    if entry.hash != info.hash:
        raise XetFormatError(f"xorb entry {entry.hash} compared with xorb {info.hash}")
    if len(entry.chunks) != info.num_chunks:
        raise XetFormatError(f"shard lists {len(entry.chunks)} chunks for xorb {entry.hash}, it has {info.num_chunks}")
    for i, (listed, actual) in enumerate(zip(entry.chunks, info.chunks, strict=True)):
        if (listed.hash, listed.unpacked_bytes) != (actual.hash, actual.uncompressed_size):
            raise XetFormatError(f"shard's description of chunk {i} of xorb {entry.hash} is wrong")
    if entry.unpacked_bytes != info.uncompressed_length:
        raise XetFormatError(
            f"shard gives xorb {entry.hash} {entry.unpacked_bytes} bytes, it has {info.uncompressed_length}"
        )
    if entry.serialized_bytes not in (0, info.content_length, info.serialized_length):
        raise XetFormatError(
            f"shard gives xorb {entry.hash} a serialized length of {entry.serialized_bytes}, "
            f"it is {info.serialized_length}"
        )


def check_shard_references(
    shard: Shard,
    lookup: XorbChunkLookup | Mapping[MerkleHash, Sequence[tuple[MerkleHash, int]]],
    *,
    require_verification: bool = True,
) -> None:
    """Check an uploaded shard's files against the xorbs the server holds.

    For every file: each segment's xorb must be known to ``lookup`` and hold
    the chunk range; the segment's byte count must match the chunks; its
    verification hash (required unless ``require_verification`` is False)
    must match the chunk hashes of the range (proof the uploader knows them);
    and the file hash must be the merkle file hash of all its chunks (so the
    file id really names this content). Xorbs listed in the shard's own xorb
    section may be checked with :func:`check_xorb_entry` beforehand.
    """
    resolve = lookup.get if isinstance(lookup, Mapping) else lookup
    cache: dict[MerkleHash, Sequence[tuple[MerkleHash, int]]] = {}
    for f in shard.files:
        if require_verification and f.verification_hashes is None:
            raise XetFormatError(f"file {f.file_hash} has no verification entries")
        file_chunks: list[tuple[MerkleHash, int]] = []
        for i, seg in enumerate(f.segments):
            chunks = cache.get(seg.xorb_hash)
            if chunks is None:
                chunks = resolve(seg.xorb_hash)
                if chunks is None:
                    raise XetFormatError(f"file {f.file_hash} references unknown xorb {seg.xorb_hash}")
                cache[seg.xorb_hash] = chunks
            if seg.chunk_end > len(chunks):
                raise XetFormatError(
                    f"file {f.file_hash} segment {i}: chunks [{seg.chunk_start}, {seg.chunk_end}) "
                    f"are not all in xorb {seg.xorb_hash} ({len(chunks)} chunks)"
                )
            part = chunks[seg.chunk_start : seg.chunk_end]
            size = sum(s for _, s in part)
            if size != seg.unpacked_bytes:
                raise XetFormatError(
                    f"file {f.file_hash} segment {i}: says {seg.unpacked_bytes} bytes, the chunks hold {size}"
                )
            if f.verification_hashes is not None:
                expected = compute_verification_hash(h for h, _ in part)
                if f.verification_hashes[i] != expected:
                    raise XetFormatError(f"file {f.file_hash} segment {i}: wrong verification hash")
            file_chunks.extend(part)
        actual = compute_file_hash(file_chunks)
        if actual != f.file_hash:
            raise XetFormatError(f"file hash mismatch: shard says {f.file_hash}, its chunks give {actual}")


def shard_xorb_lookup(xorbs: Iterable[XorbEntry]) -> dict[MerkleHash, list[tuple[MerkleHash, int]]]:
    """A lookup table (for :func:`check_shard_references`) from xorb entries."""
    return {x.hash: x.hashes_and_sizes() for x in xorbs}
