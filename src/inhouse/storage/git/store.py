"""Git objects kept in the metadata database, so that objects and the ref that names them commit together."""

from __future__ import annotations

import zlib
from collections import OrderedDict
from threading import Lock
from typing import Generic, TypeVar

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inhouse.storage.db.schema import git_objects
from inhouse.storage.git.objects import Commit, TreeEntry, decode_tree, encode_tree, object_sha


class ObjectMissing(LookupError):
    pass


V = TypeVar("V")


class _Lru(Generic[V]):
    def __init__(self, capacity: int):
        self.capacity = capacity
        self.data: OrderedDict[str, V] = OrderedDict()
        self.lock = Lock()

    def get(self, key: str) -> V | None:
        with self.lock:
            v = self.data.get(key)
            if v is not None:
                self.data.move_to_end(key)
            return v

    def put(self, key: str, value: V) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.capacity:
                self.data.popitem(last=False)


class ObjectStore:
    """Content-addressed: inserting an object twice is a no-op. Objects are immutable, so reads are cached."""

    def __init__(self, dialect: str):
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self._trees: _Lru[tuple[TreeEntry, ...]] = _Lru(20_000)
        self._commits: _Lru[Commit] = _Lru(20_000)

    def put(self, conn: Connection, kind: str, body: bytes) -> str:
        sha = object_sha(kind, body)
        stmt = self._insert(git_objects).values(sha=sha, kind=kind, size=len(body), data=zlib.compress(body, 1))
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["sha"]))
        return sha

    def put_compressed(self, conn: Connection, rows: list[tuple[str, str, int, bytes]]) -> None:
        """Stores objects already hashed and compressed as `put` stores them: (sha, kind, size, zlib body) each, in
        one statement (git push stores a whole pack this way)."""
        if rows:
            stmt = self._insert(git_objects).on_conflict_do_nothing(index_elements=["sha"])
            conn.execute(stmt, [{"sha": sha, "kind": kind, "size": size, "data": data}
                                for sha, kind, size, data in rows])

    def get(self, conn: Connection, sha: str) -> tuple[str, bytes]:
        row = conn.execute(select(git_objects.c.kind, git_objects.c.data).where(git_objects.c.sha == sha)).first()
        if row is None:
            raise ObjectMissing(sha)
        return row.kind, zlib.decompress(row.data)

    def exists(self, conn: Connection, sha: str) -> bool:
        return conn.execute(select(git_objects.c.sha).where(git_objects.c.sha == sha)).first() is not None

    def size(self, conn: Connection, sha: str) -> int:
        row = conn.execute(select(git_objects.c.size).where(git_objects.c.sha == sha)).first()
        if row is None:
            raise ObjectMissing(sha)
        return int(row.size)

    def kind(self, conn: Connection, sha: str) -> str | None:
        row = conn.execute(select(git_objects.c.kind).where(git_objects.c.sha == sha)).first()
        return None if row is None else str(row.kind)

    def put_blob(self, conn: Connection, content: bytes) -> str:
        return self.put(conn, "blob", content)

    def put_tree(self, conn: Connection, entries: list[TreeEntry]) -> str:
        body = encode_tree(entries)
        sha = self.put(conn, "tree", body)
        self._trees.put(sha, tuple(entries))
        return sha

    def put_commit(self, conn: Connection, commit: Commit) -> str:
        sha = self.put(conn, "commit", commit.encode())
        self._commits.put(sha, commit)
        return sha

    def tree(self, conn: Connection, sha: str) -> tuple[TreeEntry, ...]:
        cached = self._trees.get(sha)
        if cached is not None:
            return cached
        kind, body = self.get(conn, sha)
        if kind != "tree":
            raise ObjectMissing(sha)
        entries = tuple(decode_tree(body))
        self._trees.put(sha, entries)
        return entries

    def commit(self, conn: Connection, sha: str) -> Commit:
        cached = self._commits.get(sha)
        if cached is not None:
            return cached
        kind, body = self.get(conn, sha)
        if kind != "commit":
            raise ObjectMissing(sha)
        c = Commit.decode(body)
        self._commits.put(sha, c)
        return c


def small_bodies_and_sizes(conn: Connection, shas: list[str], small: int = 256) -> dict[str, tuple[int, bytes | None]]:
    """sha → (size, body if the object is at most `small` bytes). One query per 500 shas."""
    from sqlalchemy import case

    out: dict[str, tuple[int, bytes | None]] = {}
    for i in range(0, len(shas), 500):
        part = shas[i : i + 500]
        rows = conn.execute(
            select(git_objects.c.sha, git_objects.c.size,
                   case((git_objects.c.size <= small, git_objects.c.data), else_=None).label("data"))
            .where(git_objects.c.sha.in_(part))
        ).all()
        for r in rows:
            out[r.sha] = (int(r.size), zlib.decompress(r.data) if r.data is not None else None)
    return out
