"""Xorbs: parse and validate uploads, build new ones, read chunk ranges.

A serialized xorb is a run of chunks, each an 8-byte header followed by its
(possibly compressed) payload::

    version u8 (=0) | compressed_size u24 LE | compression u8 | uncompressed_size u24 LE

Optionally a footer ("XorbObjectInfo", not in the protocol spec but written by
xet-core's storage) follows the last chunk: it starts with ``b"XETBLOB"`` and
repeats the xorb hash, chunk hashes and chunk offsets, and the last 4 bytes of
the xorb give its length. Current clients upload without it; a footer that is
present is checked against the chunks. A chunk header can never start with
``b"X"`` (its version byte is 0), so the two cannot be confused.

The xorb hash is the merkle root over (chunk hash, uncompressed size); see
:mod:`.hashing`. Validation recomputes every chunk hash from the decompressed
bytes and the xorb hash from those, and compares it with the hash the client
named in the URL.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from .chunking import MAX_CHUNK_SIZE
from .compression import CompressionScheme, compress, compress_best, decompress
from .errors import XetFormatError
from .hashing import HASH_LEN, MerkleHash, compute_chunk_hash, compute_xorb_hash

CHUNK_HEADER_SIZE = 8
CHUNK_HEADER_VERSION = 0
#: Client-side limits on what goes into one xorb (uncompressed bytes and chunks).
MAX_XORB_BYTES = 64 * 1024 * 1024
MAX_XORB_CHUNKS = 8 * 1024
#: Largest payload a chunk header may announce (xet-core rejects more).
MAX_CHUNK_PAYLOAD = 2 * MAX_CHUNK_SIZE
#: Default cap on a serialized xorb: the 64 MiB of data plus headers and a footer.
MAX_XORB_SERIALIZED = MAX_XORB_BYTES + 1024 * 1024

FOOTER_IDENT = b"XETBLOB"
FOOTER_HASHES_IDENT = b"XBLBHSH"
FOOTER_BOUNDARIES_IDENT = b"XBLBBND"
FOOTER_VERSION = 1
FOOTER_VERSION_V0 = 0
_FOOTER_BUFFER_LEN = 16

_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class ChunkHeader:
    """The 8-byte header in front of every chunk payload."""

    compressed_size: int
    compression: CompressionScheme
    uncompressed_size: int
    version: int = CHUNK_HEADER_VERSION

    def to_bytes(self) -> bytes:
        return (
            bytes([self.version])
            + self.compressed_size.to_bytes(3, "little")
            + bytes([int(self.compression)])
            + self.uncompressed_size.to_bytes(3, "little")
        )

    @classmethod
    def parse(cls, raw: bytes | bytearray | memoryview, where: str = "chunk") -> ChunkHeader:
        if len(raw) != CHUNK_HEADER_SIZE:
            raise XetFormatError(f"{where}: header needs {CHUNK_HEADER_SIZE} bytes, got {len(raw)}")
        version = raw[0]
        if version != CHUNK_HEADER_VERSION:
            raise XetFormatError(f"{where}: header version {version}, only {CHUNK_HEADER_VERSION} is known")
        compressed = int.from_bytes(raw[1:4], "little")
        try:
            scheme = CompressionScheme(raw[4])
        except ValueError:
            raise XetFormatError(f"{where}: unknown compression type {raw[4]}") from None
        uncompressed = int.from_bytes(raw[5:8], "little")
        if uncompressed > MAX_CHUNK_SIZE:
            raise XetFormatError(
                f"{where}: uncompressed size {uncompressed} exceeds the {MAX_CHUNK_SIZE}-byte chunk limit"
            )
        if compressed > MAX_CHUNK_PAYLOAD:
            raise XetFormatError(f"{where}: compressed size {compressed} exceeds the {MAX_CHUNK_PAYLOAD}-byte limit")
        if uncompressed == 0:
            raise XetFormatError(f"{where}: empty chunk")
        return cls(compressed, scheme, uncompressed, version)


@dataclass(frozen=True)
class XorbChunk:
    """Where one chunk sits in a serialized xorb, and what it holds."""

    hash: MerkleHash
    offset: int  # of the chunk header, from the start of the xorb
    serialized_size: int  # header + payload
    uncompressed_size: int
    compression: CompressionScheme

    @property
    def end(self) -> int:
        """Offset just past this chunk's payload."""
        return self.offset + self.serialized_size


