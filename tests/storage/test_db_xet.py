"""Contract test of inhouse.storage.db.xet (and the GC-related LFS queries) on SQLite and PostgreSQL."""

from __future__ import annotations

from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.engine import Database
from inhouse.storage.xet import FileSegment, MerkleHash, build_xorb
from inhouse.storage.xet.reconstruction import XorbLayout
from inhouse.vocabulary import RepoType


def _repo(db: Database, name: str) -> int:
    with db.write() as conn:
        uid = user_store.insert_user(conn, name=name, fullname="", email=None, kind="user", is_admin=False,
                                     now=1.0).id
        return repo_store.insert_repo(conn, type=RepoType.MODEL, namespace=name, name="r", owner_id=uid, private=False,
                                      now=1.0)


def test_xorbs_files_holders_and_dedup_keys(db: Database) -> None:
    a, b = _repo(db, "a"), _repo(db, "b")
    x1 = build_xorb([bytes([i]) * 5000 for i in range(5)])
    x2 = build_xorb([b"z" * 7000, b"y" * 9000])
    h1, h2 = x1.hash.to_hex(), x2.hash.to_hex()
    with db.write() as conn:
        xet_store.insert_xorb(conn, x1.info, 100.0)
        xet_store.insert_xorb(conn, x1.info, 200.0)  # a second insert is a no-op
        xet_store.insert_xorb(conn, x2.info, 300.0)
        xet_store.link_repo_xorbs(conn, a, [h1, h2, h1], 100.0)
        xet_store.link_repo_xorbs(conn, b, [h2], 100.0)
        xet_store.add_dedup_keys(conn, [(x1.info.chunks[0].hash.to_hex(), h1), (x2.info.chunks[0].hash.to_hex(), h2),
                                        (x1.info.chunks[0].hash.to_hex(), h2)])
        segs = [FileSegment(x1.hash, 1, 3, 10000), FileSegment(x2.hash, 0, 2, 16000)]
        xet_store.insert_file(conn, "f" * 64, "e" * 64, 26000, segs, 150.0)
        assert xet_store.touch_xorbs(conn, [h1, "0" * 64], 400.0) == {"0" * 64}
    with db.read() as conn:
        got = xet_store.get_xorbs(conn, [h1, h2, "0" * 64])
        assert set(got) == {h1, h2}
        assert got[h1].layout() == XorbLayout.from_xorb_info(x1.info)
        assert got[h1].hashes_and_sizes() == x1.info.hashes_and_sizes()
        assert got[h2].entry().hashes_and_sizes() == x2.info.hashes_and_sizes()
        assert xet_store.known_xorbs(conn, [h1, "1" * 64]) == {h1}
        assert {h: used for h, _, used in xet_store.all_xorbs(conn)} == {h1: 400.0, h2: 300.0}
        assert xet_store.repos_holding(conn, [h1, h2]) == {h1: {a}, h2: {a, b}}
        assert xet_store.dedup_candidates(conn, x1.info.chunks[0].hash.to_hex()) == [h2, h1]  # newest first
        f = xet_store.file_by_sha256(conn, "e" * 64)
        assert f is not None and f == xet_store.file_by_hash(conn, "f" * 64)
        assert f.segments == tuple(segs) and f.xorb_hashes() == {h1, h2}
        assert xet_store.xet_hashes_of(conn, ["e" * 64, "d" * 64]) == {"e" * 64: "f" * 64}
        n, stored, unpacked = xet_store.stored_totals(conn)
        assert (n, stored, unpacked) == (2, x1.info.content_length + x2.info.content_length, 25000 + 16000)
    with db.write() as conn:
        # only what was not used since the cutoff goes, with its keys and holders
        assert xet_store.delete_unused_xorbs(conn, [h1, h2], 350.0) == [h2]
        xet_store.delete_files(conn, ["f" * 64])
    with db.read() as conn:
        assert xet_store.known_xorbs(conn, [h1, h2]) == {h1}
        assert xet_store.repos_holding(conn, [h2]) == {}
        assert xet_store.dedup_candidates(conn, x2.info.chunks[0].hash.to_hex()) == []
        assert xet_store.file_by_hash(conn, "f" * 64) is None
        assert MerkleHash.from_hex(h1) == x1.hash


def test_lfs_objects_are_touched_and_collected_by_last_use(db: Database) -> None:
    a = _repo(db, "c")
    with db.write() as conn:
        lfs_store.record_object(conn, a, "1" * 64, 10, 100.0)
        lfs_store.record_object(conn, a, "2" * 64, 20, 100.0)
        lfs_store.record_object(conn, a, "2" * 64, 20, 500.0)  # uploaded again: used again
        assert lfs_store.touch_object(conn, "1" * 64, 300.0) == 10
        assert lfs_store.touch_object(conn, "3" * 64, 300.0) is None
    with db.read() as conn:
        assert sorted(lfs_store.all_objects(conn)) == [("1" * 64, 10, 300.0), ("2" * 64, 20, 500.0)]
    with db.write() as conn:
        assert lfs_store.delete_unused_objects(conn, ["1" * 64, "2" * 64], 400.0) == ["1" * 64]
    with db.read() as conn:
        assert not lfs_store.repo_has_object(conn, a, "1" * 64) and lfs_store.repo_has_object(conn, a, "2" * 64)
        assert lfs_store.object_size(conn, "1" * 64) is None
