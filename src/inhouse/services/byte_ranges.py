"""A byte range as a client asks for it, and where it falls in a file of a known size.

The web layer parses the HTTP `Range` header (web/ranges.py) into these; services decide what they cover once they
know the size of what is read, and say so with RangeNotSatisfiable (carrying that size) when nothing is covered.
"""

from __future__ import annotations

from dataclasses import dataclass

from inhouse.errors import RangeNotSatisfiable


@dataclass(frozen=True)
class ByteRange:
    """Bytes `first`..`last` (both included), `first`.. to the end (`last` None), or the last `last` bytes
    (`first` None). Never both None, and `last` >= `first` when both are given."""

    first: int | None
    last: int | None

    def __post_init__(self) -> None:
        if self.first is None and self.last is None:
            raise ValueError("a byte range needs a start or a length")
        if (self.first is not None and self.first < 0) or (self.last is not None and self.last < 0):
            raise ValueError("byte positions are never negative")
        if self.first is not None and self.last is not None and self.last < self.first:
            raise ValueError("a byte range ends at or after its start")

    def span(self, size: int) -> tuple[int, int]:
        """[start, end) of a `size`-byte file, clamped to it; RangeNotSatisfiable when it covers none of it
        (except `0-` or `0-N` of an empty file, which is (0, 0), as Xet's CAS answers)."""
        if self.first is None:
            assert self.last is not None
            if self.last == 0 or size == 0:
                raise RangeNotSatisfiable(f"The last {self.last} bytes of a {size}-byte file are no bytes; ask for "
                                          "bytes inside the file.", size=size)
            return max(0, size - self.last), size
        if self.first >= size and not self.first == size == 0:
            raise RangeNotSatisfiable(f"The requested range starts at byte {self.first} but the file has {size} "
                                      "bytes; ask for bytes inside the file.", size=size)
        end = size if self.last is None else min(self.last + 1, size)
        return self.first, end