@dataclass(frozen=True)
class XorbFooter:
    """The optional trailing metadata block (xet-core's XorbObjectInfo)."""

    xorb_hash: MerkleHash
    chunk_hashes: tuple[MerkleHash, ...]
    #: End offset of each serialized chunk (so chunk i spans [ends[i-1], ends[i])).
    chunk_ends: tuple[int, ...]
    #: End of each chunk in the concatenated uncompressed data; None in version 0.
    unpacked_ends: tuple[int, ...] | None
    version: int = FOOTER_VERSION
    nonce: bytes = bytes(_FOOTER_BUFFER_LEN)


@dataclass(frozen=True)
class XorbInfo:
    """Everything learnt from validating a xorb."""

    hash: MerkleHash
    chunks: tuple[XorbChunk, ...]
    #: Bytes of chunk data (header + payload of every chunk); where a footer starts.
    content_length: int
    #: Total serialized length, footer included.
    serialized_length: int
    footer: XorbFooter | None = None

    @property
    def num_chunks(self) -> int:
        return len(self.chunks)

    @property
    def uncompressed_length(self) -> int:
        return sum(c.uncompressed_size for c in self.chunks)

    def hashes_and_sizes(self) -> list[tuple[MerkleHash, int]]:
        return [(c.hash, c.uncompressed_size) for c in self.chunks]

    def byte_range(self, start: int, end: int) -> tuple[int, int]:
        """Serialized byte span ``[first, last_exclusive)`` of chunks ``[start, end)``."""
        _check_chunk_range(start, end, len(self.chunks))
        return self.chunks[start].offset, self.chunks[end - 1].end


def _check_chunk_range(start: int, end: int, num_chunks: int) -> None:
    if not 0 <= start < end <= num_chunks:
        raise XetFormatError(f"chunk range [{start}, {end}) is not inside a xorb of {num_chunks} chunks")


_HEADER = struct.Struct("<I")  # a header as two little-endian u32: (size << 8 | version), (raw << 24 | scheme)
_SCHEMES = {int(s): s for s in CompressionScheme}


def _chunk_header(view: memoryview, pos: int, where: Callable[[], str]) -> tuple[int, CompressionScheme, int]:
    """(compressed size, scheme, uncompressed size) of the header at ``view[pos]``; checked as
    :meth:`ChunkHeader.parse` does (which gives the messages), without building objects on the common path."""
    first = _HEADER.unpack_from(view, pos)[0]
    second = _HEADER.unpack_from(view, pos + 4)[0]
    compressed = first >> 8
    uncompressed = second >> 8
    scheme = _SCHEMES.get(second & 0xFF)
    if (first & 0xFF) != CHUNK_HEADER_VERSION or scheme is None or not 0 < uncompressed <= MAX_CHUNK_SIZE \
            or compressed > MAX_CHUNK_PAYLOAD:
        ChunkHeader.parse(view[pos : pos + CHUNK_HEADER_SIZE], where())
        raise XetFormatError(f"{where()}: bad chunk header")  # not reached: parse() raised
    return compressed, scheme, uncompressed


