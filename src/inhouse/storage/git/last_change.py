"""When each path last changed: one walk down first-parent history that diffs each commit's tree with its
parent's, top-down, only where a pending path lies.

A path changed in a commit when the entry at that path (its object id, or its absence) differs from the entry
at that path in the commit's first parent; a root commit changed every path it holds. The walk keeps the pending
paths in a prefix trie and, at each commit, descends from the two root trees only into subtrees whose ids
differ and that lead to a pending path: a subtree with the same id on both sides settles nothing and is never
read. Each tree object is decoded at most once per commit (trees are content-addressed, so a per-call cache
keyed by id is exact); the cache holds the trees of two consecutive commits at most.

The caller bounds the work with a budget (commits walked, tree entries read). When it runs out, the paths
settled so far are exact and the rest are reported as unknown rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Connection

from inhouse.storage.git.objects import Commit
from inhouse.storage.git.store import ObjectMissing, ObjectStore


@dataclass
class Work:
    """What a walk cost: commit objects read, tree objects read, and the entries of those trees."""

    commits: int = 0
    trees: int = 0
    entries: int = 0


@dataclass(frozen=True)
class LastChanges:
    changed_in: dict[str, str]  # path (as the caller spelled it) → sha of the newest commit that changed it
    commits: dict[str, Commit]  # those commits, by sha
    complete: bool  # False when the budget ran out before the walk settled every path or reached the root commit
    work: Work


@dataclass
class _Node:
    """A trie node: a path segment on the way to pending paths."""

    parent: "_Node | None"
    children: dict[str, "_Node"] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)  # callers' spellings of the pending path that ends here
    pending: int = 0  # pending paths at or below this node


@dataclass(frozen=True)
class _Index:
    shas: dict[str, str]  # name → object id, every entry
    subtrees: dict[str, str]  # name → tree id, folders only


_EMPTY = _Index({}, {})


_ENTRY = re.compile(rb"([^ ]*) ([^\0]*)\0(.{20})", re.S)  # a tree entry: mode, name, binary id


def _read_tree(store: ObjectStore, conn: Connection, sha: str) -> _Index:
    """The tree's entries, parsed straight from its stored bytes.

    Not through ObjectStore.tree: that builds a TreeEntry per entry (about 4x the time of this parse) and keeps
    the tree in the process-wide cache, which a walk over a thousand past versions of a large folder would flood.
    """
    kind, body = store.get(conn, sha)
    if kind != "tree":
        raise ObjectMissing(sha)
    found = _ENTRY.findall(body)
    if sum(len(m) + len(n) for m, n, _ in found) + 22 * len(found) != len(body):  # not one entry after another
        raise ValueError(f"tree {sha} is malformed")
    shas = {n.decode(): s.hex() for _, n, s in found}
    return _Index(shas, {n.decode(): s.hex() for m, n, s in found if m == b"40000"})


class _OutOfBudget(Exception):
    pass


class _Trees:
    """Decoded trees of the commit being diffed and of its parent, by id; reads cost the budget."""

    def __init__(self, store: ObjectStore, conn: Connection, work: Work, max_entries: int):
        self.store = store
        self.conn = conn
        self.work = work
        self.max_entries = max_entries
        self.current: dict[str, _Index] = {}
        self.previous: dict[str, _Index] = {}

    def index(self, sha: str | None) -> _Index:
        if sha is None:
            return _EMPTY
        found = self.current.get(sha)
        if found is None:
            found = self.previous.pop(sha, None)
            if found is None:
                if self.work.entries >= self.max_entries:
                    raise _OutOfBudget()
                found = _read_tree(self.store, self.conn, sha)
                self.work.trees += 1
                self.work.entries += len(found.shas) + 1
            self.current[sha] = found
        return found

    def next_commit(self) -> None:
        """The parent just diffed is the next commit: keep its trees, drop the older ones."""
        self.previous = self.current
        self.current = {}


def _trie(paths: list[str]) -> _Node:
    root = _Node(None)
    for p in paths:
        node = root
        if p not in ("", "/"):  # those two name the root folder, as in trees.find_entry
            for part in p.strip("/").split("/"):
                child = node.children.get(part)
                if child is None:
                    child = node.children[part] = _Node(node)
                node = child
        if p in node.paths:
            continue
        node.paths.append(p)
        n: _Node | None = node
        while n is not None:
            n.pending += 1
            n = n.parent
    return root


def _settle(node: _Node, commit: str, out: dict[str, str]) -> None:
    for p in node.paths:
        out[p] = commit
    settled = len(node.paths)
    node.paths = []
    n: _Node | None = node
    while n is not None:
        n.pending -= settled
        n = n.parent


def _changed_names(node: _Node, here: _Index, before: _Index) -> list[str]:
    """The names among node's children whose entry differs between the two trees."""
    kids = node.children
    if 4 * len(kids) <= len(here.shas) + len(before.shas):
        return [n for n in kids if here.shas.get(n) != before.shas.get(n)]
    diff = {name for name, _ in here.shas.items() ^ before.shas.items()}
    return sorted(diff.intersection(kids))


def _diff(trees: _Trees, here: str | None, before: str | None, top: _Node, commit: str,
          out: dict[str, str]) -> None:
    """Settles the pending paths below `top` that differ between the trees `here` and `before` (None: absent)."""
    stack = [(here, before, top)]
    while stack:
        h, b, node = stack.pop()
        if h == b or node.pending == 0:
            continue
        hi, bi = trees.index(h), trees.index(b)
        for name in _changed_names(node, hi, bi):
            child = node.children[name]
            if child.paths:
                _settle(child, commit, out)
            if child.pending == 0:
                del node.children[name]
            else:
                stack.append((hi.subtrees.get(name), bi.subtrees.get(name), child))


def last_changes(store: ObjectStore, conn: Connection, head: str, paths: list[str], *, max_commits: int,
                 max_entries: int) -> LastChanges:
    """For each path, the newest commit in the first-parent history of `head` that changed it.

    Paths never changed within the walk (absent all along, or the budget ran out first) are left out.
    `max_commits` bounds the commits compared with their parent, `max_entries` the tree entries read (a tree read
    costs its entries + 1; no read starts once the budget is spent, so one tree at most goes past it).
    """
    root = _trie(paths)
    out: dict[str, str] = {}
    work = Work()
    trees = _Trees(store, conn, work, max_entries)
    found: dict[str, Commit] = {}
    sha: str | None = head
    commit: Commit | None = None
    walked = 0
    while sha is not None and root.pending > 0:
        if walked >= max_commits:
            return LastChanges(out, found, False, work)
        walked += 1
        if commit is None:
            commit = store.commit(conn, sha)
            work.commits += 1
        parent_sha = commit.parents[0] if commit.parents else None
        parent: Commit | None = None
        if parent_sha is not None:
            parent = store.commit(conn, parent_sha)
            work.commits += 1
        ptree = parent.tree if parent is not None else None
        pending = root.pending
        if commit.tree != ptree and root.paths:
            _settle(root, sha, out)  # '' names the root folder itself
        try:
            _diff(trees, commit.tree, ptree, root, sha, out)
            exhausted = False
        except _OutOfBudget:
            exhausted = True  # what this commit settled before the budget ran out is right all the same
        if root.pending < pending:
            found[sha] = commit
        if exhausted:
            return LastChanges(out, found, False, work)
        trees.next_commit()
        sha, commit = parent_sha, parent
    return LastChanges(out, found, True, work)
