"""A repo's large files: list them, delete them for good (how a leaked file leaves), and link them into another repo
(copy_files across repos, without sending the bytes again).

Permanent deletion, in one write transaction: (when asked, the client's default) every commit every ref of the repo
reaches is rewritten without the pointers (services/history.py); the repo stops holding the objects; an object no
repo holds any more is forgotten with its Xet file records; the xorbs no other file is built from are deleted with
their dedup keys (whatever the storage-GC grace window says), and those shared with other files are written again
without the deleted files' own chunks (largefiles/xet_purge.py). After the commit the blob and old xorb files are
removed from disk. Resolve, the LFS batch API and Xet reconstruction all check that the repo holds the
object, so the content is unreachable from this repo at once, and gone from disk once no repo holds it; a repo
that still holds it (a fork, a copy) keeps it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.audit.log import Event
from inhouse.errors import BadRequest
from inhouse.services import history, repo_access
from inhouse.services.context import Stores
from inhouse.services.largefiles import xet_purge
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from inhouse.storage.git.objects import blob_sha
from inhouse.storage.git.store import small_bodies_and_sizes
from inhouse.vocabulary import RepoType

PAGE_SIZE = 1000  # the client pages through the Link header
MAX_DELETE = 1000  # oids per request: the client sends batches of 1000
MAX_DUPLICATE = 500  # files per request: the client sends batches of 500
MAX_AUDITED_OIDS = 100
_OID = re.compile(r"[0-9a-f]{64}")


def check_oid(value: object, what: str = "sha256") -> str:
    if not isinstance(value, str) or not _OID.fullmatch(value.lower()):
        raise BadRequest(f"Invalid {what} {str(value)[:80]!r}: give the 64 hex characters of the file's {what}.")
    return value.lower()


@dataclass(frozen=True)
class LfsFile:
    oid: str  # sha256
    size: int
    pushed_at: float
    filename: str  # a path that names it (in a ref's head, else in history; the pointer's oid when none does)
    ref: str | None
    blob_id: str  # the git blob of its pointer
    xet_hash: str | None


@dataclass(frozen=True)
class LfsPage:
    files: list[LfsFile]
    next_after: str | None  # the cursor of the next page


# naming ------------------------------------------------------------------------------------------------------------

class _Namer:
    """Finds a path for each oid: first in the refs' heads (default branch first), then in their history."""

    def __init__(self, stores: Stores, conn: Connection, repo: RepoRecord, wanted: set[str]):
        self.stores, self.conn, self.wanted = stores, conn, wanted
        self.found: dict[str, tuple[str, str]] = {}  # oid → (path, ref)
        self.trees_done: set[str] = set()
        refs = repo_store.list_refs(conn, repo.id)
        default = f"refs/heads/{DEFAULT_BRANCH}"
        self.refs = sorted(refs, key=lambda r: (r[0] != default, not r[0].startswith("refs/heads/"), r[0]))

    def _tree(self, sha: str, prefix: str, ref: str) -> None:
        if sha in self.trees_done or len(self.found) == len(self.wanted):
            return
        self.trees_done.add(sha)
        entries = self.stores.objects.tree(self.conn, sha)
        blobs = [e.sha for e in entries if not e.is_tree and e.mode != history.SUBMODULE]
        bodies = small_bodies_and_sizes(self.conn, blobs, small=MAX_POINTER_SIZE) if blobs else {}
        for e in entries:
            if e.is_tree:
                self._tree(e.sha, f"{prefix}{e.name}/", ref)
                continue
            body = bodies.get(e.sha, (0, None))[1]
            ptr = LfsPointer.parse(body) if body is not None else None
            if ptr is not None and ptr.oid in self.wanted and ptr.oid not in self.found:
                self.found[ptr.oid] = (f"{prefix}{e.name}", ref)

    def run(self) -> dict[str, tuple[str, str]]:
        objects = self.stores.objects
        for ref, target in self.refs:
            self._tree(objects.commit(self.conn, target).tree, "", ref)
        seen: set[str] = set()
        for ref, target in self.refs:
            stack = [target]
            while stack and len(self.found) < len(self.wanted):
                sha = stack.pop()
                if sha in seen:
                    continue
                seen.add(sha)
                c = objects.commit(self.conn, sha)
                self._tree(c.tree, "", ref)
                stack.extend(c.parents)
        return self.found


