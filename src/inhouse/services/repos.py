"""Repo lifecycle: create (with the initial .gitattributes commit), settings, move, delete, list. Finding the repo
a request names for a caller is services/repo_access.py."""

from __future__ import annotations

import time

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, authorize_create, can_see
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, RepoExists, RepoNotFound
from inhouse.names import check_repo_id
from inhouse.services.commits import AddFile, write_commit, signature_for
from inhouse.services.context import Stores
from inhouse.services.repo_access import Found, RepoName, authorize_audited, find, load

__all__ = ["Found", "RepoName", "authorize_audited", "find", "load"]  # where callers have found them
from inhouse.services.gitattributes import default_gitattributes
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.records import RepoRecord, UserRecord
from inhouse.vocabulary import RepoType, TokenRole

MAX_SCOPED_SCAN = 100_000  # rows a fine-grained listing looks through at most
GATED = ("auto", "manual")


def _owner(conn: Connection, namespace: str) -> UserRecord:
    owner = user_store.user_by_name(conn, namespace)
    if owner is None:
        raise BadRequest(f"There is no user or organisation named '{namespace}'.")
    return owner


def _current(conn: Connection, repo_id: int) -> RepoRecord:
    """The repo as this write transaction left it (the transaction holds its row, so it is there)."""
    repo = store.repo_by_id(conn, repo_id)
    assert repo is not None, repo_id
    return repo


def create(stores: Stores, principal: Principal, *, repo_type: RepoType, namespace: str | None, name: str,
           private: bool = False) -> RepoRecord:
    namespace = namespace or principal.name or ""
    check_repo_id(namespace, name)
    now = time.time()
    with stores.db.write() as conn:
        owner = _owner(conn, namespace)
        authorize_create(principal, namespace, owner_id=owner.id, owner_kind=owner.kind)
        if store.name_taken(conn, repo_type, namespace, name):
            raise RepoExists(f"You already created this {repo_type} repo: {namespace}/{name}",
                             url_path=f"{repo_type.url_prefix}{namespace}/{name}")
        repo_id = store.insert_repo(conn, type=repo_type, namespace=namespace, name=name, owner_id=owner.id,
                                    private=private, now=now, created_by=principal.user_id)
        repo = _current(conn, repo_id)
        sha = write_commit(
            stores, conn, repo, base=None,
            ops=[AddFile(".gitattributes", default_gitattributes(repo_type).encode())],
            message="initial commit\n", author=signature_for(principal, now),
        )
        store.create_ref(conn, repo_id, f"refs/heads/{DEFAULT_BRANCH}", sha, now)
        store.update_repo(conn, repo_id, head_sha=sha)
        stores.audit.record(conn, principal, Event("repo.create", repo, revision="main",
                                                   details={"private": private, "commit": sha}))
        return _current(conn, repo_id)


def delete(stores: Stores, principal: Principal, repo_type: RepoType, namespace: str, name: str) -> None:
    found = find(stores, principal, repo_type, namespace, name, Action.MANAGE)
    if found.moved:
        raise RepoNotFound(anonymous=principal.anonymous)
    with stores.db.write() as conn:
        store.delete_repo(conn, found.repo.id)
        stores.audit.record(conn, principal, Event("repo.delete", found.repo))


def move(stores: Stores, principal: Principal, repo_type: RepoType, from_id: str, to_id: str) -> RepoRecord:
    src = from_id.split("/")
    dst = to_id.split("/")
    if len(src) != 2 or len(dst) != 2:
        raise BadRequest("Both fromRepo and toRepo must look like 'namespace/name'.")
    check_repo_id(*dst)
    found = find(stores, principal, repo_type, src[0], src[1], Action.MANAGE)
    if found.moved:
        raise RepoNotFound(anonymous=principal.anonymous)
    with stores.db.write() as conn:
        owner = _owner(conn, dst[0])
        if dst[0] != found.repo.namespace:
            authorize_create(principal, dst[0], owner_id=owner.id, owner_kind=owner.kind)
        if store.name_taken(conn, repo_type, dst[0], dst[1]):
            raise Conflict(f"A {repo_type} repository called {to_id} already exists; choose another name.")
        store.move_repo(conn, found.repo, dst[0], dst[1])
        store.update_repo(conn, found.repo.id, owner_id=owner.id)
        if owner.id != found.repo.owner_id:  # a resource group holds only its own organisation's repos
            org_store.set_repo_group(conn, found.repo.id, None)
        stores.audit.record(conn, principal, Event("repo.move", found.repo, details={"to": to_id}))
        return _current(conn, found.repo.id)


def update_settings(stores: Stores, principal: Principal, name: RepoName, *, private: bool | None = None,
                    gated: str | bool | None = None) -> RepoRecord:
    """Changes visibility and gating; admins of the repo only (a refusal on a private or gated repo is audited)."""
    repo = load(stores, principal, name, Action.MANAGE, follow_moves=False)
    values: dict[str, object] = {}
    if private is not None:
        values["private"] = bool(private)
    if gated is not None:
        if gated is False or gated == "false":
            values["gated"] = None
        elif gated in GATED:
            values["gated"] = gated
        else:
            raise BadRequest(f"Invalid 'gated' value {gated!r}: use \"auto\", \"manual\" or false.")
    with stores.db.write() as conn:
        if values:
            store.update_repo(conn, repo.id, **values)
            stores.audit.record(conn, principal, Event("repo.settings", repo, details=dict(values)))
        return _current(conn, repo.id)


def search(stores: Stores, principal: Principal, *, repo_type: RepoType, search: list[str], author: str | None,
           tags: list[str], sort: str, descending: bool, limit: int, offset: int) -> list[RepoRecord]:
    def query(lim: int, off: int) -> list[RepoRecord]:
        with stores.db.read() as conn:
            return store.search_repos(
                conn, type=repo_type, visible_to=principal.user_id, is_admin=principal.is_admin,
                org_ids=list(principal.org_roles), group_ids=list(principal.group_roles), search=search,
                author=author, tags=tags, sort=sort, descending=descending, limit=lim, offset=off,
            )

    if principal.role is not TokenRole.FINE_GRAINED:
        return query(limit, offset)
    # A scoped token sees fewer private repos than its user's memberships: filter, then page over what it sees,
    # so that pages are full and the cursor counts visible repos only.
    visible: list[RepoRecord] = []
    raw = 0
    while len(visible) < offset + limit and raw < MAX_SCOPED_SCAN:
        batch = query(1000, raw)
        if not batch:
            break
        raw += len(batch)
        visible.extend(r for r in batch if can_see(principal, r))
    return visible[offset : offset + limit]
