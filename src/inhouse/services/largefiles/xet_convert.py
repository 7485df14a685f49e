"""One storage format: large files that arrive over the Git LFS API are chunked into xorbs on the server.

An LFS upload is verified (sha256, size) and published as a blob, as before, so the upload stays as fast as a
plain write. A background converter then chunks the blob with the Xet chunker, reuses chunks that xorbs already
hold (found through the global-dedup keys, as a client would), writes the other chunks into new xorbs, records
the file (its Xet hash, sha256, segments) and finally deletes the blob. Until then the blob is served.

Crash- and restart-safe, and idempotent: xorbs are content-addressed files published by rename; the database
rows that make them count are written in one transaction, and the blob is only deleted after that commits.
Whatever a crash interrupts is redone on the next start (every blob still on disk is looked at again); a xorb
file without its row is swept by `inhouse storage gc` after the grace window.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from inhouse.services.context import Stores
from inhouse.storage.blobs.xorbs import XorbFileWriter
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.xet.chunking import iter_chunks
from inhouse.storage.xet.dedup import is_dedup_key_hash
from inhouse.storage.xet.hashing import (
    MerkleHash,
    compute_chunk_hash,
    compute_file_hash,
)
from inhouse.storage.xet.shard import FileSegment
from inhouse.storage.xet.xorb import XorbInfo

log = logging.getLogger("inhouse.xet.convert")

READ_PIECE = 8 << 20
MAX_KNOWN_CHUNKS = 200_000  # ~40 MB of index at most
RESCAN_S = 600.0


class _Retry(Exception):
    """A xorb this conversion reused was collected meanwhile: convert again."""


@dataclass
class _Ref:
    xorb: str | int  # a stored xorb's hash, or the number of a xorb this conversion writes
    index: int
    size: int


def convert(stores: Stores, oid: str) -> str | None:
    """Moves the LFS blob `oid` into xorbs; returns its Xet file hash (None when there is nothing to do)."""
    for _ in range(3):
        try:
            return _convert_once(stores, oid)
        except _Retry:
            continue
    log.warning("gave up converting %s for now: the xorbs it reuses keep being collected", oid)
    return None


def _convert_once(stores: Stores, oid: str) -> str | None:
    with stores.db.read() as conn:
        size = lfs_store.object_size(conn, oid)
        done = xet_store.file_by_sha256(conn, oid)
    if done is not None:
        _link_holders(stores, oid, done.xorb_hashes())
        stores.blobs.delete(oid)
        return done.file_hash
    if size is None:
        return None  # not (yet) linked to any repo: left to the upload that is finishing, or to GC
    if size == 0:
        return None  # nothing to chunk: an empty blob stays a blob
    path = stores.blobs.local_path(oid)
    if path is None:
        return None

    sha = hashlib.sha256()
    known: dict[MerkleHash, tuple[str, int]] = {}
    asked: set[MerkleHash] = set()
    fresh: dict[MerkleHash, tuple[int, int]] = {}
    writers: list[XorbFileWriter] = []
    infos: list[XorbInfo] = []
    refs: list[_Ref] = []
    chunks: list[tuple[MerkleHash, int]] = []
    total = 0

    def pieces() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while data := f.read(READ_PIECE):
                yield data

    try:
        for data in iter_chunks(pieces()):
            sha.update(data)
            h = compute_chunk_hash(data)
            n = len(data)
            total += n
            chunks.append((h, n))
            if (len(chunks) == 1 or is_dedup_key_hash(h)) and h not in known and h not in asked:
                asked.add(h)
                _learn(stores, h, known)
            if h in known:
                xorb, index = known[h]
                refs.append(_Ref(xorb, index, n))
            elif h in fresh:
                number, index = fresh[h]
                refs.append(_Ref(number, index, n))
            else:
                if not writers or not writers[-1].can_add(n):
                    if writers:
                        infos.append(writers[-1].finish())
                    writers.append(XorbFileWriter(stores.xorbs))
                index = writers[-1].add(data, h)
                fresh[h] = (len(writers) - 1, index)
                refs.append(_Ref(len(writers) - 1, index, n))
        if writers and len(infos) < len(writers):
            infos.append(writers[-1].finish())
    except BaseException:
        for w in writers[len(infos):]:
            w.abort()
        raise
    if sha.hexdigest() != oid or total != size:
        log.error("LFS blob %s does not hash to its name (%d bytes, sha256 %s): left unconverted",
                  oid, total, sha.hexdigest())
        return None

    segments = _segments(refs, [i.hash.to_hex() for i in infos])
    file_hash = compute_file_hash(chunks).to_hex()
    used = {s.xorb_hash.to_hex() for s in segments}
    keys = [(c.hash.to_hex(), i.hash.to_hex()) for i in infos for c in i.chunks if is_dedup_key_hash(c.hash)]
    if segments:
        first = segments[0]
        keys.append((chunks[0][0].to_hex(), first.xorb_hash.to_hex()))
    now = time.time()
    with stores.db.write() as conn:
        # locks the object's row: a permanent deletion (services/lfs_files.py) either finished first (the object
        # is gone: keep nothing of it) or waits for this transaction and then finds the file to delete
        deleted = lfs_store.touch_object(conn, oid, now) is None
        if not deleted:
            for info in infos:
                xet_store.insert_xorb(conn, info, now)
            if xet_store.touch_xorbs(conn, used, now):
                raise _Retry()
            xet_store.insert_file(conn, file_hash, oid, size, segments, now)
            for repo_id in xet_store.repos_with_sha256(conn, oid):
                xet_store.link_repo_xorbs(conn, repo_id, used, now)
            xet_store.add_dedup_keys(conn, keys)
    if deleted:
        _discard(stores, [i.hash.to_hex() for i in infos])
        stores.blobs.delete(oid)
        return None
    stores.blobs.delete(oid)
    return file_hash


def _discard(stores: Stores, hashes: list[str]) -> None:
    """Deletes the xorb files a conversion wrote for content deleted meanwhile (those no row records)."""
    with stores.db.read() as conn:
        known = xet_store.known_xorbs(conn, hashes)
    for h in hashes:
        if h not in known:
            stores.xorbs.delete(h)


def _learn(stores: Stores, chunk: MerkleHash, known: dict[MerkleHash, tuple[str, int]]) -> None:
    """Adds every chunk of the xorbs holding dedup key `chunk` to `known` (as a client does with a dedup answer)."""
    if len(known) >= MAX_KNOWN_CHUNKS:
        return
    with stores.db.read() as conn:
        hashes = xet_store.dedup_candidates(conn, chunk.to_hex(), limit=4)
        records = xet_store.get_xorbs(conn, hashes)
    for rec in records.values():
        if not stores.xorbs.exists(rec.hash):
            continue
        for i, h in enumerate(rec.chunk_hashes):
            known.setdefault(h, (rec.hash, i))


def _segments(refs: list[_Ref], new_hashes: list[str]) -> list[FileSegment]:
    """Runs of consecutive chunks of one xorb become one segment."""
    out: list[FileSegment] = []
    run: _Run | None = None
    for r in refs:
        if run is not None and run.xorb == r.xorb and run.end == r.index:
            run.end = r.index + 1
            run.size += r.size
            continue
        if run is not None:
            out.append(run.segment(new_hashes))
        run = _Run(r.xorb, r.index, r.index + 1, r.size)
    if run is not None:
        out.append(run.segment(new_hashes))
    return out


@dataclass
class _Run:
    """Consecutive chunks [start, end) of one xorb, `size` bytes unpacked."""

    xorb: str | int  # as in _Ref
    start: int
    end: int
    size: int

    def segment(self, new_hashes: list[str]) -> FileSegment:
        hex_ = new_hashes[self.xorb] if isinstance(self.xorb, int) else self.xorb
        return FileSegment(MerkleHash.from_hex(hex_), self.start, self.end, self.size)


def _link_holders(stores: Stores, oid: str, xorbs: set[str]) -> None:
    now = time.time()
    with stores.db.write() as conn:
        for repo_id in xet_store.repos_with_sha256(conn, oid):
            xet_store.link_repo_xorbs(conn, repo_id, xorbs, now)


def pending(stores: Stores) -> list[str]:
    """Every blob still on disk (each is converted, or dropped when it was converted already)."""
    out = []
    for p in stores.blobs.objects.glob("*/*/*"):
        if len(p.name) == 64:
            out.append(p.name)
    return out


class Converter:
    """The background thread of one app (`stores.runtime.converter`). `start(stores)` starts it, and it picks up
    whatever an earlier run left behind, and looks again every RESCAN_S seconds (retrying failures); `submit`
    queues a blob after an LFS upload (nothing happens while it is not started: the blob waits for the next
    start); `stop` finishes the conversion under way and joins the thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, stores: Stores) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, args=(stores, self._queue),
                                            name="inhouse-xet-convert", daemon=True)
            self._thread.start()
        for oid in pending(stores):
            self.submit(oid)

    def submit(self, oid: str) -> None:
        with self._lock:
            if self._thread is None or oid in self._queued:
                return
            self._queued.add(oid)
            self._idle.clear()
            self._queue.put(oid)

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            while True:  # what is still queued waits for the next start (which finds every blob on disk)
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(None)
            self._queued.clear()
            self._idle.set()
        thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def _run(self, stores: Stores, jobs: queue.Queue[str | None]) -> None:
        last_scan = time.monotonic()
        while True:
            try:
                oid = jobs.get(timeout=RESCAN_S)
            except queue.Empty:
                oid = ""
            if oid is None:
                return
            if oid:
                try:
                    convert(stores, oid)
                except Exception:
                    log.exception("could not convert LFS object %s into xorbs", oid)
                with self._lock:
                    self._queued.discard(oid)
                    if not self._queued:
                        self._idle.set()
            if time.monotonic() - last_scan >= RESCAN_S:
                last_scan = time.monotonic()
                for blob in pending(stores):
                    self.submit(blob)