def _parse_chunks(
    view: memoryview,
    base_offset: int,
    first_index: int,
    out: list[XorbChunk],
    limit: int | None = None,
) -> int:
    """Parse every complete chunk at the start of ``view`` (at most ``limit``); return the bytes consumed.

    Stops at an incomplete chunk or at a footer (a ``b"X"`` where a header
    would start). ``base_offset`` is the xorb offset of ``view[0]``. Raw
    (uncompressed) payloads are hashed in place, without a copy.
    """
    pos = 0
    n = len(view)
    start_count = len(out)
    none = CompressionScheme.NONE
    while n - pos >= 1 and view[pos] != FOOTER_IDENT[0]:
        if n - pos < CHUNK_HEADER_SIZE or (limit is not None and len(out) - start_count >= limit):
            break
        index = first_index + len(out) - start_count

        def where(index: int = index, at: int = base_offset + pos) -> str:
            return f"xorb chunk {index} at offset {at}"

        compressed, scheme, uncompressed = _chunk_header(view, pos, where)
        end = pos + CHUNK_HEADER_SIZE + compressed
        if end > n:
            break
        payload = view[pos + CHUNK_HEADER_SIZE : end]
        if scheme is none:
            if compressed != uncompressed:
                raise XetFormatError(
                    f"{where()}: uncompressed chunk holds {compressed} bytes, header says {uncompressed}")
            data: bytes | memoryview = payload
        else:
            try:
                data = decompress(payload, scheme, uncompressed)
            except XetFormatError as exc:
                raise XetFormatError(f"{where()}: {exc}") from None
        out.append(
            XorbChunk(
                hash=compute_chunk_hash(data),
                offset=base_offset + pos,
                serialized_size=CHUNK_HEADER_SIZE + compressed,
                uncompressed_size=uncompressed,
                compression=scheme,
            )
        )
        payload.release()
        pos = end
    return pos


def parse_footer(raw: bytes | bytearray | memoryview) -> XorbFooter:
    """Parse a footer block: everything after the last chunk, trailing length included."""
    view = memoryview(raw).cast("B")
    if len(view) < 4:
        raise XetFormatError(f"xorb footer too short ({len(view)} bytes)")
    info_length = int(_U32.unpack_from(view, len(view) - 4)[0])
    if info_length != len(view) - 4:
        raise XetFormatError(f"xorb footer says it is {info_length} bytes, but {len(view) - 4} bytes follow the chunks")
    reader = _Reader(view[: len(view) - 4], "xorb footer")
    if reader.take(7) != FOOTER_IDENT:
        raise XetFormatError("xorb footer does not start with XETBLOB")
    version = reader.u8()
    xorb_hash = reader.hash()
    if version == FOOTER_VERSION_V0:
        num = reader.u32()
        ends = reader.u32s(num)
        hashes = tuple(reader.hash() for _ in range(num))
        nonce = reader.take(_FOOTER_BUFFER_LEN)
        reader.expect_end()
        return XorbFooter(xorb_hash, hashes, ends, None, FOOTER_VERSION_V0, nonce)
    if version != FOOTER_VERSION:
        raise XetFormatError(f"xorb footer version {version} is not known")
    hashes_start = reader.pos
    if reader.take(7) != FOOTER_HASHES_IDENT or reader.u8() != 0:
        raise XetFormatError("xorb footer: bad hash section marker")
    num = reader.u32()
    hashes = tuple(reader.hash() for _ in range(num))
    boundaries_start = reader.pos
    if reader.take(7) != FOOTER_BOUNDARIES_IDENT or reader.u8() != 1:
        raise XetFormatError("xorb footer: bad boundary section marker")
    if reader.u32() != num:
        raise XetFormatError("xorb footer: chunk counts of the hash and boundary sections differ")
    ends = reader.u32s(num)
    unpacked = reader.u32s(num)
    if reader.u32() != num:
        raise XetFormatError("xorb footer: trailing chunk count differs")
    hashes_from_end = reader.u32()
    boundaries_from_end = reader.u32()
    nonce = reader.take(_FOOTER_BUFFER_LEN)
    reader.expect_end()
    if hashes_from_end != reader.pos - hashes_start or boundaries_from_end != reader.pos - boundaries_start:
        raise XetFormatError("xorb footer: section offsets are wrong")
    return XorbFooter(xorb_hash, hashes, ends, unpacked, FOOTER_VERSION, nonce)


