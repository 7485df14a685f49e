"""Duplicating a repo (a fork): a new repo with the same branches, tags and history, sharing storage.

Git objects are stored once, by sha, for every repo; the fork is given the source's branches and tags (same
targets), the commits they reach (so they resolve in it) and the large files the source holds (linked, not
copied: both repos hold the same stored content, which stays while either does). Pull requests and discussions
are not copied, as on the Hub. From then on the two histories are independent.
"""

from __future__ import annotations

import time

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, authorize_create
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, RepoExists
from inhouse.names import check_repo_id
from inhouse.services import history, repo_access
from inhouse.services.commits import after_branch_update
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import history as history_store
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.records import RepoRecord

VISIBILITIES = ("public", "private", "protected")


def parse_target(value: object, default_namespace: str | None) -> tuple[str, str]:
    if not isinstance(value, str):
        raise BadRequest("'repository' is required: the new repo's id, 'namespace/name'.")
    parts = value.split("/")
    if len(parts) == 1 and default_namespace:
        parts = [default_namespace, parts[0]]
    if len(parts) != 2:
        raise BadRequest("'repository' must look like 'namespace/name'.")
    return check_repo_id(parts[0], parts[1])


def duplicate(stores: Stores, p: Principal, source: RepoName, target: str, *, visibility: str | None = None
              ) -> RepoRecord:
    """Creates the repo `target` ('namespace/name', same type) as a copy of `source`, for a caller who may download
    `source` and create repos in the target namespace; private like the source unless `visibility` says.
    Audited as repo.duplicate on the new repo."""
    if visibility is not None and visibility not in VISIBILITIES:
        raise BadRequest("'visibility' must be \"public\" or \"private\".")
    namespace, name = parse_target(target, p.name)
    src = repo_access.load(stores, p, source, Action.DOWNLOAD, follow_moves=False)
    private = src.private if visibility is None else visibility != "public"
    now = time.time()
    with stores.db.write() as conn:
        owner = user_store.user_by_name(conn, namespace) or user_store.user_by_name_ci(conn, namespace)
        if owner is None:
            raise BadRequest(f"There is no user or organisation named '{namespace}'.")
        namespace = owner.name  # any casing names the owner; the repo keeps the owner's own
        authorize_create(p, namespace, owner_id=owner.id, owner_kind=owner.kind)
        if repo_store.name_taken(conn, src.type, namespace, name):
            raise RepoExists(f"You already created this {src.type} repo: {namespace}/{name}",
                             url_path=f"{src.type.url_prefix}{namespace}/{name}")
        repo_id = repo_store.insert_repo(conn, type=src.type, namespace=namespace, name=name, owner_id=owner.id,
                                         private=private, now=now, created_by=p.user_id)
        copied = history_store.copy_refs(conn, src.id, repo_id, ("refs/heads/", "refs/tags/"), now)
        commits = history.reachable(stores, conn, [t for _, t in copied])
        history_store.add_commits(conn, repo_id, sorted(commits))
        files = lfs_store.copy_repo_objects(conn, src.id, repo_id)
        xet_store.copy_repo_xorbs(conn, src.id, repo_id, now)
        repo = repo_store.repo_by_id(conn, repo_id)
        assert repo is not None
        head = repo_store.get_ref(conn, repo_id, f"refs/heads/{DEFAULT_BRANCH}")
        if head is not None:
            after_branch_update(stores, conn, repo, f"refs/heads/{DEFAULT_BRANCH}", head, now, None)
        stores.audit.record(conn, p, Event("repo.duplicate", repo, details={
            "from": src.repo_id, "from_type": src.type.value, "private": private, "refs": len(copied),
            "commits": len(commits), "large_files": files}))
        out = repo_store.repo_by_id(conn, repo_id)
        assert out is not None
        return out
