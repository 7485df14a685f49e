"""Reading large-file content: from the sha256 blob while it waits for conversion, else rebuilt from xorbs.

Bytes are produced chunk by chunk (one compressed chunk of at most 128 KiB in memory, plus an output buffer
of about 1 MiB), so a download of any size keeps memory flat.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection

from inhouse.errors import EntryNotFound
from inhouse.services.context import Stores
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.xet import XetFileRecord, XorbRecord
from inhouse.storage.xet.compression import CompressionScheme, decompress
from inhouse.storage.xet.errors import XetFormatError
from inhouse.storage.xet.xorb import CHUNK_HEADER_SIZE, ChunkHeader

OUT_PIECE = 1 << 20


def iter_file(stores: Stores, file: XetFileRecord, start: int = 0, end: int | None = None,
              xorbs: dict[str, XorbRecord] | None = None) -> Iterator[bytes]:
    """Bytes [start, end) of a file stored in xorbs."""
    end = file.size if end is None else min(end, file.size)
    if start >= end:
        return
    if xorbs is None:
        with stores.db.read() as conn:
            xorbs = xet_store.get_xorbs(conn, file.xorb_hashes())
    out = bytearray()
    pos = 0  # file offset of the current chunk
    for seg in file.segments:
        seg_end = pos + seg.unpacked_bytes
        if seg_end <= start:
            pos = seg_end
            continue
        if pos >= end:
            break
        xorb_hex = seg.xorb_hash.to_hex()
        rec = xorbs.get(xorb_hex)
        if rec is None:
            raise OSError(f"xorb {xorb_hex} of file {file.file_hash} is not recorded")
        with open(stores.xorbs.path(xorb_hex), "rb") as f:
            for i in range(seg.chunk_start, seg.chunk_end):
                size = rec.sizes[i]
                if pos + size <= start:
                    pos += size
                    continue
                if pos >= end:
                    break
                f.seek(rec.offsets[i])
                raw = f.read(rec.offsets[i + 1] - rec.offsets[i])
                header = ChunkHeader.parse(raw[:CHUNK_HEADER_SIZE], f"xorb {xorb_hex} chunk {i}")
                data = decompress(memoryview(raw)[CHUNK_HEADER_SIZE:], header.compression, header.uncompressed_size)
                lo = max(start - pos, 0)
                hi = min(end - pos, size)
                out += memoryview(data)[lo:hi]
                pos += size
                if len(out) >= OUT_PIECE:
                    yield bytes(out)
                    out.clear()
    if out:
        yield bytes(out)


READ_BLOCK = 4 << 20


def iter_file_buffers(stores: Stores, file: XetFileRecord,
                       xorbs: dict[str, XorbRecord] | None = None) -> Iterator[list[bytes | memoryview]]:
    """The whole file as lists of buffers, one list per read of up to READ_BLOCK stored bytes: raw chunks are
    views into what was read (no copy), compressed ones are decompressed (and their sizes checked)."""
    if xorbs is None:
        with stores.db.read() as conn:
            xorbs = xet_store.get_xorbs(conn, file.xorb_hashes())
    remaining = file.size
    for seg in file.segments:
        if remaining <= 0:
            break
        xorb_hex = seg.xorb_hash.to_hex()
        rec = xorbs.get(xorb_hex)
        if rec is None:
            raise OSError(f"xorb {xorb_hex} of file {file.file_hash} is not recorded")
        offsets = rec.offsets
        with open(stores.xorbs.path(xorb_hex), "rb", buffering=0) as f:
            i = seg.chunk_start
            while i < seg.chunk_end and remaining > 0:
                j = i + 1  # chunks [i, j) in one read of at most READ_BLOCK bytes (or one chunk)
                while j < seg.chunk_end and offsets[j + 1] - offsets[i] <= READ_BLOCK:
                    j += 1
                f.seek(offsets[i])
                want = offsets[j] - offsets[i]
                raw = f.read(want)
                if len(raw) != want:
                    raise OSError(f"xorb {xorb_hex} is shorter than its record says")
                view = memoryview(raw)
                out: list[bytes | memoryview] = []
                for k in range(i, j):
                    lo = offsets[k] - offsets[i]
                    hi = offsets[k + 1] - offsets[i]
                    header = ChunkHeader.parse(view[lo : lo + CHUNK_HEADER_SIZE], f"xorb {xorb_hex} chunk {k}")
                    payload = view[lo + CHUNK_HEADER_SIZE : hi]
                    if header.compression is CompressionScheme.NONE:
                        if len(payload) != header.uncompressed_size:
                            raise XetFormatError(f"xorb {xorb_hex} chunk {k}: holds {len(payload)} bytes, header "
                                                 f"says {header.uncompressed_size}")
                        data: bytes | memoryview = payload
                    else:
                        data = decompress(payload, header.compression, header.uncompressed_size)
                    if len(data) > remaining:
                        data = memoryview(data)[:remaining]
                    remaining -= len(data)
                    out.append(data)
                    if remaining <= 0:
                        break
                yield out
                i = j


def file_sha256(stores: Stores, file: XetFileRecord, xorbs: dict[str, XorbRecord] | None = None,
                hasher: Any = None) -> str:
    """SHA-256 of a file stored in xorbs (continued from `hasher`, a SHA-256 of what comes before, if given).
    Reading + decompressing and hashing run in two threads (both release the GIL on large buffers), about twice
    as fast as one after the other; at most 8 reads wait in between."""
    h = hasher if hasher is not None else hashlib.sha256()
    pieces: queue.Queue[list[bytes | memoryview] | BaseException | None] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def produce() -> None:
        try:
            for piece in iter_file_buffers(stores, file, xorbs):
                while not stop.is_set():
                    try:
                        pieces.put(piece, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            pieces.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            pieces.put(exc)

    reader = threading.Thread(target=produce, name="inhouse-xet-read", daemon=True)
    reader.start()
    try:
        while (item := pieces.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            for buf in item:
                h.update(buf)
    finally:
        stop.set()
        reader.join()
    return h.hexdigest()


def available(stores: Stores, conn: Connection, oid: str) -> bool:
    """Is the content of large file `oid` stored (as a blob or in xorbs)?

    `conn`'s snapshot may predate the background converter moving the blob into xorbs (it records the file, then
    deletes the blob): a blob that is gone is looked for again in a transaction that starts after it went."""
    if stores.blobs.exists(oid) or xet_store.file_by_sha256(conn, oid) is not None:
        return True
    with stores.db.read() as fresh:
        return xet_store.file_by_sha256(fresh, oid) is not None


def read_lfs(stores: Stores, oid: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Bytes [start, end) of the large file `oid`, wherever it lives now."""
    try:
        blob = stores.blobs.read(oid, start, end)
        first = next(blob, None)  # opens the file: a blob being converted right now may be gone
    except FileNotFoundError:
        blob = None
    if blob is not None:
        if first is not None:
            yield first
        yield from blob
        return
    with stores.db.read() as conn:
        file = xet_store.file_by_sha256(conn, oid)
        xorbs = xet_store.get_xorbs(conn, file.xorb_hashes()) if file is not None else None
    if file is None:
        raise EntryNotFound(f"The content of large file {oid} is not stored on this server.")
    yield from iter_file(stores, file, start, end, xorbs)
