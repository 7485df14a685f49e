from __future__ import annotations

import pytest

from inhouse.storage.xet import (
    FileInfo,
    FileSegment,
    MerkleHash,
    Shard,
    ShardChunk,
    XetFormatError,
    XorbEntry,
    build_dedup_response,
    build_xorb,
    eligible_chunk_hashes,
    is_dedup_key_hash,
    parse_shard,
)
from inhouse.storage.xet.dedup import find_chunk, new_hmac_key
from inhouse.storage.xet.hashing import ZERO_HASH
from inhouse.storage.xet.shard import CHUNK_FLAG_GLOBAL_DEDUP


def _hash_with_tail(tail: int, fill: int) -> MerkleHash:
    return MerkleHash(bytes([fill]) * 24 + tail.to_bytes(8, "little"))


def test_hash_eligibility_uses_the_last_word_mod_1024() -> None:
    assert is_dedup_key_hash(_hash_with_tail(0, 1))
    assert is_dedup_key_hash(_hash_with_tail(1024 * 77, 2))
    assert not is_dedup_key_hash(_hash_with_tail(1, 3))
    assert not is_dedup_key_hash(_hash_with_tail(512, 4))


def test_eligible_chunks_of_a_shard() -> None:
    plain = [_hash_with_tail(5 + i, i) for i in range(6)]
    keyed = _hash_with_tail(2048, 99)
    flagged = _hash_with_tail(7, 100)
    chunks = [ShardChunk(h, 10 * i, 10) for i, h in enumerate(plain)]
    chunks[3] = ShardChunk(keyed, 30, 10)
    chunks[4] = ShardChunk(flagged, 40, 10, CHUNK_FLAG_GLOBAL_DEDUP)
    xorb = XorbEntry(MerkleHash(b"\x11" * 32), chunks, 60, 0)
    files = [
        FileInfo(MerkleHash(b"\x21" * 32), [FileSegment(xorb.hash, 1, 3, 20)]),
        FileInfo(MerkleHash(b"\x22" * 32), [FileSegment(MerkleHash(b"\x99" * 32), 0, 1, 5)]),  # xorb not in shard
        FileInfo(ZERO_HASH, []),  # the empty file
    ]
    assert eligible_chunk_hashes(Shard(files, [xorb])) == {plain[1], keyed, flagged}


def test_keyed_answer_reveals_only_chunks_the_client_has() -> None:
    chunks = [bytes([i]) * 5000 for i in range(5)]
    xorb = build_xorb(chunks)
    entry = XorbEntry.from_xorb_info(xorb.info)
    key = new_hmac_key()
    shard = parse_shard(build_dedup_response([entry], key, now=1_700_000_000, valid_for=3600))
    assert shard.files == []
    assert shard.footer is not None
    assert shard.footer.hmac_key == key
    assert (shard.footer.creation_timestamp, shard.footer.key_expiry) == (1_700_000_000, 1_700_003_600)
    listed = {c.hash for c in shard.xorbs[0].chunks}
    raw = {c.hash for c in entry.chunks}
    assert not listed & raw  # no raw chunk hash is sent
    # A client holding chunk 2 finds it; a chunk it does not hold matches nothing.
    assert find_chunk(shard, entry.chunks[2].hash) == [(xorb.hash, 2)]
    assert find_chunk(shard, MerkleHash(b"\x42" * 32)) == []
    # Different keys give unrelated answers.
    other = parse_shard(build_dedup_response([entry]))
    assert not {c.hash for c in other.xorbs[0].chunks} & listed


def test_keys() -> None:
    assert len(new_hmac_key()) == 32 and new_hmac_key() != new_hmac_key()
    with pytest.raises(XetFormatError):
        build_dedup_response([])
