"""Git's object model: blobs, trees and commits, encoded byte-for-byte as git does, hashed with SHA-1."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

MODE_FILE = "100644"
MODE_EXEC = "100755"
MODE_TREE = "40000"
MODE_LINK = "120000"


def object_sha(kind: str, body: bytes) -> str:
    """The git object id of `body` stored as `kind` (blob, tree, commit, tag)."""
    h = hashlib.sha1(f"{kind} {len(body)}\0".encode())
    h.update(body)
    return h.hexdigest()


def blob_sha(content: bytes) -> str:
    return object_sha("blob", content)


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    name: str
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == MODE_TREE


def _tree_sort_key(e: TreeEntry) -> bytes:
    # git sorts tree entries as if directory names had a trailing slash
    n = e.name.encode()
    return n + b"/" if e.is_tree else n


def encode_tree(entries: list[TreeEntry]) -> bytes:
    out = bytearray()
    for e in sorted(entries, key=_tree_sort_key):
        out += f"{e.mode} {e.name}".encode() + b"\0" + bytes.fromhex(e.sha)
    return bytes(out)


def decode_tree(body: bytes) -> list[TreeEntry]:
    entries: list[TreeEntry] = []
    i = 0
    while i < len(body):
        sp = body.index(b" ", i)
        nul = body.index(b"\0", sp)
        mode = body[i:sp].decode()
        name = body[sp + 1 : nul].decode()
        sha = body[nul + 1 : nul + 21].hex()
        entries.append(TreeEntry(mode, name, sha))
        i = nul + 21
    return entries


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    when: float
    tz: str = "+0000"

    def encode(self) -> str:
        return f"{self.name} <{self.email}> {int(self.when)} {self.tz}"

    @classmethod
    def decode(cls, text: str) -> "Signature":
        lt = text.rindex("<")
        gt = text.rindex(">")
        name = text[:lt].strip()
        email = text[lt + 1 : gt]
        rest = text[gt + 1 :].split()
        return cls(name, email, float(rest[0]) if rest else 0.0, rest[1] if len(rest) > 1 else "+0000")


@dataclass(frozen=True)
class Commit:
    tree: str
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str

    @property
    def title(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def body(self) -> str:
        parts = self.message.split("\n\n", 1)
        return parts[1].rstrip("\n") if len(parts) > 1 else ""

    def encode(self) -> bytes:
        lines = [f"tree {self.tree}"]
        lines += [f"parent {p}" for p in self.parents]
        lines.append(f"author {self.author.encode()}")
        lines.append(f"committer {self.committer.encode()}")
        return ("\n".join(lines) + "\n\n" + self.message).encode()

    @classmethod
    def decode(cls, body: bytes) -> "Commit":
        text = body.decode()
        head, _, message = text.partition("\n\n")
        tree = ""
        parents: list[str] = []
        author = committer = Signature("", "", 0)
        for line in head.split("\n"):
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = Signature.decode(value)
            elif key == "committer":
                committer = Signature.decode(value)
        return cls(tree, tuple(parents), author, committer, message)


def make_message(summary: str, description: str = "") -> str:
    summary = summary.strip() or "Update"
    description = description.strip()
    return f"{summary}\n\n{description}\n" if description else f"{summary}\n"


def now() -> float:
    return time.time()
