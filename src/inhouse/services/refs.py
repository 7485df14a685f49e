"""Branches, tags and the refs listing."""

from __future__ import annotations

import time
from dataclasses import dataclass

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, Forbidden, RevisionNotFound
from inhouse.names import check_ref_name
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.governance import held
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH, resolve
from inhouse.storage.db import repos as store
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import PRODUCTION_TAG


@dataclass(frozen=True)
class RefList:
    branches: list[tuple[str, str]]  # (name, target)
    tags: list[tuple[str, str]]
    converts: list[tuple[str, str]]
    pull_requests: list[tuple[str, str]]  # (ref, target)


def read_refs(stores: Stores, p: Principal, name: RepoName) -> RefList:
    """The repo's branches, tags, conversions and pull requests, for a caller who may see it; audited as repo.refs
    on a private or gated repo."""
    repo = repo_access.load(stores, p, name)
    repo_access.audit_read(stores, p, repo, "repo.refs")
    return list_refs(stores, repo)


def list_refs(stores: Stores, repo: RepoRecord) -> RefList:
    with stores.db.read() as conn:
        refs = store.list_refs(conn, repo.id)
    out = RefList([], [], [], [])
    for name, target in refs:
        if name.startswith("refs/heads/"):
            out.branches.append((name[len("refs/heads/"):], target))
        elif name.startswith("refs/tags/"):
            out.tags.append((name[len("refs/tags/"):], target))
        elif name.startswith("refs/convert/"):
            out.converts.append((name[len("refs/convert/"):], target))
        elif name.startswith("refs/pr/"):
            out.pull_requests.append((name, target))
    out.pull_requests.sort(key=lambda r: int(r[0].rsplit("/", 1)[1]))
    return out


def _refuse_production(repo: RepoRecord, name: str, what: str) -> None:
    """The tag `production` is moved only by an approved promotion (services/governance/lifecycle.py); a branch of
    that name would shadow it (a revision names a branch before a tag)."""
    if name == PRODUCTION_TAG:
        raise Forbidden(f"The {what} '{PRODUCTION_TAG}' is reserved: the tag is moved only by an approved promotion "
                        f"(POST /api/models/{repo.repo_id}/promotions).")


def create_branch(stores: Stores, p: Principal, name: RepoName, branch: str,
                  starting_point: str | None = None) -> str:
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    check_ref_name(branch, "branch")
    _refuse_production(repo, branch, "branch name")
    with stores.db.read() as conn:  # a commit held for approval does not reach a branch this way (governance)
        start = resolve(conn, repo, starting_point or DEFAULT_BRANCH).commit
    held.refuse_held(stores, p, repo, f"refs/heads/{branch}", start, trigger="branch")
    with stores.db.write() as conn:
        ref = f"refs/heads/{branch}"
        if store.get_ref(conn, repo.id, ref) is not None:
            raise Conflict(f"Reference {ref} already exists")
        target = resolve(conn, repo, starting_point or DEFAULT_BRANCH).commit
        store.create_ref(conn, repo.id, ref, target, time.time())
        store.update_repo(conn, repo.id, last_modified=time.time())
        stores.audit.record(conn, p, Event("branch.create", repo, revision=ref, details={"target": target}))
        return target


def delete_branch(stores: Stores, p: Principal, name: RepoName, branch: str) -> None:
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    if branch == DEFAULT_BRANCH:
        raise BadRequest(f"Cannot delete refs/heads/{DEFAULT_BRANCH}: it is the default branch.")
    with stores.db.write() as conn:
        if not store.delete_ref(conn, repo.id, f"refs/heads/{branch}"):
            raise RevisionNotFound(f"Invalid rev id: {branch}")
        stores.audit.record(conn, p, Event("branch.delete", repo, revision=f"refs/heads/{branch}"))


def create_tag(stores: Stores, p: Principal, name: RepoName, revision: str, tag: str) -> str:
    """A lightweight tag (the Hub client's tag message is not kept) on `revision`; returns the commit it names.
    As on the Hub, a revision the repo lacks is RevisionNotFound before the tag's name is looked at."""
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    with stores.db.read() as conn:  # a commit held for approval does not reach a tag this way (governance)
        start = resolve(conn, repo, revision).commit
    held.refuse_held(stores, p, repo, f"refs/tags/{tag}", start, trigger="tag")
    with stores.db.write() as conn:
        target = resolve(conn, repo, revision).commit
        check_ref_name(tag, "tag")
        _refuse_production(repo, tag, "tag")
        ref = f"refs/tags/{tag}"
        if store.get_ref(conn, repo.id, ref) is not None:
            raise Conflict(f"Tag {tag} already exists")
        store.create_ref(conn, repo.id, ref, target, time.time())
        stores.audit.record(conn, p, Event("tag.create", repo, revision=ref, details={"target": target}))
        return target


def delete_tag(stores: Stores, p: Principal, name: RepoName, tag: str) -> None:
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    _refuse_production(repo, tag, "tag")
    with stores.db.write() as conn:
        if not store.delete_ref(conn, repo.id, f"refs/tags/{tag}"):
            raise RevisionNotFound(f"Invalid rev id: {tag}")
        stores.audit.record(conn, p, Event("tag.delete", repo, revision=f"refs/tags/{tag}"))
