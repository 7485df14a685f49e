"""Discussions and pull requests: open, read, list, comment (edit, hide), rename, close/reopen, merge.

Each use case finds the repo for the caller (`repo_access.load`); reading a discussion or the list of them on a
private or gated repo is audited (discussion.read, discussion.list); every change is audited in the transaction
that makes it (discussion.comment, discussion.comment.edit, discussion.comment.hide, discussion.rename,
discussion.status, pull_request.merge), with details {"num": N, ...}.

Who may do what, as on the Hub: anyone who may propose changes (PROPOSE: a signed-in user with a token that
allows discussions, on a repo they can see) opens discussions and comments; the author of a comment edits it;
the author of a comment or a writer of the repo hides it (for good: its text is erased); the author of a
discussion or a writer renames, closes and reopens it; only writers merge. A pull request opened with
create_pull_request starts as a draft ("draft", as the client documents); its author or a writer publishes it by
setting its status to "open"; a draft, closed or merged pull request cannot be merged. Markup is stored raw."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, decide
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, Forbidden, InhouseError, NotFound
from inhouse.services import merges, repo_access
from inhouse.services.commits import after_branch_update, signature_for
from inhouse.services.context import Stores
from inhouse.services.governance import enforce
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import discussions as store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.discussions import DiscussionRecord, EventRecord
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.objects import Commit
from inhouse.storage.git.store import ObjectMissing

MAX_COMMENT_CHARS = 65_536  # as GitHub; the Hub's web editor stops earlier
MAX_EVENTS = 2_000  # comments and changes per discussion: a discussion's page stays readable (and bounded)
MAX_HISTORY = 20  # earlier versions kept of an edited comment
MAX_EDITS = 500
MERGE_RETRIES = 20  # as commits: a branch moved by others while merging is merged again on top
HIDDEN_TEXT = "This comment has been hidden"

PAGE = 50


@dataclass(frozen=True)
class PullRequestState:
    base_head: str | None  # the target branch's commit now
    merge_base: str | None
    diff: str | None  # None unless asked for
    conflicts: list[str]


@dataclass(frozen=True)
class DiscussionDetail:
    discussion: DiscussionRecord
    events: list[EventRecord]
    head: str | None  # the PR ref's commit
    pr: PullRequestState | None = None


@dataclass(frozen=True)
class DiscussionPage:
    repo: RepoRecord
    items: list[DiscussionRecord]
    count: int  # all that match, on every page
    comments: dict[int, int]  # discussion id → number of comments
    closed: int  # closed discussions of the repo


def check_title(title: object) -> str:
    if not isinstance(title, str):
        raise BadRequest("'title' must be a string of 3 to 200 characters.")
    title = title.strip()
    if not 3 <= len(title) <= 200:
        raise BadRequest("A discussion title needs 3 to 200 characters.")
    return title


def check_comment(text: object, what: str = "comment") -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"The {what} must be a non-empty string.")
    if len(text) > MAX_COMMENT_CHARS:
        raise BadRequest(f"The {what} has {len(text)} characters; the limit is {MAX_COMMENT_CHARS}. Split it into "
                         "several comments, or attach a file (upload_attachment) and link it.")
    return text


def comment_data(content: str) -> dict[str, Any]:
    return {"content": content, "hidden": False, "numEdits": 0, "editors": [], "history": []}


def create(stores: Stores, p: Principal, name: RepoName, *, title: str, description: str,
           pull_request: bool) -> tuple[RepoRecord, DiscussionRecord]:
    """Opens a discussion or an (empty, draft) pull request, for a caller who may propose changes."""
    repo = repo_access.load(stores, p, name, Action.PROPOSE, follow_moves=False)
    title = check_title(title)
    description = check_comment(description, "description") if description.strip() else ""
    now = time.time()
    with stores.db.write() as conn:
        num = repo_store.next_discussion_number(conn, repo.id)
        base = f"refs/heads/{DEFAULT_BRANCH}"
        did = store.insert_discussion(conn, repo_id=repo.id, num=num, title=title, description=description,
                                      is_pr=pull_request, author_id=p.user_id, now=now,
                                      base_ref=base if pull_request else None,
                                      status="draft" if pull_request else "open")
        store.add_event(conn, did, "comment", p.user_id, now, comment_data(description))
        if pull_request:
            head = repo_store.get_ref(conn, repo.id, base)
            if head is None:
                raise Conflict(f"{repo.repo_id} has no '{DEFAULT_BRANCH}' branch to open a pull request against.")
            repo_store.create_ref(conn, repo.id, f"refs/pr/{num}", head, now)
        d = store.get_discussion(conn, repo.id, num)
        assert d is not None
        stores.audit.record(conn, p, Event("pull_request.create" if pull_request else "discussion.create", repo,
                                           revision=f"refs/pr/{num}" if pull_request else None,
                                           details={"num": num, "title": title}))
        return repo, d


def read(stores: Stores, p: Principal, name: RepoName, num: int, *, with_diff: bool = False
         ) -> tuple[RepoRecord, DiscussionDetail]:
    """A discussion or pull request with its events (and, for a pull request, its conflicts and, when asked,
    its diff), for a caller who may see the repo; audited as discussion.read on a private or gated repo."""
    repo = repo_access.load(stores, p, name)
    repo_access.audit_read(stores, p, repo, "discussion.read", details={"num": num})
    return repo, get(stores, repo, num, with_diff=with_diff)


def list_for(stores: Stores, p: Principal, name: RepoName, *, page: int, kind: str | None, status: str | None,
             author: str | None) -> DiscussionPage:
    """A page of the repo's discussions, for a caller who may see it; audited as discussion.list on a private or
    gated repo."""
    repo = repo_access.load(stores, p, name)
    repo_access.audit_read(stores, p, repo, "discussion.list", details={"page": page})
    is_pr = {"pull_request": True, "discussion": False}.get(kind or "all")
    if kind not in (None, "all", "pull_request", "discussion"):
        raise BadRequest("'type' must be one of all, discussion, pull_request.")
    if status not in (None, "all", "open", "closed", "merged", "draft"):
        raise BadRequest("'status' must be one of all, open, closed, merged, draft.")
    with stores.db.read() as conn:
        items, count = store.list_discussions(conn, repo.id, is_pr=is_pr,
                                              status=None if status in (None, "all") else status,
                                              author=author, offset=page * PAGE, limit=PAGE)
        comments = store.comment_counts(conn, [d.id for d in items])
        closed = store.count_closed(conn, repo.id)
    return DiscussionPage(repo, items, count, comments, closed)


def get(stores: Stores, repo: RepoRecord, num: int, *, with_diff: bool = False) -> DiscussionDetail:
    with stores.db.read() as conn:
        d = _discussion(conn, repo, num)
        head = repo_store.get_ref(conn, repo.id, f"refs/pr/{num}") if d.is_pr else None
        events = store.events_of(conn, d.id)
        pr = _pr_state(stores, conn, repo, d, head, events, with_diff) if d.is_pr else None
        return DiscussionDetail(d, events, head, pr)


def _pr_state(stores: Stores, conn: Connection, repo: RepoRecord, d: DiscussionRecord, head: str | None,
              events: list[EventRecord], with_diff: bool) -> PullRequestState:
    base_head = repo_store.get_ref(conn, repo.id, d.base_ref) if d.base_ref else None
    if head is None:
        return PullRequestState(base_head, None, "" if with_diff else None, [])
    objects = stores.objects
    # a merged pull request shows what it changed against the branch as it was before the merge
    before = next((e.data.get("base") for e in reversed(events)
                   if e.type == "status-change" and e.data.get("status") == "merged"), None)
    against = before if d.status == "merged" and isinstance(before, str) else base_head
    try:
        mb = merges.merge_base(objects, conn, against, head) if against else None
        conflicts: list[str] = []
        if d.status in ("open", "draft") and base_head and mb != head and mb != base_head:
            merged = merges.merge_trees(objects, conn, objects.commit(conn, mb).tree if mb else None,
                                        objects.commit(conn, base_head).tree, objects.commit(conn, head).tree)
            conflicts = merged.conflicts
        text = None
        if with_diff:
            text = merges.diff(objects, conn, objects.commit(conn, mb).tree if mb else None,
                               objects.commit(conn, head).tree)
    except Conflict as e:  # a history too long to compare: say so where the diff would be
        return PullRequestState(base_head, None, f"# {e.message}\n" if with_diff else None, [])
    except ObjectMissing:  # a commit the history lost (a squash or a purge rewrote it): nothing to compare
        return PullRequestState(base_head, None, "# the pull request's history is no longer complete\n"
                                if with_diff else None, [])
    return PullRequestState(base_head, mb, text, conflicts)


def _discussion(conn: Connection, repo: RepoRecord, num: int) -> DiscussionRecord:
    d = store.get_discussion(conn, repo.id, num)
    if d is None:
        raise NotFound(f"Discussion #{num} does not exist in {repo.repo_id}: list them with get_repo_discussions.")
    return d


def _writer(p: Principal, repo: RepoRecord) -> bool:
    try:
        decide(p, Action.WRITE, repo)
    except InhouseError:
        return False
    return True


def _author_or_writer(p: Principal, repo: RepoRecord, author_id: int | None, what: str) -> None:
    if author_id is not None and author_id == p.user_id:
        return
    if not _writer(p, repo):
        raise Forbidden(f"Only {what} and users with write access to {repo.repo_id} can do this.")


def _room_for_event(conn: Connection, d: DiscussionRecord) -> None:
    if store.count_events(conn, d.id) >= MAX_EVENTS:
        raise Conflict(f"Discussion #{d.num} has reached {MAX_EVENTS} comments and changes: open a new discussion "
                       "and link this one.")


def _pr_revision(d: DiscussionRecord) -> str | None:
    return f"refs/pr/{d.num}" if d.is_pr else None


def comment(stores: Stores, p: Principal, name: RepoName, num: int, text: object
            ) -> tuple[RepoRecord, EventRecord]:
    """Adds a comment, for a caller who may propose changes on the repo; the new comment."""
    repo = repo_access.load(stores, p, name, Action.PROPOSE, follow_moves=False)
    content = check_comment(text)
    with stores.db.write() as conn:
        d = _discussion(conn, repo, num)
        _room_for_event(conn, d)
        eid = store.add_event(conn, d.id, "comment", p.user_id, time.time(), comment_data(content))
        stores.audit.record(conn, p, Event("discussion.comment", repo, revision=_pr_revision(d),
                                           details={"num": num, "comment": str(eid), "chars": len(content)}))
        event = store.get_event(conn, d.id, eid)
        assert event is not None
        return repo, event


def _comment_of(conn: Connection, d: DiscussionRecord, comment_id: str) -> EventRecord:
    event = None
    if comment_id.isascii() and comment_id.isdigit() and len(comment_id) <= 10 and int(comment_id) < 2**31:
        event = store.get_event(conn, d.id, int(comment_id))
    if event is None or event.type != "comment":
        raise NotFound(f"Comment '{comment_id[:40]}' does not exist in discussion #{d.num}: take its id from "
                       "get_discussion_details(...).events.")
    return event


def edit_comment(stores: Stores, p: Principal, name: RepoName, num: int, comment_id: str, text: object
                 ) -> tuple[RepoRecord, EventRecord]:
    """Replaces the text of one's own comment (the earlier text stays in its history); the edited comment."""
    repo = repo_access.load(stores, p, name, Action.PROPOSE, follow_moves=False)
    content = check_comment(text)
    now = time.time()
    with stores.db.write() as conn:
        d = _discussion(conn, repo, num)
        event = _comment_of(conn, d, comment_id)
        if event.author_id is None or event.author_id != p.user_id:
            raise Forbidden("Only the author of a comment can edit it.")
        data = dict(event.data)
        if data.get("hidden"):
            raise Conflict("This comment is hidden: a hidden comment cannot be edited.")
        if int(data.get("numEdits", 0)) >= MAX_EDITS:
            raise Conflict(f"This comment was edited {MAX_EDITS} times: post a new comment instead.")
        previous = {"raw": data.get("content", ""), "updatedAt": data.get("updatedAt", event.created_at),
                    "author": data.get("editedBy") or event.author}
        data["history"] = ([previous] + list(data.get("history", [])))[:MAX_HISTORY]
        data["content"] = content
        data["numEdits"] = int(data.get("numEdits", 0)) + 1
        data["editors"] = sorted(set(data.get("editors", [])) | {p.name or ""})
        data["updatedAt"] = now
        data["editedBy"] = p.name
        store.update_event(conn, event.id, data)
        if event.id == store.first_event_id(conn, d.id):
            store.set_description(conn, d.id, content)
        stores.audit.record(conn, p, Event("discussion.comment.edit", repo, revision=_pr_revision(d),
                                           details={"num": num, "comment": str(event.id), "chars": len(content)}))
        edited = store.get_event(conn, d.id, event.id)
        assert edited is not None
        return repo, edited


