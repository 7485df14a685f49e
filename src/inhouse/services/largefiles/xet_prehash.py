"""The SHA-256 of an upload's xorbs, taken while they arrive, so that the shard's file check need not read a
large file back after its last xorb.

The server checks every file a shard registers: the SHA-256 of its content, read back from the stored xorbs,
must match the sha256 the client claims (that is what a Git LFS pointer names). Read back after the shard, that
costs ~0.5 s per GiB during which the client waits. But hf_xet uploads the xorbs of a file one after the other,
in file order, before the shard. So for each uploader (repo + token) this module keeps a *chain*: the xorbs
that uploader stored, in the order they were stored, and the SHA-256 of their content in that order, computed
by one background thread from the stored xorbs (the same bytes, in the same way, as the full check reads).
The chains and that thread belong to the app (`PrehashChains`, `stores.runtime.prehash`): a runtime that was
not started (the CLI, a test without an app) follows no chain, and every file is read back.

At shard time, as long as a file's segments are the first xorbs of the chain, each whole and in the chain's
order, the file's hash continues from the chain's hash after them; only the segments after that point (a last
small xorb that overtook the one before it, a file that reuses older xorbs, files sharing xorbs, ...) are read
back, and a file that matches nothing (a chain this process never saw, a failed read) is read back whole, as
before. So the speculation saves time and never weakens the check: the hash is over the stored bytes of the
segments in the order the shard names them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inhouse.services.largefiles import xet_content
from inhouse.services.context import Stores
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.xet import XetFileRecord
from inhouse.storage.xet.hashing import MerkleHash
from inhouse.storage.xet.shard import FileSegment

log = logging.getLogger(__name__)

MAX_CHAINS = 256  # uploaders followed at once; the least recently used is dropped
MAX_XORBS = 4096  # xorbs per chain (256 GiB of 64 MiB xorbs); past that the file is read back
IDLE_S = 3600.0  # a chain untouched this long starts again
WAIT_S = 120.0  # how long a shard waits for the chain to catch up before reading the file back

ChainKey = tuple[int, int | None]  # (repo id, Hub token id): one uploader


@dataclass
class _Chain:
    xorbs: list[tuple[str, int, int]] = field(default_factory=list)  # (hash, chunks, bytes) in upload order
    states: list[Any] = field(default_factory=list)  # the SHA-256 after each hashed xorb
    failed: bool = False
    touched: float = field(default_factory=time.monotonic)


class PrehashChains:
    """The chains of one app's uploaders and the single thread that hashes them (see the module's docstring).

    `used` counts the files whose check took a chain's hash instead of reading the file back: observability for
    operators, tests and benchmarks (it decides nothing)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._chains: OrderedDict[ChainKey, _Chain] = OrderedDict()
        self._worker: ThreadPoolExecutor | None = None
        self.used = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._chains)

    def start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inhouse-xet-prehash")

    def stop(self) -> None:
        """Drops every chain (a shard waiting for one reads its file back) and joins the thread."""
        with self._lock:
            worker, self._worker = self._worker, None
            for chain in self._chains.values():
                chain.failed = True
            self._chains.clear()
            self._lock.notify_all()
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)

    def note_xorb(self, stores: Stores, key: ChainKey, xorb_hex: str, chunks: int, unpacked: int) -> None:
        """Called once xorb `xorb_hex` of `stores` is stored for the uploader `key`: it joins the chain and is
        hashed in the background (nothing happens while the thread is not started)."""
        now = time.monotonic()
        with self._lock:
            if self._worker is None:
                return
            chain = self._chains.get(key)
            if chain is None or now - chain.touched > IDLE_S or len(chain.xorbs) >= MAX_XORBS:
                chain = self._chains[key] = _Chain()
            chain.touched = now
            self._chains.move_to_end(key)
            while len(self._chains) > MAX_CHAINS:
                self._chains.popitem(last=False)
            chain.xorbs.append((xorb_hex, chunks, unpacked))
            # submitted under the lock: the single worker hashes each chain's xorbs in the order they joined it
            self._worker.submit(self._extend, stores, chain, xorb_hex)

    def _extend(self, stores: Stores, chain: _Chain, xorb_hex: str) -> None:
        with self._lock:
            if chain.failed:
                return
            prev = chain.states[-1] if chain.states else None
        try:
            h = _hash_after(stores, prev, xorb_hex)
        except Exception:
            log.warning("could not hash xorb %s ahead of its shard; its file will be read back", xorb_hex,
                        exc_info=True)
            with self._lock:
                chain.failed = True
                self._lock.notify_all()
            return
        with self._lock:
            chain.states.append(h)
            self._lock.notify_all()

    def take(self, key: ChainKey, segments: Sequence[FileSegment], size: int) -> tuple[int, Any] | None:
        """How far the uploader's chain already hashed this file: (n, the SHA-256 state after its first n
        segments) when those are the chain's first n xorbs, each whole and in order (waiting for the background
        hash to reach them); None when not even the first matches. The caller hashes the segments after n by
        reading them back."""
        with self._lock:
            chain = self._chains.get(key)
            if chain is None:
                return None
            n = covered = 0
            for seg, (xorb_hex, chunks, unpacked) in zip(segments, chain.xorbs):
                if (seg.xorb_hash.to_hex() != xorb_hex or seg.chunk_start != 0 or seg.chunk_end != chunks
                        or seg.unpacked_bytes != unpacked or covered + unpacked > size):
                    break
                n += 1
                covered += unpacked
            if n == 0:
                return None
            deadline = time.monotonic() + WAIT_S
            while len(chain.states) < n and not chain.failed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)
            if chain.failed:
                return None
            self.used += 1
            return n, chain.states[n - 1].copy()

    def forget(self, key: ChainKey) -> None:
        """After a shard: the uploader's next file starts a new chain."""
        with self._lock:
            self._chains.pop(key, None)


def _hash_after(stores: Stores, prev: Any, xorb_hex: str) -> Any:
    """The SHA-256 state `prev` (None: a new one) continued over the stored content of xorb `xorb_hex`."""
    with stores.db.read() as conn:
        rec = xet_store.get_xorbs(conn, [xorb_hex]).get(xorb_hex)
    if rec is None:
        raise OSError(f"xorb {xorb_hex} is not recorded")
    whole = XetFileRecord("", "", rec.unpacked_bytes,
                          (FileSegment(MerkleHash.from_hex(xorb_hex), 0, rec.num_chunks, rec.unpacked_bytes),),
                          0.0)
    h = prev.copy() if prev is not None else hashlib.sha256()
    for buffers in xet_content.iter_file_buffers(stores, whole, {xorb_hex: rec}):
        for buf in buffers:
            h.update(buf)
    return h


# what services/largefiles/xet.py calls: the chains of the app that `stores` belong to ---------------------------------

def chain_key(repo_id: int, token_id: int | None) -> ChainKey:
    return (repo_id, token_id)


def note_xorb(stores: Stores, key: ChainKey, xorb_hex: str, chunks: int, unpacked: int) -> None:
    stores.runtime.prehash.note_xorb(stores, key, xorb_hex, chunks, unpacked)


def take(stores: Stores, key: ChainKey, segments: Sequence[FileSegment], size: int) -> tuple[int, Any] | None:
    return stores.runtime.prehash.take(key, segments, size)


def forget(stores: Stores, key: ChainKey) -> None:
    stores.runtime.prehash.forget(key)
