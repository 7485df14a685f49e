"""Creating commits: apply file operations to a branch atomically, never losing a concurrent commit."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, authorize
from inhouse.errors import BadRequest, Conflict, EntryNotFound, InhouseError, PreconditionFailed, RevisionNotFound
from inhouse.names import check_existing_path, check_path
from inhouse.audit.log import Event
from inhouse.services import cards
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.governance import enforce
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import discussions as disc_store
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.objects import Commit, Signature, make_message
from inhouse.storage.git.trees import TreeEditor, find_entry

MAX_RETRIES = 20


@dataclass(frozen=True)
class AddFile:
    path: str
    content: bytes


@dataclass(frozen=True)
class AddLfsFile:
    path: str
    oid: str
    size: int | None  # None for copies: taken from the stored object


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | AddLfsFile | DeleteFile | DeleteFolder


@dataclass(frozen=True)
class CommitResult:
    oid: str
    ref: str
    pr_num: int | None


class _BranchMoved(Exception):
    pass


def validate_operations(ops: list[Operation]) -> None:
    for op in ops:
        if isinstance(op, (DeleteFile, DeleteFolder)):
            check_existing_path(op.path)  # a name the rules refuse now may still be removed
        else:
            check_path(op.path)


def signature_for(p: Principal, when: float) -> Signature:
    name = p.name or "anonymous"
    return Signature(name, p.email or f"{name}@users.noreply.inhouse", when)


def write_commit(
    stores: Stores, conn: Connection, repo: RepoRecord, *, base: str | None, ops: list[Operation],
    message: str, author: Signature,
) -> str:
    """Stores the objects of a new commit on top of `base` (None: a root commit) and returns its sha."""
    objects = stores.objects
    root = objects.commit(conn, base).tree if base else None
    editor = TreeEditor(objects, conn, root)
    for op in ops:
        if isinstance(op, (AddFile, AddLfsFile)):
            _check_room(editor, op.path)
        if isinstance(op, AddFile):
            # A pointer is not a capability: its text may only name an object this repo holds.
            ptr = LfsPointer.parse(op.content)
            if ptr is not None and (not lfs_store.repo_has_object(conn, repo.id, ptr.oid)
                                    or lfs_store.touch_object(conn, ptr.oid, time.time()) != ptr.size):
                raise BadRequest(
                    f"'{op.path}' is a Git LFS pointer to an object this repo does not hold (sha256 {ptr.oid}): "
                    "upload the file's real content instead (preupload + LFS batch)."
                )
            editor.put(op.path, objects.put_blob(conn, op.content))
        elif isinstance(op, AddLfsFile):
            size = lfs_store.touch_object(conn, op.oid, time.time())  # in use again: storage GC keeps it
            if size is None or not lfs_store.repo_has_object(conn, repo.id, op.oid):
                raise BadRequest(
                    f"The large file '{op.path}' (sha256 {op.oid}) was not uploaded to this repo: upload its "
                    "content (preupload + LFS batch) before committing it."
                )
            if op.size is not None and op.size != size:
                raise BadRequest(f"'{op.path}' announces {op.size} bytes but the stored object has {size}.")
            editor.put(op.path, objects.put_blob(conn, LfsPointer(op.oid, size).encode()))
        else:
            path = op.path.rstrip("/")
            existing = editor.get(path)
            if existing is None:
                raise EntryNotFound(f"A file with this name doesn't exist: '{path}'")
            editor.delete(path)
    tree = editor.write()
    commit = Commit(tree, (base,) if base else (), author, author, message)
    sha = objects.put_commit(conn, commit)
    repo_store.add_commit(conn, repo.id, sha)
    return sha


def _check_room(editor: TreeEditor, path: str) -> None:
    """A file may replace a file, never a folder or a file where one of its folders goes, unless an earlier
    operation of the same commit deleted that (Git would drop the other files silently)."""
    blocker = editor.in_the_way(path)
    if blocker == path:
        raise Conflict(
            f"Cannot add the file '{path}': '{path}' is a folder here, and adding a file in its place would delete "
            f"the files in it. To replace the folder, delete it in the same commit before adding the file "
            f"(CommitOperationDelete('{path}/') first); or choose another path."
        )
    if blocker is not None:
        raise Conflict(
            f"Cannot add '{path}': '{blocker}' is a file here, so it cannot also be a folder. To replace that file "
            f"with a folder, delete it in the same commit before adding files under it "
            f"(CommitOperationDelete('{blocker}') first); or choose another path."
        )


def _refresh_card(stores: Stores, conn: Connection, repo: RepoRecord, commit_sha: str) -> None:
    """Keeps the card facts of the default branch (cardData, tags, pipeline_tag…) on the repo row."""
    tree = stores.objects.commit(conn, commit_sha).tree
    entry = find_entry(stores.objects, conn, tree, "README.md")
    facts = None
    if entry is not None and not entry.is_tree:
        _, body = stores.objects.get(conn, entry.sha)
        if LfsPointer.parse(body) is None:
            meta, _, _ = cards.split_front_matter(body.decode("utf-8", "replace"))
            facts = cards.card_facts(meta, repo.type)
    repo_store.update_repo(
        conn, repo.id,
        card_data=facts.card_data if facts else None, tags=facts.tags if facts else [],
        pipeline_tag=facts.pipeline_tag if facts else None, library_name=facts.library_name if facts else None,
        license=facts.license if facts else None,
    )


def after_branch_update(stores: Stores, conn: Connection, repo: RepoRecord, ref: str, sha: str, now: float,
                        ops: list[Operation] | None) -> None:
    if ref != f"refs/heads/{DEFAULT_BRANCH}":
        repo_store.update_repo(conn, repo.id, last_modified=now)
        return
    repo_store.update_repo(conn, repo.id, last_modified=now, head_sha=sha)
    if ops is None or any(op.path.rstrip("/") in ("README.md", "") or
                          (isinstance(op, DeleteFolder) and "README.md".startswith(op.path)) for op in ops):
        _refresh_card(stores, conn, repo, sha)


def _parent_matches(parent: str, head: str) -> bool:
    if len(parent) < 5 or any(c not in "0123456789abcdef" for c in parent.lower()):
        raise BadRequest(f"Invalid parentCommit '{parent}': give the commit sha (at least 5 hex characters).")
    return head.startswith(parent.lower())


def commit_action(revision: str, *, create_pr: bool) -> Action:
    """What committing to `revision` asks of the caller: proposing (a new or existing pull request) or writing."""
    return Action.PROPOSE if create_pr or revision.startswith("refs/pr/") else Action.WRITE


def _pr_number(revision: str) -> int | None:
    num = revision.removeprefix("refs/pr/")
    return int(num) if revision.startswith("refs/pr/") and num.isascii() and num.isdigit() and len(num) < 10 \
        else None


def authorize_commit(stores: Stores, principal: Principal, repo: RepoRecord, *, revision: str,
                     create_pr: bool = False) -> str:
    """Raises unless `principal` may commit to `revision` (a branch, or refs/pr/N: only the pull request's author
    and writers push to it); returns the full ref. Needs nothing of the commit itself, so the web layer asks it
    before reading the body. A refused push on a private or gated repo is audited, like other denied attempts."""
    is_pr_ref = revision.startswith("refs/pr/")
    own = None
    if is_pr_ref and not create_pr:
        num = _pr_number(revision)
        with stores.db.read() as conn:
            author = disc_store.pull_request_author(conn, repo.id, num) if num is not None else None
        own = author is not None and author == principal.user_id
    action = commit_action(revision, create_pr=create_pr)
    try:
        authorize(stores.db, principal, action, repo, own_pull_request=own)
    except InhouseError as e:
        if own is False and (repo.private or repo.gated):  # as repos.find records the other denied attempts
            stores.audit.record_now(stores.db, principal, Event(
                f"access.{action.value}", repo, revision=revision, outcome="denied", details={"error": e.code}))
        raise
    if create_pr and is_pr_ref:
        raise BadRequest("Cannot open a pull request against another pull request; target a branch.")
    ref = revision if revision.startswith("refs/") else f"refs/heads/{revision}"
    if not (ref.startswith("refs/heads/") or (is_pr_ref and _pr_number(revision) is not None)):
        raise RevisionNotFound(f"Invalid rev id: {revision}: commits go to a branch or to refs/pr/N.")
    return ref


@dataclass(frozen=True)
class CommitTarget:
    """Where a caller was found allowed to commit: the repo and the full ref (see `begin`)."""

    repo: RepoRecord
    ref: str


def begin(stores: Stores, principal: Principal, name: RepoName, *, revision: str, create_pr: bool = False
          ) -> CommitTarget:
    """Settles who may commit where before a byte of the commit is read: the repo the request names, found for
    the commit's action (a refusal on a private or gated repo audited), and the pull-request rule
    (`authorize_commit`). `commit` checks it all again in its own call."""
    repo = repo_access.load(stores, principal, name, commit_action(revision, create_pr=create_pr),
                             follow_moves=False)
    return CommitTarget(repo, authorize_commit(stores, principal, repo, revision=revision, create_pr=create_pr))


def commit(
    stores: Stores, principal: Principal, repo: RepoRecord, *, revision: str, ops: list[Operation],
    summary: str, description: str = "", parent_commit: str | None = None, create_pr: bool = False,
) -> CommitResult:
    ref = authorize_commit(stores, principal, repo, revision=revision, create_pr=create_pr)
    is_pr_ref = ref.startswith("refs/pr/")
    validate_operations(ops)
    if not ops and not create_pr:
        raise BadRequest("A commit needs at least one operation (file, lfsFile, deletedFile or deletedFolder).")
    message = make_message(summary, description)
    verdict = enforce.check_commit(stores, principal, repo, ref, ops, to_pr=create_pr or is_pr_ref)  # scans first
    for _ in range(MAX_RETRIES):
        now = time.time()
        try:
            with stores.db.write() as conn:
                head = repo_store.get_ref(conn, repo.id, ref)
                if head is None:
                    raise RevisionNotFound(f"Invalid rev id: {revision}")
                if parent_commit and not _parent_matches(parent_commit, head):
                    if create_pr and repo_store.repo_has_commit(conn, repo.id, parent_commit):
                        head = parent_commit  # a PR may start from an older commit of the branch
                    else:
                        raise PreconditionFailed(
                            "The branch was updated since you opened this page. Please refresh and try again."
                        )
                sha = write_commit(stores, conn, repo, base=head, ops=ops, message=message,
                                   author=signature_for(principal, now))
                if create_pr:
                    num = repo_store.next_discussion_number(conn, repo.id)
                    pr_ref = f"refs/pr/{num}"
                    repo_store.create_ref(conn, repo.id, pr_ref, sha, now)
                    did = disc_store.insert_discussion(
                        conn, repo_id=repo.id, num=num, title=summary.strip() or "Update", description=description,
                        is_pr=True, author_id=principal.user_id, now=now, base_ref=ref)
                    disc_store.add_event(conn, did, "commit", principal.user_id, now,
                                         {"oid": sha, "subject": summary})
                    repo_store.update_repo(conn, repo.id, last_modified=now)
                    stores.audit.record(conn, principal, Event("pull_request.create", repo, revision=pr_ref,
                                                               details={"num": num, "title": summary[:200]}))
                    _audit_commit(stores, conn, principal, repo, pr_ref, sha, ops, summary)
                    enforce.record(stores, conn, principal, repo, verdict, commit=sha, ref=pr_ref)
                    return CommitResult(sha, pr_ref, num)
                if not repo_store.compare_and_set_ref(conn, repo.id, ref, head, sha, now):
                    raise _BranchMoved()
                if is_pr_ref:
                    _pr_commit_event(conn, repo, ref, principal, sha, summary, now)
                after_branch_update(stores, conn, repo, ref, sha, now, ops)
                _audit_commit(stores, conn, principal, repo, ref, sha, ops, summary)
                enforce.record(stores, conn, principal, repo, verdict, commit=sha)
                return CommitResult(sha, ref, int(ref.rsplit("/", 1)[1]) if is_pr_ref else None)
        except _BranchMoved:
            if parent_commit:
                raise PreconditionFailed(
                    "The branch was updated since you opened this page. Please refresh and try again."
                ) from None
            continue
    raise Conflict("The branch is being updated by many writers at once; retry the commit.")


MAX_AUDITED_PATHS = 1000


def _audit_commit(stores: Stores, conn: Connection, p: Principal, repo: RepoRecord, ref: str, sha: str,
                  ops: list[Operation], summary: str) -> None:
    kinds = {AddFile: "add", AddLfsFile: "add-lfs", DeleteFile: "delete", DeleteFolder: "delete-folder"}
    changes = [{"op": kinds[type(op)], "path": op.path} for op in ops[:MAX_AUDITED_PATHS]]
    stores.audit.record(conn, p, Event("commit", repo, revision=ref, details={
        "commit": sha, "title": summary[:200], "changes": changes, "changes_total": len(ops)}))


def _pr_commit_event(conn: Connection, repo: RepoRecord, ref: str, p: Principal, sha: str, summary: str,
                     now: float) -> None:
    d = disc_store.get_discussion(conn, repo.id, int(ref.rsplit("/", 1)[1]))
    if d is not None:
        disc_store.add_event(conn, d.id, "commit", p.user_id, now, {"oid": sha, "subject": summary})
