"""Repo lifecycle: create (with the initial .gitattributes commit), find, settings, move, delete, list."""

from __future__ import annotations

import time
from dataclasses import dataclass

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, authorize, authorize_create, can_see
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, InhouseError, RepoNotFound
from inhouse.names import check_repo_id, check_repo_type
from inhouse.services.commits import AddFile, write_commit, signature_for
from inhouse.services.context import Stores
from inhouse.services.gitattributes import default_gitattributes
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.records import RepoRecord

VISIBILITIES = ("public", "private")
MAX_SCOPED_SCAN = 100_000  # rows a fine-grained listing looks through at most
GATED = ("auto", "manual")


@dataclass(frozen=True)
class Found:
    repo: RepoRecord
    moved: bool  # asked for by an old name: answer with a redirect to the new one


def find(stores: Stores, principal: Principal, repo_type: str, namespace: str, name: str,
         action: Action = Action.READ) -> Found:
    """The repo, if it exists and the caller may do `action` on it; otherwise RepoNotFound (or Forbidden)."""
    with stores.db.read() as conn:
        hit = store.find_repo(conn, repo_type, namespace, name)
    if hit is None:
        raise RepoNotFound(anonymous=principal.anonymous)
    repo, moved = hit
    authorize_audited(stores, principal, action, repo)
    return Found(repo, moved)


def authorize_audited(stores: Stores, principal: Principal, action: Action, repo: RepoRecord) -> None:
    """`authorize`; a refusal on a private or gated repo is audited (attempts on protected artifacts are evidence
    too)."""
    try:
        authorize(stores.db, principal, action, repo)
    except InhouseError as e:
        if repo.private or repo.gated:
            stores.audit.record_now(stores.db, principal, Event(f"access.{action.value}", repo, outcome="denied",
                                                                details={"error": e.code}))
        raise


def _owner(conn, namespace: str):  # type: ignore[no-untyped-def]
    owner = user_store.user_by_name(conn, namespace)
    if owner is None:
        raise BadRequest(f"There is no user or organisation named '{namespace}'.")
    return owner


def create(stores: Stores, principal: Principal, *, repo_type: str | None, namespace: str | None, name: str,
           private: bool = False) -> RepoRecord:
    repo_type = check_repo_type(repo_type)
    namespace = namespace or principal.name or ""
    check_repo_id(namespace, name)
    now = time.time()
    with stores.db.write() as conn:
        owner = _owner(conn, namespace)
        authorize_create(principal, namespace, owner_id=owner.id, owner_kind=owner.kind)
        if store.name_taken(conn, repo_type, namespace, name):
            raise Conflict(f"You already created this {repo_type} repo: {namespace}/{name}")
        repo_id = store.insert_repo(conn, type=repo_type, namespace=namespace, name=name, owner_id=owner.id,
                                    private=private, now=now, created_by=principal.user_id)
        repo = store.repo_by_id(conn, repo_id)
        assert repo is not None
        sha = write_commit(
            stores, conn, repo, base=None,
            ops=[AddFile(".gitattributes", default_gitattributes(repo_type).encode())],
            message="initial commit\n", author=signature_for(principal, now),
        )
        store.create_ref(conn, repo_id, f"refs/heads/{DEFAULT_BRANCH}", sha, now)
        store.update_repo(conn, repo_id, head_sha=sha)
        stores.audit.record(conn, principal, Event("repo.create", repo, revision="main",
                                                   details={"private": private, "commit": sha}))
        return store.repo_by_id(conn, repo_id)  # type: ignore[return-value]


def delete(stores: Stores, principal: Principal, repo_type: str | None, namespace: str, name: str) -> None:
    repo_type = check_repo_type(repo_type)
    found = find(stores, principal, repo_type, namespace, name, Action.MANAGE)
    if found.moved:
        raise RepoNotFound(anonymous=principal.anonymous)
    with stores.db.write() as conn:
        store.delete_repo(conn, found.repo.id)
        stores.audit.record(conn, principal, Event("repo.delete", found.repo))


def move(stores: Stores, principal: Principal, repo_type: str | None, from_id: str, to_id: str) -> RepoRecord:
    repo_type = check_repo_type(repo_type)
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
        return store.repo_by_id(conn, found.repo.id)  # type: ignore[return-value]


def update_settings(stores: Stores, principal: Principal, repo: RepoRecord, *, private: bool | None = None,
                    gated: str | bool | None = None) -> RepoRecord:
    authorize(stores.db, principal, Action.MANAGE, repo)
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
        return store.repo_by_id(conn, repo.id)  # type: ignore[return-value]


def note_read(stores: Stores, principal: Principal, repo: RepoRecord, action: str, *,
              revision: str | None = None, path: str | None = None) -> None:
    """Reads of private and gated artifacts are audited (who, which token, what, from where)."""
    if repo.private or repo.gated:
        stores.audit.record_now(stores.db, principal, Event(action, repo, revision=revision, path=path))


def search(stores: Stores, principal: Principal, *, repo_type: str, search: list[str], author: str | None,
           tags: list[str], sort: str, descending: bool, limit: int, offset: int) -> list[RepoRecord]:
    def query(lim: int, off: int) -> list[RepoRecord]:
        with stores.db.read() as conn:
            return store.search_repos(
                conn, type=repo_type, visible_to=principal.user_id, is_admin=principal.is_admin,
                org_ids=list(principal.org_roles), group_ids=list(principal.group_roles), search=search,
                author=author, tags=tags, sort=sort, descending=descending, limit=lim, offset=off,
            )

    if principal.role != "fine-grained":
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
