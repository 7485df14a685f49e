"""Reading a revision: trees, paths, file content and metadata, history.

The use cases (`download`, `tree`, `paths_info`, `commits`) each find the repo for the caller (authorized, a
refusal on a private or gated repo audited), audit the read of a private or gated repo, and do the work; the
functions below them (`list_tree`, `open_file`, `history`, …) take a repo already checked.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.errors import EntryNotFound
from inhouse.services import downloads, repo_access
from inhouse.services.byte_ranges import ByteRange
from inhouse.services.largefiles import xet_content
from inhouse.services.context import Stores
from inhouse.services.governance import quarantine, security
from inhouse.services.governance.security import FileSecurity
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import Resolved, resolve
from inhouse.storage.db import lfs as lfs_store
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


def describe(conn: Connection, items: list[tuple[str, TreeEntry]]) -> list[FileEntry]:
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
        return res, describe(conn, items)


def entries_at(stores: Stores, repo: RepoRecord, revision: str | None, paths: list[str]
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
        return res, describe(conn, items)


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
            raise EntryNotFound("Entry not found", commit=res.commit)
        _, body = stores.objects.get(conn, e.sha)
        ptr = LfsPointer.parse(body)
        if ptr is not None and not lfs_store.repo_has_object(conn, repo.id, ptr.oid):
            # deleted for good from this repo (services/lfs_files.py): another repo holding it does not serve here
            raise EntryNotFound(f"The large file at '{path}' was permanently deleted from this repo.",
                                commit=res.commit)
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
            yield from walk_history(stores, conn, res.commit)

    return res, gen()


def walk_history(stores: Stores, conn: Connection, head: str) -> Iterator[CommitView]:
    """The commit `head` and its ancestors, newest first (by committer date), read on `conn`."""
    heap: list[tuple[float, str]] = [(-stores.objects.commit(conn, head).committer.when, head)]
    seen = {head}
    while heap:
        _, sha = heapq.heappop(heap)
        commit = stores.objects.commit(conn, sha)
        yield CommitView(sha, commit)
        for parent in commit.parents:
            if parent not in seen:
                seen.add(parent)
                heapq.heappush(heap, (-stores.objects.commit(conn, parent).committer.when, parent))


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


# use cases: one call each finds the repo for the caller, authorizes, audits the read, and does the work ------------

@dataclass(frozen=True)
class Download:
    """A file opened for a download (or its metadata), with the bytes [start, end) to send."""

    repo: RepoRecord
    file: FileHandle
    start: int
    end: int
    partial: bool  # a range was asked for and is answered (206)


def download(stores: Stores, principal: Principal, name: RepoName, revision: str, path: str, *,
             content: bool = True, byte_range: ByteRange | None = None) -> Download:
    """A file at a revision, for a caller who may download from the repo: its content (`content`, audited as
    file.download) or only its metadata (a HEAD, audited as file.metadata) on a private or gated repo, at the
    commit the revision named. `byte_range` is checked against the file's size (RangeNotSatisfiable)."""
    repo = repo_access.load(stores, principal, name, Action.DOWNLOAD, metadata_only=not content)
    handle = open_file(stores, repo, revision, path)
    if quarantine.check_download(stores, repo, path, handle.blob_sha, handle.lfs.oid if handle.lfs else None,
                                 content=content):
        handle = replace(handle, xet_hash=None)  # a quarantined file's metadata only, never a way to its content
    repo_access.audit_read(stores, principal, repo, "file.download" if content else "file.metadata",
                            revision=handle.commit, path=path)
    downloads.note(stores, repo, path)  # a query file (config.json …): one download, as the Hub counts them
    if byte_range is None:
        return Download(repo, handle, 0, handle.size, False)
    start, end = byte_range.span(handle.size)
    if start == end:  # an empty file: nothing to cut, it is sent whole
        return Download(repo, handle, 0, handle.size, False)
    return Download(repo, handle, start, end, True)


@dataclass(frozen=True)
class Listing:
    """One page of files: the entries from `offset`, their last commits (when asked for), and whether more
    follow."""

    entries: list[FileEntry]
    last: dict[str, CommitView]
    more: bool
    security: dict[str, FileSecurity] = field(default_factory=dict)  # with `expand`: what the scans said


def tree(stores: Stores, principal: Principal, name: RepoName, revision: str, path: str, *, recursive: bool,
         expand: bool, offset: int, limit: int) -> Listing:
    """A page of a folder's entries at a revision (audited as repo.tree on a private or gated repo); with `expand`,
    each entry's last commit."""
    repo = repo_access.load(stores, principal, name)
    repo_access.audit_read(stores, principal, repo, "repo.tree", revision=revision)
    res, entries = list_tree(stores, repo, revision, path, recursive=recursive)
    chunk = entries[offset : offset + limit]
    last = last_commits(stores, res.commit, [e.path for e in chunk]) if expand and chunk else {}
    return Listing(chunk, last, offset + limit < len(entries), _security(stores, repo, chunk) if expand else {})


def paths_info(stores: Stores, principal: Principal, name: RepoName, revision: str, paths: list[str], *,
               expand: bool) -> Listing:
    """The entries at these paths (audited as repo.paths_info on a private or gated repo); with `expand`, each
    entry's last commit."""
    repo = repo_access.load(stores, principal, name)
    repo_access.audit_read(stores, principal, repo, "repo.paths_info", revision=revision)
    res, entries = entries_at(stores, repo, revision, paths)
    last = last_commits(stores, res.commit, [e.path for e in entries]) if expand and entries else {}
    return Listing(entries, last, False, _security(stores, repo, entries) if expand else {})


def _security(stores: Stores, repo: RepoRecord, entries: list[FileEntry]) -> dict[str, FileSecurity]:
    files = [(e.path, e.oid, e.lfs.oid if e.lfs else None) for e in entries if e.type == "file"]
    return security.file_security(stores, repo, files) if files else {}


def commits(stores: Stores, principal: Principal, name: RepoName, revision: str, *, offset: int, limit: int
            ) -> tuple[list[CommitView], bool]:
    """A page of the history at a revision, newest first (audited as repo.commits on a private or gated repo), and
    whether more follow."""
    repo = repo_access.load(stores, principal, name)
    repo_access.audit_read(stores, principal, repo, "repo.commits", revision=revision)
    _, it = history(stores, repo, revision)
    items = list(itertools.islice(it, offset, offset + limit + 1))
    return items[:limit], len(items) > limit
