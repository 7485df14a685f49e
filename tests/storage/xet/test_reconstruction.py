from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.storage.xet import (
    FileSegment,
    MerkleHash,
    RangeNotSatisfiable,
    XetFormatError,
    XorbLayout,
    build_xorb,
    plan_reconstruction,
)
from inhouse.storage.xet.xorb import iter_chunk_data

CHUNKS_A = [bytes([65 + i]) * (1000 + 37 * i) for i in range(8)]
CHUNKS_B = [bytes([97 + i]) * (500 + 11 * i) for i in range(4)]
XORB_A = build_xorb(CHUNKS_A)
XORB_B = build_xorb(CHUNKS_B)
XORBS = {XORB_A.hash: XORB_A, XORB_B.hash: XORB_B}
LAYOUTS = {h: XorbLayout.from_xorb_info(x.info) for h, x in XORBS.items()}
CHUNK_DATA = {XORB_A.hash: CHUNKS_A, XORB_B.hash: CHUNKS_B}


def _segment(xorb: MerkleHash, start: int, end: int) -> FileSegment:
    return FileSegment(xorb, start, end, sum(len(c) for c in CHUNK_DATA[xorb][start:end]))


# Uses xorb A twice with a gap (chunks 0-3 and 5-8), and B in between.
SEGMENTS = [
    _segment(XORB_A.hash, 0, 3),
    _segment(XORB_B.hash, 1, 4),
    _segment(XORB_A.hash, 5, 8),
    _segment(XORB_A.hash, 2, 4),
]
FILE = b"".join(b"".join(CHUNK_DATA[s.xorb_hash][s.chunk_start : s.chunk_end]) for s in SEGMENTS)


def _download(body: dict, version: int) -> bytes:
    """Do what a client does with a reconstruction response."""
    fetched: dict[tuple[str, int], bytes] = {}
    if version == 1:
        items = [(h, [(f["range"], f["url_range"])]) for h, fs in body["fetch_info"].items() for f in fs]
    else:
        items = [(h, [(r["chunks"], r["bytes"]) for r in f["ranges"]]) for h, fs in body["xorbs"].items() for f in fs]
    for xorb_hex, ranges in items:
        data = XORBS[MerkleHash.from_hex(xorb_hex)].data
        for chunks, byte_range in ranges:
            part = data[byte_range["start"] : byte_range["end"] + 1]
            for index, chunk in zip(range(chunks["start"], chunks["end"]), iter_chunk_data(part), strict=True):
                fetched[(xorb_hex, index)] = chunk
    out = b""
    for term in body["terms"]:
        term_data = b"".join(fetched[(term["hash"], i)] for i in range(term["range"]["start"], term["range"]["end"]))
        assert len(term_data) == term["unpacked_length"]
        out += term_data
    return out[body["offset_into_first_range"] :]


def _url(xorb_hash: MerkleHash, ranges) -> str:
    spans = ",".join(r.http_range for r in ranges)
    return f"https://cas.example/xorbs/{xorb_hash.to_hex()}?range={spans}"


def test_full_file() -> None:
    plan = plan_reconstruction(SEGMENTS, LAYOUTS)
    assert plan.offset_into_first_range == 0
    assert [(t.chunk_start, t.chunk_end) for t in plan.terms] == [(0, 3), (1, 4), (5, 8), (2, 4)]
    # Xorb A's ranges [0,3) and [2,4) overlap and merge; [5,8) stays separate.
    assert [(r.chunk_start, r.chunk_end) for r in plan.fetches[XORB_A.hash]] == [(0, 4), (5, 8)]
    for version in (1, 2):
        body = plan.to_v1(_url) if version == 1 else plan.to_v2(_url)
        assert _download(body, version) == FILE
    v2 = plan.to_v2(_url)
    (entry,) = v2["xorbs"][XORB_A.hash.to_hex()]
    first = entry["ranges"][0]["bytes"]
    assert first == {"start": 0, "end": XORB_A.info.chunks[3].end - 1}
    assert entry["url"].endswith(
        f"range=0-{first['end']},{entry['ranges'][1]['bytes']['start']}-{XORB_A.info.content_length - 1}"
    )
    v1 = plan.to_v1(_url)
    assert len(v1["fetch_info"][XORB_A.hash.to_hex()]) == 2


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_byte_range(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(FILE) - 1))
    end = data.draw(st.integers(start + 1, len(FILE) + 500))
    plan = plan_reconstruction(SEGMENTS, LAYOUTS, (start, end))
    for version in (1, 2):
        body = plan.to_v1(_url) if version == 1 else plan.to_v2(_url)
        got = _download(body, version)
        # Clients truncate the tail themselves; the head must be exact.
        assert got[: end - start] == FILE[start:end]
        assert len(got) >= min(end, len(FILE)) - start
        # No term is wholly outside the range.
        assert len(got) - (min(end, len(FILE)) - start) < 3000


def test_range_errors_and_empty_file() -> None:
    with pytest.raises(RangeNotSatisfiable):
        plan_reconstruction(SEGMENTS, LAYOUTS, (len(FILE), len(FILE) + 10))
    empty = plan_reconstruction([], LAYOUTS)
    assert empty.terms == () and empty.to_v2(_url) == {"offset_into_first_range": 0, "terms": [], "xorbs": {}}
    with pytest.raises(XetFormatError, match="unknown xorb"):
        plan_reconstruction(SEGMENTS, {})
    with pytest.raises(XetFormatError, match="byte count"):
        plan_reconstruction([FileSegment(XORB_A.hash, 0, 2, 5)], LAYOUTS)
