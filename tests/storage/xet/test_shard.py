from __future__ import annotations

import hashlib
import struct

import pytest

from inhouse.storage.xet import (
    FileInfo,
    FileSegment,
    MerkleHash,
    Shard,
    XetFormatError,
    XorbEntry,
    build_xorb,
    check_shard_references,
    check_xorb_entry,
    compute_chunk_hash,
    compute_file_hash,
    compute_verification_hash,
    parse_shard,
    serialize_shard,
    validate_xorb,
)
from inhouse.storage.xet.hashing import hmac_hash
from inhouse.storage.xet.shard import SHARD_FOOTER_SIZE, SHARD_HEADER_SIZE, shard_xorb_lookup

CHUNKS = [bytes([i]) * (9000 + 100 * i) for i in range(6)]
XORB = build_xorb(CHUNKS)
ENTRY = XorbEntry.from_xorb_info(XORB.info)


def _file(ranges: list[tuple[int, int]], verification: bool = True, sha: bool = True) -> FileInfo:
    segments = []
    chunks = []
    data = b""
    for start, end in ranges:
        segments.append(FileSegment(XORB.hash, start, end, sum(len(c) for c in CHUNKS[start:end])))
        chunks += [(compute_chunk_hash(c), len(c)) for c in CHUNKS[start:end]]
        data += b"".join(CHUNKS[start:end])
    return FileInfo(
        file_hash=compute_file_hash(chunks),
        segments=segments,
        verification_hashes=[compute_verification_hash(compute_chunk_hash(c) for c in CHUNKS[s:e]) for s, e in ranges]
        if verification
        else None,
        sha256=hashlib.sha256(data).digest() if sha else None,
    )


SHARD = Shard(files=[_file([(0, 6)]), _file([(2, 4), (0, 1), (2, 6)], sha=False)], xorbs=[ENTRY])


def test_round_trip_upload_form() -> None:
    data = serialize_shard(SHARD)
    parsed = parse_shard(data, allow_footer=False)
    assert parsed.files == SHARD.files and parsed.xorbs == SHARD.xorbs and parsed.footer is None
    assert serialize_shard(parsed) == data
    check_shard_references(parsed, shard_xorb_lookup(parsed.xorbs))
    check_xorb_entry(parsed.xorbs[0], XORB.info)


def test_round_trip_with_footer_and_lookup_tables() -> None:
    data = serialize_shard(SHARD, with_footer=True, creation_timestamp=1000, key_expiry=2000)
    parsed = parse_shard(data)
    footer = parsed.footer
    assert footer is not None
    assert (footer.creation_timestamp, footer.key_expiry, footer.hmac_key) == (1000, 2000, None)
    assert footer.footer_offset == len(data) - SHARD_FOOTER_SIZE
    assert footer.file_lookup_count == 2 and footer.xorb_lookup_count == 1 and footer.chunk_lookup_count == 6
    assert footer.materialized_bytes == sum(f.size for f in SHARD.files)
    # The chunk lookup table is sorted by truncated hash and points at the right records.
    rows = [struct.unpack_from("<QII", data, footer.chunk_lookup_offset + 16 * i) for i in range(6)]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    for key, record, index in rows:
        assert record == 0 and ENTRY.chunks[index].hash.truncated() == key
    with pytest.raises(XetFormatError, match="must not include a footer"):
        parse_shard(data, allow_footer=False)


def test_hmac_keyed_shard() -> None:
    key = b"\x07" * 32
    parsed = parse_shard(serialize_shard(SHARD, with_footer=True, hmac_key=key))
    assert parsed.footer is not None and parsed.footer.hmac_key == key
    assert [c.hash for c in parsed.xorbs[0].chunks] == [hmac_hash(c.hash, key) for c in ENTRY.chunks]
    with pytest.raises(XetFormatError, match="footer"):
        serialize_shard(SHARD, hmac_key=key)


def test_sha256_is_stored_word_swapped() -> None:
    data = serialize_shard(Shard(files=[SHARD.files[0]], xorbs=[]))
    digest = SHARD.files[0].sha256
    assert digest is not None
    ext = data[SHARD_HEADER_SIZE + 48 * 3 : SHARD_HEADER_SIZE + 48 * 3 + 32]
    assert MerkleHash(ext).to_hex() == digest.hex()