def list_files(stores: Stores, p: Principal, name: RepoName, *, after: str | None) -> LfsPage:
    """One page (by oid) of the large files the repo holds, for a caller who may write to it (the Hub shows them in
    the repo's settings); audited as lfs.list on a private or gated repo."""
    start = check_oid(after, "cursor") if after else ""
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    repo_access.audit_read(stores, p, repo, "lfs.list", details={"cursor": start or None})
    with stores.db.read() as conn:
        rows = lfs_store.repo_objects(conn, repo.id, after=start, limit=PAGE_SIZE + 1)
        page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
        names = _Namer(stores, conn, repo, {oid for oid, _, _ in page}).run() if page else {}
        xet = xet_store.xet_hashes_of(conn, [oid for oid, _, _ in page])
    files = []
    for oid, size, pushed in page:
        path, ref = names.get(oid, (oid, None))
        files.append(LfsFile(oid, size, pushed, path, ref, blob_sha(LfsPointer(oid, size).encode()), xet.get(oid)))
    return LfsPage(files, page[-1][0] if more else None)


# permanent deletion ------------------------------------------------------------------------------------------------

@dataclass
class Deletion:
    removed: list[str] = field(default_factory=list)  # oids the repo held and no longer does
    purged: list[str] = field(default_factory=list)  # of those, the ones no repo holds: content deleted
    refs_rewritten: dict[str, tuple[str, str]] = field(default_factory=dict)
    xorbs_deleted: int = 0
    xorbs_rewritten: int = 0
    blobs_deleted: int = 0


def check_oids(values: object) -> list[str]:
    if not isinstance(values, list) or not values:
        raise BadRequest("'deletions.sha' must be a non-empty list of sha256 (the fileOid of list_lfs_files).")
    if len(values) > MAX_DELETE:
        raise BadRequest(f"At most {MAX_DELETE} files per request: send the rest in another request.")
    return list(dict.fromkeys(check_oid(v) for v in values))


def delete_files(stores: Stores, p: Principal, name: RepoName, oids: list[str], *, rewrite_history: bool
                 ) -> Deletion:
    """Deletes the large files `oids` from the repo for good (see the module docstring), for a caller who may
    manage it; oids the repo does not hold are left alone. Audited as lfs.delete."""
    repo = repo_access.load(stores, p, name, Action.MANAGE, follow_moves=False)
    out = Deletion()
    purge = xet_purge.Purge()
    now = time.time()
    try:
        with stores.db.write() as conn:
            held = [o for o in oids if lfs_store.repo_has_object(conn, repo.id, o)]
            if rewrite_history and held:
                out.refs_rewritten = history.drop_large_files(stores, conn, repo, set(held), now)
            out.removed = lfs_store.unlink_objects(conn, repo.id, held)
            still = lfs_store.held_by_any(conn, out.removed)
            out.purged = [o for o in out.removed if o not in still]
            # first: deleting the rows locks them, so a background conversion of one of these objects either
            # committed its file before (found below) or finds the object gone (largefiles/xet_convert.py)
            lfs_store.forget_objects(conn, out.purged)
            files = {f.file_hash for f in xet_store.files_with_sha256(conn, out.purged)}
            xet_purge.purge_files(stores, conn, files, now, purge)
            out.xorbs_deleted = len(purge.deleted)
            out.xorbs_rewritten = len(purge.rewritten)
            if out.removed:
                repo_store.update_repo(conn, repo.id, last_modified=now)
                stores.audit.record(conn, p, Event("lfs.delete", repo, details={
                    "oids": out.removed[:MAX_AUDITED_OIDS], "count": len(out.removed),
                    "rewrite_history": rewrite_history, "purged": len(out.purged),
                    "xorbs_deleted": len(purge.deleted), "xorbs_rewritten": purge.rewritten,
                    "refs": {r: list(v) for r, v in out.refs_rewritten.items()}}))
    except BaseException:
        xet_purge.discard(stores, purge.written)
        raise
    for h in purge.deleted:
        stores.xorbs.delete(h)
    for oid in out.purged:
        if stores.blobs.exists(oid):
            stores.blobs.delete(oid)
            out.blobs_deleted += 1
    return out


