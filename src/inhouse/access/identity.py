"""Who is calling: a Principal built from the Authorization header (Bearer token, or Basic for git clients)."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass

from inhouse.errors import INVALID_CREDENTIALS, Unauthorized
from inhouse.storage.db import users as user_store
from inhouse.storage.db.engine import Database

TOKEN_PREFIX = "ih_"


@dataclass(frozen=True)
class Principal:
    user_id: int | None = None
    name: str | None = None
    fullname: str = ""
    email: str | None = None
    is_admin: bool = False
    token_id: int | None = None
    token_name: str | None = None
    role: str | None = None  # read | write; None for anonymous

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    @property
    def can_write(self) -> bool:
        return self.role == "write"


ANONYMOUS = Principal()


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_from_header(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized(INVALID_CREDENTIALS) from None
        _, _, password = decoded.partition(":")
        return password or None
    raise Unauthorized(INVALID_CREDENTIALS)


def authenticate(db: Database, header: str | None) -> Principal:
    """The caller behind `header`; anonymous when there is none. Unknown, revoked or expired tokens fail."""
    secret = token_from_header(header)
    if secret is None:
        return ANONYMOUS
    with db.read() as conn:
        found = user_store.token_by_hash(conn, hash_token(secret))
    if found is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    tok, user = found
    now = time.time()
    if tok.revoked_at is not None or (tok.expires_at is not None and tok.expires_at <= now):
        raise Unauthorized(INVALID_CREDENTIALS)
    return Principal(
        user_id=user.id, name=user.name, fullname=user.fullname, email=user.email, is_admin=user.is_admin,
        token_id=tok.id, token_name=tok.name, role=tok.role,
    )
