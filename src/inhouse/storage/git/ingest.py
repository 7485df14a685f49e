"""Reading a pack a client pushed, with dulwich: copied to a file while its trailer checksum and every object's
size are checked, then inflated (deltas resolved inside the pack only: a push is never thin) into what the push
holds, so that it can be validated before anything is stored.

Memory stays bounded by the caller's limits, never by what the client declares: an object's size is read from its
header before it is inflated (a 20-byte header may announce gigabytes that a few kilobytes of zlib expand to), and
a delta's result size from the delta's own header before it is applied.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

from dulwich.errors import ApplyDeltaError, ChecksumMismatch, ObjectFormatException
from dulwich.object_format import SHA1
from dulwich.objects import Blob, Commit as DCommit, ShaFile, Tag as DTag, Tree as DTree, parse_tree
from dulwich.pack import (DELTA_TYPES, PackData, PackStreamCopier, UnpackedObject, UnpackedObjectIterator,
                          UnresolvedDeltas, _decode_object_header)

from inhouse.storage.git.lfs_pointer import MAX_POINTER_SIZE, LfsPointer

KINDS = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}


class PackError(ValueError):
    """The pack cannot be accepted; the message says why (it is shown to the pusher after "unpack ")."""


class ObjectTooLarge(PackError):
    def __init__(self, size: int, limit: int, kind: str | None):
        what = f"a {kind}" if kind else "an object"
        hint = (" Files this large go through Git LFS: `git lfs track '<pattern>'`, commit the .gitattributes, and "
                "rewrite the commits that added them with `git lfs migrate import --include='<pattern>'`."
                if kind in ("blob", None) else "")
        super().__init__(f"the pack holds {what} of {size} bytes, over the limit of {limit} bytes.{hint}")
        self.size = size


@dataclass(frozen=True)
class PushedCommit:
    tree: str
    parents: tuple[str, ...]


@dataclass
class ReceivedPack:
    """What a pack holds, by sha: commits, trees (their entries), blobs (size and LFS pointer, if one) and tags
    (the object each names and its kind)."""

    path: Path | None
    stored: Path | None = None  # the objects as the object store keeps them (`stored_objects`)
    commits: dict[str, PushedCommit] = field(default_factory=dict)
    trees: dict[str, bytes] = field(default_factory=dict)  # checked bodies: `tree_entries` reads them
    blobs: dict[str, tuple[int, LfsPointer | None]] = field(default_factory=dict)
    tags: dict[str, tuple[str, str]] = field(default_factory=dict)

    def kind(self, sha: str) -> str | None:
        for kind, table in (("commit", self.commits), ("tree", self.trees), ("blob", self.blobs), ("tag", self.tags)):
            if sha in table:
                return kind
        return None

    def __len__(self) -> int:
        return len(self.commits) + len(self.trees) + len(self.blobs) + len(self.tags)


class _GuardedCopier(PackStreamCopier):
    """dulwich's stream copier (which checks the trailer checksum), plus a look at each object's header before its
    body is inflated. dulwich reads a header one byte at a time with read() and the zlib body with recv(): the
    bytes read one at a time since the last object are that header."""

    def __init__(self, read_all: Callable[[int], bytes], outfile: IO[bytes], max_object_bytes: int):
        super().__init__(SHA1.hash_func, read_all, None, outfile)
        self.max_object_bytes = max_object_bytes
        self.header = bytearray()
        self.in_header = True

    def read(self, size: int) -> bytes:
        data = super().read(size)
        if self.in_header and size == 1:
            self.header += data
        return data

    def recv(self, size: int) -> bytes:
        if self.in_header:
            self.in_header = False
            self._check_header()
        return super().recv(size)

    def _check_header(self) -> None:
        raw = list(self.header)
        end = next((i for i, b in enumerate(raw) if not b & 0x80), len(raw) - 1)
        if not raw:
            raise PackError("an object header is missing")
        type_num, size = _decode_object_header(raw[: end + 1])
        if size > self.max_object_bytes:
            raise ObjectTooLarge(size, self.max_object_bytes, KINDS.get(type_num))

    def next_object(self) -> None:
        self.header.clear()
        self.in_header = True


def _delta_result_size(chunks: list[bytes]) -> int:
    """The size a delta produces: the second varint of its header (git's patch-delta.c)."""
    head = bytearray()
    for chunk in chunks:
        head += chunk[: 20 - len(head)]
        if len(head) >= 20:
            break
    sizes: list[int] = []
    i = 0
    for _ in range(2):
        size = shift = 0
        while True:
            if i >= len(head):
                raise PackError("a delta is truncated")
            byte = head[i]
            i += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        sizes.append(size)
    return sizes[1]


MAX_DELTA_CHAIN_BYTES = 2 * 1024 * 1024 * 1024
ASSUMED_REF_CHAIN_DEPTH = 50  # git's default pack.depth


def copy_pack(body: IO[bytes], dest: IO[bytes], *, max_objects: int, max_object_bytes: int,
              max_chain_bytes: int | None = None) -> int:
    """Copies the pack at `body`'s position to `dest`, checking its checksum, its object count, every object's
    size (deltas: the size they produce) and the bytes each delta chain holds while it is resolved (dulwich keeps
    the bases of a chain in memory: the sum of their sizes along the chain) first; returns the number of objects.
    A delta against an object named by sha counts its base's chain exactly when the base is a whole object of the
    pack, else as a chain of git's default depth of objects of the largest size."""
    if max_chain_bytes is None:
        max_chain_bytes = max(MAX_DELTA_CHAIN_BYTES, 2 * ASSUMED_REF_CHAIN_DEPTH * max_object_bytes)
    copier = _GuardedCopier(body.read, dest, max_object_bytes)
    count = 0
    chain: dict[int, int] = {}  # offset -> bytes of the chain that ends at that object
    whole: dict[bytes, int] = {}  # sha of a whole (non-delta) object -> its offset
    try:
        objects = copier.read_objects()
        while True:
            copier.next_object()
            try:
                unpacked: UnpackedObject = next(objects)
            except StopIteration:
                break
            count += 1
            if count == 1 and len(copier) > max_objects:
                raise PackError(f"the pack holds {len(copier)} objects, over the limit of {max_objects}: push the "
                                "history in several parts (a few commits at a time).")
            offset = unpacked.offset
            assert offset is not None
            if unpacked.pack_type_num in DELTA_TYPES:
                size = _delta_result_size(unpacked.decomp_chunks)
                if size > max_object_bytes:
                    raise ObjectTooLarge(size, max_object_bytes, None)
                base = unpacked.delta_base
                if isinstance(base, int):
                    held = chain.get(offset - base, 0)
                else:
                    base_offset = whole.get(bytes(base)) if base is not None else None
                    held = chain.get(base_offset, 0) if base_offset is not None else \
                        ASSUMED_REF_CHAIN_DEPTH * max_object_bytes
                chain[offset] = held + size
                if chain[offset] > max_chain_bytes:
                    raise PackError(f"the pack holds a delta chain that needs {chain[offset]} bytes to resolve, over "
                                    f"the limit of {max_chain_bytes}: repack with a smaller depth "
                                    "(git config pack.depth 50) or push in several parts.")
            else:
                chain[offset] = unpacked.decomp_len or 0
                whole[unpacked.sha()] = offset
    except PackError:
        raise
    except ChecksumMismatch:
        raise PackError("the pack's checksum does not match its content (corrupt pack)") from None
    except zlib.error as e:
        raise PackError(f"an object of the pack is corrupt ({e})") from None
    except (AssertionError, ValueError, IndexError, KeyError, TypeError, struct.error) as e:
        # dulwich's reader on bytes that are no pack: a short header, a read past the end (ord(b""))
        raise PackError(f"the pack is malformed ({e or type(e).__name__})") from None
    except EOFError:
        raise PackError("the pack is truncated") from None
    if count == 0 and len(copier) != 0:
        raise PackError("the pack is truncated")
    dest.flush()
    return count


class _WithCompressed(UnpackedObjectIterator):
    """Also keeps each object's compressed bytes: a whole object's are stored as they came (zlib, as the object
    store keeps bodies), instead of compressing it again."""

    _include_comp = True


def _inflate(path: Path) -> Iterator[UnpackedObject]:
    """Every object of the pack, deltas resolved (inside the pack only), as raw chunks: parsing is ours."""
    data = PackData(path, SHA1)
    try:
        yield from _WithCompressed.for_pack_data(data)
    except UnresolvedDeltas as e:
        shas = ", ".join(s.decode() if isinstance(s, bytes) else str(s) for s in e.shas[:3])
        raise PackError(f"the pack has deltas against objects it does not hold ({shas}): push without thin packs "
                        "(git does, as the server asks).") from None
    except (ApplyDeltaError, zlib.error, AssertionError, ValueError, IndexError, KeyError, TypeError,
            struct.error) as e:
        raise PackError(f"an object of the pack is corrupt ({e or type(e).__name__})") from None
    finally:
        data.close()


Entry = tuple[bytes, int, bytes]  # a tree entry as dulwich's parse_tree gives it: name, mode, hex sha
ALLOWED_MODES = {0o100644: "100644", 0o100755: "100755", 0o120000: "120000", 0o40000: "40000"}
_MODE_SET = frozenset(ALLOWED_MODES)
_BAD_NAMES = frozenset({b"", b".", b".."})
_ROW = struct.Struct(">20sBQQ")  # sha, kind, size, length of the zlib body that follows


def tree_entries(raw: bytes) -> list[Entry]:
    """The entries of a tree body (dulwich's parser, in C)."""
    return list(parse_tree(raw, 20, strict=True))


def read_pack(path: Path, stored: Path) -> ReceivedPack:
    """Inflates every object of the pack file at `path` (written by `copy_pack`), checks each as `git fsck` does
    and returns what the pack holds; the objects are written to `stored` compressed as the object store keeps them,
    for `stored_objects`."""
    out = ReceivedPack(path, stored)
    with open(stored, "wb") as sink:
        for unpacked in _inflate(path):
            kind = unpacked.obj_type_num
            assert kind is not None and unpacked.obj_chunks is not None
            raw = b"".join(unpacked.obj_chunks)
            sha = unpacked.sha()
            _read_object(kind, raw, sha.hex(), out)
            whole = unpacked.pack_type_num not in DELTA_TYPES and unpacked.comp_chunks is not None
            data = b"".join(unpacked.comp_chunks) if whole and unpacked.comp_chunks else zlib.compress(raw, 1)
            sink.write(_ROW.pack(sha, kind, len(raw), len(data)))
            sink.write(data)
    return out


def _read_object(kind: int, raw: bytes, sha: str, out: ReceivedPack) -> None:
    if kind == Blob.type_num:
        out.blobs[sha] = (len(raw), LfsPointer.parse(raw) if len(raw) <= MAX_POINTER_SIZE else None)
    elif kind == DTree.type_num:
        _check_tree(raw, sha)
        out.trees[sha] = raw
    elif kind in (DCommit.type_num, DTag.type_num):
        try:
            obj = ShaFile.from_raw_string(kind, raw)
            obj.check()
        except (ObjectFormatException, ValueError) as e:
            raise PackError(f"object {sha} is malformed ({e})") from None
        if isinstance(obj, DCommit):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PackError(f"commit {sha} is not UTF-8 text: re-create it with UTF-8 names and message "
                                "(git config i18n.commitEncoding utf-8).") from None
            out.commits[sha] = PushedCommit(obj.tree.decode(), tuple(p.decode() for p in obj.parents))
        elif isinstance(obj, DTag):
            target_kind, target = obj.object
            out.tags[sha] = (target.decode(), KINDS.get(target_kind.type_num, "?"))
    else:
        raise PackError(f"object {sha} is of an unknown kind")


def _check_tree(raw: bytes, sha: str) -> None:
    """What `git fsck` checks of a tree (names, modes, order, no duplicates), plus what this server needs: UTF-8
    names, no submodules. Set and join operations, so that a tree of thousands of entries costs little."""
    try:
        entries = tree_entries(raw)
    except (ObjectFormatException, ValueError) as e:
        raise PackError(f"object {sha} is malformed ({e})") from None
    names = [n for n, _, _ in entries]
    modes = {m for _, m, _ in entries}
    if not modes <= _MODE_SET:
        if 0o160000 in modes:
            raise PackError(f"tree {sha} holds a submodule: submodules are not supported here; push the files "
                            "themselves.")
        raise PackError(f"tree {sha} holds an entry of mode {min(modes - _MODE_SET):o}, which git does not write.")
    joined = b"\0".join(names)
    if b"/" in joined or not _BAD_NAMES.isdisjoint(names):
        raise PackError(f"object {sha} is malformed (an entry named '', '.', '..' or with a '/').")
    try:
        joined.decode("utf-8")
    except UnicodeDecodeError:
        raise PackError(f"tree {sha} holds a name that is not UTF-8: rename it.") from None
    keys = [n + b"/" if m == 0o40000 else n for n, m, _ in entries]
    if keys != sorted(keys):
        raise PackError(f"object {sha} is malformed (its entries are not in git's order).")
    if len(set(names)) != len(names):  # a file and a folder of one name
        raise PackError(f"tree {sha} holds two entries of the same name.")


def stored_objects(pack: ReceivedPack, *, batch_bytes: int = 32 * 1024 * 1024, batch_rows: int = 500
                   ) -> Iterator[list[tuple[str, str, int, bytes]]]:
    """The pack's objects as (sha, kind, size, zlib body), in batches of at most `batch_rows` rows and about
    `batch_bytes` bytes (ObjectStore.put_compressed stores them)."""
    if pack.stored is None:
        return
    batch: list[tuple[str, str, int, bytes]] = []
    size = 0
    with open(pack.stored, "rb") as f:
        while head := f.read(_ROW.size):
            sha, kind, length, zlen = _ROW.unpack(head)
            data = f.read(zlen)
            batch.append((sha.hex(), KINDS[kind], length, data))
            size += zlen
            if len(batch) >= batch_rows or size >= batch_bytes:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch
