"""The parts of a multipart LFS upload, stored so that completing it needs no second pass over the bytes.

An upload's folder (`lfs.part_dir`) holds part-1, part-2, …: their concatenation in number order is always the
object's bytes. Parts that arrive one after the other, in order (what huggingface_hub does), are appended to
part-1 while they stream in and hashed once on the way; each leaves an empty part-N file as its marker. Completing
such an upload is then an fsync and a rename. Whatever this process did not see in order — parts in parallel or
out of order, a second server process, a restart — ends in the general path: completion reads the concatenation
and hashes it, so the announced sha256 is verified either way. What this app followed is in its runtime
(`JoinedParts`, `stores.runtime.lfs_parts`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inhouse.errors import IntegrityError

MAX_TRACKED = 4096  # uploads in flight whose joined parts this process follows


@dataclass
class _Joined:
    """Parts 1..done of one upload, joined in part-1, with the sha256 of those bytes taken as they arrived."""

    hasher: Any
    busy: bool = False  # a part is being appended now
    ends: list[int] = field(default_factory=list)  # end offset in part-1 of each joined part
    states: list[Any] = field(default_factory=list)  # the hash after each joined part
    inodes: list[int] = field(default_factory=list)  # part-1's inode, then each marker's

    @property
    def done(self) -> int:
        return len(self.ends)

    def rewind(self, n: int) -> None:
        """Forgets the parts after n."""
        del self.ends[n:], self.states[n:], self.inodes[n:]
        self.hasher = self.states[-1].copy() if self.states else hashlib.sha256()

    def holds(self, d: Path) -> bool:
        """part-1 is still the file this process joined the parts in."""
        try:
            st = os.stat(d / "part-1")
        except FileNotFoundError:
            return False
        return st.st_ino == self.inodes[0] and st.st_size == self.ends[-1]


class JoinedParts:
    """The uploads in flight whose parts one app joined in part-1 as they arrived (at most `max_tracked`, the
    oldest dropped first: its completion then hashes the parts)."""

    def __init__(self, max_tracked: int = MAX_TRACKED):
        self.max_tracked = max_tracked
        self._runs: dict[Path, _Joined] = {}

    def __len__(self) -> int:
        return len(self._runs)

    async def write(self, d: Path, number: int, limit: int, chunks: AsyncIterator[bytes]) -> str:
        """Stores part `number` of the upload in folder `d`; returns its ETag (a sha256 over the part, or over
        parts 1..number when they were joined)."""
        run = self._runs.get(d)
        if run is not None and (run.busy or not run.holds(d)):
            if not run.busy:
                del self._runs[d]  # part-1 was replaced behind this process's back: stop following the upload
            return await _own_file(d, number, limit, chunks)
        if number == 1:
            if run is not None:
                _detach(d, run, 1)  # part 1 again: the parts joined after it become files of their own
            return await self._first(d, limit, chunks)
        if run is None or number > run.done + 1:
            return await _own_file(d, number, limit, chunks)
        if number <= run.done:  # a retry (its answer was lost?): rewrite it in place, keep the later parts apart
            _detach(d, run, number)
            os.truncate(d / "part-1", run.ends[number - 2])
            run.rewind(number - 1)
            (d / f"part-{number}").unlink(missing_ok=True)
        return await _append(d, run, number, limit, chunks)

    def take(self, d: Path, expected: int, size: int) -> str | None:
        """The sha256 of the upload in `d` when all `expected` parts were joined in part-1 (`size` bytes) and
        hashed on arrival, and no file changed since; otherwise None (then hash the parts). Stops following the
        upload."""
        run = self._runs.pop(d, None)
        if run is None or run.busy or run.done != expected or run.ends[-1] != size:
            return None
        for k, inode in enumerate(run.inodes, 1):
            try:
                st = os.stat(d / f"part-{k}")
            except FileNotFoundError:
                return None
            if st.st_ino != inode or st.st_size != (size if k == 1 else 0):
                return None
        return str(run.hasher.hexdigest())

    async def _first(self, d: Path, limit: int, chunks: AsyncIterator[bytes]) -> str:
        run = _Joined(hashlib.sha256(), busy=True)
        if len(self._runs) >= self.max_tracked:
            self._runs.pop(next(iter(self._runs)))
        self._runs[d] = run
        tmp = _tmp(d, 1)
        try:
            with open(tmp, "wb") as f:
                written = await _receive(f, run.hasher, limit, chunks)
                inode = os.fstat(f.fileno()).st_ino
            os.replace(tmp, d / "part-1")
        except BaseException:
            if self._runs.get(d) is run:
                del self._runs[d]
            raise
        finally:
            tmp.unlink(missing_ok=True)
            run.busy = False
        run.ends.append(written)
        run.states.append(run.hasher.copy())
        run.inodes.append(inode)
        return str(run.hasher.hexdigest())


def _tmp(d: Path, number: int) -> Path:
    return d / f".part-{number}.{os.getpid()}.{time.monotonic_ns()}"


async def _receive(f: Any, h: Any, limit: int, chunks: AsyncIterator[bytes]) -> int:
    written = 0
    async for chunk in chunks:
        written += len(chunk)
        if written > limit:
            raise IntegrityError(f"A part may hold at most {limit} bytes.")
        h.update(chunk)
        f.write(chunk)
    return written


async def _own_file(d: Path, number: int, limit: int, chunks: AsyncIterator[bytes]) -> str:
    final = d / f"part-{number}"
    tmp = _tmp(d, number)
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            await _receive(f, h, limit, chunks)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return h.hexdigest()


async def _append(d: Path, run: _Joined, number: int, limit: int, chunks: AsyncIterator[bytes]) -> str:
    joined = d / "part-1"
    start = run.ends[-1]
    marker = _tmp(d, number)
    run.busy = True
    try:
        with open(joined, "r+b") as f:
            f.seek(start)
            written = await _receive(f, run.hasher, limit, chunks)
        with open(marker, "wb") as m:
            inode = os.fstat(m.fileno()).st_ino
        os.replace(marker, d / f"part-{number}")
    except BaseException:
        os.truncate(joined, start)  # nothing of a part that did not arrive whole stays joined
        run.rewind(run.done)
        raise
    finally:
        marker.unlink(missing_ok=True)
        run.busy = False
    run.ends.append(start + written)
    run.states.append(run.hasher.copy())
    run.inodes.append(inode)
    return str(run.hasher.hexdigest())


def _detach(d: Path, run: _Joined, n: int) -> None:
    """Moves the parts joined after part n out of part-1 into files of their own; keeps parts 1..n joined."""
    joined = d / "part-1"
    with open(joined, "rb") as src:
        for k in range(n + 1, run.done + 1):
            start, end = run.ends[k - 2], run.ends[k - 1]
            tmp = _tmp(d, k)
            try:
                with open(tmp, "wb") as out:
                    _copy(src.fileno(), out.fileno(), start, end - start)
                os.replace(tmp, d / f"part-{k}")
            finally:
                tmp.unlink(missing_ok=True)
    os.truncate(joined, run.ends[n - 1])
    run.rewind(n)


def _copy(src: int, dst: int, offset: int, count: int) -> None:
    while count > 0:
        try:
            n = os.copy_file_range(src, dst, count, offset)
        except OSError:
            data = os.pread(src, min(count, 1 << 20), offset)
            n = os.write(dst, data) if data else 0
        if n == 0:
            raise IntegrityError("An upload's joined parts are shorter than recorded; upload the file again.")
        offset += n
        count -= n
