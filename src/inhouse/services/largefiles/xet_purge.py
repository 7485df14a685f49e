"""Removing the content of deleted Xet files from storage for good (services/lfs_files.py calls it).

Xorbs are shared: one upload packs the chunks of several files into one xorb, and deduplication makes later files
reuse earlier xorbs. Deleting a file's record therefore frees only the xorbs no other file is built from. Any other
xorb it used still holds the deleted file's own chunks (the ones no remaining file uses); those xorbs are written
again with only the chunks the remaining files use, the files' segments are pointed at the new xorbs, and the old
ones are deleted (rows, dedup keys, holders; the users who could name them get a fresh Xet cache, as after GC).
Chunks the deleted file shares with a remaining file stay: they are that file's content too.

Runs inside the caller's write transaction; new xorb files are published before it commits (a rollback leaves
them without a row: `discard` removes them), old ones are deleted from disk after it commits (`files_to_delete`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from inhouse.services.context import Stores
from inhouse.storage.blobs.xorbs import XorbFileWriter
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.xet import XorbRecord
from inhouse.storage.xet.dedup import is_dedup_key_hash
from inhouse.storage.xet.hashing import MerkleHash
from inhouse.storage.xet.shard import FileSegment
from inhouse.storage.xet.xorb import iter_chunk_data

NEVER_USED_AFTER = 1e18  # delete_unused_xorbs' cutoff: whenever the xorb was last used


@dataclass
class Purge:
    deleted: list[str] = field(default_factory=list)  # xorbs gone (their files go after the commit)
    rewritten: dict[str, str] = field(default_factory=dict)  # old xorb → the xorb written without the chunks
    written: list[str] = field(default_factory=list)  # new xorb files (to discard if the transaction fails)


def purge_files(stores: Stores, conn: Connection, file_hashes: set[str], now: float, out: Purge) -> None:
    """Deletes the records of these Xet files and every chunk of theirs no other file uses (see the docstring);
    fills `out` as it goes (the new xorb files are in `out.written` even when it fails)."""
    files = [f for f in (xet_store.file_by_hash(conn, h) for h in sorted(file_hashes)) if f is not None]
    xorbs: set[str] = set()
    for f in files:
        xorbs |= f.xorb_hashes()
    xet_store.delete_files(conn, file_hashes)
    if not xorbs:
        return
    others = xet_store.files_using_xorbs(conn, xorbs, file_hashes)
    kept: dict[str, set[int]] = {}  # xorb → the chunk indices remaining files use
    for f in others:
        for s in f.segments:
            h = s.xorb_hash.to_hex()
            if h in xorbs:
                kept.setdefault(h, set()).update(range(s.chunk_start, s.chunk_end))
    records = xet_store.get_xorbs(conn, xorbs)
    remap: dict[str, tuple[str, dict[int, int]]] = {}
    for h in sorted(kept):
        rec = records.get(h)
        if rec is None or len(kept[h]) == rec.num_chunks:
            continue  # every chunk is a remaining file's: nothing of the deleted files' own is in it
        new_hash, index = _rewrite(stores, rec, sorted(kept[h]), conn, now, out)
        remap[h] = (new_hash, index)
        out.rewritten[h] = new_hash
    for f in others:
        if not f.xorb_hashes() & set(remap):
            continue
        segments = []
        for s in f.segments:
            target = remap.get(s.xorb_hash.to_hex())
            if target is None:
                segments.append(s)
                continue
            new_hash, index = target
            segments.append(FileSegment(MerkleHash.from_hex(new_hash), index[s.chunk_start],
                                        index[s.chunk_end - 1] + 1, s.unpacked_bytes, s.flags))
        xet_store.replace_segments(conn, f.file_hash, segments)
    gone = (xorbs - set(kept)) | set(remap)
    out.deleted = xet_store.delete_unused_xorbs(conn, sorted(gone), NEVER_USED_AFTER)


def _rewrite(stores: Stores, rec: XorbRecord, keep: list[int], conn: Connection, now: float, out: Purge
             ) -> tuple[str, dict[int, int]]:
    """Writes a xorb of the chunks `keep` of `rec` (in order), records it like `rec` (holders, dedup keys); returns
    its hash and old chunk index → new."""
    writer = XorbFileWriter(stores.xorbs)
    index: dict[int, int] = {}
    try:
        with open(stores.xorbs.path(rec.hash), "rb") as fh:
            for i in keep:
                fh.seek(rec.offsets[i])
                raw = fh.read(rec.offsets[i + 1] - rec.offsets[i])
                (data,) = list(iter_chunk_data(raw))
                index[i] = writer.add(data, rec.chunk_hashes[i])
        info = writer.finish()
    except BaseException:
        writer.abort()
        raise
    new = info.hash.to_hex()
    out.written.append(new)
    xet_store.insert_xorb(conn, info, now)
    xet_store.copy_xorb_holders(conn, rec.hash, new, now)
    keys = [(c.hash.to_hex(), new) for n, c in enumerate(info.chunks) if n == 0 or is_dedup_key_hash(c.hash)]
    xet_store.add_dedup_keys(conn, keys)
    return new, index


def discard(stores: Stores, written: list[str]) -> None:
    """Removes new xorb files whose transaction did not commit (those no row records)."""
    with stores.db.read() as conn:
        known = xet_store.known_xorbs(conn, written)
    for h in written:
        if h not in known:
            stores.xorbs.delete(h)
