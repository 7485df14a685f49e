"""Trees compared with a tree parsed before, and git deltas between them.

A clone walks thousands of trees that differ from their parent commit's by an entry or two. Parsing each one
entry by entry in Python is what made the first walk slow; here a tree is compared with its reference by common
prefix and suffix (slice comparisons: memcmp), and only the entries between are parsed. What is skipped is the
reference's entries byte for byte: the scan starts at an entry boundary of the reference at or before the common
prefix, and stops at a boundary past the differing stretch that, shifted by the change in length, is a boundary of
the reference too (boundaries are kept every 16 entries). The same prefix and suffix make a git delta (copy,
insert, copy) that rebuilds the tree from its reference.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass

ENTRY = re.compile(rb"([0-7]+) [^\0]*\0(.{20})", re.DOTALL)  # mode, name, binary id
ENTRY_NAMED = re.compile(rb"([0-7]+) ([^\0]*)\0(.{20})", re.DOTALL)
GROUP = re.compile(rb"(?:[0-7]+ [^\0]*\0.{20}){16}", re.DOTALL)  # 16 entries: a boundary every 16
TREE_MODE = b"40000"
GITLINK_MODE = b"160000"  # a submodule's commit: in another repo, never sent
_SWAP = operator.itemgetter(1, 0)


def tree_children(body: bytes) -> Iterator[tuple[bool, bytes]]:
    """(is a tree, binary id) of each entry of a tree body; submodule entries are left out."""
    for mode, oid in ENTRY.findall(body):
        if mode != GITLINK_MODE:
            yield mode == TREE_MODE, oid


def tree_index(body: bytes) -> dict[bytes, bytes]:
    """binary id → mode of each entry of a tree body, built in C (findall, map, dict): a walk then takes the
    entries it has not seen by one set difference, without a Python step per entry."""
    return dict(map(_SWAP, ENTRY.findall(body)))


def boundaries(body: bytes) -> list[int]:
    """Entry boundaries of a whole tree body, one per 16 entries from 0: contiguous groups of 16 entries matched
    from the start, so each is a real boundary (a group found further on, past bytes that did not parse, is not
    taken)."""
    cps = [0]
    for m in GROUP.finditer(body):
        if m.start() != cps[-1]:
            break
        cps.append(m.end())
    return cps


@dataclass
class Parsed:
    body: bytes
    cps: list[int]  # entry boundaries, ascending, 0 first (about one per 16 entries)
    depth: int  # its delta chain's length in this pack (0: whole)


def common_prefix(a: bytes, b: bytes, n: int) -> int:
    """Length of the common prefix of a and b, at most n: slice comparisons (memcmp), halving the range."""
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n
    while hi - lo > 32:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    while lo < hi and a[lo] == b[lo]:
        lo += 1
    return lo


def common_suffix(a: bytes, b: bytes, m: int) -> int:
    """Length of the common suffix of a and b, at most m."""
    la, lb = len(a), len(b)
    if a[la - m :] == b[lb - m :]:
        return m
    lo, hi = 0, m
    while hi - lo > 32:
        mid = (lo + hi) // 2
        if a[la - mid : la - lo] == b[lb - mid : lb - lo]:
            lo = mid
        else:
            hi = mid
    while lo < hi and a[la - lo - 1] == b[lb - lo - 1]:
        lo += 1
    return lo


def diff_scan(body: bytes, base: Parsed) -> tuple[list[tuple[bytes, bytes, bytes]], list[int], int, int] | None:
    """The entries of tree `body` that can differ from those of `base`, a tree parsed before: (entries (mode, name,
    id), entry boundaries of `body`, common prefix, common suffix), or None when `body` does not scan.

    The bytes before the common prefix are the base's, so the base's last boundary at or before it is a boundary of
    `body`, and the entries before it are the base's. From there `body` is parsed entry by entry until a boundary
    past the differing stretch lands, shifted, on one of the base's boundaries: the rest is then the base's entries,
    byte for byte. Only the entries in between are returned: for one changed file, a few dozen."""
    r = base.body
    n = min(len(body), len(r))
    p = common_prefix(body, r, n)
    s = common_suffix(body, r, n - p)
    shift = len(body) - len(r)
    q = len(body) - s
    bcps = base.cps
    i = bisect.bisect_right(bcps, p) - 1
    pos = bcps[i]
    cps = bcps[: i + 1]
    entries: list[tuple[bytes, bytes, bytes]] = []
    count = 0
    while pos < len(body):
        if pos >= q:
            k = bisect.bisect_left(bcps, pos - shift)
            if k < len(bcps) and bcps[k] == pos - shift:
                if cps[-1] != pos:
                    cps.append(pos)
                cps += bcps[k + 1 :] if shift == 0 else [c + shift for c in bcps[k + 1 :]]
                break
        m = ENTRY_NAMED.match(body, pos)
        if m is None:
            return None
        entries.append((m.group(1), m.group(2), m.group(3)))
        pos = m.end()
        count += 1
        if count % 16 == 0:
            cps.append(pos)
    return entries, cps, p, s


def subtree(body: bytes, name: bytes) -> str | None:
    """The id of subtree `name` in tree `body`, found by a byte search (a reference only: a wrong one costs time,
    never correctness)."""
    key = TREE_MODE + b" " + name + b"\0"
    i = body.find(key)
    if i < 0 or i + len(key) + 20 > len(body):
        return None
    return body[i + len(key) : i + len(key) + 20].hex()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _copy(offset: int, size: int) -> bytes:
    out = bytearray()
    while size:
        chunk = min(size, 0xFFFFFF)
        cmd, args = 0x80, bytearray()
        for k in range(4):
            byte = (offset >> (8 * k)) & 0xFF
            if byte:
                cmd |= 1 << k
                args.append(byte)
        for k in range(3):
            byte = (chunk >> (8 * k)) & 0xFF
            if byte:
                cmd |= 0x10 << k
                args.append(byte)
        out.append(cmd)
        out += args
        offset += chunk
        size -= chunk
    return bytes(out)


def make_delta(base_size: int, target: bytes, prefix: int, suffix: int) -> bytes:
    """A git delta that makes `target` from a base of `base_size` bytes sharing its first `prefix` and last
    `suffix` bytes: copy, insert the stretch between, copy."""
    out = bytearray(_varint(base_size) + _varint(len(target)))
    if prefix:
        out += _copy(0, prefix)
    middle = target[prefix : len(target) - suffix]
    for k in range(0, len(middle), 127):
        piece = middle[k : k + 127]
        out.append(len(piece))
        out += piece
    if suffix:
        out += _copy(base_size - suffix, suffix)
    return bytes(out)
