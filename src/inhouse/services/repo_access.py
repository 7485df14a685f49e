"""Which repo a request names, for whom: every use case on one repo starts here.

`load` finds the repo a request names, if the caller may do the use case's action on it (a refusal on a private or
gated repo is audited: attempts on protected artifacts are evidence too), and raises RepoMoved when it was asked for
by a name it had before a move. `audit_read` records the read of a private or gated repo, inside the use case,
never in the web layer: a handler cannot forget it.
"""

from __future__ import annotations

from dataclasses import dataclass

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, authorize
from inhouse.audit.log import Event
from inhouse.errors import InhouseError, RepoMoved, RepoNotFound
from inhouse.names import check_revision
from inhouse.services.context import Stores
from inhouse.storage.db import repos as store
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import RepoType


@dataclass(frozen=True)
class RepoName:
    """A repo as a request names it: its type, and the namespace and name it is asked for by (maybe old ones)."""

    type: RepoType
    namespace: str
    name: str


@dataclass(frozen=True)
class Found:
    repo: RepoRecord
    moved: bool  # asked for by an old name: answer with a redirect to the new one


def find(stores: Stores, principal: Principal, repo_type: RepoType, namespace: str, name: str,
         action: Action = Action.READ, *, metadata_only: bool = False) -> Found:
    """The repo, if it exists and the caller may do `action` on it; otherwise RepoNotFound (or Forbidden).
    `metadata_only`: a download of a file's metadata, not its bytes (access/policy.decide)."""
    with stores.db.read() as conn:
        hit = store.find_repo(conn, repo_type, namespace, name)
    if hit is None:
        raise RepoNotFound(anonymous=principal.anonymous)
    repo, moved = hit
    authorize_audited(stores, principal, action, repo, metadata_only=metadata_only)
    return Found(repo, moved)


def load(stores: Stores, principal: Principal, name: RepoName, action: Action = Action.READ, *,
         follow_moves: bool = True, metadata_only: bool = False) -> RepoRecord:
    """The repo `name` names, once the caller is allowed `action` on it (`find`). Asked for by a name it had before
    a move: RepoMoved with its id now when `follow_moves` (reads: the client asks again there), else the repo."""
    found = find(stores, principal, name.type, name.namespace, name.name, action, metadata_only=metadata_only)
    if found.moved and follow_moves:
        raise RepoMoved(found.repo.repo_id)
    return found.repo


def authorize_audited(stores: Stores, principal: Principal, action: Action, repo: RepoRecord, *,
                      metadata_only: bool = False) -> None:
    """`authorize`; a refusal on a private or gated repo is audited (attempts on protected artifacts are evidence
    too)."""
    try:
        authorize(stores.db, principal, action, repo, metadata_only=metadata_only)
    except InhouseError as e:
        if repo.private or repo.gated:
            stores.audit.record_now(stores.db, principal, Event(f"access.{action.value}", repo, outcome="denied",
                                                                details={"error": e.code}))
        raise


def audit_read(stores: Stores, principal: Principal, repo: RepoRecord, action: str, *,
               revision: str | None = None, path: str | None = None,
               details: dict[str, object] | None = None) -> None:
    """Reads of private and gated artifacts are audited (who, which token, what, from where); public ones are not.
    A revision no ref can have is refused (400) before its entry is written."""
    if revision is not None:
        check_revision(revision)
    if repo.private or repo.gated:
        stores.audit.record_now(stores.db, principal, Event(action, repo, revision=revision, path=path,
                                                            details=dict(details or {})))
