"""Rewriting a repo's history: super-squash a branch into one commit, and drop large files from every commit.

Both happen inside one write transaction: the new commits are stored, every changed ref is compare-and-set, and the
commits no ref reaches any more stop resolving in the repo (its `repo_commits` rows go; the objects themselves are
shared by sha and stay for the repos and refs that still reach them).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, RevisionNotFound
from inhouse.names import check_revision
from inhouse.services import repo_access
from inhouse.services.commits import after_branch_update, signature_for
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import history as history_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from inhouse.storage.git.objects import Commit, TreeEntry, make_message
from inhouse.storage.git.store import small_bodies_and_sizes

MAX_MESSAGE_BYTES = 64 * 1024
SUBMODULE = "160000"


def reachable(stores: Stores, conn: Connection, heads: Iterable[str]) -> set[str]:
    """Every commit reachable from `heads`."""
    seen: set[str] = set()
    stack = list(heads)
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        stack.extend(p for p in stores.objects.commit(conn, sha).parents if p not in seen)
    return seen


def _branch_ref(branch: str) -> str:
    check_revision(branch)
    if branch.startswith("refs/heads/"):
        return branch
    if branch.startswith("refs/"):
        raise BadRequest(f"Cannot squash '{branch}': only branches can be squashed (not tags or pull requests).")
    return f"refs/heads/{branch}"


def super_squash(stores: Stores, p: Principal, name: RepoName, branch: str, message: str | None) -> str:
    """Replaces the history of `branch` by one commit with the tree of its head; returns that commit. Needs write
    access; audited as history.squash."""
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    ref = _branch_ref(branch)
    text = message if message is not None else f"Super-squash branch '{branch}'"
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise BadRequest(f"The commit message is longer than {MAX_MESSAGE_BYTES} bytes: shorten it.")
    now = time.time()
    with stores.db.write() as conn:
        head = repo_store.get_ref(conn, repo.id, ref)
        if head is None:
            short = ref.removeprefix("refs/heads/")
            if repo_store.get_ref(conn, repo.id, f"refs/tags/{short}") is not None:
                raise BadRequest(f"'{short}' is a tag: only branches can be squashed.")
            raise RevisionNotFound(f"Invalid rev id: {short}: no such branch; squash an existing branch.")
        old = stores.objects.commit(conn, head)
        author = signature_for(p, now)
        sha = stores.objects.put_commit(conn, Commit(old.tree, (), author, author, make_message(text)))
        if not repo_store.compare_and_set_ref(conn, repo.id, ref, head, sha, now):
            raise Conflict("The branch moved while it was being squashed; retry.")
        repo_store.add_commit(conn, repo.id, sha)
        after_branch_update(stores, conn, repo, ref, sha, now, None)
        dropped = forget_unreachable(stores, conn, repo)
        stores.audit.record(conn, p, Event("history.squash", repo, revision=ref, details={
            "old": head, "new": sha, "commits_dropped": dropped}))
        return sha


def forget_unreachable(stores: Stores, conn: Connection, repo: RepoRecord) -> int:
    """The repo's commits no ref reaches stop resolving in it; returns how many."""
    keep = reachable(stores, conn, [target for _, target in repo_store.list_refs(conn, repo.id)])
    return history_store.forget_commits(conn, repo.id, keep)


class _Dropper:
    """Rewrites trees without the LFS pointers naming `oids` (folders left empty go too); memoized by tree."""

    def __init__(self, stores: Stores, conn: Connection, oids: set[str]):
        self.stores, self.conn, self.oids = stores, conn, oids
        self.memo: dict[str, str | None] = {}

    def tree(self, sha: str) -> str | None:
        """The tree `sha` without the pointers (None: nothing is left in it)."""
        if sha in self.memo:
            return self.memo[sha]
        objects = self.stores.objects
        entries = objects.tree(self.conn, sha)
        blobs = [e.sha for e in entries if not e.is_tree and e.mode != SUBMODULE]
        bodies = small_bodies_and_sizes(self.conn, blobs, small=MAX_POINTER_SIZE) if blobs else {}
        out: list[TreeEntry] = []
        changed = False
        for e in entries:
            if e.is_tree:
                new = self.tree(e.sha)
                if new != e.sha:
                    changed = True
                if new is not None:
                    out.append(TreeEntry(e.mode, e.name, new))
                continue
            body = bodies.get(e.sha, (0, None))[1] if e.mode != SUBMODULE else None
            ptr = LfsPointer.parse(body) if body is not None else None
            if ptr is not None and ptr.oid in self.oids:
                changed = True
                continue
            out.append(e)
        result: str | None = sha
        if changed:
            result = objects.put_tree(self.conn, out) if out else None
        self.memo[sha] = result
        return result

    def root(self, sha: str) -> str:
        new = self.tree(sha)
        return new if new is not None else self.stores.objects.put_tree(self.conn, [])


def drop_large_files(stores: Stores, conn: Connection, repo: RepoRecord, oids: set[str], now: float
                     ) -> dict[str, tuple[str, str]]:
    """Rewrites every commit every ref of the repo reaches so that no tree names the large files `oids`; moves the
    refs (compare-and-set, in the caller's write transaction) and returns {ref: (old, new)} of those that moved.
    Commits that did not change keep their sha."""
    objects = stores.objects
    dropper = _Dropper(stores, conn, oids)
    new_of: dict[str, str] = {}
    refs = repo_store.list_refs(conn, repo.id)
    for _, target in refs:
        stack: list[tuple[str, bool]] = [(target, False)]
        while stack:
            sha, ready = stack.pop()
            if sha in new_of:
                continue
            c = objects.commit(conn, sha)
            if not ready:
                stack.append((sha, True))
                stack.extend((q, False) for q in c.parents if q not in new_of)
                continue
            tree = dropper.root(c.tree)
            parents = tuple(new_of[q] for q in c.parents)
            if tree == c.tree and parents == c.parents:
                new_of[sha] = sha
            else:
                new_of[sha] = objects.put_commit(conn, Commit(tree, parents, c.author, c.committer, c.message))
    moved: dict[str, tuple[str, str]] = {}
    for ref, target in refs:
        new = new_of[target]
        if new == target:
            continue
        if not repo_store.compare_and_set_ref(conn, repo.id, ref, target, new, now):
            raise Conflict(f"{ref} moved while the history was being rewritten; retry.")
        moved[ref] = (target, new)
    history_store.add_commits(conn, repo.id, [n for o, n in new_of.items() if n != o])
    default = f"refs/heads/{DEFAULT_BRANCH}"
    if default in moved:
        after_branch_update(stores, conn, repo, default, moved[default][1], now, None)
    if moved:
        history_store.forget_commits(conn, repo.id, set(new_of.values()))
    return moved
