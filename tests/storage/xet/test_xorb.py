from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.storage.xet import (
    CompressionScheme,
    MerkleHash,
    XetFormatError,
    XorbBuilder,
    XorbValidator,
    build_xorb,
    compute_chunk_hash,
    compute_xorb_hash,
    extract_chunk_range,
    validate_xorb,
)
from inhouse.storage.xet.compression import bg4_group, bg4_ungroup, compress, decompress, lz4_compress
from inhouse.storage.xet.xorb import CHUNK_HEADER_SIZE, ChunkHeader, iter_chunk_data, parse_footer, serialize_footer


def _chunks() -> list[bytes]:
    rng = np.random.default_rng(11)
    floats = np.cumsum(rng.normal(size=20_000)).astype(np.float32).tobytes()
    return [
        rng.integers(0, 256, 70_000, dtype=np.uint8).tobytes(),  # incompressible
        bytes(131072),  # max size, very compressible
        floats,
        b"tail" * 1001 + b"x",  # odd length
        b"z",  # one byte
    ]


CHUNKS = _chunks()
HASH = compute_xorb_hash((compute_chunk_hash(c), len(c)) for c in CHUNKS)
XORB_PLAIN = build_xorb(CHUNKS).data
XORB_WITH_FOOTER = build_xorb(CHUNKS, with_footer=True).data


def test_bg4_grouping_follows_the_spec_example() -> None:
    data = bytes([0xA1, 0xA2, 0xA3, 0xA4, 0xB1, 0xB2, 0xB3, 0xB4, 0xC1, 0xC2])
    assert bg4_group(data) == bytes([0xA1, 0xB1, 0xC1, 0xA2, 0xB2, 0xC2, 0xA3, 0xB3, 0xA4, 0xB4])


@given(st.binary(max_size=300))
def test_bg4_round_trip(data: bytes) -> None:
    assert bg4_ungroup(bg4_group(data)) == data


@pytest.mark.parametrize("scheme", list(CompressionScheme))
@pytest.mark.parametrize("chunk", CHUNKS, ids=range(len(CHUNKS)))
def test_compression_round_trip(scheme: CompressionScheme, chunk: bytes) -> None:
    assert decompress(compress(chunk, scheme), scheme, len(chunk)) == chunk


@pytest.mark.parametrize("compression", [None, *CompressionScheme])
def test_build_and_validate_round_trip(compression: CompressionScheme | None) -> None:
    xorb = build_xorb(CHUNKS, compression)
    assert xorb.hash == HASH
    info = validate_xorb(xorb.data, HASH)
    assert info == xorb.info
    assert info.num_chunks == len(CHUNKS)
    assert info.uncompressed_length == sum(map(len, CHUNKS))
    assert info.content_length == info.serialized_length == len(xorb.data)
    for start in range(len(CHUNKS)):
        for end in range(start + 1, len(CHUNKS) + 1):
            expected = b"".join(CHUNKS[start:end])
            assert extract_chunk_range(xorb.data, start, end, info) == expected
            assert extract_chunk_range(xorb.data, start, end) == expected


def test_auto_compression_picks_per_chunk() -> None:
    schemes = [c.compression for c in build_xorb(CHUNKS).info.chunks]
    assert schemes[0] is CompressionScheme.NONE  # random bytes do not compress
    assert schemes[1] is not CompressionScheme.NONE
    assert schemes[4] is CompressionScheme.NONE


def test_footer_round_trip_and_check() -> None:
    xorb = build_xorb(CHUNKS, with_footer=True)
    info = validate_xorb(xorb.data, HASH)
    assert info.footer is not None and info.footer.chunk_hashes == tuple(c.hash for c in info.chunks)
    assert info.content_length < info.serialized_length == len(xorb.data)
    assert parse_footer(xorb.data[info.content_length :]) == info.footer
    assert serialize_footer(info.footer) == xorb.data[info.content_length :]
    assert extract_chunk_range(xorb.data, 2, 5) == b"".join(CHUNKS[2:])
    assert list(iter_chunk_data(xorb.data)) == CHUNKS  # stops at the footer

    # A footer naming the wrong hash for a chunk is rejected.
    tampered = bytearray(xorb.data)
    first_hash = info.content_length + 8 + 32 + 8 + 4
    tampered[first_hash] ^= 1
    with pytest.raises(XetFormatError, match="footer"):
        validate_xorb(bytes(tampered), HASH)


