"""Multipart upload parts: joined on arrival when in order, and whatever happens the concatenation of part-1..N is
what the client last sent whole for each part, and `take` never vouches for bytes it did not hash."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.errors import BadRequest, IntegrityError
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services.largefiles.lfs_parts import JoinedParts

PART = 64


class Disconnect(Exception):
    pass


async def _stream(data: bytes, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 16):
        if fail_after is not None and i >= fail_after:
            raise Disconnect()
        yield data[i:i + 16]
    if fail_after is not None:
        raise Disconnect()  # the connection dropped before the request ended


def put(joins: JoinedParts, d: Path, n: int, data: bytes, fail_after: int | None = None) -> str:
    return anyio.run(joins.write, d, n, PART, _stream(data, fail_after))


def joined(d: Path, count: int) -> bytes:
    return b"".join((d / f"part-{k}").read_bytes() for k in range(1, count + 1))


def parts_of(data: bytes) -> list[bytes]:
    return [data[i:i + PART] for i in range(0, len(data), PART)]


@pytest.fixture
def d(tmp_path: Path) -> Path:
    p = tmp_path / "mp-upload"
    p.mkdir()
    return p


@pytest.fixture
def joins() -> JoinedParts:
    """What one app's runtime follows (`stores.runtime.lfs_parts`)."""
    return JoinedParts()


def test_parts_in_order_are_joined_in_part_1_and_hashed_once(joins: JoinedParts, d: Path) -> None:
    data = os.urandom(PART * 3 + 10)
    parts = parts_of(data)
    etags = [put(joins, d, n, p) for n, p in enumerate(parts, 1)]
    assert (d / "part-1").read_bytes() == data
    assert all((d / f"part-{n}").stat().st_size == 0 for n in (2, 3, 4))
    assert etags[-1] == hashlib.sha256(data).hexdigest()
    assert joins.take(d, 4, len(data)) == hashlib.sha256(data).hexdigest()
    assert joins.take(d, 4, len(data)) is None  # taken once


def test_out_of_order_parts_are_files_of_their_own_and_completion_hashes_them(joins: JoinedParts, d: Path) -> None:
    data = os.urandom(PART * 3)
    parts = parts_of(data)
    for n in (1, 3, 2):
        put(joins, d, n, parts[n - 1])
    assert joined(d, 3) == data
    assert joins.take(d, 3, len(data)) is None


def test_a_retried_part_replaces_the_first_attempt(joins: JoinedParts, d: Path) -> None:
    data = os.urandom(PART * 3)
    parts = parts_of(data)
    put(joins, d, 1, parts[0])
    put(joins, d, 2, os.urandom(PART))  # the client sends part 2 again (its answer was lost), with other bytes
    put(joins, d, 2, parts[1])
    put(joins, d, 3, parts[2])
    assert joined(d, 3) == data
    assert joins.take(d, 3, len(data)) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("again", [1, 2])
def test_rewriting_an_earlier_part_keeps_the_later_ones(joins: JoinedParts, d: Path, again: int) -> None:
    data = bytearray(os.urandom(PART * 4))
    parts = parts_of(bytes(data))
    for n, p in enumerate(parts, 1):
        put(joins, d, n, p)
    new = os.urandom(PART)
    data[(again - 1) * PART:again * PART] = new
    put(joins, d, again, new)
    assert joined(d, 4) == bytes(data)
    assert joins.take(d, 4, len(data)) is None  # later parts were not sent again: hash at completion


def test_a_part_cut_off_half_way_leaves_nothing_joined_and_can_be_sent_again(joins: JoinedParts, d: Path) -> None:
    data = os.urandom(PART * 3)
    parts = parts_of(data)
    put(joins, d, 1, parts[0])
    with pytest.raises(Disconnect):
        put(joins, d, 2, parts[1], fail_after=32)
    assert (d / "part-1").read_bytes() == parts[0]
    assert not (d / "part-2").exists()
    assert sorted(p.name for p in d.iterdir()) == ["part-1"]
    put(joins, d, 2, parts[1])
    put(joins, d, 3, parts[2])
    assert joins.take(d, 3, len(data)) == hashlib.sha256(data).hexdigest()


def test_a_first_part_cut_off_leaves_the_folder_empty(joins: JoinedParts, d: Path) -> None:
    with pytest.raises(Disconnect):
        put(joins, d, 1, os.urandom(PART), fail_after=32)
    assert list(d.iterdir()) == []


