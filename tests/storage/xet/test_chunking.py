from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.storage.xet import (
    Chunker,
    MerkleHash,
    chunk_boundaries,
    compute_chunk_hash,
    compute_file_hash,
    iter_chunks,
)
from inhouse.storage.xet.chunking import MASK, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, chunk_lengths
from inhouse.storage.xet.gear_table import GEAR_TABLE


def reference_boundaries(data: bytes) -> list[int]:
    """The spec's byte-by-byte pseudocode, verbatim."""
    h, start, out = 0, 0, []
    for i, b in enumerate(data):
        h = ((h << 1) + GEAR_TABLE[b]) & 0xFFFF_FFFF_FFFF_FFFF
        size = i + 1 - start
        if size < MIN_CHUNK_SIZE:
            continue
        if size >= MAX_CHUNK_SIZE or (h & MASK) == 0:
            out.append(i + 1)
            start = i + 1
            h = 0
    if start < len(data):
        out.append(len(data))
    return out


def _mixed_data() -> bytes:
    rng = np.random.default_rng(42)
    return (
        rng.integers(0, 256, 700_000, dtype=np.uint8).tobytes()
        + bytes(300_000)  # no natural boundaries: forced cuts at MAX
        + b"abcdefgh" * 20_000  # periodic
        + rng.integers(0, 256, 150_000, dtype=np.uint8).tobytes()
    )


MIXED = _mixed_data()
MIXED_REFERENCE = reference_boundaries(MIXED)


def test_matches_spec_pseudocode() -> None:
    assert chunk_boundaries(MIXED) == MIXED_REFERENCE
    sizes = chunk_lengths(MIXED)
    assert max(sizes) == MAX_CHUNK_SIZE
    assert min(sizes[:-1]) >= MIN_CHUNK_SIZE


@pytest.mark.parametrize("size", [0, 1, 63, 64, MIN_CHUNK_SIZE - 1, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_CHUNK_SIZE + 1])
def test_edge_sizes(size: int) -> None:
    data = bytes(size)
    assert chunk_boundaries(data) == reference_boundaries(data)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 200_000), min_size=1, max_size=30))
def test_streaming_pieces_do_not_change_boundaries(piece_sizes: list[int]) -> None:
    chunker = Chunker()
    cuts: list[int] = []
    pos = 0
    for size in piece_sizes:
        cuts += chunker.update(MIXED[pos : pos + size])
        pos += size
    cuts += chunker.update(MIXED[pos:])
    cuts += chunker.finish()
    assert cuts == MIXED_REFERENCE


@settings(max_examples=20, deadline=None)
@given(st.integers(500, 300_000))
def test_iter_chunks_yields_the_chunks(piece: int) -> None:
    chunks = list(iter_chunks(MIXED[i : i + piece] for i in range(0, len(MIXED), piece)))
    assert b"".join(chunks) == MIXED
    assert [len(c) for c in chunks] == chunk_lengths(MIXED)


def test_tiny_pieces() -> None:
    data = MIXED[:400_000]
    chunks = list(iter_chunks(data[i : i + 7] for i in range(0, len(data), 7)))
    assert [len(c) for c in chunks] == chunk_lengths(data)
    assert b"".join(chunks) == data


def test_update_after_finish_is_an_error() -> None:
    chunker = Chunker()
    chunker.finish()
    with pytest.raises(RuntimeError):
        chunker.update(b"x")


def test_file_hashes_match_the_real_client(tmp_path: Path) -> None:
    import hf_xet  # a pinned test dependency: never skipped
    rng = np.random.default_rng(3)
    cases = {
        "random": rng.integers(0, 256, 12_000_000, dtype=np.uint8).tobytes(),  # deep merkle tree
        "mixed": MIXED,
        "zeros": bytes(1_000_000),
        "small": b"x" * (MIN_CHUNK_SIZE - 1),
        "max": os.urandom(MAX_CHUNK_SIZE),
        "empty": b"",
    }
    paths = []
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    for (name, data), result in zip(cases.items(), hf_xet.hash_files(paths)):
        ends = chunk_boundaries(data)
        chunks = [(compute_chunk_hash(data[a:b]), b - a) for a, b in zip([0, *ends[:-1]], ends)]
        assert compute_file_hash(chunks) == MerkleHash.from_hex(result.hash), name


def test_throughput() -> None:
    data = np.random.default_rng(0).integers(0, 256, 32 * 1024 * 1024, dtype=np.uint8).tobytes()
    chunker = Chunker()
    start = time.perf_counter()
    chunker.update(data)
    elapsed = time.perf_counter() - start
    rate = len(data) / elapsed / 1e6
    print(f"chunking throughput: {rate:.0f} MB/s")
    assert rate > 20  # loose floor for slow CI machines; ~100+ MB/s measured
