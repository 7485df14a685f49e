"""Signed, expiring capabilities for URLs that clients call without credentials (LFS transfer links, xorb ranges)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path

from inhouse.errors import Forbidden
from inhouse.storage.private import secret_file


def load_or_create_secret(data_dir: Path, configured: str = "") -> bytes:
    """The configured key, else the one kept in data_dir/secret.key (generated on first start, mode 0600)."""
    if configured:
        return configured.encode()
    return secret_file(data_dir / "secret.key", lambda: secrets.token_hex(32).encode()).strip()


class Signer:
    """Signs messages until an expiry, and checks such signatures. What a message says, and how a signed capability
    travels (a URL, a token), is up to its users: services/largefiles/lfs_grants.py, xet.py, xet_tokens.py."""

    def __init__(self, key: bytes):
        self._key = key

    def sign(self, message: str, ttl_s: int) -> tuple[int, str]:
        """(expiry, signature): `message` signed until `ttl_s` seconds from now."""
        exp = int(time.time()) + ttl_s
        return exp, self._mac(message, exp)

    def _mac(self, message: str, exp: int) -> str:
        return hmac.new(self._key, f"{message}|{exp}".encode(), hashlib.sha256).hexdigest()

    def verify(self, message: str, exp: int, sig: str, *, renew: str) -> None:
        """Raises Forbidden unless `sig` signs `message` until `exp` and `exp` has not passed; its message ends
        with `renew`, what the holder does next. The expiry is checked first, so that an old link says it expired
        (the caller learns nothing it did not send)."""
        if exp < time.time():
            raise Forbidden(f"This link has expired: {renew}.")
        if not (sig.isascii() and hmac.compare_digest(self._mac(message, exp), sig)):  # compare_digest: ASCII only
            raise Forbidden(f"This link is not valid: {renew}.")