def serialize_footer(footer: XorbFooter) -> bytes:
    """Encode a version-1 footer (with its trailing length)."""
    num = len(footer.chunk_hashes)
    unpacked = footer.unpacked_ends
    if len(footer.chunk_ends) != num or unpacked is None or len(unpacked) != num:
        raise XetFormatError("xorb footer needs one offset and one unpacked offset per chunk hash")
    boundaries = (
        FOOTER_BOUNDARIES_IDENT
        + bytes([1])
        + _U32.pack(num)
        + struct.pack(f"<{num}I", *footer.chunk_ends)
        + struct.pack(f"<{num}I", *unpacked)
    )
    hashes = FOOTER_HASHES_IDENT + bytes([0]) + _U32.pack(num) + b"".join(footer.chunk_hashes)
    tail_len = 3 * 4 + _FOOTER_BUFFER_LEN
    tail = (
        struct.pack("<3I", num, len(hashes) + len(boundaries) + tail_len, len(boundaries) + tail_len)
        + footer.nonce.ljust(_FOOTER_BUFFER_LEN, b"\0")[:_FOOTER_BUFFER_LEN]
    )
    info = FOOTER_IDENT + bytes([FOOTER_VERSION]) + footer.xorb_hash + hashes + boundaries + tail
    return info + _U32.pack(len(info))


class _Reader:
    """Bounds-checked little-endian reads with messages that say what ran out."""

    def __init__(self, view: memoryview, what: str) -> None:
        self.view = view
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.view):
            raise XetFormatError(f"{self.what} truncated at byte {self.pos} (needs {n} more bytes)")
        out = bytes(self.view[self.pos : self.pos + n])
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def u32s(self, n: int) -> tuple[int, ...]:
        return struct.unpack(f"<{n}I", self.take(4 * n))

    def hash(self) -> MerkleHash:
        return MerkleHash(self.take(HASH_LEN))

    def expect_end(self) -> None:
        if self.pos != len(self.view):
            raise XetFormatError(f"{self.what} has {len(self.view) - self.pos} unexpected trailing bytes")


def _check_footer(footer: XorbFooter, chunks: Sequence[XorbChunk], xorb_hash: MerkleHash) -> None:
    if len(footer.chunk_hashes) != len(chunks):
        raise XetFormatError(f"xorb footer lists {len(footer.chunk_hashes)} chunks, the xorb has {len(chunks)}")
    if footer.xorb_hash != xorb_hash:
        raise XetFormatError(f"xorb footer names hash {footer.xorb_hash}, the chunks hash to {xorb_hash}")
    unpacked = 0
    for i, chunk in enumerate(chunks):
        unpacked += chunk.uncompressed_size
        if footer.chunk_hashes[i] != chunk.hash:
            raise XetFormatError(f"xorb footer: hash of chunk {i} does not match its data")
        if footer.chunk_ends[i] != chunk.end:
            raise XetFormatError(f"xorb footer: end offset of chunk {i} is {footer.chunk_ends[i]}, not {chunk.end}")
        if footer.unpacked_ends is not None and footer.unpacked_ends[i] != unpacked:
            raise XetFormatError(f"xorb footer: unpacked end of chunk {i} is wrong")


