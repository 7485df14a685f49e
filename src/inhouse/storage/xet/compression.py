"""Per-chunk compression schemes of xorbs: none, LZ4 and byte-grouped LZ4.

LZ4 here is the LZ4 *frame* format (magic ``04 22 4d 18``), as xet-core writes
it. ByteGrouping4LZ4 first regroups the bytes by their position modulo 4
(all bytes 0, 4, 8, ..., then 1, 5, 9, ..., then 2, ..., then 3, ...; the
first ``len % 4`` groups get one extra byte each) and LZ4-frames the result.
"""

from __future__ import annotations

import enum

import lz4.frame
import numpy as np

from .errors import XetFormatError


class CompressionScheme(enum.IntEnum):
    """The compression type byte of a chunk header."""

    NONE = 0
    LZ4 = 1
    BG4_LZ4 = 2


def bg4_group(data: bytes | bytearray | memoryview) -> bytes:
    """Regroup bytes by position modulo 4 (the ByteGrouping4 transform)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    return np.concatenate([arr[0::4], arr[1::4], arr[2::4], arr[3::4]]).tobytes()


def bg4_ungroup(grouped: bytes | bytearray | memoryview) -> bytes:
    """Inverse of :func:`bg4_group`."""
    arr = np.frombuffer(grouped, dtype=np.uint8)
    n = arr.size
    out = np.empty(n, dtype=np.uint8)
    pos = 0
    for k in range(4):
        size = n // 4 + (1 if k < n % 4 else 0)
        out[k::4] = arr[pos : pos + size]
        pos += size
    return out.tobytes()


def lz4_compress(data: bytes | bytearray | memoryview) -> bytes:
    """LZ4 frame with the settings xet-core's encoder uses (64 KiB independent blocks)."""
    out: bytes = lz4.frame.compress(
        bytes(data),
        block_size=lz4.frame.BLOCKSIZE_MAX64KB,
        block_linked=False,
        content_checksum=False,
        store_size=False,
    )
    return out


def lz4_decompress(payload: bytes | bytearray | memoryview, expected_size: int) -> bytes:
    """Decode one LZ4 frame that must hold exactly ``expected_size`` bytes."""
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out: bytes = decompressor.decompress(payload, max_length=expected_size)  # any buffer: no copy
    except RuntimeError as exc:  # the lz4 binding reports corrupt frames as RuntimeError
        raise XetFormatError(f"corrupt LZ4 frame: {exc}") from exc
    if not decompressor.eof:
        if len(out) == expected_size and not decompressor.needs_input:
            raise XetFormatError(f"LZ4 frame holds more than the {expected_size} bytes its header says")
        raise XetFormatError("truncated LZ4 frame")
    if decompressor.unused_data:
        raise XetFormatError(f"{len(decompressor.unused_data)} bytes after the end of the LZ4 frame")
    if len(out) != expected_size:
        raise XetFormatError(f"LZ4 frame decodes to {len(out)} bytes, header says {expected_size}")
    return out


def compress(data: bytes | bytearray | memoryview, scheme: CompressionScheme) -> bytes:
    """Encode ``data`` with exactly ``scheme``."""
    if scheme is CompressionScheme.NONE:
        return bytes(data)
    if scheme is CompressionScheme.LZ4:
        return lz4_compress(data)
    if scheme is CompressionScheme.BG4_LZ4:
        return lz4_compress(bg4_group(data))
    raise XetFormatError(f"unknown compression scheme {scheme!r}")


def decompress(payload: bytes | bytearray | memoryview, scheme: CompressionScheme, expected_size: int) -> bytes:
    """Decode a chunk payload; the result must be ``expected_size`` bytes."""
    if scheme is CompressionScheme.NONE:
        if len(payload) != expected_size:
            raise XetFormatError(f"uncompressed chunk holds {len(payload)} bytes, header says {expected_size}")
        return bytes(payload)
    if scheme is CompressionScheme.LZ4:
        return lz4_decompress(payload, expected_size)
    if scheme is CompressionScheme.BG4_LZ4:
        return bg4_ungroup(lz4_decompress(payload, expected_size))
    raise XetFormatError(f"unknown compression scheme {scheme!r}")


def compress_best(
    data: bytes | bytearray | memoryview,
    schemes: tuple[CompressionScheme, ...] = (CompressionScheme.LZ4, CompressionScheme.BG4_LZ4),
) -> tuple[CompressionScheme, bytes]:
    """Try ``schemes`` and keep the smallest result; store uncompressed unless one is smaller."""
    best_scheme, best = CompressionScheme.NONE, bytes(data)
    for scheme in schemes:
        if scheme is CompressionScheme.NONE:
            continue
        candidate = compress(data, scheme)
        if len(candidate) < len(best):
            best_scheme, best = scheme, candidate
    return best_scheme, best
