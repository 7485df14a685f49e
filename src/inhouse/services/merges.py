"""Merging pull requests and showing what they change, on the stored git objects.

- `merge_base`: the best common ancestor of two commits (git's paint-down walk, newest commit first), visiting
  at most MAX_WALK commits.
- `merge_trees`: a three-way merge of trees, as `git merge` does it. Folders and files that only one side changed
  are taken from that side; the same change on both sides is taken once; a text file both sides changed is merged
  line by line (`merge_lines`: changes to different parts of the file both land; changes to the same or adjacent
  lines conflict, as in git). A file one side deleted and the other changed, a file added on both sides with
  different content, a file against a folder, a Git LFS pointer or a binary file both sides changed, or a text
  file beyond MAX_MERGE_BLOB bytes, is a conflict. Nothing is stored: the new trees and files are returned, so the
  same code answers "would it conflict?" on a read and merges on a write (`store_trees`).
- `diff`: the unified diff (git's format) between two trees, bounded in files and bytes. A large file shows as
  the change of its Git LFS pointer, as `git diff` shows it without the LFS filter.
"""

from __future__ import annotations

import difflib
import heapq
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection

from inhouse.errors import Conflict
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.objects import MODE_TREE, TreeEntry, encode_tree, object_sha
from inhouse.storage.git.store import ObjectStore

MAX_WALK = 20_000  # commits visited looking for a merge base
MAX_DIFF_FILES = 300  # changed files shown in a pull request's diff
MAX_DIFF_BYTES = 1 << 20  # characters of diff text
MAX_DIFF_BLOB = 256 * 1024  # a file larger than this is shown as "Binary files … differ"
MAX_DIFF_READ = 8 << 20  # file bytes read to write one diff; the files after that are left out
MAX_CHANGES = 100_000  # changed paths looked at when merging or diffing
MAX_MERGE_BLOB = 128 * 1024  # larger files both sides changed are a conflict, not merged line by line
MAX_LINE_MERGES = 50  # files tried line by line in one merge; the others both sides changed are conflicts

_ONE, _TWO, _STALE = 1, 2, 4


class Trees(Protocol):
    """Where `changes` reads trees: the object store, or a received push's pack in front of it."""

    def tree(self, conn: Connection, sha: str) -> tuple[TreeEntry, ...]: ...


def merge_base(objects: ObjectStore, conn: Connection, a: str, b: str) -> str | None:
    """The best common ancestor of commits `a` and `b` (the newest when there are several), or None when their
    histories never meet."""
    if a == b:
        return a
    flags: dict[str, int] = {a: _ONE, b: _TWO}
    heap = [(-objects.commit(conn, a).committer.when, a), (-objects.commit(conn, b).committer.when, b)]
    heapq.heapify(heap)
    found: list[str] = []
    visited = 0
    while any(not flags[s] & _STALE for _, s in heap):
        _, sha = heapq.heappop(heap)
        visited += 1
        if visited > MAX_WALK:
            raise Conflict(f"The two histories are too long to find where they meet (more than {MAX_WALK} commits "
                           "apart): merge the branch into the pull request with git first.")
        f = flags[sha]
        if f & (_ONE | _TWO) == _ONE | _TWO and not f & _STALE:
            found.append(sha)
            f |= _STALE
            flags[sha] = f
        for parent in objects.commit(conn, sha).parents:
            if flags.get(parent, 0) & f == f:
                continue
            flags[parent] = flags.get(parent, 0) | f
            heapq.heappush(heap, (-objects.commit(conn, parent).committer.when, parent))
    return found[0] if found else None


@dataclass
class TreeMerge:
    tree: str | None = None  # the merged root (None: empty)
    new_trees: list[list[TreeEntry]] = field(default_factory=list)  # to store, children before parents
    new_blobs: list[bytes] = field(default_factory=list)  # files merged line by line
    line_merges: int = 0  # files tried line by line (MAX_LINE_MERGES)
    conflicts: list[str] = field(default_factory=list)  # paths; folders end with "/"


def merge_trees(objects: ObjectStore, conn: Connection, base: str | None, ours: str | None,
                theirs: str | None) -> TreeMerge:
    out = TreeMerge()
    out.tree = _merge_dir(objects, conn, base, ours, theirs, "", out, [0])
    return out


def store_trees(objects: ObjectStore, conn: Connection, merge: TreeMerge) -> None:
    for blob in merge.new_blobs:
        objects.put_blob(conn, blob)
    for entries in merge.new_trees:
        objects.put_tree(conn, entries)


def _entries(objects: Trees, conn: Connection, sha: str | None) -> dict[str, TreeEntry]:
    return {e.name: e for e in objects.tree(conn, sha)} if sha else {}


