"""The SHA-256 of an upload's xorbs, taken while they arrive, so that the shard's file check need not read a
large file back after its last xorb.

The server checks every file a shard registers: the SHA-256 of its content, read back from the stored xorbs,
must match the sha256 the client claims (that is what a Git LFS pointer names). Read back after the shard, that
costs ~0.5 s per GiB during which the client waits. But hf_xet uploads the xorbs of a file one after the other,
in file order, before the shard. So for each uploader (repo + token) this module keeps a *chain*: the xorbs
that uploader stored, in the order they were stored, and the SHA-256 of their content in that order, computed
by one background thread from the stored xorbs (the same bytes, in the same way, as the full check reads).

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

ChainKey = tuple[str, int, int | None]


@dataclass
class _Chain:
    xorbs: list[tuple[str, int, int]] = field(default_factory=list)  # (hash, chunks, bytes) in upload order
    states: list[Any] = field(default_factory=list)  # the SHA-256 after each hashed xorb
    failed: bool = False
    touched: float = field(default_factory=time.monotonic)


_lock = threading.Condition()
_chains: OrderedDict[ChainKey, _Chain] = OrderedDict()
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inhouse-xet-prehash")
used = 0  # files whose check took a chain's hash (for tests and benchmarks)


def chain_key(stores: Stores, repo_id: int, token_id: int | None) -> ChainKey:
    return (str(stores.settings.data_dir), repo_id, token_id)


def note_xorb(stores: Stores, key: ChainKey, xorb_hex: str, chunks: int, unpacked: int) -> None:
    """Called once xorb `xorb_hex` is stored for the uploader `key`: it joins the chain and is hashed in the
    background."""
    now = time.monotonic()
    with _lock:
        chain = _chains.get(key)
        if chain is None or now - chain.touched > IDLE_S or len(chain.xorbs) >= MAX_XORBS:
            chain = _chains[key] = _Chain()
        chain.touched = now
        _chains.move_to_end(key)
        while len(_chains) > MAX_CHAINS:
            _chains.popitem(last=False)
        chain.xorbs.append((xorb_hex, chunks, unpacked))
        # submitted under the lock: the single worker hashes each chain's xorbs in the order they joined it
        _worker.submit(_extend, stores, chain, xorb_hex)


def _extend(stores: Stores, chain: _Chain, xorb_hex: str) -> None:
    with _lock:
        if chain.failed:
            return
        prev = chain.states[-1] if chain.states else None
    try:
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
    except Exception:
        log.warning("could not hash xorb %s ahead of its shard; its file will be read back", xorb_hex,
                    exc_info=True)
        with _lock:
            chain.failed = True
            _lock.notify_all()
        return
    with _lock:
        chain.states.append(h)
        _lock.notify_all()


def take(stores: Stores, key: ChainKey, segments: Sequence[FileSegment], size: int) -> tuple[int, Any] | None:
    """How far the uploader's chain already hashed this file: (n, the SHA-256 state after its first n segments)
    when those are the chain's first n xorbs, each whole and in order (waiting for the background hash to reach
    them); None when not even the first matches. The caller hashes the segments after n by reading them back."""
    global used
    with _lock:
        chain = _chains.get(key)
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
            _lock.wait(left)
        if chain.failed:
            return None
        used += 1
        return n, chain.states[n - 1].copy()


def forget(key: ChainKey) -> None:
    """After a shard: the uploader's next file starts a new chain."""
    with _lock:
        _chains.pop(key, None)
