"""Large-file store in a local folder: objects/ab/cd/<sha256>, written via tmp/ and an atomic rename."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from inhouse.errors import IntegrityError
from inhouse.storage.blobs.staging import StagedFile, locked_dir, remove_stale, remove_stale_dirs

SCAN_DIR_PREFIX = "scan-"  # folders of the files a scanner process reads

_OID = re.compile(r"^[0-9a-f]{64}$")


def check_oid(oid: str) -> str:
    if not _OID.fullmatch(oid):
        raise IntegrityError(f"'{oid}' is not a sha256 object id: expected 64 lowercase hex characters.")
    return oid


class LocalUpload(StagedFile):
    """A staged upload hashed while it is written; `commit` verifies hash and size before publishing it."""

    def __init__(self, store: "LocalBlobStore"):
        super().__init__(store.tmp, "upload-")
        self._store = store
        self._hash = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        super().write(data)

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self, expected_oid: str | None = None, expected_size: int | None = None) -> str:
        oid = self._hash.hexdigest()
        try:
            if expected_size is not None and self.size != expected_size:
                raise IntegrityError(
                    f"Uploaded {self.size} bytes but {expected_size} were announced; upload the whole file again."
                )
            if expected_oid is not None and oid != expected_oid:
                raise IntegrityError(
                    f"Uploaded content hashes to sha256 {oid}, not the announced {expected_oid}; "
                    "check the file did not change during upload and retry."
                )
        except IntegrityError:
            self.abort()
            raise
        self.publish_as(self._store._path(oid))
        return oid


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def clean_tmp(self) -> int:
        """Removes uploads a crash left behind; called at start-up. Uploads that another live process is still
        writing (it holds a lock on the temp file) are left alone. Returns how many were removed."""
        return remove_stale(self.tmp, "upload-*") + remove_stale_dirs(self.tmp, f"{SCAN_DIR_PREFIX}*")

    def scan_dir(self) -> AbstractContextManager[Path]:
        """A private folder under tmp/ for the files a scanner process reads (services/governance/scans.py),
        removed afterwards; one a crash left behind goes at the next start (`clean_tmp`)."""
        return locked_dir(self.tmp, SCAN_DIR_PREFIX)

    def _path(self, oid: str) -> Path:
        check_oid(oid)
        return self.objects / oid[:2] / oid[2:4] / oid

    def local_path(self, oid: str) -> Path | None:
        p = self._path(oid)
        return p if p.exists() else None

    def exists(self, oid: str) -> bool:
        return self._path(oid).exists()

    def size(self, oid: str) -> int | None:
        try:
            return self._path(oid).stat().st_size
        except FileNotFoundError:
            return None

    def begin(self) -> LocalUpload:
        return LocalUpload(self)

    def adopt(self, path: Path, oid: str, size: int) -> str:
        """Publishes a file under tmp/ that the caller hashed while writing it (a multipart upload whose parts
        were hashed as they arrived): checks the size, fsyncs, renames into place. Use `begin` otherwise."""
        check_oid(oid)
        if Path(path).resolve().parent.parent != self.tmp.resolve():
            raise ValueError(f"{path} is not an upload folder's file under {self.tmp}")
        with open(path, "rb+") as f:
            actual = os.fstat(f.fileno()).st_size
            if actual != size:
                raise IntegrityError(f"The joined parts hold {actual} bytes, not the announced {size}; "
                                     "upload the file again.")
            os.fsync(f.fileno())
        final = self._path(oid)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)
        return oid

    def read(self, oid: str, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with open(self._path(oid), "rb") as f:
            if end is None:
                end = os.fstat(f.fileno()).st_size
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                data = f.read(min(chunk_size, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data

    def delete(self, oid: str) -> None:
        self._path(oid).unlink(missing_ok=True)
