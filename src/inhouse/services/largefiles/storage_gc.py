"""Storage garbage collection and accounting: `inhouse storage gc` and `inhouse storage stats`.

Mark: every ref of every repo (branches, tags, pull requests), every commit reachable from it, every tree,
every LFS pointer in them: the sha256s still needed. Then, in one write transaction:
1. forget LFS objects no ref needs and nobody used (uploaded, committed) within the grace window;
2. drop Xet files whose sha256 is no longer stored and that were recorded before the window;
3. drop xorbs no remaining file uses and that nothing (upload, shard, conversion, dedup answer) used within
   the window, with the record of who may name them; the users who could (their hf_xet caches may still list
   them) get a new CAS URL in their next write token, so their clients start a fresh cache and send the content
   again (storage/db/xet.py `delete_unused_xorbs`).
Each DELETE re-tests "unused since the cutoff" itself, so a commit, shard or upload racing the collector
either makes its object count as used (it is kept) or finds it gone and fails cleanly (nothing acknowledged is
lost). Files are deleted from disk only after that transaction commits, and only when old enough: xorb files
without a row (a crash between writing and recording), LFS blobs nobody needs or already converted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Connection, select

from inhouse.access.identity import Principal
from inhouse.audit.log import Event
from inhouse.services.context import Stores
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.schema import repos as repos_table
from inhouse.storage.git.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from inhouse.storage.git.store import small_bodies_and_sizes

DEFAULT_GRACE_S = 3600


@dataclass
class Marked:
    """What the refs need: every LFS oid in their history, and the logical size of their heads."""

    oids: set[str] = field(default_factory=set)
    #: (repo id, oid) → size, for the large files of every ref's head tree
    heads: dict[tuple[int, str], int] = field(default_factory=dict)
    refs: int = 0
    commits: int = 0


def _pointers(conn: Connection, blob_shas: list[str]) -> Iterator[LfsPointer]:
    for _, body in small_bodies_and_sizes(conn, blob_shas, small=MAX_POINTER_SIZE).values():
        ptr = LfsPointer.parse(body) if body is not None else None
        if ptr is not None:
            yield ptr


def mark(stores: Stores) -> Marked:
    out = Marked()
    objects = stores.objects
    trees_seen: dict[str, set[str]] = {}  # tree sha → the LFS oids below it

    def tree_oids(conn: Connection, sha: str) -> set[str]:
        if sha in trees_seen:
            return trees_seen[sha]
        found: set[str] = set()
        blobs = []
        for e in objects.tree(conn, sha):
            if e.is_tree:
                found |= tree_oids(conn, e.sha)
            elif e.mode != "160000":  # not a submodule
                blobs.append(e.sha)
        found |= {p.oid for p in _pointers(conn, blobs)}
        trees_seen[sha] = found
        return found

    with stores.db.read() as conn:
        repo_ids = [int(r.id) for r in conn.execute(select(repos_table.c.id))]
        sizes = {oid: size for oid, size, _ in lfs_store.all_objects(conn)}
        for repo_id in repo_ids:
            seen: set[str] = set()
            for _, target in repo_store.list_refs(conn, repo_id):
                out.refs += 1
                head = objects.commit(conn, target)
                for oid in tree_oids(conn, head.tree):
                    out.heads[(repo_id, oid)] = sizes.get(oid, 0)
                stack = [target]
                while stack:
                    sha = stack.pop()
                    if sha in seen:
                        continue
                    seen.add(sha)
                    commit = objects.commit(conn, sha)
                    out.oids |= tree_oids(conn, commit.tree)
                    stack.extend(commit.parents)
            out.commits += len(seen)
    return out


@dataclass
class GcReport:
    refs: int = 0
    commits: int = 0
    lfs_objects_forgotten: int = 0
    files_deleted: int = 0
    xorbs_deleted: int = 0
    xorb_bytes_freed: int = 0
    orphan_xorb_files_deleted: int = 0
    blobs_deleted: int = 0
    blob_bytes_freed: int = 0


def collect(stores: Stores, *, grace_s: float = DEFAULT_GRACE_S, who: Principal | None = None) -> GcReport:
    """Deletes what no ref needs and nothing used within `grace_s` seconds; see the module docstring."""
    start = time.time()
    cutoff = start - grace_s
    marked = mark(stores)
    report = GcReport(refs=marked.refs, commits=marked.commits)
    with stores.db.read() as conn:
        candidates = [oid for oid, _, used in lfs_store.all_objects(conn)
                      if oid not in marked.oids and used < cutoff]
    with stores.db.write() as conn:
        forgotten = lfs_store.delete_unused_objects(conn, candidates, cutoff)
        stored = {oid for oid, _, _ in lfs_store.all_objects(conn)}
        files = list(xet_store.all_files(conn))
        dead = [f for f in files if f.sha256 not in stored and f.created_at < cutoff]
        xet_store.delete_files(conn, [f.file_hash for f in dead])
        dead_hashes = {f.file_hash for f in dead}
        live: set[str] = set()
        for f in files:
            if f.file_hash not in dead_hashes:
                live |= f.xorb_hashes()
        rows = xet_store.all_xorbs(conn)
        sizes = {h: n for h, n, _ in rows}
        gone = xet_store.delete_unused_xorbs(conn, [h for h, _, used in rows if h not in live and used < cutoff],
                                             cutoff)
        report.lfs_objects_forgotten = len(forgotten)
        report.files_deleted = len(dead)
        report.xorbs_deleted = len(gone)
        report.xorb_bytes_freed = sum(sizes[h] for h in gone)
        stores.audit.record(conn, who, Event("storage.gc", details={**asdict(report), "grace_s": grace_s}))
    _sweep_files(stores, gone, cutoff, report)
    return report


def _sweep_files(stores: Stores, gone: list[str], cutoff: float, report: GcReport) -> None:
    for h in gone:
        if _old(stores.xorbs.path(h), cutoff):
            stores.xorbs.delete(h)
    on_disk = [(h, t) for h, t in stores.xorbs.stored() if t < cutoff]
    with stores.db.read() as conn:
        known = xet_store.known_xorbs(conn, [h for h, _ in on_disk])
    for h, _ in on_disk:
        if h not in known and h not in gone and _old(stores.xorbs.path(h), cutoff):
            stores.xorbs.delete(h)
            report.orphan_xorb_files_deleted += 1
    blobs = [p for p in stores.blobs.objects.glob("*/*/*") if len(p.name) == 64]
    with stores.db.read() as conn:
        stored = {oid for oid, _, _ in lfs_store.all_objects(conn)}
        converted = set(xet_store.xet_hashes_of(conn, [p.name for p in blobs]))
    for p in blobs:
        if p.name in converted or (p.name not in stored and _old(p, cutoff)):
            try:
                size = p.stat().st_size
            except FileNotFoundError:
                continue
            stores.blobs.delete(p.name)
            report.blobs_deleted += 1
            report.blob_bytes_freed += size


def _old(path: Path, cutoff: float) -> bool:
    try:
        return bool(path.stat().st_mtime < cutoff)
    except FileNotFoundError:
        return False


@dataclass
class StorageStats:
    xorbs: int
    xorb_bytes: int  # on disk, compressed
    chunk_bytes: int  # the same chunks uncompressed
    pending_blobs: int  # LFS uploads not converted yet
    pending_blob_bytes: int
    logical_bytes: int  # large files the refs' heads name, once per repo
    logical_files: int

    @property
    def stored_bytes(self) -> int:
        return self.xorb_bytes + self.pending_blob_bytes

    @property
    def dedup_ratio(self) -> float:
        """Logical bytes per stored byte (higher is better)."""
        return self.logical_bytes / self.stored_bytes if self.stored_bytes else 0.0


def stats(stores: Stores) -> StorageStats:
    marked = mark(stores)
    with stores.db.read() as conn:
        n, stored, unpacked = xet_store.stored_totals(conn)
    blobs = [p for p in stores.blobs.objects.glob("*/*/*") if len(p.name) == 64]
    blob_bytes = 0
    for p in blobs:
        try:
            blob_bytes += p.stat().st_size
        except FileNotFoundError:
            continue
    return StorageStats(n, stored, unpacked, len(blobs), blob_bytes, sum(marked.heads.values()), len(marked.heads))
