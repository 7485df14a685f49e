"""Queries on Xet storage: xorbs, files, global-dedup keys, and which repos hold which xorbs."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inhouse.storage.db.schema import (
    repo_lfs_objects,
    repo_xorbs,
    user_xet_caches,
    user_xorbs,
    xet_dedup,
    xet_files,
    xet_xorbs,
)
from inhouse.storage.xet.hashing import MerkleHash
from inhouse.storage.xet.reconstruction import XorbLayout
from inhouse.storage.xet.shard import FileSegment, ShardChunk, XorbEntry
from inhouse.storage.xet.xorb import XorbInfo

_CHUNK = struct.Struct("<32sII")  # raw hash | serialized offset | unpacked size
_SEGMENT = struct.Struct("<32sIIQ")  # raw xorb hash | chunk start | chunk end | unpacked bytes
_BATCH = 500


@dataclass(frozen=True)
class XorbRecord:
    hash: str
    chunk_hashes: tuple[MerkleHash, ...]
    #: serialized start of every chunk, then the end of the last one
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    stored_bytes: int
    created_at: float

    @property
    def num_chunks(self) -> int:
        return len(self.sizes)

    @property
    def unpacked_bytes(self) -> int:
        return sum(self.sizes)

    def layout(self) -> XorbLayout:
        return XorbLayout(MerkleHash.from_hex(self.hash), self.offsets, self.sizes)

    def hashes_and_sizes(self) -> list[tuple[MerkleHash, int]]:
        return list(zip(self.chunk_hashes, self.sizes))

    def entry(self) -> XorbEntry:
        """The xorb as a shard lists it (for global-dedup answers)."""
        chunks = []
        pos = 0
        for h, size in zip(self.chunk_hashes, self.sizes):
            chunks.append(ShardChunk(h, pos, size))
            pos += size
        return XorbEntry(MerkleHash.from_hex(self.hash), chunks, pos, self.stored_bytes)


@dataclass(frozen=True)
class XetFileRecord:
    file_hash: str
    sha256: str
    size: int
    segments: tuple[FileSegment, ...]
    created_at: float

    def xorb_hashes(self) -> set[str]:
        return {s.xorb_hash.to_hex() for s in self.segments}


def encode_chunks(info: XorbInfo) -> bytes:
    return b"".join(_CHUNK.pack(c.hash, c.offset, c.uncompressed_size) for c in info.chunks)


def encode_segments(segments: Sequence[FileSegment]) -> bytes:
    return b"".join(_SEGMENT.pack(s.xorb_hash, s.chunk_start, s.chunk_end, s.unpacked_bytes) for s in segments)


def decode_segments(raw: bytes) -> tuple[FileSegment, ...]:
    return tuple(FileSegment(MerkleHash(h), a, b, n) for h, a, b, n in _SEGMENT.iter_unpack(raw))


def _xorb(row: Any) -> XorbRecord:
    hashes: list[MerkleHash] = []
    offsets: list[int] = []
    sizes: list[int] = []
    for h, off, size in _CHUNK.iter_unpack(row.chunks):
        hashes.append(MerkleHash(h))
        offsets.append(off)
        sizes.append(size)
    # stored_bytes is the chunk data's length: the end of the last chunk
    return XorbRecord(row.hash, tuple(hashes), tuple(offsets) + (int(row.stored_bytes),), tuple(sizes),
                      int(row.stored_bytes), float(row.created_at))


def _file(row: Any) -> XetFileRecord:
    return XetFileRecord(row.file_hash, row.sha256, int(row.size), decode_segments(row.segments),
                         float(row.created_at))


def _insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for i in range(0, len(rows), _BATCH):
        conn.execute(insert(table).values(rows[i : i + _BATCH]).on_conflict_do_nothing())


def _batches(items: Iterable[str]) -> Iterator[list[str]]:
    items = list(dict.fromkeys(items))
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


# xorbs -----------------------------------------------------------------------------------------------------------

def insert_xorb(conn: Connection, info: XorbInfo, now: float) -> None:
    """Records a validated, stored xorb (a no-op when it is known). stored_bytes is its chunk data's length."""
    _insert_ignore(conn, xet_xorbs, [{
        "hash": info.hash.to_hex(), "num_chunks": info.num_chunks, "unpacked_bytes": info.uncompressed_length,
        "stored_bytes": info.content_length, "chunks": encode_chunks(info), "created_at": now, "used_at": now}])


