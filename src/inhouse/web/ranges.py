"""THE parser of the HTTP `Range` header (RFC 9110 §14.1.2). Services take the ByteRanges it returns.

`Range: bytes=A-B[,C-D…]` where each part is `first-last`, `first-` or `-suffix`, with optional spaces. How many
parts one header may hold is the caller's bound (`max_parts`), checked before any part is read; positions longer
than MAX_DIGITS digits are refused before Python converts them. Where a route serves only what it can
(downloads), `single_range` ignores a header it cannot honour, as RFC 9110 allows; elsewhere a bad header is a 400.
"""

from __future__ import annotations

from inhouse.errors import BadRequest
from inhouse.services.byte_ranges import ByteRange

MAX_DIGITS = 40  # longer positions are refused before Python converts them; shorter ones are clamped to the size


def parse_ranges(header: str | None, *, max_parts: int) -> list[ByteRange] | None:
    """The ranges of a `Range` header, in the order given; None without one (or a blank one). BadRequest when the
    unit is not bytes, a part is malformed (or ends before it starts), or there are more than `max_parts`."""
    if header is None or not header.strip():
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise BadRequest("Only byte ranges are served: Range: bytes=START-END.")
    parts = spec.split(",", max_parts)
    if len(parts) > max_parts:
        raise BadRequest(f"A Range header may list at most {max_parts} range{'s' if max_parts > 1 else ''} here.")
    return [_one(part) for part in parts]


def single_range(header: str | None) -> ByteRange | None:
    """The one range a download asks for; None (send the whole file) without a header, or with one that is not a
    single well-formed byte range (several ranges, another unit), as RFC 9110 lets a server ignore it."""
    try:
        ranges = parse_ranges(header, max_parts=1)
    except BadRequest:
        return None
    return ranges[0] if ranges else None


def _one(part: str) -> ByteRange:
    first, sep, last = part.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not sep or (not first and not last) or not _position(first) or not _position(last) or (
            first and last and int(last) < int(first)):
        raise BadRequest(f"Invalid byte range '{part.strip()[:40]}': use bytes=START-END, START- or -LENGTH.")
    return ByteRange(int(first) if first else None, int(last) if last else None)


def _position(text: str) -> bool:
    return text == "" or (len(text) <= MAX_DIGITS and text.isascii() and text.isdigit())