def test_a_part_over_the_limit_is_refused_and_leaves_nothing_joined(joins: JoinedParts, d: Path) -> None:
    data = os.urandom(PART * 2)
    put(joins, d, 1, data[:PART])
    with pytest.raises(IntegrityError):
        put(joins, d, 2, os.urandom(PART + 1))
    put(joins, d, 2, data[PART:])
    assert joins.take(d, 2, len(data)) == hashlib.sha256(data).hexdigest()


def test_a_part_file_replaced_by_another_process_is_never_vouched_for(joins: JoinedParts, d: Path) -> None:
    data = os.urandom(PART * 2)
    parts = parts_of(data)
    put(joins, d, 1, parts[0])
    put(joins, d, 2, parts[1])
    other = d / "other"
    other.write_bytes(b"")
    os.replace(other, d / "part-2")  # e.g. a second server process received part 2 again
    assert joins.take(d, 2, len(data)) is None


def test_part_1_replaced_behind_the_process_is_followed_no_more(joins: JoinedParts, d: Path) -> None:
    data = os.urandom(PART * 2)
    parts = parts_of(data)
    put(joins, d, 1, parts[0])
    other = d / "other"
    other.write_bytes(parts[0])
    os.replace(other, d / "part-1")
    put(joins, d, 2, parts[1])
    assert joined(d, 2) == data
    assert joins.take(d, 2, len(data)) is None


# Any sequence of whole, cut-off, and wrong writes, in any order: the concatenation is what was last sent whole
# for each part, and take() vouches for a hash only if it is the concatenation's.
_ops = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(["good", "bad", "cut"])), min_size=1, max_size=14,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops, last_size=st.integers(1, PART))
def test_any_sequence_of_part_writes_keeps_the_concatenation_right(tmp_path_factory, ops, last_size) -> None:
    d = tmp_path_factory.mktemp("mp")
    joins = JoinedParts()
    data = os.urandom(PART * 3 + last_size)
    parts = parts_of(data)
    current: dict[int, bytes] = {}
    for n, kind in ops:
        if kind == "good":
            put(joins, d, n, parts[n - 1])
            current[n] = parts[n - 1]
        elif kind == "bad":
            wrong = os.urandom(len(parts[n - 1]))
            put(joins, d, n, wrong)
            current[n] = wrong
        else:
            with pytest.raises(Disconnect):
                put(joins, d, n, parts[n - 1], fail_after=len(parts[n - 1]) // 2)
            if n >= 2 and n in current and (d / f"part-{n}").exists() is False:
                del current[n]  # a cut-off rewrite of a joined part loses the earlier copy of that part
    present = {n for n in range(1, 5) if (d / f"part-{n}").exists()}
    assert present == set(current)
    if present == {1, 2, 3, 4}:
        expected = b"".join(current[n] for n in range(1, 5))
        assert joined(d, 4) == expected
        vouched = joins.take(d, 4, len(data))
        assert vouched in (None, hashlib.sha256(expected).hexdigest())


# how many parts, and of what size -----------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 2**63 - 1), configured=st.integers(1, 2**40))
def test_no_upload_has_more_than_max_parts_and_parts_grow_only_when_needed(size: int, configured: int) -> None:
    part_size = lfs_service.part_size_for(size, configured)
    count = lfs_service.part_count(size, part_size)
    assert part_size >= configured and 1 <= count <= lfs_service.MAX_PARTS
    assert (count - 1) * part_size < max(size, 1) <= count * part_size  # the parts cover the object exactly
    if size <= configured * lfs_service.MAX_PARTS:
        assert part_size == configured


def test_a_completions_part_numbers_are_checked_before_anything_is_read() -> None:
    assert sorted(lfs_service.part_numbers([{"partNumber": 2, "etag": "b"}, {"partNumber": 1}], 2)) == [1, 2]
    for parts in (None, "1,2", {"partNumber": 1}, [{"partNumber": "x"}], [{"partNumber": "1"}], [{"partNumber": 1.0}],
                  [{"partNumber": True}], [{"partNumber": 0}], [{"partNumber": 3}], [{"partNumber": 10**400}], [1],
                  [{"partNumber": 1}] * 3):
        with pytest.raises(BadRequest):
            lfs_service.part_numbers(parts, 2)
