"""Queries on users and tokens."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from inhouse.storage.db.records import TokenRecord, UserRecord
from inhouse.storage.db.schema import tokens, users
from inhouse.vocabulary import Scope, TokenRole


def _user(row: Any) -> UserRecord:
    m = row._mapping
    return UserRecord(m["id"], m["name"], m["fullname"], m["email"], m["kind"], bool(m["is_admin"]), m["created_at"])


def _token(row: Any) -> TokenRecord:
    m = row._mapping
    return TokenRecord(
        m["id"], m["user_id"], m["name"], TokenRole(m["role"]), m["hint"], m["created_at"], m["expires_at"],
        m["revoked_at"], m["last_used_at"], tuple(Scope.parse(s) for s in json.loads(m["scopes"] or "[]")),
    )


def insert_user(conn: Connection, *, name: str, fullname: str, email: str | None, kind: str, is_admin: bool,
                now: float) -> UserRecord:
    uid = conn.execute(
        insert(users).values(name=name, fullname=fullname, email=email, kind=kind, is_admin=is_admin, created_at=now).returning(users.c.id)
    ).scalar_one()
    return UserRecord(uid, name, fullname, email, kind, is_admin, now)


def user_by_name(conn: Connection, name: str) -> UserRecord | None:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    return _user(row) if row else None


def user_by_name_ci(conn: Connection, name: str) -> UserRecord | None:
    # compare lowered names, not ILIKE: "_" in a name is a character, not a wildcard
    row = conn.execute(select(users).where(func.lower(users.c.name) == name.lower())).first()
    return _user(row) if row else None


def user_by_id(conn: Connection, uid: int) -> UserRecord | None:
    row = conn.execute(select(users).where(users.c.id == uid)).first()
    return _user(row) if row else None


def default_private(conn: Connection, uid: int) -> bool | None:
    """An organisation's "new repos are private" setting (None: the site-wide default applies)."""
    value = conn.execute(select(users.c.default_private).where(users.c.id == uid)).scalar()
    return None if value is None else bool(value)


def set_default_private(conn: Connection, uid: int, value: bool | None) -> None:
    conn.execute(update(users).where(users.c.id == uid).values(default_private=value))


def list_users(conn: Connection) -> list[UserRecord]:
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]


def insert_token(conn: Connection, *, user_id: int, name: str, role: TokenRole, token_hash: str, hint: str,
                 now: float, expires_at: float | None, scopes: tuple[Scope, ...] = ()) -> TokenRecord:
    stored = json.dumps([s.to_json() for s in scopes]) if scopes else None
    tid = conn.execute(
        insert(tokens).values(user_id=user_id, name=name, role=role.value, token_hash=token_hash, hint=hint,
                              created_at=now, expires_at=expires_at, scopes=stored).returning(tokens.c.id)
    ).scalar_one()
    return TokenRecord(tid, user_id, name, role, hint, now, expires_at, None, None, scopes)


def token_by_hash(conn: Connection, token_hash: str) -> tuple[TokenRecord, UserRecord] | None:
    row = conn.execute(select(tokens).where(tokens.c.token_hash == token_hash)).first()
    if row is None:
        return None
    tok = _token(row)
    user = user_by_id(conn, tok.user_id)
    return (tok, user) if user else None


def tokens_of(conn: Connection, user_id: int) -> list[TokenRecord]:
    return [_token(r) for r in conn.execute(select(tokens).where(tokens.c.user_id == user_id).order_by(tokens.c.id))]


def token_by_id(conn: Connection, token_id: int) -> TokenRecord | None:
    row = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
    return _token(row) if row else None


def revoke_token(conn: Connection, token_id: int, now: float) -> bool:
    res = conn.execute(
        update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return res.rowcount > 0


def touch_token(conn: Connection, token_id: int, now: float) -> None:
    conn.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=now))