class XorbValidator:
    """Validate a xorb upload as it streams in, holding at most about one chunk.

    Feed the body in pieces with :meth:`feed`, then call :meth:`finish`, which
    checks the hash against ``expected_hash`` (the hash in the upload URL) and
    returns the :class:`XorbInfo` to record. Any problem raises
    :class:`XetFormatError` (a client error: answer 400).
    """

    def __init__(
        self,
        expected_hash: MerkleHash | None = None,
        *,
        max_serialized: int = MAX_XORB_SERIALIZED,
        max_chunks: int = MAX_XORB_CHUNKS,
        max_bytes: int = MAX_XORB_BYTES,
    ) -> None:
        self.expected_hash = expected_hash
        self.max_serialized = max_serialized
        self.max_chunks = max_chunks
        self.max_bytes = max_bytes
        self.chunks: list[XorbChunk] = []
        self._buffer = bytearray()
        self._buffer_offset = 0  # xorb offset of _buffer[0]
        self._received = 0
        self._unpacked = 0
        self._in_footer = False
        self._done = False

    @property
    def received(self) -> int:
        return self._received

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise RuntimeError("XorbValidator.feed() after finish()")
        self._received += len(data)
        if self._received > self.max_serialized:
            raise XetFormatError(f"xorb is larger than the {self.max_serialized}-byte limit")
        if self._in_footer:
            self._buffer += data
            return
        before = len(self.chunks)
        with memoryview(data).cast("B") as incoming:
            taken = 0
            # complete the chunk that straddles the previous piece, copying only its bytes
            while self._buffer and self._buffer[0] != FOOTER_IDENT[0]:
                if len(self._buffer) < CHUNK_HEADER_SIZE:
                    need = CHUNK_HEADER_SIZE
                else:
                    header = ChunkHeader.parse(self._buffer[:CHUNK_HEADER_SIZE],
                                               f"xorb chunk {len(self.chunks)} at offset {self._buffer_offset}")
                    need = CHUNK_HEADER_SIZE + header.compressed_size
                extra = max(need - len(self._buffer), 0)
                if extra > len(incoming) - taken:
                    break
                self._buffer += incoming[taken : taken + extra]
                taken += extra
                if need == CHUNK_HEADER_SIZE and len(self._buffer) == CHUNK_HEADER_SIZE \
                        and int.from_bytes(self._buffer[1:4], "little") > 0:
                    continue  # only the header so far
                with memoryview(self._buffer) as view:
                    consumed = _parse_chunks(view, self._buffer_offset, len(self.chunks), self.chunks, limit=1)
                if not consumed:
                    break
                del self._buffer[:consumed]
                self._buffer_offset += consumed
            if not self._buffer and taken < len(incoming):  # parse straight from the caller's bytes
                with incoming[taken:] as rest:
                    consumed = _parse_chunks(rest, self._buffer_offset, len(self.chunks), self.chunks)
                self._buffer_offset += consumed
                taken += consumed
            self._buffer += incoming[taken:]
        self._check_limits(before)
        if self._buffer and self._buffer[0] == FOOTER_IDENT[0]:
            self._in_footer = True

    def _check_limits(self, before: int) -> None:
        for chunk in self.chunks[before:]:
            self._unpacked += chunk.uncompressed_size
        if len(self.chunks) > self.max_chunks:
            raise XetFormatError(f"xorb has more than {self.max_chunks} chunks")
        if self._unpacked > self.max_bytes:
            raise XetFormatError(f"xorb holds more than {self.max_bytes} uncompressed bytes")

    def finish(self) -> XorbInfo:
        """Check what was fed is a complete, correct xorb and describe it."""
        self._done = True
        if not self._in_footer and self._buffer:
            offset = self._buffer_offset
            index = len(self.chunks)
            if len(self._buffer) < CHUNK_HEADER_SIZE:
                raise XetFormatError(
                    f"xorb truncated: {len(self._buffer)} stray bytes at offset {offset} after chunk {index - 1}"
                )
            header = ChunkHeader.parse(self._buffer[:CHUNK_HEADER_SIZE], f"xorb chunk {index} at offset {offset}")
            raise XetFormatError(
                f"xorb truncated: chunk {index} at offset {offset} needs "
                f"{CHUNK_HEADER_SIZE + header.compressed_size} bytes, only {len(self._buffer)} remain"
            )
        if not self.chunks:
            raise XetFormatError("xorb has no chunks")
        xorb_hash = compute_xorb_hash((c.hash, c.uncompressed_size) for c in self.chunks)
        footer = None
        if self._in_footer:
            footer = parse_footer(self._buffer)
            _check_footer(footer, self.chunks, xorb_hash)
        if self.expected_hash is not None and xorb_hash != self.expected_hash:
            raise XetFormatError(
                f"xorb hash mismatch: the upload is for {self.expected_hash}, its chunks hash to {xorb_hash}"
            )
        self._buffer = bytearray()
        return XorbInfo(
            hash=xorb_hash,
            chunks=tuple(self.chunks),
            content_length=self._buffer_offset,
            serialized_length=self._received,
            footer=footer,
        )


