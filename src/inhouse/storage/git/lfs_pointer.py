"""Git LFS pointer files (spec v1): the small text a tree holds in place of a large file."""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION_LINE = "version https://git-lfs.github.com/spec/v1"
_POINTER_RE = re.compile(
    rb"^version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize ([0-9]+)\n$"
)
MAX_POINTER_SIZE = 1024


@dataclass(frozen=True)
class LfsPointer:
    oid: str  # sha256 hex
    size: int

    def encode(self) -> bytes:
        return f"{VERSION_LINE}\noid sha256:{self.oid}\nsize {self.size}\n".encode()

    @classmethod
    def parse(cls, data: bytes) -> "LfsPointer | None":
        """The pointer in `data`, or None when `data` is ordinary content."""
        if len(data) > MAX_POINTER_SIZE or not data.startswith(b"version "):
            return None
        m = _POINTER_RE.match(data)
        if not m:
            return None
        return cls(m.group(1).decode(), int(m.group(2)))
