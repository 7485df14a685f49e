"""Turning a revision a user gives (branch, tag, sha, short sha, refs/pr/N) into a commit of the repo."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from inhouse.errors import RevisionNotFound
from inhouse.names import check_revision, is_commit_sha, is_short_sha
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord

DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class Resolved:
    commit: str
    ref: str | None  # full ref name when the revision named a ref


def resolve(conn: Connection, repo: RepoRecord, revision: str | None) -> Resolved:
    rev = check_revision(revision or DEFAULT_BRANCH)
    candidates = [rev] if rev.startswith("refs/") else [f"refs/heads/{rev}", f"refs/tags/{rev}"]
    for ref in candidates:
        target = repo_store.get_ref(conn, repo.id, ref)
        if target is not None:
            return Resolved(target, ref)
    if is_commit_sha(rev) and repo_store.repo_has_commit(conn, repo.id, rev):
        return Resolved(rev, None)
    if is_short_sha(rev):
        found = repo_store.commits_with_prefix(conn, repo.id, rev)
        if len(found) == 1:
            return Resolved(found[0], None)
    raise RevisionNotFound(f"Invalid rev id: {rev}")
