"""Users and their access tokens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

from inhouse.access.identity import TOKEN_PREFIX, Principal, hash_token
from inhouse.access.policy import decide_tokens
from inhouse.errors import BadRequest, Conflict, NotFound
from inhouse.names import RESERVED_NAMESPACES, check_label, check_name_part
from inhouse.audit.log import Event
from inhouse.services.context import Stores
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import users as store
from inhouse.storage.db.records import TokenRecord, UserRecord
from inhouse.vocabulary import NEEDS_A_SCOPE, Role, Scope, TokenRole

MAX_TOKEN_DAYS = 3650  # a token may live ten years at most; one that should never expire is made without expiry


def create_user(stores: Stores, name: str, *, fullname: str = "", email: str | None = None,
                admin: bool = False, by: Principal | None = None) -> UserRecord:
    check_name_part(name, "user name")
    check_label(fullname, "full name")
    if name.lower() in RESERVED_NAMESPACES:
        raise BadRequest(f"'{name}' is reserved (it is part of inhouse's URLs); choose another user name.")
    with stores.db.write() as conn:
        if store.user_by_name_ci(conn, name) is not None:
            raise Conflict(f"A user or organisation named '{name}' already exists; choose another name.")
        user = store.insert_user(conn, name=name, fullname=fullname or name, email=email, kind="user",
                                 is_admin=admin, now=time.time())
        stores.audit.record(conn, by, Event("user.create", details={"user": name, "admin": admin}))
        return user


def get_user(stores: Stores, name: str) -> UserRecord:
    with stores.db.read() as conn:
        user = store.user_by_name(conn, name)
    if user is None:
        raise NotFound(f"No user named '{name}'; create one with `inhouse users create {name}`.")
    return user


def list_users(stores: Stores) -> list[UserRecord]:
    with stores.db.read() as conn:
        return store.list_users(conn)


def create_token(stores: Stores, user_name: str, *, role: TokenRole, name: str | None = None,
                 expires_in_s: float | None = None, scopes: Sequence[Scope] = (),
                 by: Principal | None = None) -> tuple[TokenRecord, str]:
    """Creates a token and returns it with its secret, which is shown once and stored only hashed. Only a
    fine-grained token keeps `scopes`, and it needs at least one."""
    scopes = tuple(scopes) if role is TokenRole.FINE_GRAINED else ()
    if role is TokenRole.FINE_GRAINED and not scopes:
        raise BadRequest(NEEDS_A_SCOPE)
    if name is not None:
        check_label(name, "token name")
    if expires_in_s is not None and not (0 < expires_in_s <= MAX_TOKEN_DAYS * 86400):  # NaN fails too
        raise BadRequest(f"A token's lifetime must be positive and at most {MAX_TOKEN_DAYS} days; leave the expiry "
                         "out for a token that does not expire.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    with stores.db.write() as conn:
        user = store.user_by_name(conn, user_name)
        if user is None:
            raise NotFound(f"No user named '{user_name}'; create one with `inhouse users create {user_name}`.")
        if user.kind != "user":  # a token of an org would act as the org itself: admin of all its repos
            raise BadRequest(f"'{user_name}' is an organisation: tokens belong to users; create one for a member.")
        if by is not None:
            decide_tokens(by, user.id, manage=True)
        tok = store.insert_token(
            conn, user_id=user.id, name=name or f"{role}-token", role=role, token_hash=hash_token(secret),
            hint=secret[:7], now=now, expires_at=now + expires_in_s if expires_in_s else None, scopes=scopes,
        )
        stores.audit.record(conn, by, Event("token.create", details={
            "user": user_name, "token_id": tok.id, "name": tok.name, "role": role.value,
            "scopes": [s.to_json() for s in scopes],
            "expires_at": tok.expires_at}))
    return tok, secret


def orgs_of(stores: Stores, p: Principal) -> list[tuple[str, str, Role]]:
    """(name, fullname, role) of the caller's organisations."""
    if p.user_id is None:
        return []
    with stores.db.read() as conn:
        return org_store.orgs_of_user(conn, p.user_id)


def list_tokens(stores: Stores, user_name: str, *, by: Principal | None = None) -> list[TokenRecord]:
    user = get_user(stores, user_name)
    if by is not None:
        decide_tokens(by, user.id, manage=False)
    with stores.db.read() as conn:
        return store.tokens_of(conn, user.id)


def revoke_token(stores: Stores, token_id: int, *, by: Principal | None = None) -> None:
    with stores.db.write() as conn:
        tok = store.token_by_id(conn, token_id)
        if tok is None or (by is not None and not by.is_admin and by.user_id != tok.user_id):
            raise NotFound(f"No token with id {token_id} among yours; list them with `GET /api/tokens` "
                           "(or `inhouse tokens list --user NAME`).")
        if by is not None:
            decide_tokens(by, tok.user_id, manage=True)
        store.revoke_token(conn, token_id, time.time())
        stores.audit.record(conn, by, Event("token.revoke", details={"token_id": token_id}))
