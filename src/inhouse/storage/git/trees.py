"""Reading and editing trees by path: walk a tree, find an entry, and apply edits to produce a new root."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection

from inhouse.storage.git.objects import MODE_FILE, MODE_TREE, TreeEntry
from inhouse.storage.git.store import ObjectStore


def find_entry(store: ObjectStore, conn: Connection, root: str, path: str) -> TreeEntry | None:
    """The entry at `path` ('' is the root itself), or None."""
    if path in ("", "/"):
        return TreeEntry(MODE_TREE, "", root)
    current = root
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        found = next((e for e in store.tree(conn, current) if e.name == part), None)
        if found is None:
            return None
        if i == len(parts) - 1:
            return found
        if not found.is_tree:
            return None
        current = found.sha
    return None


def walk(
    store: ObjectStore, conn: Connection, tree_sha: str, prefix: str = "", recursive: bool = True
) -> Iterator[tuple[str, TreeEntry]]:
    """(path, entry) for each entry under the tree, folders before their contents, sorted by name."""
    entries = sorted(store.tree(conn, tree_sha), key=lambda e: e.name)
    for e in entries:
        path = f"{prefix}{e.name}"
        yield path, e
        if recursive and e.is_tree:
            yield from walk(store, conn, e.sha, path + "/", True)


@dataclass
class _Dir:
    sha: str | None  # None: new folder, or loaded and changed
    children: dict[str, "TreeEntry | _Dir"] | None = None
    dirty: bool = False
    loaded: bool = field(default=False)


class TreeEditor:
    """Applies file puts and deletes to a tree; `write()` stores only the changed subtrees."""

    def __init__(self, store: ObjectStore, conn: Connection, root: str | None):
        self.store = store
        self.conn = conn
        self.root = _Dir(root)

    def _children(self, d: _Dir) -> dict[str, "TreeEntry | _Dir"]:
        if d.children is None:
            d.children = {}
            if d.sha is not None:
                for e in self.store.tree(self.conn, d.sha):
                    d.children[e.name] = _Dir(e.sha) if e.is_tree else e
        return d.children

    def _walk_to(self, parts: list[str], create: bool) -> list[_Dir] | None:
        chain = [self.root]
        for part in parts:
            kids = self._children(chain[-1])
            node = kids.get(part)
            if node is None:
                if not create:
                    return None
                node = _Dir(None, {}, dirty=True)
                kids[part] = node
            elif isinstance(node, TreeEntry):
                if not create:
                    return None
                node = _Dir(None, {}, dirty=True)  # a file is replaced by a folder of the same name
                kids[part] = node
            chain.append(node)
        return chain

    def get(self, path: str) -> TreeEntry | None:
        """The file at path, or a TreeEntry with MODE_TREE for a folder (sha may be stale), or None."""
        parts = path.split("/")
        chain = self._walk_to(parts[:-1], create=False)
        if chain is None:
            return None
        node = self._children(chain[-1]).get(parts[-1])
        if node is None:
            return None
        if isinstance(node, _Dir):
            return TreeEntry(MODE_TREE, parts[-1], node.sha or "")
        return node

    def in_the_way(self, path: str) -> str | None:
        """What a file put at `path` would replace besides a file of that name: `path` itself when it is a folder
        holding files, or the path of a file standing where one of its parent folders goes; None when nothing."""
        parts = path.split("/")
        node = self.root
        for i, part in enumerate(parts):
            kid = self._children(node).get(part)
            if kid is None:
                return None
            if i == len(parts) - 1:
                return path if isinstance(kid, _Dir) and self._holds_files(kid) else None
            if not isinstance(kid, _Dir):
                return "/".join(parts[:i + 1])
            node = kid
        return None

    def _holds_files(self, d: _Dir) -> bool:
        if d.children is None:
            return d.sha is not None  # a stored folder is never empty
        return any(not isinstance(k, _Dir) or self._holds_files(k) for k in d.children.values())

    def put(self, path: str, sha: str, mode: str = MODE_FILE) -> None:
        parts = path.split("/")
        chain = self._walk_to(parts[:-1], create=True)
        assert chain is not None
        self._children(chain[-1])[parts[-1]] = TreeEntry(mode, parts[-1], sha)
        for d in chain:
            d.dirty = True

    def delete(self, path: str) -> bool:
        """Removes a file or a whole folder. False when nothing is there."""
        parts = path.strip("/").split("/")
        chain = self._walk_to(parts[:-1], create=False)
        if chain is None:
            return False
        kids = self._children(chain[-1])
        if parts[-1] not in kids:
            return False
        del kids[parts[-1]]
        for d in chain:
            d.dirty = True
        return True

    def write(self) -> str:
        sha = self._write(self.root)
        assert sha is not None
        return sha

    def _write(self, d: _Dir) -> str | None:
        if not d.dirty and d.sha is not None:
            return d.sha
        entries: list[TreeEntry] = []
        for name, node in self._children(d).items():
            if isinstance(node, _Dir):
                sub = self._write(node)
                if sub is not None:  # empty folders vanish, as in git
                    entries.append(TreeEntry(MODE_TREE, name, sub))
            else:
                entries.append(node)
        if not entries and d is not self.root:
            return None
        d.sha = self.store.put_tree(self.conn, entries)
        d.dirty = False
        return d.sha
