"""Staged files: written under a store's tmp/ folder, then published by an atomic rename, or removed.

Each staged file holds an exclusive lock while its writer lives, so that `remove_stale` (run at start-up by
the server and by CLI commands) removes only what a crashed process left behind, never a live upload.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


LOCK_NAME = ".lock"


@contextmanager
def locked_dir(tmp_dir: Path, prefix: str) -> Iterator[Path]:
    """A new folder under `tmp_dir`, locked (its .lock file) while in use and removed afterwards; one a crash left
    behind is removed at the next start by `remove_stale_dirs` (its lock is free then)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_dir))
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def remove_stale_dirs(tmp_dir: Path, pattern: str) -> int:
    """Removes the folders made by `locked_dir` matching `pattern` whose lock no live process holds; returns how
    many."""
    n = 0
    for folder in tmp_dir.glob(pattern):
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDWR)
        except (FileNotFoundError, NotADirectoryError):
            continue  # being made right now, or not one of ours
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in use by another process
        else:
            shutil.rmtree(folder, ignore_errors=True)
            n += 1
        finally:
            os.close(fd)
    return n