# linking into another repo (copy_files across repos) ---------------------------------------------------------------

@dataclass(frozen=True)
class DuplicateFile:
    sha256: str
    xet_hash: str | None
    filename: str


def check_duplicates(values: object) -> list[DuplicateFile]:
    if not isinstance(values, list) or not values:
        raise BadRequest("'files' must be a non-empty list of {\"sha256\", \"xetHash\", \"filename\"}.")
    if len(values) > MAX_DUPLICATE:
        raise BadRequest(f"At most {MAX_DUPLICATE} files per request: send the rest in another request.")
    out = []
    for v in values:
        if not isinstance(v, dict):
            raise BadRequest("Each of 'files' must be an object {\"sha256\", \"xetHash\", \"filename\"}.")
        xet = v.get("xetHash")
        filename = v.get("filename")
        out.append(DuplicateFile(check_oid(v.get("sha256")), check_oid(xet, "xetHash") if xet is not None else None,
                                 filename[:1000] if isinstance(filename, str) else ""))
    return out


def parse_target(value: object) -> RepoName:
    if not isinstance(value, dict):
        raise BadRequest("'target' must be {\"type\": \"model\"|\"dataset\"|\"space\", \"name\": \"namespace/name\"}.")
    repo_id = value.get("name")
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(parts):
        raise BadRequest("'target.name' must look like 'namespace/name'.")
    return RepoName(RepoType.parse(value.get("type")), parts[0], parts[1])


def duplicate_to(stores: Stores, p: Principal, source: RepoName, target: RepoName, files: list[DuplicateFile]
                 ) -> list[dict[str, str]]:
    """Links large files of `source` (the caller may download them) into `target` (the caller may upload to it), so
    that a commit there may name them; returns the failures ({sha256, error}). Nothing is copied: both repos hold
    the same stored content. Audited as lfs.duplicate on the target."""
    src = repo_access.load(stores, p, source, Action.DOWNLOAD, follow_moves=False)
    dst = repo_access.load(stores, p, target, Action.PROPOSE, follow_moves=False)
    failed: list[dict[str, str]] = []
    linked: list[str] = []
    now = time.time()
    with stores.db.write() as conn:
        for f in files:
            size = lfs_store.object_size(conn, f.sha256)
            if size is None or not lfs_store.repo_has_object(conn, src.id, f.sha256):
                failed.append({"sha256": f.sha256, "error": f"not stored in {src.repo_id}"})
                continue
            record = xet_store.file_by_hash(conn, f.xet_hash) if f.xet_hash else xet_store.file_by_sha256(
                conn, f.sha256)
            if f.xet_hash is not None and (record is None or record.sha256 != f.sha256):
                failed.append({"sha256": f.sha256, "error": "the xetHash is not this file's"})
                continue
            lfs_store.record_object(conn, dst.id, f.sha256, size, now)
            if record is not None:
                xet_store.link_repo_xorbs(conn, dst.id, record.xorb_hashes(), now)
            linked.append(f.sha256)
        if linked:
            stores.audit.record(conn, p, Event("lfs.duplicate", dst, details={
                "from": src.repo_id, "from_type": src.type.value, "oids": linked[:MAX_AUDITED_OIDS],
                "count": len(linked)}))
    return failed