def hide_comment(stores: Stores, p: Principal, name: RepoName, num: int, comment_id: str
                 ) -> tuple[RepoRecord, EventRecord]:
    """Hides a comment for good (its text and history are erased), for its author or a writer of the repo."""
    repo = repo_access.load(stores, p, name, Action.PROPOSE, follow_moves=False)
    with stores.db.write() as conn:
        d = _discussion(conn, repo, num)
        event = _comment_of(conn, d, comment_id)
        _author_or_writer(p, repo, event.author_id, "the author of a comment")
        data = dict(event.data)
        if not data.get("hidden"):
            data.update(content=HIDDEN_TEXT, hidden=True, hiddenBy=p.name, history=[], updatedAt=time.time())
            store.update_event(conn, event.id, data)
            if event.id == store.first_event_id(conn, d.id):  # the opening comment: its copy goes too
                store.set_description(conn, d.id, HIDDEN_TEXT)
            stores.audit.record(conn, p, Event("discussion.comment.hide", repo, revision=_pr_revision(d),
                                               details={"num": num, "comment": str(event.id),
                                                        "author": event.author}))
        hidden = store.get_event(conn, d.id, event.id)
        assert hidden is not None
        return repo, hidden


def rename(stores: Stores, p: Principal, name: RepoName, num: int, title: object
           ) -> tuple[RepoRecord, EventRecord]:
    """Changes a discussion's title, for its author or a writer; the title-change event."""
    repo = repo_access.load(stores, p, name, Action.PROPOSE, follow_moves=False)
    new = check_title(title)
    with stores.db.write() as conn:
        d = _discussion(conn, repo, num)
        _author_or_writer(p, repo, store.discussion_author(conn, d.id), "the author of a discussion")
        if new == d.title:
            raise BadRequest(f"Discussion #{num} is already titled '{new}'.")
        _room_for_event(conn, d)
        store.set_title(conn, d.id, new)
        eid = store.add_event(conn, d.id, "title-change", p.user_id, time.time(), {"from": d.title, "to": new})
        stores.audit.record(conn, p, Event("discussion.rename", repo, revision=_pr_revision(d),
                                           details={"num": num, "from": d.title, "to": new}))
        event = store.get_event(conn, d.id, eid)
        assert event is not None
        return repo, event