def validate_xorb(
    data: bytes | bytearray | memoryview,
    expected_hash: MerkleHash | None = None,
    **limits: int,
) -> XorbInfo:
    """Validate a whole serialized xorb held in memory (see :class:`XorbValidator`)."""
    validator = XorbValidator(expected_hash, **limits)
    validator.feed(data)
    return validator.finish()


def iter_chunk_data(data: bytes | bytearray | memoryview) -> Iterator[bytes]:
    """Decompressed bytes of each chunk in a run of serialized chunks.

    ``data`` is a run of whole chunks (for instance a ``url_range`` slice of a
    xorb); it must end exactly at a chunk boundary or at a footer.
    """
    view = memoryview(data).cast("B")
    pos = 0
    index = 0
    while pos < len(view) and view[pos] != FOOTER_IDENT[0]:
        where = f"chunk {index} at offset {pos}"
        if len(view) - pos < CHUNK_HEADER_SIZE:
            raise XetFormatError(f"{where}: truncated header ({len(view) - pos} bytes)")
        header = ChunkHeader.parse(view[pos : pos + CHUNK_HEADER_SIZE], where)
        end = pos + CHUNK_HEADER_SIZE + header.compressed_size
        if end > len(view):
            raise XetFormatError(f"{where}: truncated payload (needs {end - pos} bytes, {len(view) - pos} left)")
        try:
            yield decompress(view[pos + CHUNK_HEADER_SIZE : end], header.compression, header.uncompressed_size)
        except XetFormatError as exc:
            raise XetFormatError(f"{where}: {exc}") from None
        pos = end
        index += 1


def extract_chunk_range(
    xorb: bytes | bytearray | memoryview,
    start: int,
    end: int,
    info: XorbInfo | None = None,
) -> bytes:
    """Decompressed bytes of chunks ``[start, end)`` of a serialized xorb.

    With ``info`` (from validation) the chunks are located directly; without
    it the headers are walked, skipping earlier payloads undecoded.
    """
    view = memoryview(xorb).cast("B")
    if info is not None:
        first, last = info.byte_range(start, end)
        return b"".join(iter_chunk_data(view[first:last]))
    if start < 0 or end <= start:
        raise XetFormatError(f"chunk range [{start}, {end}) is empty or negative")
    pos = 0
    for index in range(start):
        if pos + CHUNK_HEADER_SIZE > len(view) or view[pos] == FOOTER_IDENT[0]:
            raise XetFormatError(f"chunk range [{start}, {end}) is past the end of the xorb ({index} chunks)")
        header = ChunkHeader.parse(view[pos : pos + CHUNK_HEADER_SIZE], f"chunk {index} at offset {pos}")
        pos += CHUNK_HEADER_SIZE + header.compressed_size
    out: list[bytes] = []
    for data in iter_chunk_data(view[pos:]):
        out.append(data)
        if len(out) == end - start:
            return b"".join(out)
    raise XetFormatError(f"chunk range [{start}, {end}) is past the end of the xorb ({start + len(out)} chunks)")


