"""The `Authorization` header, read: the token secret it carries (Bearer, or Basic with the token as the password,
as git clients send it), so that nothing below web sees a header.

What the caller presented is handed on as plain values: the secret (None for none, or an empty one) and whether
the header was something this server cannot read (an unknown scheme, Basic that is not base64 of UTF-8). Such a
header is refused as a bad token is, and counted as one by the failed-token throttle (access/identity.py).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    """What one request presented to say who calls."""

    secret: str | None = None  # the token secret; None when the request carries none
    malformed: bool = False  # an Authorization header that carries no readable credential


NONE = Credentials()
MALFORMED = Credentials(malformed=True)


def read_credentials(header: str | None) -> Credentials:
    """The credentials of an `Authorization` header value (None or empty: none)."""
    if not header:
        return NONE
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return Credentials(value or None)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except ValueError:  # not base64 (binascii.Error), or not UTF-8 (UnicodeDecodeError)
            return MALFORMED
        _, _, password = decoded.partition(":")
        return Credentials(password or None)
    return MALFORMED
