"""Contract test, on SQLite and PostgreSQL, of what storage/db/xet.py keeps about users and xorbs: which xorbs a user
uploaded or was named in a dedup answer (until when), their CAS URL key, and how deleting xorbs forgets both."""

from __future__ import annotations

from inhouse.storage.db import users as user_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.engine import Database
from inhouse.storage.xet import build_xorb


def _user(db: Database, name: str) -> int:
    with db.write() as conn:
        return user_store.insert_user(conn, name=name, fullname="", email=None, kind="user", is_admin=False,
                                      now=1.0).id


def test_uploads_answers_cache_keys_and_gc(db: Database) -> None:
    u, v = _user(db, "u"), _user(db, "v")
    x1, x2, x3 = (build_xorb([bytes([i]) * 4000, bytes([i + 1]) * 3000]) for i in (1, 3, 5))
    h1, h2, h3 = x1.hash.to_hex(), x2.hash.to_hex(), x3.hash.to_hex()
    with db.write() as conn:
        for x in (x1, x2, x3):
            xet_store.insert_xorb(conn, x.info, 100.0)
        xet_store.note_uploaded(conn, u, [h1, h1], 100.0)
        xet_store.note_answered(conn, u, [h2], 500.0, expired_before=0.0)
        xet_store.note_answered(conn, u, [h1], 500.0, expired_before=0.0)  # uploaded stays uploaded
        xet_store.note_answered(conn, v, [h2, h3], 300.0, expired_before=0.0)
        xet_store.note_answered(conn, v, [h3], 600.0, expired_before=0.0)  # a later answer extends
        xet_store.note_uploaded(conn, v, [h3], 200.0)
        assert xet_store.add_xet_cache_key(conn, u, "a" * 16, 1.0) == "a" * 16
        assert xet_store.add_xet_cache_key(conn, u, "b" * 16, 2.0) == "a" * 16  # the first one stays
        assert xet_store.add_xet_cache_key(conn, v, "c" * 16, 1.0) == "c" * 16
    with db.read() as conn:
        assert xet_store.users_uploaded(conn, u, [h1, h2, h3]) == {h1}
        assert xet_store.users_uploaded(conn, v, [h1, h2, h3]) == {h3}
        assert xet_store.user_may_name(conn, u, [h1, h2, h3], 400.0) == {h1, h2}
        assert xet_store.user_may_name(conn, u, [h1, h2, h3], 400.0, answered=False) == {h1}
        assert xet_store.user_may_name(conn, u, [h1, h2, h3], 500.0) == {h1}  # the answer ran out
        assert xet_store.user_may_name(conn, v, [h1, h2, h3], 250.0) == {h2, h3}
        assert xet_store.user_may_name(conn, v, [h1, h2, h3], 350.0) == {h3}
    with db.write() as conn:  # v's ended answers go when v is answered again
        xet_store.note_answered(conn, v, [h1], 900.0, expired_before=400.0)
        assert xet_store.user_may_name(conn, v, [h2], 0.0) == set()
        # deleting a xorb forgets who may name it, and the cache keys of those users
        assert xet_store.delete_unused_xorbs(conn, [h2], used_before=150.0) == [h2]
        assert xet_store.user_may_name(conn, u, [h2], 0.0) == set()
        assert xet_store.xet_cache_key(conn, u) is None
        assert xet_store.xet_cache_key(conn, v) == "c" * 16  # v's answer naming h2 had been dropped already
        assert xet_store.delete_unused_xorbs(conn, [h3], used_before=150.0) == [h3]
        assert xet_store.xet_cache_key(conn, v) is None
        assert xet_store.user_may_name(conn, u, [h1], 0.0) == {h1}
        assert xet_store.add_xet_cache_key(conn, u, "d" * 16, 3.0) == "d" * 16  # a new key, a new CAS URL