def _merge_dir(objects: ObjectStore, conn: Connection, b: str | None, o: str | None, t: str | None, prefix: str,
               out: TreeMerge, seen: list[int]) -> str | None:
    if o == t:
        return o
    if b == o:
        return t
    if b == t:
        return o
    be, oe, te = _entries(objects, conn, b), _entries(objects, conn, o), _entries(objects, conn, t)
    merged: list[TreeEntry] = []
    for name in sorted(be.keys() | oe.keys() | te.keys()):
        seen[0] += 1
        if seen[0] > MAX_CHANGES:
            raise Conflict(f"The pull request changes more than {MAX_CHANGES} paths: too many to merge here.")
        entry = _merge_entry(objects, conn, be.get(name), oe.get(name), te.get(name), prefix + name, out, seen)
        if entry is not None:
            merged.append(entry)
    if not merged:
        return None
    out.new_trees.append(merged)
    return object_sha("tree", encode_tree(merged))


def _merge_entry(objects: ObjectStore, conn: Connection, b: TreeEntry | None, o: TreeEntry | None,
                 t: TreeEntry | None, path: str, out: TreeMerge, seen: list[int]) -> TreeEntry | None:
    if o == t:
        return o
    if b == o:
        return t
    if b == t:
        return o
    if all(e is None or e.is_tree for e in (o, t)):  # folders (or none) on both sides: merge what is in them
        def sha(e: TreeEntry | None) -> str | None:
            return e.sha if e is not None and e.is_tree else None
        sub = _merge_dir(objects, conn, sha(b), sha(o), sha(t), path + "/", out, seen)
        return TreeEntry(MODE_TREE, path.rsplit("/", 1)[-1], sub) if sub else None
    if b is not None and o is not None and t is not None and not b.is_tree and o.mode == t.mode \
            and out.line_merges < MAX_LINE_MERGES:
        out.line_merges += 1
        merged = _merge_file(objects, conn, b.sha, o.sha, t.sha)
        if merged is not None:
            out.new_blobs.append(merged)
            return TreeEntry(o.mode, o.name, object_sha("blob", merged))
    folder = any(e is not None and e.is_tree for e in (o, t))
    out.conflicts.append(path + "/" if folder else path)
    return o


def _merge_file(objects: ObjectStore, conn: Connection, b: str, o: str, t: str) -> bytes | None:
    """The line-by-line merge of a text file both sides changed, or None (a conflict)."""
    if max(objects.size(conn, sha) for sha in (b, o, t)) > MAX_MERGE_BLOB:
        return None
    texts = []
    for sha in (b, o, t):
        data = objects.get(conn, sha)[1]
        if LfsPointer.parse(data) is not None:
            return None  # two versions of a large file: no line of it can be merged
        text = _text(data)
        if text is None:
            return None
        texts.append(text)
    merged = merge_lines(*(t_.splitlines(keepends=True) for t_ in texts))
    return "".join(merged).encode() if merged is not None else None


def merge_lines(base: list[str], a: list[str], b: list[str]) -> list[str] | None:
    """The three-way merge of two edits (`a`, `b`) of `base`, line by line, or None when they conflict: both
    changed the same lines, or lines next to each other (git's rule). The regions where all three agree are found
    from the matching blocks of base against each side (the merge3 algorithm of bzr and git's xdiff)."""
    out: list[str] = []
    iz = ia = ib = 0
    for zmatch, zend, amatch, aend, bmatch, bend in _sync_regions(base, a, b):
        if amatch > ia or bmatch > ib:
            base_chunk, a_chunk, b_chunk = base[iz:zmatch], a[ia:amatch], b[ib:bmatch]
            if a_chunk == b_chunk or b_chunk == base_chunk:
                out += a_chunk
            elif a_chunk == base_chunk:
                out += b_chunk
            else:
                return None
        out += base[zmatch:zend]
        iz, ia, ib = zend, aend, bend
    return out


def _sync_regions(base: list[str], a: list[str], b: list[str]) -> list[tuple[int, int, int, int, int, int]]:
    # autojunk (difflib's default) keeps the matching near-linear on files of many equal lines: it may find fewer
    # matches (more conflicts), never a wrong one
    amatches = difflib.SequenceMatcher(None, base, a).get_matching_blocks()
    bmatches = difflib.SequenceMatcher(None, base, b).get_matching_blocks()
    regions = []
    ia = ib = 0
    while ia < len(amatches) and ib < len(bmatches):
        abase, amatch, alen = amatches[ia]
        bbase, bmatch, blen = bmatches[ib]
        start, end = max(abase, bbase), min(abase + alen, bbase + blen)
        if start < end:
            asub, bsub = amatch + (start - abase), bmatch + (start - bbase)
            regions.append((start, end, asub, asub + end - start, bsub, bsub + end - start))
        if abase + alen < bbase + blen:
            ia += 1
        else:
            ib += 1
    regions.append((len(base), len(base), len(a), len(a), len(b), len(b)))
    return regions


