"""The LFS → xorbs converter on SQLite and PostgreSQL: same file id as a Xet upload of the bytes, identical bytes
back (whole and in ranges), dedup against what is stored, idempotent, and safe to interrupt and restart."""

from __future__ import annotations

import hashlib

import pytest

from inhouse.access.identity import principal_by_token_id
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services import repos as repo_service
from inhouse.services import users
from inhouse.services.largefiles import xet_content, xet_convert
from inhouse.services.context import Stores
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.xet import chunk_boundaries, compute_chunk_hash, compute_file_hash
from inhouse.vocabulary import RepoType, TokenRole
from tests.support.data import random_bytes


def make_repo(stores: Stores, name: str = "r") -> RepoRecord:
    users.create_user(stores, f"u{name}")
    token, _ = users.create_token(stores, f"u{name}", role=TokenRole.WRITE)
    p = principal_by_token_id(stores.db, token.id)
    return repo_service.create(stores, p, repo_type=RepoType.MODEL, namespace=f"u{name}", name=name)


def file_id(data: bytes) -> str:
    ends = chunk_boundaries(data)
    return compute_file_hash((compute_chunk_hash(data[a:b]), b - a)
                             for a, b in zip([0, *ends[:-1]], ends)).to_hex()


def store(stores: Stores, repo: RepoRecord, data: bytes) -> str:
    oid = hashlib.sha256(data).hexdigest()
    lfs_service.store_stream(stores, repo, oid, len(data), [data[i : i + 65536] for i in range(0, len(data), 65536)])
    return oid


def xorb_bytes(stores: Stores) -> int:
    with stores.db.read() as conn:
        return xet_store.stored_totals(conn)[1]


def test_convert_reads_back_and_dedups(stores: Stores) -> None:
    repo = make_repo(stores)
    data = random_bytes(3_000_000, 1) + b"abc" * 300_000
    oid = store(stores, repo, data)
    assert stores.blobs.local_path(oid) is not None
    assert xet_convert.convert(stores, oid) == file_id(data)  # the id a Xet client computes for these bytes
    assert stores.blobs.local_path(oid) is None
    assert b"".join(xet_content.read_lfs(stores, oid)) == data
    for start, end in [(0, 1), (65_530, 200_000), (2_999_999, 3_000_001), (len(data) - 7, len(data))]:
        assert b"".join(xet_content.read_lfs(stores, oid, start, end)) == data[start:end], (start, end)
    with stores.db.read() as conn:
        assert lfs_store.repo_has_object(conn, repo.id, oid)
        f = xet_store.file_by_sha256(conn, oid)
        assert f is not None and f.size == len(data)
        assert set(xet_store.repos_holding(conn, f.xorb_hashes())) == f.xorb_hashes()

    # a variant: only the new bytes take new space
    before = xorb_bytes(stores)
    variant = data[:1_500_000] + random_bytes(200_000, 2) + data[1_500_000:]
    voids = store(stores, repo, variant)
    xet_convert.convert(stores, voids)
    assert xorb_bytes(stores) - before < 200_000 + 4 * 131_072
    assert b"".join(xet_content.read_lfs(stores, voids)) == variant


def test_convert_is_idempotent_and_survives_a_crash(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, other = make_repo(stores, "a"), make_repo(stores, "b")
    data = random_bytes(2_000_000, 3)
    oid = store(stores, repo, data)

    def crash(*a: object, **kw: object) -> None:
        raise RuntimeError("power cut")

    with monkeypatch.context() as m:  # xorbs are written, then the process dies before the database commit
        m.setattr(xet_store, "insert_file", crash)
        with pytest.raises(RuntimeError):
            xet_convert.convert(stores, oid)
    assert stores.blobs.local_path(oid) is not None  # the blob is still the content
    with stores.db.read() as conn:
        assert xet_store.file_by_sha256(conn, oid) is None and xet_store.stored_totals(conn)[0] == 0
    assert b"".join(xet_content.read_lfs(stores, oid)) == data

    fid = xet_convert.convert(stores, oid)  # the restart redoes it
    assert fid == file_id(data) and xet_convert.convert(stores, oid) == fid  # and again changes nothing
    n = xorb_bytes(stores)

    # the same object uploaded to another repo: linked there, no new xorbs, blob dropped
    assert store(stores, other, data) == oid
    assert xet_convert.convert(stores, oid) == fid
    assert xorb_bytes(stores) == n and stores.blobs.local_path(oid) is None
    with stores.db.read() as conn:
        f = xet_store.file_by_sha256(conn, oid)
        holders = xet_store.repos_holding(conn, f.xorb_hashes())  # type: ignore[union-attr]
    assert all(holders[h] == {repo.id, other.id} for h in holders)


def test_converter_thread_picks_up_what_an_earlier_run_left(stores: Stores) -> None:
    repo = make_repo(stores)
    blobs = {store(stores, repo, random_bytes(500_000 + i, 10 + i)): i for i in range(3)}
    empty = store(stores, repo, b"")
    stores.runtime.start(stores)  # as the app's lifespan does
    try:
        assert stores.runtime.converter.wait_idle(60)
    finally:
        stores.runtime.stop()
    assert not stores.runtime.converter.running
    with stores.db.read() as conn:
        assert set(xet_store.xet_hashes_of(conn, list(blobs))) == set(blobs)
    assert all(stores.blobs.local_path(oid) is None for oid in blobs)
    assert stores.blobs.local_path(empty) is not None  # nothing to chunk: an empty file stays a blob
    assert b"".join(xet_content.read_lfs(stores, empty)) == b""


def test_an_upload_is_converted_by_the_started_runtime_and_left_for_later_without_one(stores: Stores) -> None:
    """lfs.store_stream hands the blob to its app's converter; with no started runtime (the CLI) it stays a blob
    until a runtime starts on these stores and finds it."""
    repo = make_repo(stores)
    later = store(stores, repo, random_bytes(400_000, 20))
    assert not stores.runtime.converter.running and stores.blobs.local_path(later) is not None
    stores.runtime.start(stores)
    try:
        now = store(stores, repo, random_bytes(400_000, 21))
        assert stores.runtime.converter.wait_idle(60)
    finally:
        stores.runtime.stop()
    with stores.db.read() as conn:
        assert set(xet_store.xet_hashes_of(conn, [later, now])) == {later, now}
    after = store(stores, repo, random_bytes(400_000, 22))  # stopped: submit does nothing, the blob stays
    assert stores.blobs.local_path(after) is not None


def test_available_while_converted_after_the_readers_snapshot(stores: Stores) -> None:
    """A reader whose snapshot predates a conversion still finds the content (the blob is gone, the xorbs are
    newer than its snapshot): what made a verify right after a multipart upload fail now and then."""
    repo = make_repo(stores)
    oid = store(stores, repo, random_bytes(300_000, 3))
    with stores.db.read() as conn:
        assert lfs_store.object_size(conn, oid) == 300_000  # the snapshot is taken here
        assert xet_convert.convert(stores, oid) is not None
        assert stores.blobs.local_path(oid) is None
        assert xet_store.file_by_sha256(conn, oid) is None  # this snapshot cannot see the new file…
        assert xet_content.available(stores, conn, oid)  # …but the check still finds it