@pytest.mark.parametrize("cut", [10, SHARD_HEADER_SIZE + 5, SHARD_HEADER_SIZE + 48 + 20, -1, -48])
def test_truncated_shard_is_a_clear_error(cut: int) -> None:
    data = serialize_shard(SHARD)
    with pytest.raises(XetFormatError, match="truncated"):
        parse_shard(data[:cut])


def test_structural_errors() -> None:
    data = serialize_shard(SHARD)
    with pytest.raises(XetFormatError, match="magic"):
        parse_shard(b"X" + data[1:])
    with pytest.raises(XetFormatError, match="version"):
        parse_shard(data[:32] + struct.pack("<Q", 3) + data[40:])
    with pytest.raises(XetFormatError, match="footer size"):
        parse_shard(data[:40] + struct.pack("<Q", 7) + data[48:])
    with pytest.raises(XetFormatError, match="unexpected bytes"):
        parse_shard(data + b"\0")
    mixed = Shard(files=[SHARD.files[0], _file([(0, 1)], verification=False)], xorbs=[ENTRY])
    with pytest.raises(XetFormatError, match="verification"):
        serialize_shard(mixed)
    # The same shard forged at the byte level is rejected by the parser too.
    good = serialize_shard(Shard(files=[SHARD.files[0], _file([(0, 1)])], xorbs=[ENTRY]))
    flags_at = SHARD_HEADER_SIZE + 48 * 4 + 32  # second file header's flags
    forged = good[:flags_at] + struct.pack("<I", 1 << 30) + good[flags_at + 4 :]  # metadata ext only
    forged = forged[: flags_at + 16 + 48] + forged[flags_at + 16 + 48 * 2 :]  # drop its verification entry
    with pytest.raises(XetFormatError, match="some files"):
        parse_shard(forged)


def test_chunk_offsets_must_add_up() -> None:
    bad = XorbEntry(ENTRY.hash, list(ENTRY.chunks), ENTRY.unpacked_bytes + 1, 0)
    with pytest.raises(XetFormatError, match="add up"):
        parse_shard(serialize_shard(Shard(xorbs=[bad])))
    swapped = XorbEntry(ENTRY.hash, [ENTRY.chunks[1], ENTRY.chunks[0], *ENTRY.chunks[2:]], ENTRY.unpacked_bytes, 0)
    with pytest.raises(XetFormatError, match="uncompressed offset"):
        parse_shard(serialize_shard(Shard(xorbs=[swapped])))


def test_reference_checks() -> None:
    lookup = shard_xorb_lookup([ENTRY])
    good = SHARD.files[0]

    wrong_verification = FileInfo(good.file_hash, good.segments, [MerkleHash(bytes(32))], good.sha256)
    with pytest.raises(XetFormatError, match="verification hash"):
        check_shard_references(Shard(files=[wrong_verification]), lookup)

    wrong_hash = FileInfo(MerkleHash(b"\1" * 32), good.segments, good.verification_hashes)
    with pytest.raises(XetFormatError, match="file hash mismatch"):
        check_shard_references(Shard(files=[wrong_hash]), lookup)

    with pytest.raises(XetFormatError, match="unknown xorb"):
        check_shard_references(Shard(files=[good]), {})

    seg = good.segments[0]
    too_long = FileInfo(
        good.file_hash, [FileSegment(seg.xorb_hash, 0, 7, seg.unpacked_bytes)], good.verification_hashes
    )
    with pytest.raises(XetFormatError, match="are not all in xorb"):
        check_shard_references(Shard(files=[too_long]), lookup)

    wrong_size = FileInfo(
        good.file_hash, [FileSegment(seg.xorb_hash, 0, 6, seg.unpacked_bytes - 1)], good.verification_hashes
    )
    with pytest.raises(XetFormatError, match="bytes"):
        check_shard_references(Shard(files=[wrong_size]), lookup)

    unverified = _file([(0, 6)], verification=False)
    with pytest.raises(XetFormatError, match="no verification"):
        check_shard_references(Shard(files=[unverified]), lookup)
    check_shard_references(Shard(files=[unverified]), lookup, require_verification=False)


def test_xorb_entry_must_match_the_xorb() -> None:
    other = validate_xorb(build_xorb(CHUNKS[:3]).data)
    with pytest.raises(XetFormatError):
        check_xorb_entry(ENTRY, other)
    lying = XorbEntry(ENTRY.hash, list(ENTRY.chunks), ENTRY.unpacked_bytes, 12345)
    with pytest.raises(XetFormatError, match="serialized length"):
        check_xorb_entry(lying, XORB.info)
