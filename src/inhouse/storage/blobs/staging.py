"""Staged files: written under a store's tmp/ folder, then published by an atomic rename, or removed.

Each staged file holds an exclusive lock while its writer lives, so that `remove_stale` (run at start-up by
the server and by CLI commands) removes only what a crashed process left behind, never a live upload.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path


class StagedFile:
    def __init__(self, tmp_dir: Path, prefix: str):
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix=prefix)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # dropped by the kernel when this process dies
        self._file = os.fdopen(fd, "wb", buffering=0)
        self.path = Path(name)
        self.size = 0
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._file.write(data)
        self.size += len(data)

    def publish_as(self, final: Path) -> bool:
        """fsyncs and renames the file to `final`; True when nothing was there before. Removed on failure."""
        try:
            os.fsync(self._file.fileno())
            self._file.close()
            inserted = not final.exists()
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, final)
            self._done = True
            return inserted
        finally:
            if not self._done:
                self.abort()

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)
        self._done = True


def remove_stale(tmp_dir: Path, pattern: str) -> int:
    """Removes the staged files matching `pattern` that no live process holds locked; returns how many."""
    n = 0
    for p in tmp_dir.glob(pattern):
        try:
            fd = os.open(p, os.O_RDWR)
        except (FileNotFoundError, IsADirectoryError):
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in flight in another process
        else:
            p.unlink(missing_ok=True)
            n += 1
        finally:
            os.close(fd)
    return n
