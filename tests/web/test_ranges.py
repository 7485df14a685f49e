"""The one Range parser (web/ranges.py) and what a range covers of a file (services/byte_ranges.py).

Downloads, Xet reconstructions and xorb links all parse `Range` here; the cases the three old parsers had (the
download route's, the Xet storage module's and the xorb-data route's) are kept, with their answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inhouse.errors import BadRequest, RangeNotSatisfiable
from inhouse.services.byte_ranges import ByteRange
from inhouse.web.ranges import MAX_DIGITS, parse_ranges, single_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, (0, 100)),
        ("bytes=10-", 1000, (10, 1000)),
        ("bytes=900-5000", 1000, (900, 1000)),
        ("bytes=-100", 1000, (900, 1000)),
        ("bytes=-5000", 1000, (0, 1000)),
        ("bytes=0-", 0, (0, 0)),  # as Xet's CAS answers an empty file
        (" Bytes = 5 - 9 ", 1000, (5, 10)),
        ("bytes=999-999", 1000, (999, 1000)),
        ("bytes=0-" + "9" * MAX_DIGITS, 1000, (0, 1000)),
    ],
)
def test_a_single_range_and_what_it_covers(header: str, size: int, expected: tuple[int, int]) -> None:
    (r,) = parse_ranges(header, max_parts=1) or []
    assert r.span(size) == expected
    assert single_range(header) == r


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-2000", "bytes=-0"])
def test_unsatisfiable_ranges_carry_the_size(header: str) -> None:
    (r,) = parse_ranges(header, max_parts=1) or []
    with pytest.raises(RangeNotSatisfiable) as e:
        r.span(1000)
    assert e.value.size == 1000


def test_a_suffix_of_an_empty_file_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        ByteRange(None, 5).span(0)


@pytest.mark.parametrize("header", ["bytes=5-1", "items=0-1", "bytes=-", "bytes=a-b", "bytes", "bytes=1",
                                    "bytes=0-" + "9" * (MAX_DIGITS + 1), "bytes=-5-3", "bytes=٣-٤", "bytes=+1-2"])
def test_malformed_headers_are_a_400_or_ignored_by_downloads(header: str) -> None:
    with pytest.raises(BadRequest):
        parse_ranges(header, max_parts=4)
    assert single_range(header) is None  # a download sends the whole file instead


def test_no_header_or_a_blank_one_is_no_range() -> None:
    assert parse_ranges(None, max_parts=1) is None and parse_ranges("  ", max_parts=1) is None
    assert single_range(None) is None


def test_several_ranges_keep_their_order_and_are_bounded() -> None:
    assert parse_ranges("bytes=5-9, 0-1,3-", max_parts=3) == [ByteRange(5, 9), ByteRange(0, 1), ByteRange(3, None)]
    with pytest.raises(BadRequest, match="at most 2"):
        parse_ranges("bytes=" + ",".join(["0-1"] * 100_000), max_parts=2)
    assert single_range("bytes=0-1,5-6") is None  # a download answers several ranges with the whole file
    with pytest.raises(BadRequest, match="at most 1 range"):
        parse_ranges("bytes=0-1,5-6", max_parts=1)


@given(first=st.integers(0, 10**6), length=st.integers(1, 10**6), size=st.integers(0, 2 * 10**6))
def test_an_explicit_range_covers_what_lies_inside_the_file(first: int, length: int, size: int) -> None:
    (r,) = parse_ranges(f"bytes={first}-{first + length - 1}", max_parts=1) or []
    if first >= size and not first == size == 0:
        with pytest.raises(RangeNotSatisfiable):
            r.span(size)
    else:
        start, end = r.span(size)
        assert (start, end) == (first, min(first + length, size))
