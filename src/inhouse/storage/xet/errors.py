"""The one error type the Xet format layer raises."""

from __future__ import annotations


class XetFormatError(ValueError):
    """Bytes or values that do not follow the Xet formats.

    The message says what is wrong (and where, for binary input), so it can be
    passed back to the uploading client in a 400 response.
    """
