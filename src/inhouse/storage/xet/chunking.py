"""Xet content-defined chunking (gear hash CDC), vectorised with numpy.

The spec's algorithm, per byte ``b``::

    h = (h << 1) + TABLE[b]            (64-bit wrapping)
    size = bytes in the current chunk
    if size >= MIN and (size >= MAX or h & MASK == 0): cut after this byte, h = 0

Because of the shift, ``h`` after byte ``i`` only depends on the last 64 bytes:
``h_i = sum(TABLE[b[i-k]] << k for k in 0..63) mod 2**64``. The reset at a cut
only changes ``h`` within 64 bytes of a chunk start, and no boundary is ever
tested there (MIN = 8 KiB), so every tested hash equals this window sum. We
compute the window sums of a whole block at once with six shift-and-add steps
(windows of 2, 4, ..., 64), keep the positions where ``h & MASK == 0`` (about
one in 65536), and walk those few candidates in Python applying the MIN/MAX
rules. The result is identical to the byte-by-byte reference.

Memory stays flat: input is processed in blocks of at most
:data:`BLOCK_SIZE` bytes, and besides the block only the last 63 bytes seen,
fewer than :data:`MIN_BATCH` not-yet-hashed bytes and a few counters are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from .gear_table import GEAR_TABLE

TARGET_CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = TARGET_CHUNK_SIZE // 8  # 8 KiB
MAX_CHUNK_SIZE = TARGET_CHUNK_SIZE * 2  # 128 KiB
#: The 16 one-bits of (TARGET - 1), shifted to the top of the 64-bit hash.
MASK = 0xFFFF_0000_0000_0000
#: A hash passes the boundary test when it is below this (top 16 bits zero).
_HASH_LIMIT = np.uint64(1 << 48)

#: Bytes hashed per numpy pass; small enough for the uint64 work arrays to stay
#: in cache, large enough that per-call overhead is negligible.
BLOCK_SIZE = 64 * 1024
#: Smaller pieces are gathered up to this size before hashing.
MIN_BATCH = 16 * 1024
_WINDOW = 64

_TABLE = np.array(GEAR_TABLE, dtype=np.uint64)


def _boundary_candidates(window: bytes | memoryview, skip: int, work: np.ndarray) -> np.ndarray:
    """Indices ``i >= skip`` of ``window`` where the 64-byte gear hash has its top 16 bits zero.

    ``window`` holds up to 63 bytes of history followed by the new bytes;
    ``skip`` is the length of that history (those positions were tested before).
    """
    data = np.frombuffer(window, dtype=np.uint8)
    n = data.size
    h = work[:n]
    np.take(_TABLE, data, out=h, mode="clip")  # "clip" skips bounds checks: 4x faster
    tmp = work[n : 2 * n]
    shift = 1
    while shift < min(_WINDOW, n):
        # h[i] += h[i - shift] << shift, using the values from before this step.
        np.left_shift(h[: n - shift], np.uint64(shift), out=tmp[: n - shift])
        np.add(h[shift:], tmp[: n - shift], out=h[shift:])
        shift *= 2
    hits = np.flatnonzero(h[skip:] < _HASH_LIMIT)
    return hits + skip


class Chunker:
    """Streaming Xet chunker: feed bytes in any pieces, get chunk boundaries.

    ``update(data)`` returns the end offsets (absolute, in the whole stream)
    of chunks that are now complete; ``finish()`` returns the rest, ending with
    the end of the stream. Splitting the input differently never changes the
    boundaries, only when they are reported: pieces smaller than
    :data:`MIN_BATCH` are gathered before hashing, so tiny writes stay cheap.
    """

    def __init__(self) -> None:
        self._history = b""  # last < 64 bytes hashed, for the hash window
        self._processed = 0  # bytes hashed so far
        self._small = bytearray()  # bytes fed but not hashed yet (< MIN_BATCH)
        self._chunk_start = 0  # absolute start of the open chunk
        self._finished = False
        self._work = np.empty(2 * (BLOCK_SIZE + _WINDOW), dtype=np.uint64)

    @property
    def position(self) -> int:
        """Total bytes fed so far."""
        return self._processed + len(self._small)

    def update(self, data: bytes | bytearray | memoryview) -> list[int]:
        """Feed more bytes; return the end offsets of chunks completed so far."""
        if self._finished:
            raise RuntimeError("Chunker.update() after finish()")
        view = memoryview(data).cast("B")
        cuts: list[int] = []
        if self._small:
            if len(self._small) + len(view) < MIN_BATCH:
                self._small += view
                return cuts
            take = BLOCK_SIZE - len(self._small)
            self._small += view[:take]
            view = view[take:]
            self._update_block(memoryview(bytes(self._small)), cuts)
            self._small.clear()
        while len(view) >= MIN_BATCH:
            self._update_block(view[:BLOCK_SIZE], cuts)
            view = view[BLOCK_SIZE:]
        self._small += view
        return cuts

    def _update_block(self, block: memoryview, cuts: list[int]) -> None:
        history = self._history
        block_end = self._processed + len(block)
        window = history + bytes(block)
        base = self._processed - len(history)  # absolute offset of window[0]
        candidates = _boundary_candidates(window, len(history), self._work)
        start = self._chunk_start
        # Candidate c is the index of the last byte of a chunk; the chunk ends at c + 1.
        for c in (candidates + base + 1).tolist():
            while c - start > MAX_CHUNK_SIZE:
                start += MAX_CHUNK_SIZE
                cuts.append(start)
            if c - start >= MIN_CHUNK_SIZE:
                start = c
                cuts.append(start)
        while block_end - start >= MAX_CHUNK_SIZE:
            start += MAX_CHUNK_SIZE
            cuts.append(start)
        self._chunk_start = start
        self._processed = block_end
        self._history = window[-(_WINDOW - 1) :]

    def finish(self) -> list[int]:
        """End of input: return the remaining end offsets, the last being the stream's end."""
        if self._finished:
            return []
        self._finished = True
        cuts: list[int] = []
        if self._small:
            self._update_block(memoryview(bytes(self._small)), cuts)
            self._small.clear()
        if self._processed > self._chunk_start:
            self._chunk_start = self._processed
            cuts.append(self._processed)
        return cuts


def chunk_boundaries(data: bytes | bytearray | memoryview) -> list[int]:
    """End offsets of all chunks of ``data`` (the last one is ``len(data)``)."""
    chunker = Chunker()
    return chunker.update(data) + chunker.finish()


def chunk_lengths(data: bytes | bytearray | memoryview) -> list[int]:
    """Sizes of the chunks of ``data``, in order."""
    ends = chunk_boundaries(data)
    return [end - start for start, end in zip([0, *ends[:-1]], ends)]


def iter_chunks(pieces: Iterable[bytes | bytearray | memoryview]) -> Iterator[bytes]:
    """Chunk a stream given as byte pieces, yielding each chunk's bytes.

    Holds at most one incomplete chunk (< 128 KiB) plus the current piece.
    """
    chunker = Chunker()
    buffer = bytearray()  # bytes not yet yielded, from absolute offset buffer_start
    buffer_start = 0
    for piece in pieces:
        view = memoryview(piece).cast("B")
        piece_start = chunker.position
        prev = buffer_start
        for end in chunker.update(view):
            if end <= piece_start:
                yield bytes(buffer[prev - buffer_start : end - buffer_start])
            elif prev < piece_start:
                yield bytes(buffer[prev - buffer_start :]) + bytes(view[: end - piece_start])
            else:
                yield bytes(view[prev - piece_start : end - piece_start])
            prev = end
        if prev <= piece_start:
            del buffer[: prev - buffer_start]
            buffer += view
        else:
            buffer = bytearray(view[prev - piece_start :])
        buffer_start = prev
    prev = buffer_start
    for end in chunker.finish():
        yield bytes(buffer[prev - buffer_start : end - buffer_start])
        prev = end