def change_status(stores: Stores, p: Principal, name: RepoName, num: int, status: object,
                  text: object = None) -> tuple[RepoRecord, EventRecord]:
    """Closes, reopens or publishes (draft → open) a discussion or pull request, for its author or a writer,
    with an optional comment posted first; the status-change event."""
    repo = repo_access.load(stores, p, name, Action.PROPOSE, follow_moves=False)
    if status not in ("open", "closed"):
        raise BadRequest("'status' must be 'open' or 'closed' (merge a pull request with merge_pull_request).")
    content = check_comment(text) if text is not None else None
    now = time.time()
    with stores.db.write() as conn:
        d = _discussion(conn, repo, num)
        _author_or_writer(p, repo, store.discussion_author(conn, d.id), "the author of a discussion")
        if d.status == "merged":
            raise Conflict(f"Pull request #{num} is merged: its status cannot change any more.")
        if d.status == status:
            raise BadRequest(f"Discussion #{num} is already {status}.")
        _room_for_event(conn, d)
        if content is not None:
            cid = store.add_event(conn, d.id, "comment", p.user_id, now, comment_data(content))
            stores.audit.record(conn, p, Event("discussion.comment", repo, revision=_pr_revision(d),
                                               details={"num": num, "comment": str(cid), "chars": len(content)}))
        store.set_status(conn, d.id, str(status))
        eid = store.add_event(conn, d.id, "status-change", p.user_id, now, {"status": status})
        stores.audit.record(conn, p, Event("discussion.status", repo, revision=_pr_revision(d),
                                           details={"num": num, "status": status, "from": d.status}))
        event = store.get_event(conn, d.id, eid)
        assert event is not None
        return repo, event