# --- diff ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    path: str
    old: TreeEntry | None
    new: TreeEntry | None


def changes(objects: Trees, conn: Connection, old: str | None, new: str | None, *,
            limit: int) -> tuple[list[Change], bool]:
    """The files that differ between two trees, in path order: at most `limit`, and whether there were more."""
    found: list[Change] = []
    more = _changes(objects, conn, old, new, "", found, limit)
    return found, more


def _changes(objects: Trees, conn: Connection, old: str | None, new: str | None, prefix: str,
             found: list[Change], limit: int) -> bool:
    if old == new:
        return False
    oe, ne = _entries(objects, conn, old), _entries(objects, conn, new)
    for name in sorted(oe.keys() | ne.keys()):
        a, b = oe.get(name), ne.get(name)
        if a == b:
            continue
        path = prefix + name
        a_tree = a.sha if a is not None and a.is_tree else None
        b_tree = b.sha if b is not None and b.is_tree else None
        a_file = a if a is not None and not a.is_tree else None
        b_file = b if b is not None and not b.is_tree else None
        if a_file or b_file:  # a file on either side (possibly replaced by a folder)
            if a_file != b_file:
                if len(found) >= limit:
                    return True
                found.append(Change(path, a_file, b_file))
        if (a_tree or b_tree) and _changes(objects, conn, a_tree, b_tree, path + "/", found, limit):
            return True
    return False


def _text(data: bytes) -> str | None:
    if len(data) > MAX_DIFF_BLOB or b"\0" in data[:8000]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def file_diff(objects: ObjectStore, conn: Connection, c: Change) -> str:
    """One file's part of a unified diff, as `git diff` writes it."""
    a_path, b_path = f"a/{c.path}", f"b/{c.path}"
    head = [f"diff --git {a_path} {b_path}"]
    short_old = c.old.sha[:7] if c.old else "0000000"
    short_new = c.new.sha[:7] if c.new else "0000000"
    if c.old is None and c.new is not None:
        head += [f"new file mode {c.new.mode}", f"index {short_old}..{short_new}"]
    elif c.new is None and c.old is not None:
        head += [f"deleted file mode {c.old.mode}", f"index {short_old}..{short_new}"]
    else:
        assert c.old is not None and c.new is not None
        if c.old.mode != c.new.mode:
            head += [f"old mode {c.old.mode}", f"new mode {c.new.mode}", f"index {short_old}..{short_new}"]
        else:
            head += [f"index {short_old}..{short_new} {c.new.mode}"]
    sizes = [objects.size(conn, e.sha) if e else 0 for e in (c.old, c.new)]
    if max(sizes) > MAX_DIFF_BLOB:
        old_text, new_text = None, None
    else:
        old_text = _text(objects.get(conn, c.old.sha)[1]) if c.old else ""
        new_text = _text(objects.get(conn, c.new.sha)[1]) if c.new else ""
    from_name = a_path if c.old else "/dev/null"
    to_name = b_path if c.new else "/dev/null"
    if old_text is None or new_text is None:
        return "\n".join(head) + f"\nBinary files {from_name} and {to_name} differ\n"
    body = []
    for line in difflib.unified_diff(_lines(old_text), _lines(new_text), from_name, to_name, n=3, lineterm="\n"):
        body.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "\n".join(head) + "\n" + "".join(body)


def diff(objects: ObjectStore, conn: Connection, old_tree: str | None, new_tree: str | None) -> str:
    """The unified diff from `old_tree` to `new_tree`: at most MAX_DIFF_FILES files, about MAX_DIFF_BYTES
    characters, from at most MAX_DIFF_READ bytes of files; what is left out is said on a last line starting
    with '#'."""
    found, more = changes(objects, conn, old_tree, new_tree, limit=MAX_DIFF_FILES)
    parts: list[str] = []
    size = read = 0
    for i, c in enumerate(found):
        sizes = [objects.size(conn, e.sha) for e in (c.old, c.new) if e is not None]
        read += sum(n for n in sizes if n <= MAX_DIFF_BLOB)
        part = file_diff(objects, conn, c) if read <= MAX_DIFF_READ else None
        if part is None or size + len(part) > MAX_DIFF_BYTES:
            cap = f"{MAX_DIFF_BYTES} bytes" if part is not None else f"{MAX_DIFF_READ} bytes of files read"
            parts.append(f"# diff truncated at {cap}: {len(found) - i}{'+' if more else ''} more files changed; "
                         "fetch refs/pr/N with git to see them all\n")
            return "".join(parts)
        parts.append(part)
        size += len(part)
    if more:
        parts.append(f"# diff truncated at {MAX_DIFF_FILES} files: more files changed; fetch refs/pr/N with git "
                     "to see them all\n")
    return "".join(parts)
