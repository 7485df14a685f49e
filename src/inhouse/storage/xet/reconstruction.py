"""File reconstructions: the JSON of ``GET /v1|v2/reconstructions/{file_id}``.

A file is a list of segments (terms): chunk ranges of xorbs. For a byte range
of the file we keep the segments that overlap it, trimmed to the chunks that
hold requested bytes, and tell the client how far into the first kept chunk
the range starts (``offset_into_first_range``). For each xorb the chunk ranges
to download are merged (overlapping or adjacent ranges become one) and mapped
to byte ranges of the *serialized* xorb, which the server knows from
validating the upload (shards only carry uncompressed offsets).

v1 answers ``fetch_info``: per xorb, one entry per merged range with its own
URL and an inclusive ``url_range``. v2 answers ``xorbs``: per xorb one entry
whose URL covers all its ranges, each given as ``chunks`` (end-exclusive) and
``bytes`` (end-inclusive). URLs come from a callable, so signing them is the
caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import XetFormatError
from .hashing import MerkleHash
from .shard import FileSegment
from .xorb import XorbInfo


class RangeNotSatisfiable(XetFormatError):
    """The requested byte range starts at or past the end of the file."""


@dataclass(frozen=True)
class XorbLayout:
    """Where each chunk of a stored xorb lies, serialized and uncompressed."""

    hash: MerkleHash
    #: Serialized start offset of every chunk, then the end of the last one (n + 1 values).
    chunk_offsets: tuple[int, ...]
    #: Uncompressed size of every chunk.
    unpacked_sizes: tuple[int, ...]

    @classmethod
    def from_xorb_info(cls, info: XorbInfo) -> XorbLayout:
        offsets = tuple(c.offset for c in info.chunks) + (info.content_length,)
        return cls(info.hash, offsets, tuple(c.uncompressed_size for c in info.chunks))

    @property
    def num_chunks(self) -> int:
        return len(self.unpacked_sizes)


@dataclass(frozen=True)
class Term:
    """One reconstruction term: chunks ``[chunk_start, chunk_end)`` of a xorb."""

    xorb_hash: MerkleHash
    chunk_start: int
    chunk_end: int
    unpacked_length: int


@dataclass(frozen=True)
class FetchRange:
    """A run of chunks to download from one xorb."""

    chunk_start: int
    chunk_end: int  # exclusive
    byte_start: int
    byte_end: int  # inclusive, as in an HTTP Range header

    @property
    def http_range(self) -> str:
        return f"{self.byte_start}-{self.byte_end}"


#: Builds the download URL for a xorb and the byte ranges the URL must allow.
UrlFactory = Callable[[MerkleHash, Sequence[FetchRange]], str]


@dataclass(frozen=True)
class Reconstruction:
    offset_into_first_range: int
    terms: tuple[Term, ...]
    #: Per xorb, its merged download ranges in ascending order.
    fetches: Mapping[MerkleHash, tuple[FetchRange, ...]]

    def to_v1(self, url_for: UrlFactory) -> dict[str, Any]:
        """The v1 ``QueryReconstructionResponse`` (``fetch_info``, a URL per range)."""
        return {
            "offset_into_first_range": self.offset_into_first_range,
            "terms": [_term_json(t) for t in self.terms],
            "fetch_info": {
                xorb_hash.to_hex(): [
                    {
                        "range": {"start": r.chunk_start, "end": r.chunk_end},
                        "url": url_for(xorb_hash, (r,)),
                        "url_range": {"start": r.byte_start, "end": r.byte_end},
                    }
                    for r in ranges
                ]
                for xorb_hash, ranges in self.fetches.items()
            },
        }

    def to_v2(self, url_for: UrlFactory) -> dict[str, Any]:
        """The v2 ``QueryReconstructionResponse`` (``xorbs``, one multi-range URL per xorb)."""
        return {
            "offset_into_first_range": self.offset_into_first_range,
            "terms": [_term_json(t) for t in self.terms],
            "xorbs": {
                xorb_hash.to_hex(): [
                    {
                        "url": url_for(xorb_hash, ranges),
                        "ranges": [
                            {
                                "chunks": {"start": r.chunk_start, "end": r.chunk_end},
                                "bytes": {"start": r.byte_start, "end": r.byte_end},
                            }
                            for r in ranges
                        ],
                    }
                ]
                for xorb_hash, ranges in self.fetches.items()
            },
        }


def _term_json(term: Term) -> dict[str, Any]:
    return {
        "hash": term.xorb_hash.to_hex(),
        "unpacked_length": term.unpacked_length,
        "range": {"start": term.chunk_start, "end": term.chunk_end},
    }


def plan_reconstruction(
    segments: Sequence[FileSegment],
    layouts: Mapping[MerkleHash, XorbLayout] | Callable[[MerkleHash], XorbLayout | None],
    byte_range: tuple[int, int] | None = None,
) -> Reconstruction:
    """Terms and fetch ranges for a whole file or the bytes ``[start, end)`` of it.

    ``layouts`` gives the stored layout of each xorb the segments use.
    ``end`` is clamped to the file size; a ``start`` at or past the end of a
    non-empty file raises :class:`RangeNotSatisfiable`. An empty file (or
    range) yields no terms.
    """
    resolve = layouts.get if isinstance(layouts, Mapping) else layouts
    file_size = sum(s.unpacked_bytes for s in segments)
    start, end = (0, file_size) if byte_range is None else byte_range
    if start < 0 or end < start:
        raise XetFormatError(f"invalid byte range [{start}, {end})")
    if file_size == 0 or start == end:
        if start > file_size:
            raise RangeNotSatisfiable(f"range starts at {start}, the file has {file_size} bytes")
        return Reconstruction(0, (), {})
    if start >= file_size:
        raise RangeNotSatisfiable(f"range starts at {start}, the file has {file_size} bytes")
    end = min(end, file_size)

    terms: list[Term] = []
    wanted: dict[MerkleHash, list[tuple[int, int]]] = {}
    found: dict[MerkleHash, XorbLayout] = {}
    offset_into_first = 0
    position = 0  # file offset of the current segment's first byte
    for index, seg in enumerate(segments):
        seg_end = position + seg.unpacked_bytes
        if seg_end <= start:
            position = seg_end
            continue
        if position >= end:
            break
        layout = found.get(seg.xorb_hash) or resolve(seg.xorb_hash)
        if layout is None:
            raise XetFormatError(f"segment {index} uses unknown xorb {seg.xorb_hash}")
        found[seg.xorb_hash] = layout
        if seg.chunk_end > layout.num_chunks:
            raise XetFormatError(
                f"segment {index} wants chunks [{seg.chunk_start}, {seg.chunk_end}) "
                f"of xorb {seg.xorb_hash}, which has {layout.num_chunks}"
            )
        sizes = layout.unpacked_sizes
        if sum(sizes[seg.chunk_start : seg.chunk_end]) != seg.unpacked_bytes:
            raise XetFormatError(f"segment {index}: its byte count does not match xorb {seg.xorb_hash}")
        first, last = seg.chunk_start, seg.chunk_end
        chunk_pos = position
        while chunk_pos + sizes[first] <= start:  # drop chunks wholly before the range
            chunk_pos += sizes[first]
            first += 1
        if not terms:
            offset_into_first = start - chunk_pos
        tail = seg_end
        while tail - sizes[last - 1] >= end:  # drop chunks wholly after the range
            tail -= sizes[last - 1]
            last -= 1
        terms.append(Term(seg.xorb_hash, first, last, tail - chunk_pos))
        wanted.setdefault(seg.xorb_hash, []).append((first, last))
        position = seg_end

    fetches: dict[MerkleHash, tuple[FetchRange, ...]] = {}
    for xorb_hash, ranges in wanted.items():
        offsets = found[xorb_hash].chunk_offsets
        merged: list[list[int]] = []
        for first, last in sorted(ranges):
            if merged and first <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        fetches[xorb_hash] = tuple(FetchRange(first, last, offsets[first], offsets[last] - 1) for first, last in merged)
    return Reconstruction(offset_into_first, tuple(terms), fetches)