@settings(max_examples=25, deadline=None)
@given(st.integers(50, 50_000), st.booleans())
def test_streaming_validation_in_pieces(piece: int, with_footer: bool) -> None:
    # Pieces from 50 bytes up: headers, payloads and the footer all get split.
    data = XORB_WITH_FOOTER if with_footer else XORB_PLAIN
    validator = XorbValidator(HASH)
    for i in range(0, len(data), piece):
        validator.feed(data[i : i + piece])
    assert validator.finish() == validate_xorb(data, HASH)


def test_flipped_byte_in_a_chunk_is_a_hash_mismatch() -> None:
    data = bytearray(build_xorb(CHUNKS, CompressionScheme.NONE).data)
    data[CHUNK_HEADER_SIZE + 100] ^= 0xFF
    with pytest.raises(XetFormatError, match="xorb hash mismatch"):
        validate_xorb(bytes(data), HASH)


def test_flipped_byte_in_compressed_data_is_caught() -> None:
    xorb = build_xorb(CHUNKS, CompressionScheme.LZ4)
    chunk = xorb.info.chunks[1]
    assert chunk.compression is CompressionScheme.LZ4
    for pos in range(chunk.offset + CHUNK_HEADER_SIZE + 7, chunk.end, 37):
        data = bytearray(xorb.data)
        data[pos] ^= 0x55
        with pytest.raises(XetFormatError):
            validate_xorb(bytes(data), HASH)


def test_wrong_url_hash_is_rejected() -> None:
    data = build_xorb(CHUNKS).data
    with pytest.raises(XetFormatError, match="xorb hash mismatch"):
        validate_xorb(data, MerkleHash(bytes(32)))


@pytest.mark.parametrize("cut", [1, 5, CHUNK_HEADER_SIZE, CHUNK_HEADER_SIZE + 10, -1, -CHUNK_HEADER_SIZE - 1])
def test_truncated_xorb_is_a_clear_error(cut: int) -> None:
    data = build_xorb(CHUNKS, CompressionScheme.NONE).data
    with pytest.raises(XetFormatError, match="truncated|hash mismatch"):
        validate_xorb(data[:cut], HASH)
    with pytest.raises(XetFormatError, match="truncated"):
        validate_xorb(data[:10])


def test_bad_headers_are_rejected() -> None:
    good = ChunkHeader(10, CompressionScheme.NONE, 10).to_bytes()
    assert ChunkHeader.parse(good) == ChunkHeader(10, CompressionScheme.NONE, 10)
    with pytest.raises(XetFormatError, match="version"):
        ChunkHeader.parse(b"\x01" + good[1:])
    with pytest.raises(XetFormatError, match="compression type"):
        ChunkHeader.parse(good[:4] + b"\x07" + good[5:])
    with pytest.raises(XetFormatError, match="chunk limit"):
        ChunkHeader.parse(ChunkHeader(10, CompressionScheme.NONE, 200_000).to_bytes())
    with pytest.raises(XetFormatError, match="no chunks"):
        validate_xorb(b"")
    # Size in the header disagrees with the payload.
    payload = lz4_compress(b"a" * 1000)
    lying = ChunkHeader(len(payload), CompressionScheme.LZ4, 999).to_bytes() + payload
    with pytest.raises(XetFormatError, match="LZ4"):
        validate_xorb(lying)


def test_limits() -> None:
    data = build_xorb(CHUNKS).data
    with pytest.raises(XetFormatError, match="more than 3 chunks"):
        validate_xorb(data, max_chunks=3)
    with pytest.raises(XetFormatError, match="larger than"):
        validate_xorb(data, max_serialized=1000)
    builder = XorbBuilder(max_chunks=1)
    builder.add(b"a")
    assert not builder.can_add(1)
    with pytest.raises(XetFormatError, match="full"):
        builder.add(b"b")


def test_extract_range_errors() -> None:
    xorb = build_xorb(CHUNKS)
    with pytest.raises(XetFormatError, match="not inside"):
        extract_chunk_range(xorb.data, 3, 9, xorb.info)
    with pytest.raises(XetFormatError, match="past the end"):
        extract_chunk_range(xorb.data, 3, 9)
    with pytest.raises(XetFormatError, match="empty"):
        extract_chunk_range(xorb.data, 2, 2)