@dataclass(frozen=True)
class SerializedXorb:
    """A xorb built here: its bytes and the matching :class:`XorbInfo`."""

    data: bytes
    info: XorbInfo

    @property
    def hash(self) -> MerkleHash:
        return self.info.hash


@dataclass
class XorbBuilder:
    """Pack chunks into a xorb, within the client limits (64 MiB, 8192 chunks).

    ``compression`` is a fixed scheme, or ``None`` to try LZ4 and BG4-LZ4 per
    chunk and keep the smallest (storing raw bytes when neither helps).
    """

    compression: CompressionScheme | None = None
    with_footer: bool = False
    max_bytes: int = MAX_XORB_BYTES
    max_chunks: int = MAX_XORB_CHUNKS
    _parts: list[bytes] = field(default_factory=list)
    _chunks: list[XorbChunk] = field(default_factory=list)
    _offset: int = 0
    _unpacked: int = 0

    @property
    def num_chunks(self) -> int:
        return len(self._chunks)

    @property
    def uncompressed_length(self) -> int:
        return self._unpacked

    def can_add(self, size: int) -> bool:
        return len(self._chunks) < self.max_chunks and self._unpacked + size <= self.max_bytes

    def add(self, data: bytes | bytearray | memoryview, chunk_hash: MerkleHash | None = None) -> int:
        """Append one chunk; return its index in the xorb."""
        size = len(data)
        if not 0 < size <= MAX_CHUNK_SIZE:
            raise XetFormatError(f"a chunk must be 1..{MAX_CHUNK_SIZE} bytes, got {size}")
        if not self.can_add(size):
            raise XetFormatError("xorb is full")
        if self.compression is None:
            scheme, payload = compress_best(data)
        else:
            scheme, payload = self.compression, compress(data, self.compression)
            if scheme is not CompressionScheme.NONE and len(payload) >= size:
                scheme, payload = CompressionScheme.NONE, bytes(data)
        header = ChunkHeader(len(payload), scheme, size)
        self._parts += (header.to_bytes(), payload)
        chunk = XorbChunk(
            hash=chunk_hash if chunk_hash is not None else compute_chunk_hash(data),
            offset=self._offset,
            serialized_size=CHUNK_HEADER_SIZE + len(payload),
            uncompressed_size=size,
            compression=scheme,
        )
        self._chunks.append(chunk)
        self._offset = chunk.end
        self._unpacked += size
        return len(self._chunks) - 1

    def finish(self) -> SerializedXorb:
        if not self._chunks:
            raise XetFormatError("a xorb needs at least one chunk")
        chunks = tuple(self._chunks)
        xorb_hash = compute_xorb_hash((c.hash, c.uncompressed_size) for c in chunks)
        footer = None
        parts = list(self._parts)
        if self.with_footer:
            unpacked_ends: list[int] = []
            total = 0
            for c in chunks:
                total += c.uncompressed_size
                unpacked_ends.append(total)
            footer = XorbFooter(
                xorb_hash=xorb_hash,
                chunk_hashes=tuple(c.hash for c in chunks),
                chunk_ends=tuple(c.end for c in chunks),
                unpacked_ends=tuple(unpacked_ends),
            )
            parts.append(serialize_footer(footer))
        data = b"".join(parts)
        info = XorbInfo(
            hash=xorb_hash,
            chunks=chunks,
            content_length=self._offset,
            serialized_length=len(data),
            footer=footer,
        )
        return SerializedXorb(data, info)


def build_xorb(
    chunks: Iterable[bytes | bytearray | memoryview],
    compression: CompressionScheme | None = None,
    *,
    with_footer: bool = False,
) -> SerializedXorb:
    """Serialize chunks into one xorb (raises if they exceed the xorb limits)."""
    builder = XorbBuilder(compression=compression, with_footer=with_footer)
    for chunk in chunks:
        builder.add(chunk)
    return builder.finish()
