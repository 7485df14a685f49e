"""Likes: a user's mark on a repo (`HfApi.unlike`, `list_liked_repos`, `list_repo_likers`, and the like the Hub's web
page sends). Everyone sees who liked what, but only among the repos they may see: a private repo never shows in
another caller's listing, and its likers are answered only to those who may see it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from inhouse.access.identity import Principal
from inhouse.access.policy import AccountAction, Action, authorize_account, can_see
from inhouse.audit.log import Event
from inhouse.errors import NotFound
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import likes as store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.likes import Liker
from inhouse.storage.db.records import RepoRecord

__all__ = ["Liked", "Liker", "like", "liked_repos", "likers", "unlike"]

MAX_SCAN = 100_000  # likes one listing looks through at most (the caller may see only some of them)
BATCH = 1000


@dataclass(frozen=True)
class Liked:
    repo: RepoRecord
    liked_at: float


def like(stores: Stores, principal: Principal, name: RepoName) -> bool:
    """Likes a repo the caller may see (audited as repo.like); False when they already liked it."""
    user_id = authorize_account(principal, AccountAction.LIKE)
    repo = repo_access.load(stores, principal, name, Action.READ)
    with stores.db.write() as conn:
        added = store.add_like(conn, repo.id, user_id, time.time())
        if added:
            stores.audit.record(conn, principal, Event("repo.like", repo))
    return added


def unlike(stores: Stores, principal: Principal, name: RepoName) -> bool:
    """Takes the caller's like back (audited as repo.unlike); False when there was none."""
    user_id = authorize_account(principal, AccountAction.LIKE)
    repo = repo_access.load(stores, principal, name, Action.READ)
    with stores.db.write() as conn:
        removed = store.remove_like(conn, repo.id, user_id)
        if removed:
            stores.audit.record(conn, principal, Event("repo.unlike", repo))
    return removed


def liked_repos(stores: Stores, principal: Principal, user_name: str, *, offset: int, limit: int
                ) -> tuple[list[Liked], bool]:
    """A page of the repos `user_name` liked that the caller may see, newest like first, and whether more follow."""
    with stores.db.read() as conn:
        user = user_store.user_by_name(conn, user_name)
    if user is None:
        raise NotFound(f"No user named '{user_name}'.")
    visible: list[Liked] = []
    raw = 0
    while len(visible) <= offset + limit and raw < MAX_SCAN:
        with stores.db.read() as conn:
            batch = store.liked_repos(conn, user.id, limit=BATCH, offset=raw)
        if not batch:
            break
        raw += len(batch)
        visible.extend(Liked(r, at) for r, at in batch if can_see(principal, r))
    return visible[offset : offset + limit], len(visible) > offset + limit


def likers(stores: Stores, principal: Principal, name: RepoName, *, offset: int, limit: int
           ) -> tuple[list[Liker], bool]:
    """A page of the users who liked a repo the caller may see (audited as repo.likers on a private or gated repo),
    newest first, and whether more follow."""
    repo = repo_access.load(stores, principal, name, Action.READ)
    repo_access.audit_read(stores, principal, repo, "repo.likers")
    with stores.db.read() as conn:
        found = store.likers(conn, repo.id, limit=limit + 1, offset=offset)
    return found[:limit], len(found) > limit
