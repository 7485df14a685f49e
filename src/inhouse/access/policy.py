"""THE permission check. Every endpoint asks here, with the caller and the repo it touches."""

from __future__ import annotations

from enum import Enum

from inhouse.access.identity import Principal
from inhouse.errors import Forbidden, RepoNotFound, Unauthorized
from inhouse.storage.db.records import RepoRecord


class Action(str, Enum):
    READ = "read"  # info, tree, download, refs, commits
    WRITE = "write"  # commit, branches, tags, LFS upload
    MANAGE = "manage"  # settings, move, delete


def _is_owner(p: Principal, repo: RepoRecord) -> bool:
    return p.user_id is not None and p.user_id == repo.owner_id


def can_read(p: Principal, repo: RepoRecord) -> bool:
    return not repo.private or p.is_admin or _is_owner(p, repo)


def authorize(p: Principal, action: Action, repo: RepoRecord) -> None:
    """Raises unless `p` may do `action` on `repo`. A repo the caller cannot read does not exist for them."""
    if not can_read(p, repo):
        raise RepoNotFound(anonymous=p.anonymous)
    if action is Action.READ:
        return
    if p.anonymous:
        raise Unauthorized(
            f"Authentication required to change {repo.repo_id}: pass a write token "
            "(`inhouse tokens create --user NAME --role write`)."
        )
    if not (p.is_admin or _is_owner(p, repo)):
        raise Forbidden(f"You don't have write access to {repo.repo_id}; ask its owner for access.")
    if not p.can_write:
        raise Forbidden(
            f"Your token '{p.token_name}' is read-only: use a write token to change {repo.repo_id}."
        )


def authorize_create(p: Principal, namespace: str) -> None:
    """May `p` create a repo under `namespace`?"""
    if p.anonymous:
        raise Unauthorized("Authentication required to create a repo: pass a write token.")
    if not p.can_write:
        raise Forbidden(f"Your token '{p.token_name}' is read-only: use a write token to create repos.")
    if namespace != p.name and not p.is_admin:
        raise Forbidden(f"You cannot create repos under '{namespace}': use your own namespace '{p.name}'.")
