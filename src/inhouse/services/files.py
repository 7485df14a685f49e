"""Reading a revision: trees, paths, file content and metadata, history."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from inhouse.errors import EntryNotFound
from inhouse.services.largefiles import xet_content
from inhouse.services.context import Stores
from inhouse.services.revisions import Resolved, resolve
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.last_change import last_changes
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.objects import Commit, TreeEntry
from inhouse.storage.git.store import small_bodies_and_sizes
from inhouse.storage.git.trees import find_entry, walk


@dataclass(frozen=True)
class FileEntry:
    path: str
    type: str  # file | directory
    oid: str  # git object id (blob or tree)
    size: int  # the file's real size (the LFS object's size for LFS files)
    lfs: LfsPointer | None = None
    pointer_size: int = 0
    xet_hash: str | None = None  # set when the large file's content lives in xorbs


@dataclass(frozen=True)
class CommitView:
    oid: str
    commit: Commit


def describe(stores: Stores, conn: Connection, items: list[tuple[str, TreeEntry]]) -> list[FileEntry]:
    blob_shas = [e.sha for _, e in items if not e.is_tree]
    meta = small_bodies_and_sizes(conn, blob_shas)
    out: list[FileEntry] = []
    for path, e in items:
        if e.is_tree:
            out.append(FileEntry(path, "directory", e.sha, 0))
            continue
        size, body = meta.get(e.sha, (0, None))
        ptr = LfsPointer.parse(body) if body is not None else None
        if ptr is not None:
            out.append(FileEntry(path, "file", e.sha, ptr.size, ptr, size))
        else:
            out.append(FileEntry(path, "file", e.sha, size))
    xet = xet_store.xet_hashes_of(conn, [f.lfs.oid for f in out if f.lfs is not None])
    if xet:
        out = [replace(f, xet_hash=xet.get(f.lfs.oid)) if f.lfs is not None else f for f in out]
    return out


def root_tree(stores: Stores, conn: Connection, commit: str) -> str:
    return stores.objects.commit(conn, commit).tree


def list_tree(stores: Stores, repo: RepoRecord, revision: str | None, path: str, *, recursive: bool
              ) -> tuple[Resolved, list[FileEntry]]:
    with stores.db.read() as conn:
        res = resolve(conn, repo, revision)
        root = root_tree(stores, conn, res.commit)
        path = path.strip("/")
        entry = find_entry(stores.objects, conn, root, path)
        if entry is None or not entry.is_tree:
            raise EntryNotFound(f"Entry not found: '{path}' is not a folder at {revision or 'main'}")
        prefix = f"{path}/" if path else ""
        items = list(walk(stores.objects, conn, entry.sha, prefix, recursive))
        return res, describe(stores, conn, items)


def paths_info(stores: Stores, repo: RepoRecord, revision: str | None, paths: list[str]
               ) -> tuple[Resolved, list[FileEntry]]:
    with stores.db.read() as conn:
        res = resolve(conn, repo, revision)
        root = root_tree(stores, conn, res.commit)
        items: list[tuple[str, TreeEntry]] = []
        seen: set[str] = set()
        for p in paths:
            p = p.strip("/")
            if not p or p in seen:
                continue
            seen.add(p)
            e = find_entry(stores.objects, conn, root, p)
            if e is not None:
                items.append((p, e))
        return res, describe(stores, conn, items)


@dataclass(frozen=True)
class FileHandle:
    commit: str
    path: str
    blob_sha: str
    size: int
    lfs: LfsPointer | None
    content: bytes | None  # regular files only
    xet_hash: str | None = None  # large files whose content lives in xorbs

    @property
    def etag(self) -> str:
        return self.lfs.oid if self.lfs else self.blob_sha


def open_file(stores: Stores, repo: RepoRecord, revision: str | None, path: str) -> FileHandle:
    with stores.db.read() as conn:
        res = resolve(conn, repo, revision)
        root = root_tree(stores, conn, res.commit)
        e = find_entry(stores.objects, conn, root, path)
        if e is None or e.is_tree:
            raise EntryNotFound("Entry not found", headers={"X-Repo-Commit": res.commit})
        _, body = stores.objects.get(conn, e.sha)
        ptr = LfsPointer.parse(body)
        xet_hash = xet_store.xet_hashes_of(conn, [ptr.oid]).get(ptr.oid) if ptr is not None else None
    if ptr is not None:
        return FileHandle(res.commit, path, e.sha, ptr.size, ptr, None, xet_hash)
    return FileHandle(res.commit, path, e.sha, len(body), None, body)


def read_range(stores: Stores, handle: FileHandle, start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of the file."""
    if handle.lfs is None:
        assert handle.content is not None
        yield handle.content[start:end]
        return
    yield from xet_content.read_lfs(stores, handle.lfs.oid, start, end)


def history(stores: Stores, repo: RepoRecord, revision: str | None) -> tuple[Resolved, Iterator[CommitView]]:
    """The commit at `revision` and all its ancestors, newest first."""
    with stores.db.read() as conn:
        res = resolve(conn, repo, revision)

    def gen() -> Iterator[CommitView]:
        with stores.db.read() as conn:
            heap: list[tuple[float, str]] = []
            seen = {res.commit}
            c = stores.objects.commit(conn, res.commit)
            heapq.heappush(heap, (-c.committer.when, res.commit))
            while heap:
                _, sha = heapq.heappop(heap)
                commit = stores.objects.commit(conn, sha)
                yield CommitView(sha, commit)
                for parent in commit.parents:
                    if parent not in seen:
                        seen.add(parent)
                        pc = stores.objects.commit(conn, parent)
                        heapq.heappush(heap, (-pc.committer.when, parent))

    return res, gen()


def last_commits(stores: Stores, commit: str, paths: list[str], *, max_commits: int | None = None,
                 max_tree_entries: int | None = None) -> dict[str, CommitView]:
    """For each path, the newest commit (first-parent history) that changed it.

    One walk down the history, bounded by the server's budget (settings last_commit_max_commits and
    last_commit_max_tree_entries, unless given here), never by the caller's request: paths the walk did not
    settle within it are left out, and the Hub API answers them without lastCommit (optional in the Hub's
    answer, as in huggingface_hub's RepoFile and RepoFolder)."""
    settings = stores.settings
    with stores.db.read() as conn:
        found = last_changes(
            stores.objects, conn, commit, paths,
            max_commits=settings.last_commit_max_commits if max_commits is None else max_commits,
            max_entries=settings.last_commit_max_tree_entries if max_tree_entries is None else max_tree_entries,
        )
    return {p: CommitView(sha, found.commits[sha]) for p, sha in found.changed_in.items()}