def touch_xorbs(conn: Connection, hashes: Iterable[str], now: float) -> set[str]:
    """Marks xorbs as used now (GC spares them for its grace window); returns those that were missing."""
    missing: set[str] = set()
    for part in _batches(hashes):
        res = conn.execute(update(xet_xorbs).where(xet_xorbs.c.hash.in_(part)).values(used_at=now)
                           .returning(xet_xorbs.c.hash))
        found = {r.hash for r in res}
        missing.update(h for h in part if h not in found)
    return missing


def get_xorbs(conn: Connection, hashes: Iterable[str]) -> dict[str, XorbRecord]:
    out: dict[str, XorbRecord] = {}
    for part in _batches(hashes):
        rows = conn.execute(
            select(xet_xorbs.c.hash, xet_xorbs.c.chunks, xet_xorbs.c.stored_bytes, xet_xorbs.c.created_at)
            .where(xet_xorbs.c.hash.in_(part))
        )
        for r in rows:
            out[r.hash] = _xorb(r)
    return out


def known_xorbs(conn: Connection, hashes: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for part in _batches(hashes):
        out.update(r.hash for r in conn.execute(select(xet_xorbs.c.hash).where(xet_xorbs.c.hash.in_(part))))
    return out


def all_xorbs(conn: Connection) -> list[tuple[str, int, float]]:
    """(hash, stored bytes, used_at) of every recorded xorb."""
    return [(r.hash, int(r.stored_bytes), float(r.used_at)) for r in
            conn.execute(select(xet_xorbs.c.hash, xet_xorbs.c.stored_bytes, xet_xorbs.c.used_at))]


def delete_unused_xorbs(conn: Connection, hashes: Iterable[str], used_before: float) -> list[str]:
    """Deletes the rows of those xorbs not used since `used_before` (with their dedup keys, holders and the users
    who may name them); returns the hashes deleted. The time test runs in the DELETE itself, so a shard that used
    a xorb after the collector looked keeps it. Users who could name a deleted xorb lose their CAS URL key
    (`forget_xet_caches`): their clients' caches may still list it, the next upload starts a fresh one."""
    gone: list[str] = []
    for part in _batches(hashes):
        res = conn.execute(delete(xet_xorbs).where(xet_xorbs.c.hash.in_(part), xet_xorbs.c.used_at < used_before)
                           .returning(xet_xorbs.c.hash))
        deleted = [r.hash for r in res]
        if deleted:
            conn.execute(delete(xet_dedup).where(xet_dedup.c.xorb_hash.in_(deleted)))
            conn.execute(delete(repo_xorbs).where(repo_xorbs.c.xorb_hash.in_(deleted)))
            users = {int(r.user_id) for r in conn.execute(
                select(user_xorbs.c.user_id).where(user_xorbs.c.xorb_hash.in_(deleted)).distinct())}
            conn.execute(delete(user_xorbs).where(user_xorbs.c.xorb_hash.in_(deleted)))
            forget_xet_caches(conn, users)
        gone.extend(deleted)
    return gone


# which repos hold which xorbs ------------------------------------------------------------------------------------

def link_repo_xorbs(conn: Connection, repo_id: int, hashes: Iterable[str], now: float) -> None:
    _insert_ignore(conn, repo_xorbs, [{"repo_id": repo_id, "xorb_hash": h, "created_at": now}
                                      for h in dict.fromkeys(hashes)])


def repos_holding(conn: Connection, hashes: Iterable[str]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for part in _batches(hashes):
        for r in conn.execute(select(repo_xorbs.c.xorb_hash, repo_xorbs.c.repo_id)
                              .where(repo_xorbs.c.xorb_hash.in_(part))):
            out.setdefault(r.xorb_hash, set()).add(int(r.repo_id))
    return out


# which users may name which xorbs, and the key of their clients' caches ------------------------------------------

def users_uploaded(conn: Connection, user_id: int, hashes: Iterable[str]) -> set[str]:
    """Of `hashes`, the xorbs user `user_id` uploaded (sent the bytes of) before."""
    out: set[str] = set()
    for part in _batches(hashes):
        out.update(r.xorb_hash for r in conn.execute(select(user_xorbs.c.xorb_hash).where(
            user_xorbs.c.user_id == user_id, user_xorbs.c.xorb_hash.in_(part), user_xorbs.c.uploaded_at.is_not(None))))
    return out


def user_may_name(conn: Connection, user_id: int, hashes: Iterable[str], now: float, *,
                  answered: bool = True) -> set[str]:
    """Of `hashes`, the xorbs user `user_id` uploaded, or (with `answered`) was named in a dedup answer still
    valid at `now`."""
    ok: ColumnElement[bool] = user_xorbs.c.uploaded_at.is_not(None)
    if answered:
        ok = or_(ok, user_xorbs.c.answered_until > now)
    out: set[str] = set()
    for part in _batches(hashes):
        out.update(r.xorb_hash for r in conn.execute(select(user_xorbs.c.xorb_hash).where(
            user_xorbs.c.user_id == user_id, user_xorbs.c.xorb_hash.in_(part), ok)))
    return out


def _upsert_user_xorbs(conn: Connection, rows: list[dict[str, Any]], column: str) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for i in range(0, len(rows), _BATCH):
        stmt = insert(user_xorbs).values(rows[i : i + _BATCH])
        conn.execute(stmt.on_conflict_do_update(index_elements=[user_xorbs.c.user_id, user_xorbs.c.xorb_hash],
                                                set_={column: stmt.excluded[column]}))


def note_uploaded(conn: Connection, user_id: int, hashes: Iterable[str], now: float) -> None:
    """User `user_id` sent the bytes of these xorbs: they may name them for as long as they are kept."""
    _upsert_user_xorbs(conn, [{"user_id": user_id, "xorb_hash": h, "uploaded_at": now, "answered_until": None}
                              for h in dict.fromkeys(hashes)], "uploaded_at")


def note_answered(conn: Connection, user_id: int, hashes: Iterable[str], until: float,
                  expired_before: float) -> None:
    """A dedup answer named these xorbs to user `user_id`, valid until `until` (later answers end later, so the
    newest wins). The user's answers that ended before `expired_before` are dropped on the way."""
    conn.execute(delete(user_xorbs).where(user_xorbs.c.user_id == user_id, user_xorbs.c.uploaded_at.is_(None),
                                          user_xorbs.c.answered_until < expired_before))
    _upsert_user_xorbs(conn, [{"user_id": user_id, "xorb_hash": h, "uploaded_at": None, "answered_until": until}
                              for h in dict.fromkeys(hashes)], "answered_until")


def xet_cache_key(conn: Connection, user_id: int) -> str | None:
    return conn.execute(select(user_xet_caches.c.key).where(user_xet_caches.c.user_id == user_id)).scalar()


def add_xet_cache_key(conn: Connection, user_id: int, key: str, now: float) -> str:
    """`key` becomes the user's cache key unless they have one already; returns the one in place."""
    _insert_ignore(conn, user_xet_caches, [{"user_id": user_id, "key": key, "created_at": now}])
    return str(xet_cache_key(conn, user_id))


def forget_xet_caches(conn: Connection, user_ids: Iterable[int]) -> None:
    """Drops these users' cache keys: the next write token of each names a new CAS URL."""
    ids = sorted(set(user_ids))
    for i in range(0, len(ids), _BATCH):
        conn.execute(delete(user_xet_caches).where(user_xet_caches.c.user_id.in_(ids[i : i + _BATCH])))


# files -----------------------------------------------------------------------------------------------------------

def insert_file(conn: Connection, file_hash: str, sha256: str, size: int, segments: Sequence[FileSegment],
                now: float) -> None:
    _insert_ignore(conn, xet_files, [{"file_hash": file_hash, "sha256": sha256, "size": size,
                                      "segments": encode_segments(segments), "created_at": now}])


def file_by_hash(conn: Connection, file_hash: str) -> XetFileRecord | None:
    row = conn.execute(select(xet_files).where(xet_files.c.file_hash == file_hash)).first()
    return _file(row) if row else None


def file_by_sha256(conn: Connection, sha256: str) -> XetFileRecord | None:
    row = conn.execute(select(xet_files).where(xet_files.c.sha256 == sha256).limit(1)).first()
    return _file(row) if row else None


def xet_hashes_of(conn: Connection, sha256s: Iterable[str]) -> dict[str, str]:
    """sha256 → Xet file hash, for those of `sha256s` that live in xorbs."""
    out: dict[str, str] = {}
    for part in _batches(sha256s):
        for r in conn.execute(select(xet_files.c.sha256, xet_files.c.file_hash).where(xet_files.c.sha256.in_(part))):
            out[r.sha256] = r.file_hash
    return out


def all_files(conn: Connection) -> Iterator[XetFileRecord]:
    for row in conn.execute(select(xet_files)):
        yield _file(row)


def delete_files(conn: Connection, file_hashes: Iterable[str]) -> None:
    for part in _batches(file_hashes):
        conn.execute(delete(xet_files).where(xet_files.c.file_hash.in_(part)))


def repos_with_sha256(conn: Connection, sha256: str) -> list[int]:
    return [int(r.repo_id) for r in
            conn.execute(select(repo_lfs_objects.c.repo_id).where(repo_lfs_objects.c.oid == sha256))]


# global dedup ----------------------------------------------------------------------------------------------------

def add_dedup_keys(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    _insert_ignore(conn, xet_dedup, [{"chunk_hash": c, "xorb_hash": x} for c, x in dict.fromkeys(pairs)])


def dedup_candidates(conn: Connection, chunk_hash: str, limit: int = 64) -> list[str]:
    """Xorbs holding the dedup key chunk `chunk_hash`, newest first."""
    rows = conn.execute(
        select(xet_dedup.c.xorb_hash).join(xet_xorbs, xet_xorbs.c.hash == xet_dedup.c.xorb_hash)
        .where(xet_dedup.c.chunk_hash == chunk_hash).order_by(xet_xorbs.c.created_at.desc()).limit(limit))
    return [r.xorb_hash for r in rows]


def stored_totals(conn: Connection) -> tuple[int, int, int]:
    """(xorbs, stored bytes, unpacked bytes) of every recorded xorb."""
    row = conn.execute(select(func.count(), func.coalesce(func.sum(xet_xorbs.c.stored_bytes), 0),
                              func.coalesce(func.sum(xet_xorbs.c.unpacked_bytes), 0))).one()
    return int(row[0]), int(row[1]), int(row[2])


# removing a file's content for good, and forks (services/lfs_files.py, services/forks.py) ------------------------

def files_with_sha256(conn: Connection, sha256s: Iterable[str]) -> list[XetFileRecord]:
    out: list[XetFileRecord] = []
    for part in _batches(sha256s):
        out.extend(_file(r) for r in conn.execute(select(xet_files).where(xet_files.c.sha256.in_(part))))
    return out


def copy_repo_xorbs(conn: Connection, src_repo_id: int, dst_repo_id: int, now: float) -> None:
    hashes = [r.xorb_hash for r in conn.execute(select(repo_xorbs.c.xorb_hash)
                                                .where(repo_xorbs.c.repo_id == src_repo_id))]
    link_repo_xorbs(conn, dst_repo_id, hashes, now)


def files_using_xorbs(conn: Connection, hashes: set[str], except_files: set[str]) -> list[XetFileRecord]:
    """The files other than `except_files` built (in part) from one of these xorbs (reads every file's
    segments)."""
    out: list[XetFileRecord] = []
    for row in conn.execute(select(xet_files)):
        if row.file_hash in except_files:
            continue
        f = _file(row)
        if f.xorb_hashes() & hashes:
            out.append(f)
    return out


def replace_segments(conn: Connection, file_hash: str, segments: Sequence[FileSegment]) -> None:
    conn.execute(update(xet_files).where(xet_files.c.file_hash == file_hash)
                 .values(segments=encode_segments(segments)))


def copy_xorb_holders(conn: Connection, old: str, new: str, now: float) -> None:
    """The repos that held xorb `old` hold `new` (its rewrite) too."""
    repos = [int(r.repo_id) for r in conn.execute(select(repo_xorbs.c.repo_id).where(repo_xorbs.c.xorb_hash == old))]
    _insert_ignore(conn, repo_xorbs, [{"repo_id": r, "xorb_hash": new, "created_at": now} for r in repos])
