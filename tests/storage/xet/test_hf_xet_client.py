"""Cross-checks against the real ``hf_xet`` client (the proof the formats are right).

The client uploads to and downloads from the in-process fake CAS of
``conftest.py``. Every xorb and shard it sends goes through our validators;
downloads are served from xorbs we re-serialize ourselves and from our
reconstruction JSON, so the client decoding them proves those too.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

import hf_xet  # noqa: E402  (a pinned test dependency: never skipped)

from inhouse.storage.xet import (
    CompressionScheme,
    MerkleHash,
    XorbBuilder,
    XorbLayout,
    chunk_boundaries,
    compute_chunk_hash,
    compute_file_hash,
    extract_chunk_range,
    parse_shard,
    serialize_shard,
    validate_xorb,
)

pytestmark = pytest.mark.timeout(120)


def _config() -> object:
    return hf_xet.XetConfig().with_config({"telemetry.enabled": False, "client.retry_max_attempts": 1})


def _upload(endpoint: str, blobs: dict[str, bytes]) -> dict[str, object]:
    session = hf_xet.XetSession(_config())
    handles = {}
    with session.new_upload_commit(
        endpoint=endpoint, token="test-token", token_expiry_unix_secs=int(time.time()) + 3600
    ) as commit:
        for name, data in blobs.items():
            handles[name] = commit.start_upload_bytes(data, name=name)
    return {name: handle.result().xet_info for name, handle in handles.items()}


def _our_file_hash(data: bytes) -> MerkleHash:
    ends = chunk_boundaries(data)
    starts = [0, *ends[:-1]]
    return compute_file_hash((compute_chunk_hash(data[a:b]), b - a) for a, b in zip(starts, ends))


def _sample_files() -> dict[str, bytes]:
    rng = np.random.default_rng(1234)
    floats = np.cumsum(rng.normal(size=300_000)).astype(np.float32).tobytes()
    text = b"".join(b"row %d, value %d, label %s\n" % (i, i * i % 997, b"abc"[i % 3 :]) for i in range(40_000))
    return {
        "random.bin": rng.integers(0, 256, 1_500_000, dtype=np.uint8).tobytes(),
        "zeros.bin": bytes(700_000),
        "floats.bin": floats,
        "text.csv": text,
        "tiny.txt": b"hello xet\n",
        "empty.txt": b"",
    }


def test_real_client_upload_is_accepted_and_hashes_agree(fake_cas, xet_cache: Path) -> None:
    blobs = _sample_files()
    results = _upload(fake_cas.endpoint, blobs)
    state = fake_cas.state

    assert state.errors == []
    assert state.xorb_bodies and state.shard_bodies
    for name, data in blobs.items():
        info = results[name]
        file_hash = MerkleHash.from_hex(info.hash)
        assert info.file_size == len(data)
        # Our chunker + hashing give the client's file id.
        assert _our_file_hash(data) == file_hash, name
        # The shard registered the file with the right size, sha256 and chunking.
        registered = state.files[file_hash]
        assert registered.size == len(data)
        assert registered.sha256 == hashlib.sha256(data).digest()
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        sizes = [
            c.uncompressed_size
            for seg in registered.segments
            for c in state.xorb_infos[seg.xorb_hash].chunks[seg.chunk_start : seg.chunk_end]
        ]
        ends = chunk_boundaries(data)
        assert sizes == [b - a for a, b in zip([0, *ends[:-1]], ends)], name

    for xorb_hash, body in state.xorb_bodies.items():
        assert validate_xorb(body, xorb_hash).footer is None  # clients upload without footer
    schemes = {c.compression for info in state.xorb_infos.values() for c in info.chunks}
    assert {CompressionScheme.NONE, CompressionScheme.LZ4} <= schemes
    # Our serializer reproduces the client's shard byte for byte.
    for body in state.shard_bodies:
        assert serialize_shard(parse_shard(body, allow_footer=False)) == body
    # The client used the endpoints we expect (xorb grants are declined, v2 shards fall back to v1).
    paths = {path.split("/")[1] + "/" + path.split("/")[2] for _, path in state.requests}
    assert {"v1/xorbs", "v1/shards"} <= paths


def _reserve_with_all_schemes(state) -> None:
    """Serve every xorb from our own serialization, cycling through all compression schemes."""
    cycle = [CompressionScheme.LZ4, CompressionScheme.BG4_LZ4, CompressionScheme.NONE]
    for xorb_hash, body in state.xorb_bodies.items():
        info = state.xorb_infos[xorb_hash]
        builder = XorbBuilder(with_footer=True)
        for i in range(info.num_chunks):
            builder.compression = cycle[i % 3]
            builder.add(extract_chunk_range(body, i, i + 1, info))
        rebuilt = builder.finish()
        assert rebuilt.hash == xorb_hash
        state.served[xorb_hash] = (rebuilt.data, XorbLayout.from_xorb_info(rebuilt.info))


@pytest.mark.parametrize(("api_version", "multirange"), [(2, True), (1, False)], ids=["v2-multirange", "v1"])
def test_real_client_downloads_through_our_reconstruction(
    fake_cas, xet_cache: Path, tmp_path: Path, api_version: int, multirange: bool
) -> None:
    blobs = _sample_files()
    results = _upload(fake_cas.endpoint, blobs)
    # A file made of two distant parts of an already uploaded file: its
    # reconstruction needs two separate byte ranges of the same xorb.
    rng = np.random.default_rng(7)
    parts = [rng.integers(0, 256, 1_200_000, dtype=np.uint8).tobytes() for _ in range(3)]
    results.update(_upload(fake_cas.endpoint, {"abc.bin": b"".join(parts)}))
    blobs["abc.bin"] = b"".join(parts)
    results.update(_upload(fake_cas.endpoint, {"ac.bin": parts[0] + parts[2]}))
    blobs["ac.bin"] = parts[0] + parts[2]
    assert fake_cas.state.errors == []
    _reserve_with_all_schemes(fake_cas.state)
    ac = fake_cas.state.files[MerkleHash.from_hex(results["ac.bin"].hash)]
    assert len({s.xorb_hash for s in ac.segments}) < len(ac.segments)  # a xorb used twice

    config = _config().with_config(
        {"client.reconstruction_api_version": api_version, "client.enable_multirange_fetching": multirange}
    )
    session = hf_xet.XetSession(config)
    expiry = int(time.time()) + 3600
    with session.new_file_download_group(
        endpoint=fake_cas.endpoint, token="test-token", token_expiry_unix_secs=expiry
    ) as group:
        for name, info in results.items():
            group.start_download_file(hf_xet.XetFileInfo(info.hash, info.file_size), str(tmp_path / name))
    for name, data in blobs.items():
        assert (tmp_path / name).read_bytes() == data, name

    streams = session.new_download_stream_group(
        endpoint=fake_cas.endpoint, token="test-token", token_expiry_unix_secs=expiry
    )
    for name in ("text.csv", "ac.bin"):
        data = blobs[name]
        info = results[name]
        for start, end in [(0, 10), (100_000, 300_001), (len(data) - 5, len(data)), (65_536, len(data))]:
            stream = streams.download_stream(hf_xet.XetFileInfo(info.hash, info.file_size), start, end)
            assert b"".join(stream) == data[start:end], (name, start, end)
    streams.finish()

    state = fake_cas.state
    assert state.errors == []
    assert any(path.startswith(f"/v{api_version}/reconstructions/") for _, path in state.requests)
    if multirange:
        assert any("," in header for header in state.range_headers)


def test_real_client_dedups_against_our_keyed_answer(
    fake_cas, xet_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(99)
    base = rng.integers(0, 256, 2_500_000, dtype=np.uint8).tobytes()
    fake_cas.state.dedup_enabled = True
    first = _upload(fake_cas.endpoint, {"v1.bin": base})
    state = fake_cas.state
    assert state.errors == []
    (first_xorb,) = state.xorb_bodies

    # A second client with an empty local cache can only learn about the
    # first upload from the global dedup answer.
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "second_cache"))
    grown = base + rng.integers(0, 256, 600_000, dtype=np.uint8).tobytes()
    second = _upload(fake_cas.endpoint, {"v2.bin": grown})
    assert state.errors == []
    assert state.dedup_answers >= 1

    info = state.files[MerkleHash.from_hex(second["v2.bin"].hash)]
    assert info.segments[0].xorb_hash == first_xorb
    reused = sum(s.unpacked_bytes for s in info.segments if s.xorb_hash == first_xorb)
    assert reused >= len(base) - 2 * 131072
    new_bytes = sum(i.uncompressed_length for h, i in state.xorb_infos.items() if h != first_xorb)
    assert new_bytes < len(grown) - reused + 2 * 131072
    assert MerkleHash.from_hex(first["v1.bin"].hash) in state.files
