"""Discussions and pull requests: what the upload paths and the safetensors-conversion probe need.

Each use case finds the repo for the caller (`repo_access.load`); reading a discussion or the list of them on a private or
gated repo is audited (discussion.read, discussion.list)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, NotFound
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import discussions as store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.discussions import DiscussionRecord, EventRecord
from inhouse.storage.db.records import RepoRecord

PAGE = 50


@dataclass(frozen=True)
class DiscussionDetail:
    discussion: DiscussionRecord
    events: list[EventRecord]
    head: str | None  # the PR ref's commit


@dataclass(frozen=True)
class DiscussionPage:
    repo: RepoRecord
    items: list[DiscussionRecord]
    count: int  # all that match, on every page


def create(stores: Stores, p: Principal, name: RepoName, *, title: str, description: str,
           pull_request: bool) -> tuple[RepoRecord, DiscussionRecord]:
    """Opens a discussion or an (empty) pull request, for a caller who may propose changes; the repo and it."""
    repo = repo_access.load(stores, p, name, Action.PROPOSE, follow_moves=False)
    title = title.strip()
    if not 3 <= len(title) <= 200:
        raise BadRequest("A discussion title needs 3 to 200 characters.")
    now = time.time()
    with stores.db.write() as conn:
        num = repo_store.next_discussion_number(conn, repo.id)
        base = f"refs/heads/{DEFAULT_BRANCH}"
        did = store.insert_discussion(conn, repo_id=repo.id, num=num, title=title, description=description,
                                      is_pr=pull_request, author_id=p.user_id, now=now,
                                      base_ref=base if pull_request else None)
        store.add_event(conn, did, "comment", p.user_id, now, {"content": description})
        if pull_request:
            head = repo_store.get_ref(conn, repo.id, base)
            assert head is not None
            repo_store.create_ref(conn, repo.id, f"refs/pr/{num}", head, now)
        d = store.get_discussion(conn, repo.id, num)
        assert d is not None
        stores.audit.record(conn, p, Event("pull_request.create" if pull_request else "discussion.create", repo,
                                           revision=f"refs/pr/{num}" if pull_request else None,
                                           details={"num": num, "title": title}))
        return repo, d


def read(stores: Stores, p: Principal, name: RepoName, num: int) -> tuple[RepoRecord, DiscussionDetail]:
    """A discussion or pull request with its events, for a caller who may see the repo; audited as discussion.read
    on a private or gated repo."""
    repo = repo_access.load(stores, p, name)
    repo_access.audit_read(stores, p, repo, "discussion.read", details={"num": num})
    return repo, get(stores, repo, num)


def list_for(stores: Stores, p: Principal, name: RepoName, *, page: int, kind: str | None, status: str | None,
             author: str | None) -> DiscussionPage:
    """A page of the repo's discussions, for a caller who may see it; audited as discussion.list on a private or
    gated repo."""
    repo = repo_access.load(stores, p, name)
    repo_access.audit_read(stores, p, repo, "discussion.list", details={"page": page})
    items, count = list_page(stores, repo, page=page, kind=kind, status=status, author=author)
    return DiscussionPage(repo, items, count)


def get(stores: Stores, repo: RepoRecord, num: int) -> DiscussionDetail:
    with stores.db.read() as conn:
        d = store.get_discussion(conn, repo.id, num)
        if d is None:
            raise NotFound(f"Discussion #{num} does not exist in {repo.repo_id}.")
        head = repo_store.get_ref(conn, repo.id, f"refs/pr/{num}") if d.is_pr else None
        return DiscussionDetail(d, store.events_of(conn, d.id), head)


def list_page(stores: Stores, repo: RepoRecord, *, page: int, kind: str | None, status: str | None,
              author: str | None) -> tuple[list[DiscussionRecord], int]:
    is_pr = {"pull_request": True, "discussion": False}.get(kind or "all")
    if status not in (None, "all", "open", "closed", "merged", "draft"):
        raise BadRequest("'status' must be one of all, open, closed, merged, draft.")
    with stores.db.read() as conn:
        return store.list_discussions(conn, repo.id, is_pr=is_pr, status=None if status in (None, "all") else status,
                                      author=author, offset=page * PAGE, limit=PAGE)
