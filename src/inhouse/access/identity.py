"""Who is calling: a Principal built from the token secret a request presented (web/credentials.py reads it from
the Authorization header), or from the id of the token a derived credential was issued to."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from inhouse.access.throttle import FailedAuthThrottle
from inhouse.errors import INVALID_CREDENTIALS, Unauthorized
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.engine import Database
from inhouse.vocabulary import Role, Scope, TokenRole

TOKEN_PREFIX = "ih_"
LAST_USED_RESOLUTION_S = 60.0


@dataclass(frozen=True)
class Principal:
    """The caller of one request: the user, the token used, its memberships, and where the call came from."""

    user_id: int | None = None
    name: str | None = None
    fullname: str = ""
    email: str | None = None
    is_admin: bool = False
    token_id: int | None = None
    token_name: str | None = None
    role: TokenRole | None = None  # None for anonymous
    scopes: tuple[Scope, ...] = ()  # fine-grained tokens only
    org_roles: dict[int, Role] = field(default_factory=dict)  # org user id -> role
    group_roles: dict[int, Role] = field(default_factory=dict)  # resource group id -> role
    ip: str | None = None
    request_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None



def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(db: Database, secret: str | None, *, malformed: bool = False, ip: str | None = None,
                 request_id: str | None = None, throttle: FailedAuthThrottle | None = None) -> Principal:
    """The caller whose token secret is `secret`; anonymous when there is none. Unknown, revoked or expired tokens
    fail, and so do `malformed` credentials (presented, but not a token this server reads: an unknown scheme, bad
    Basic encoding); failures count against `ip` in `throttle`, which refuses (429) an address that failed too
    often, before any check."""
    if secret is None and not malformed:
        return Principal(ip=ip, request_id=request_id)
    if throttle is None:
        return _authenticate(db, secret, ip=ip, request_id=request_id)
    throttle.check(ip)
    try:
        return _authenticate(db, secret, ip=ip, request_id=request_id)
    except Unauthorized:
        throttle.failed(ip)
        raise


def _authenticate(db: Database, secret: str | None, *, ip: str | None, request_id: str | None) -> Principal:
    if secret is None:  # malformed credentials
        raise Unauthorized(INVALID_CREDENTIALS)
    with db.read() as conn:
        found = user_store.token_by_hash(conn, hash_token(secret))
        if found is None:
            raise Unauthorized(INVALID_CREDENTIALS)
        tok, user = found
        now = time.time()
        if tok.revoked_at is not None or (tok.expires_at is not None and tok.expires_at <= now):
            raise Unauthorized(INVALID_CREDENTIALS)
        orgs, groups = org_store.roles_of_user(conn, user.id)
    if tok.last_used_at is None or now - tok.last_used_at > LAST_USED_RESOLUTION_S:
        with db.write() as conn:  # token listings show the last use; at most one write a minute per token
            user_store.touch_token(conn, tok.id, now)
    return Principal(
        user_id=user.id, name=user.name, fullname=user.fullname, email=user.email, is_admin=user.is_admin,
        token_id=tok.id, token_name=tok.name, role=tok.role, scopes=tok.scopes, org_roles=orgs,
        group_roles=groups, ip=ip, request_id=request_id,
    )


def principal_by_token_id(db: Database, token_id: int | None, *, ip: str | None = None,
                          request_id: str | None = None) -> Principal:
    """The caller a derived credential (a Xet access token) was issued to, by the id of the token that asked
    for it; anonymous for None. Fails like `authenticate` once that token is revoked or expired."""
    if token_id is None:
        return Principal(ip=ip, request_id=request_id)
    with db.read() as conn:
        tok = user_store.token_by_id(conn, token_id)
        user = user_store.user_by_id(conn, tok.user_id) if tok is not None else None
        if tok is None or user is None or tok.revoked_at is not None or (
                tok.expires_at is not None and tok.expires_at <= time.time()):
            raise Unauthorized(INVALID_CREDENTIALS)
        orgs, groups = org_store.roles_of_user(conn, user.id)
    return Principal(
        user_id=user.id, name=user.name, fullname=user.fullname, email=user.email, is_admin=user.is_admin,
        token_id=tok.id, token_name=tok.name, role=tok.role, scopes=tok.scopes, org_roles=orgs,
        group_roles=groups, ip=ip, request_id=request_id,
    )
