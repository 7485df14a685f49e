"""The large-file store port: content addressed by sha256, written through a verifying upload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class BlobUpload(Protocol):
    """A write in progress. Bytes are hashed while they are copied; nothing is visible until `commit`."""

    size: int

    def write(self, data: bytes) -> None: ...

    def sha256(self) -> str: ...

    def commit(self, expected_oid: str | None = None, expected_size: int | None = None) -> str:
        """Verify and publish; raises IntegrityError (and keeps nothing) on a hash or size mismatch."""
        ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    def exists(self, oid: str) -> bool: ...

    def size(self, oid: str) -> int | None: ...

    def begin(self) -> BlobUpload: ...

    def read(self, oid: str, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Bytes [start, end) of the object, in chunks."""
        ...

    def delete(self, oid: str) -> None: ...
