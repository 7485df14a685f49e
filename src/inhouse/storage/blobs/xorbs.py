"""Xorb files in a local folder: xorbs/ab/<xet hash hex>, written via tmp/ and an atomic rename.

A xorb is stored exactly as it was serialized (chunk headers + compressed payloads, without footer), so that
byte ranges named in reconstruction answers can be served straight from the file. What a xorb holds is checked
by the caller (``inhouse.storage.xet.XorbValidator`` for uploads, or built here by ``XorbFileWriter``) before
it is published under its hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from inhouse.storage.blobs.staging import StagedFile, remove_stale
from inhouse.storage.xet.compression import CompressionScheme, compress
from inhouse.storage.xet.hashing import (
    MerkleHash,
    compute_chunk_hash,
    compute_xorb_hash,
)
from inhouse.storage.xet.xorb import (
    CHUNK_HEADER_SIZE,
    MAX_XORB_BYTES,
    MAX_XORB_CHUNKS,
    ChunkHeader,
    XorbChunk,
    XorbInfo,
)

_HEX = re.compile(r"^[0-9a-f]{64}$")


def check_hash_hex(text: str) -> str:
    if not _HEX.fullmatch(text):
        raise ValueError(f"not a Xet hash in hex form: {text[:80]!r}")
    return text


class XorbUpload(StagedFile):
    """A temp file being written; `publish(hash)` renames it into place, `abort()` removes it."""

    def __init__(self, store: XorbStore):
        super().__init__(store.tmp, "xorb-")
        self._store = store

    def truncate(self, size: int) -> None:
        self._file.truncate(size)
        self.size = min(self.size, size)

    def publish(self, hash_hex: str) -> bool:
        """Moves the file to its final place; True when it was not stored before."""
        check_hash_hex(hash_hex)
        return self.publish_as(self._store.path(hash_hex))


class XorbStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.xorbs = self.root / "xorbs"
        self.tmp = self.root / "tmp"
        self.xorbs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, hash_hex: str) -> Path:
        check_hash_hex(hash_hex)
        return self.xorbs / hash_hex[:2] / hash_hex

    def exists(self, hash_hex: str) -> bool:
        return self.path(hash_hex).exists()

    def size(self, hash_hex: str) -> int | None:
        try:
            return self.path(hash_hex).stat().st_size
        except FileNotFoundError:
            return None

    def begin(self) -> XorbUpload:
        return XorbUpload(self)

    def read(self, hash_hex: str, start: int, end: int, piece: int = 1 << 20) -> Iterator[bytes]:
        """Bytes [start, end) of a stored xorb."""
        with open(self.path(hash_hex), "rb") as f:
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                data = f.read(min(piece, remaining))
                if not data:
                    raise OSError(f"xorb {hash_hex} is shorter than expected ({end - remaining} < {end})")
                remaining -= len(data)
                yield data

    def delete(self, hash_hex: str) -> None:
        self.path(hash_hex).unlink(missing_ok=True)

    def stored(self) -> Iterator[tuple[str, float]]:
        """(hash hex, modification time) of every stored xorb."""
        for sub in self.xorbs.iterdir():
            if not sub.is_dir():
                continue
            for p in sub.iterdir():
                if _HEX.fullmatch(p.name):
                    try:
                        yield p.name, p.stat().st_mtime
                    except FileNotFoundError:
                        continue

    def clean_tmp(self) -> int:
        """Removes temp files a crash left behind (never those another live process still writes)."""
        return remove_stale(self.tmp, "xorb-*")


class XorbFileWriter:
    """Builds a xorb straight into a temp file of the store, chunk by chunk (memory: one chunk).

    `add(data)` compresses and appends one chunk while it fits the client limits (64 MiB, 8192 chunks);
    `finish()` publishes the file under its xorb hash and returns its :class:`XorbInfo`.
    """

    def __init__(self, store: XorbStore, compression: CompressionScheme = CompressionScheme.LZ4):
        self._upload = store.begin()
        self.compression = compression
        self._chunks: list[XorbChunk] = []
        self._offset = 0
        self._unpacked = 0

    @property
    def num_chunks(self) -> int:
        return len(self._chunks)

    def can_add(self, size: int) -> bool:
        return len(self._chunks) < MAX_XORB_CHUNKS and self._unpacked + size <= MAX_XORB_BYTES

    def add(self, data: bytes, chunk_hash: MerkleHash | None = None) -> int:
        """Appends one chunk; returns its index in the xorb."""
        scheme, payload = self.compression, b""
        if scheme is not CompressionScheme.NONE:
            payload = compress(data, scheme)
            if len(payload) >= len(data):
                scheme = CompressionScheme.NONE
        if scheme is CompressionScheme.NONE:
            payload = data
        header = ChunkHeader(len(payload), scheme, len(data))
        self._upload.write(header.to_bytes())
        self._upload.write(payload)
        chunk = XorbChunk(
            hash=chunk_hash if chunk_hash is not None else compute_chunk_hash(data),
            offset=self._offset,
            serialized_size=CHUNK_HEADER_SIZE + len(payload),
            uncompressed_size=len(data),
            compression=scheme,
        )
        self._chunks.append(chunk)
        self._offset = chunk.end
        self._unpacked += len(data)
        return len(self._chunks) - 1

    def finish(self) -> XorbInfo:
        if not self._chunks:
            self._upload.abort()
            raise ValueError("a xorb needs at least one chunk")
        xorb_hash = compute_xorb_hash((c.hash, c.uncompressed_size) for c in self._chunks)
        self._upload.publish(xorb_hash.to_hex())
        return XorbInfo(hash=xorb_hash, chunks=tuple(self._chunks), content_length=self._offset,
                        serialized_length=self._offset)

    def abort(self) -> None:
        self._upload.abort()
