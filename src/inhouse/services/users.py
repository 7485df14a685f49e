"""Users and their access tokens."""

from __future__ import annotations

import secrets
import time

from inhouse.access.identity import TOKEN_PREFIX, Principal, hash_token
from inhouse.errors import BadRequest, Conflict, Forbidden, NotFound
from inhouse.names import check_name_part
from inhouse.services.context import Stores
from inhouse.storage.db import users as store
from inhouse.storage.db.records import TokenRecord, UserRecord

ROLES = ("read", "write")


def create_user(stores: Stores, name: str, *, fullname: str = "", email: str | None = None,
                admin: bool = False) -> UserRecord:
    check_name_part(name, "user name")
    with stores.db.write() as conn:
        if store.user_by_name_ci(conn, name) is not None:
            raise Conflict(f"A user or organisation named '{name}' already exists; choose another name.")
        return store.insert_user(conn, name=name, fullname=fullname or name, email=email, kind="user",
                                 is_admin=admin, now=time.time())


def get_user(stores: Stores, name: str) -> UserRecord:
    with stores.db.read() as conn:
        user = store.user_by_name(conn, name)
    if user is None:
        raise NotFound(f"No user named '{name}'; create one with `inhouse users create {name}`.")
    return user


def list_users(stores: Stores) -> list[UserRecord]:
    with stores.db.read() as conn:
        return store.list_users(conn)


def create_token(stores: Stores, user_name: str, *, role: str, name: str | None = None,
                 expires_in_s: float | None = None) -> tuple[TokenRecord, str]:
    """Creates a token and returns it with its secret, which is shown once and stored only hashed."""
    if role not in ROLES:
        raise BadRequest(f"Invalid token role '{role}': use one of {', '.join(ROLES)}.")
    if expires_in_s is not None and expires_in_s <= 0:
        raise BadRequest("A token's lifetime must be positive.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    with stores.db.write() as conn:
        user = store.user_by_name(conn, user_name)
        if user is None:
            raise NotFound(f"No user named '{user_name}'; create one with `inhouse users create {user_name}`.")
        tok = store.insert_token(
            conn, user_id=user.id, name=name or f"{role}-token", role=role, token_hash=hash_token(secret),
            hint=secret[:7], now=now, expires_at=now + expires_in_s if expires_in_s else None,
        )
    return tok, secret


def list_tokens(stores: Stores, user_name: str) -> list[TokenRecord]:
    user = get_user(stores, user_name)
    with stores.db.read() as conn:
        return store.tokens_of(conn, user.id)


def revoke_token(stores: Stores, token_id: int, *, by: Principal | None = None) -> None:
    with stores.db.write() as conn:
        tok = store.token_by_id(conn, token_id)
        if tok is None:
            raise NotFound(f"No token with id {token_id}; list tokens with `inhouse tokens list --user NAME`.")
        if by is not None and not by.is_admin and by.user_id != tok.user_id:
            raise Forbidden("You can only revoke your own tokens.")
        store.revoke_token(conn, token_id, time.time())
