from __future__ import annotations

import hashlib

import pytest
from blake3 import blake3
from hypothesis import given
from hypothesis import strategies as st

from inhouse.storage.xet import XetFormatError
from inhouse.storage.xet.hashing import (
    DATA_KEY,
    INTERNAL_NODE_KEY,
    VERIFICATION_KEY,
    ZERO_HASH,
    MerkleHash,
    aggregated_hash,
    compute_chunk_hash,
    compute_file_hash,
    compute_verification_hash,
    compute_xorb_hash,
    hmac_hash,
    merge_hashes,
    sha256_to_stored,
    stored_to_sha256,
)

hashes = st.binary(min_size=32, max_size=32).map(MerkleHash)


def test_hex_form_swaps_bytes_within_8_byte_words() -> None:
    # The example of the spec's "Converting Hashes to Strings" (whose printed
    # result drops the byte 0x10; the byte order it describes is this).
    h = MerkleHash(bytes(range(32)))
    assert h.to_hex() == "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert str(h) == h.to_hex()
    assert h.hex() == bytes(range(32)).hex()  # bytes.hex() stays the raw order
    assert MerkleHash.from_hex(h.to_hex()) == h


@given(hashes)
def test_hex_round_trip(h: MerkleHash) -> None:
    assert MerkleHash.from_hex(h.to_hex()) == h
    assert MerkleHash.from_hex(h.to_hex().upper()) == h


@pytest.mark.parametrize("bad", ["", "00" * 31, "zz" * 32, "0" * 65, " " + "0" * 63])
def test_bad_hex_is_rejected(bad: str) -> None:
    with pytest.raises(XetFormatError, match="64 hex"):
        MerkleHash.from_hex(bad)


def test_hash_must_be_32_bytes() -> None:
    with pytest.raises(XetFormatError, match="32 bytes"):
        MerkleHash(b"short")


def test_chunk_hash_is_keyed_blake3() -> None:
    data = b"some chunk bytes"
    assert compute_chunk_hash(data) == blake3(data, key=DATA_KEY).digest()


def test_internal_node_text_follows_the_spec() -> None:
    children = [(MerkleHash(bytes([i]) * 32), 1000 * (i + 1)) for i in range(4)]
    text = "".join(f"{h.to_hex()} : {size}\n" for h, size in children).encode()
    merged, total = merge_hashes(children)
    assert merged == blake3(text, key=INTERNAL_NODE_KEY).digest()
    assert total == 10000


def test_tree_shapes() -> None:
    a, b, c = (MerkleHash(bytes([i]) * 32) for i in (1, 2, 3))
    assert compute_xorb_hash([]) == ZERO_HASH
    assert compute_xorb_hash([(a, 5)]) == a  # one leaf is its own root
    assert compute_xorb_hash([(a, 5), (b, 6)]) == merge_hashes([(a, 5), (b, 6)])[0]
    # Sizes are part of the hash.
    assert compute_xorb_hash([(a, 5), (b, 6), (c, 7)]) != compute_xorb_hash([(a, 5), (b, 6), (c, 8)])


def _reference_tree(leaves: list[tuple[MerkleHash, int]]) -> MerkleHash:
    """Straightforward restatement of xet-core's aggregation rule."""
    level = list(leaves)
    while len(level) > 1:
        out = []
        i = 0
        while i < len(level):
            rest = level[i:]
            if len(rest) <= 2:
                n = len(rest)
            else:
                n = min(9, len(rest))
                for j in range(2, min(9, len(rest))):
                    if int.from_bytes(rest[j][0][24:], "little") % 4 == 0:
                        n = j + 1
                        break
            out.append(merge_hashes(level[i : i + n]))
            i += n
        level = out
    return level[0][0]


@given(st.lists(st.tuples(hashes, st.integers(1, 131072)), min_size=1, max_size=80))
def test_aggregation_matches_restated_rule(leaves: list[tuple[MerkleHash, int]]) -> None:
    assert aggregated_hash(leaves) == _reference_tree(leaves)


def test_file_hash_rules() -> None:
    h = compute_chunk_hash(b"hello")
    assert compute_file_hash([]) == ZERO_HASH  # the empty file
    assert compute_file_hash([(h, 5)]) == blake3(h, key=bytes(32)).digest()
    # Value computed by the real client (hf_xet.hash_files) for a file holding b"hello".
    assert compute_file_hash([(h, 5)]).to_hex() == "48a3213a086cad271381aafe47232eb5df291a963cebbfec071972eff45eb422"
    assert compute_file_hash([(h, 5)], salt=b"\x01" * 32) != compute_file_hash([(h, 5)])


def test_verification_hash_and_hmac() -> None:
    chunk_hashes = [compute_chunk_hash(bytes([i])) for i in range(3)]
    assert compute_verification_hash(chunk_hashes) == blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()
    key = b"k" * 32
    assert hmac_hash(chunk_hashes[0], key) == blake3(chunk_hashes[0], key=key).digest()


def test_sha256_storage_order() -> None:
    digest = hashlib.sha256(b"abc").digest()
    stored = sha256_to_stored(digest)
    assert stored.to_hex() == digest.hex()  # the stored form prints as the usual hex digest
    assert stored_to_sha256(stored) == digest


def test_hash_helpers() -> None:
    h = MerkleHash(bytes(range(32)))
    assert h.truncated() == int.from_bytes(bytes(range(8)), "little")
    assert h.mod(1024) == int.from_bytes(bytes(range(24, 32)), "little") % 1024
