"""Users and their access tokens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from inhouse.access.identity import TOKEN_PREFIX, Principal, hash_token
from inhouse.access.policy import OrgAction, can_see, decide_org, decide_tokens
from inhouse.errors import BadRequest, Conflict, NotFound, Unauthorized
from inhouse.names import RESERVED_NAMESPACES, check_label, check_name_part
from inhouse.audit.log import Event
from inhouse.services import likes
from inhouse.services.context import Stores
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as store
from inhouse.storage.db.records import RepoRecord, TokenRecord, UserRecord
from inhouse.vocabulary import NEEDS_A_SCOPE, RepoType, Role, Scope, TokenRole

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


# overview and repositories (get_user_overview, list_user_repos) ----------------------------------------------------

MAX_OVERVIEW_SCAN = 10_000  # repos (or likes) a fine-grained token's overview looks through per count


@dataclass(frozen=True)
class Overview:
    user: UserRecord
    num_repos: dict[RepoType, int]  # among those the caller may see
    num_likes: int  # likes of repos the caller may see
    orgs: list[tuple[str, str]]  # (name, fullname)


def overview(stores: Stores, principal: Principal, name: str) -> Overview:
    """What anyone may know about a user: their names, organisations, and how many repos and likes of theirs the
    caller may see (a private repo counts only for callers who may see it)."""
    with stores.db.read() as conn:
        user = store.user_by_name(conn, name)
        if user is None or user.kind != "user":
            raise NotFound(f"No user named '{name}' (an organisation's overview is "
                           f"`GET /api/organizations/{name}/overview`).")
        orgs = [(n, f) for n, f, _ in org_store.orgs_of_user(conn, user.id)]
        counts = visible_repo_counts(conn, principal, user)
    liked, _ = likes.liked_repos(stores, principal, user.name, offset=0, limit=MAX_OVERVIEW_SCAN)
    return Overview(user, counts, len(liked), orgs)


def visible_repo_counts(conn: Connection, principal: Principal, owner: UserRecord) -> dict[RepoType, int]:
    """How many repos of each type a user or organisation owns that the caller may see (a user's and an
    organisation's overview)."""
    if principal.role is not TokenRole.FINE_GRAINED:
        return repo_store.count_repos(conn, namespace=owner.name, visible_to=principal.user_id,
                                      is_admin=principal.is_admin, org_ids=list(principal.org_roles),
                                      group_ids=list(principal.group_roles))
    counts: dict[RepoType, int] = {}
    for r in repo_store.repos_of_owner(conn, owner.id, limit=MAX_OVERVIEW_SCAN, offset=0):
        if can_see(principal, r):
            counts[r.type] = counts.get(r.type, 0) + 1
    return counts


def org_repo_counts(stores: Stores, principal: Principal, name: str) -> dict[RepoType, int]:
    """`numModels`, `numDatasets`, `numSpaces` of an organisation's overview: its repos the caller may see."""
    with stores.db.read() as conn:
        org = store.user_by_name(conn, name) or store.user_by_name_ci(conn, name)
        if org is None or org.kind != "org":
            raise NotFound(f"No organisation named '{name}'.")
        return visible_repo_counts(conn, principal, org)


@dataclass(frozen=True)
class StoredRepo:
    repo: RepoRecord
    storage: int  # bytes of the large files it holds


def repositories(stores: Stores, principal: Principal, namespace: str | None, *, offset: int, limit: int
                 ) -> tuple[list[StoredRepo], int, bool]:
    """A page of the repos a namespace owns with the bytes each stores (`list_user_repos`): the caller's own
    (namespace None), or an organisation's, to its members. Returns the page, the namespace's total bytes and
    whether more follow."""
    if principal.user_id is None:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    with stores.db.read() as conn:
        me = store.user_by_id(conn, principal.user_id)
        assert me is not None
        if namespace is None or namespace.lower() == me.name.lower():  # the client names the caller this way too
            owner = me
        else:
            org = store.user_by_name(conn, namespace) or store.user_by_name_ci(conn, namespace)
            if org is None or org.kind != "org":
                raise NotFound(f"No organisation named '{namespace}'; your own repos are "
                               "`GET /api/settings/repositories`.")
            role = org_store.member_role(conn, org.id, principal.user_id)
            decide_org(principal, OrgAction.VIEW, org.name, role=role)
            owner = org
        page: list[RepoRecord] = []
        raw = 0
        while len(page) <= offset + limit and raw < MAX_OVERVIEW_SCAN * 10:
            batch = repo_store.repos_of_owner(conn, owner.id, limit=1000, offset=raw)
            if not batch:
                break
            raw += len(batch)
            page.extend(r for r in batch if can_see(principal, r))
        more = len(page) > offset + limit
        page = page[offset : offset + limit]
        sizes = repo_store.large_file_bytes(conn, [r.id for r in page])
        total = repo_store.namespace_large_file_bytes(conn, owner.id)
    return [StoredRepo(r, sizes.get(r.id, 0)) for r in page], total, more