def merge(stores: Stores, p: Principal, name: RepoName, num: int, text: object = None) -> str:
    """Merges an open pull request into its target branch, for a writer of the repo: a fast-forward when the
    branch did not move since the pull request started, else a merge commit (two parents) of a three-way tree
    merge. A conflict is refused, naming the files, and the pull request stays open. Returns the branch's new
    commit."""
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    content = check_comment(text) if text is not None else None
    objects = stores.objects
    checked = enforce.check_merge(stores, p, repo, num)  # the policy's scans, before the write
    for _ in range(MERGE_RETRIES):
        now = time.time()
        with stores.db.write() as conn:
            d = _discussion(conn, repo, num)
            if not d.is_pr:
                raise BadRequest(f"#{num} is a discussion, not a pull request: there is nothing to merge.")
            if d.status != "open":
                raise Conflict({
                    "draft": f"Pull request #{num} is a draft: publish it first (change_discussion_status(..., "
                             "'open')), then merge.",
                    "closed": f"Pull request #{num} is closed: reopen it first (change_discussion_status(..., "
                              "'open')), then merge.",
                    "merged": f"Pull request #{num} is already merged.",
                }.get(d.status, f"Pull request #{num} is {d.status}."))
            assert d.base_ref is not None
            base_head = repo_store.get_ref(conn, repo.id, d.base_ref)
            head = repo_store.get_ref(conn, repo.id, f"refs/pr/{num}")
            if base_head is None or head is None:
                raise Conflict(f"The target branch {d.base_ref} of pull request #{num} no longer exists: recreate "
                               "it, or close the pull request.")
            if checked is not None and checked[1] != head:
                raise Conflict(f"Pull request #{num} changed while it was checked against the policy: merge again.")
            try:
                mb = merges.merge_base(objects, conn, base_head, head)
            except ObjectMissing:
                raise Conflict(f"The history of pull request #{num} is no longer complete (rewritten since it was "
                               "opened): open a new pull request.") from None
            if mb == head:
                raise Conflict(f"Pull request #{num} has no changes to merge: commit to refs/pr/{num} first "
                               f"(create_commit(..., revision='refs/pr/{num}')).")
            if mb == base_head:
                new = head  # fast-forward
            else:
                merged = merges.merge_trees(objects, conn, objects.commit(conn, mb).tree if mb else None,
                                            objects.commit(conn, base_head).tree, objects.commit(conn, head).tree)
                if merged.conflicts:
                    shown = ", ".join(merged.conflicts[:20]) + (
                        f" and {len(merged.conflicts) - 20} more" if len(merged.conflicts) > 20 else "")
                    raise Conflict(f"Pull request #{num} conflicts with {d.base_ref} in: {shown}. Both changed "
                                   f"these files since the pull request started: commit the resolved files to "
                                   f"refs/pr/{num}, then merge again.")
                merges.store_trees(objects, conn, merged)
                tree = merged.tree or objects.put_tree(conn, [])
                who = signature_for(p, now)
                message = f"Merge pull request #{num} from refs/pr/{num}\n\n{d.title}\n"
                new = objects.put_commit(conn, Commit(tree, (base_head, head), who, who, message))
                repo_store.add_commit(conn, repo.id, new)
            if not repo_store.compare_and_set_ref(conn, repo.id, d.base_ref, base_head, new, now):
                continue  # the branch moved while merging: merge again on top of it
            after_branch_update(stores, conn, repo, d.base_ref, new, now, None)
            if checked is not None:
                enforce.record(stores, conn, p, repo, checked[0], commit=new)
            if content is not None:
                cid = store.add_event(conn, d.id, "comment", p.user_id, now, comment_data(content))
                stores.audit.record(conn, p, Event("discussion.comment", repo, revision=f"refs/pr/{num}",
                                                   details={"num": num, "comment": str(cid), "chars": len(content)}))
            store.set_status(conn, d.id, "merged", merge_commit=new)
            store.add_event(conn, d.id, "status-change", p.user_id, now, {"status": "merged", "base": base_head})
            stores.audit.record(conn, p, Event("pull_request.merge", repo, revision=d.base_ref, details={
                "num": num, "commit": new, "head": head, "base": base_head,
                "fast_forward": new == head}))
            return new
    raise Conflict(f"{repo.repo_id} is being changed by many writers at once; merge pull request #{num} again.")
