"""Preupload: for each file a client is about to send, say how (regular or LFS), whether to skip it, and what is there now."""

from __future__ import annotations

from dataclasses import dataclass

from inhouse.access.identity import Principal
from inhouse.services import repo_access
from inhouse.services.commits import commit_action
from inhouse.services.context import Stores
from inhouse.services.gitattributes import LfsRules, should_upload_as_lfs
from inhouse.services.gitignore import GitIgnore
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import resolve
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.trees import find_entry


@dataclass(frozen=True)
class Ask:
    path: str
    size: int
    sample: bytes


@dataclass(frozen=True)
class Answer:
    path: str
    mode: str  # regular | lfs
    ignore: bool
    oid: str | None  # the remote file's id in the same terms (sha1 for regular, sha256 for lfs), None if absent


def preupload(stores: Stores, principal: Principal, name: RepoName, revision: str, asks: list[Ask],
              git_ignore: str | None, *, create_pr: bool = False) -> list[Answer]:
    """How each file should go up, for a caller who may commit what it prepares (write to the branch, or propose:
    `create_pr` or refs/pr/N); a refusal on a private or gated repo is audited. The answer is about the caller's
    own upload, whose commit is audited, so it is not audited as a read."""
    repo = repo_access.load(stores, principal, name, commit_action(revision, create_pr=create_pr),
                             follow_moves=False)
    return answer(stores, repo, revision, asks, git_ignore)


def answer(stores: Stores, repo: RepoRecord, revision: str, asks: list[Ask], git_ignore: str | None
           ) -> list[Answer]:
    with stores.db.read() as conn:
        root = stores.objects.commit(conn, resolve(conn, repo, revision).commit).tree

        def text_at(path: str) -> str | None:
            e = find_entry(stores.objects, conn, root, path)
            if e is None or e.is_tree:
                return None
            return stores.objects.get(conn, e.sha)[1].decode("utf-8", "replace")

        attrs = text_at(".gitattributes")
        rules = LfsRules.parse(attrs, what=f"The .gitattributes at '{revision}'") if attrs is not None \
            else LfsRules.default(repo.type)
        ignore_text = git_ignore if git_ignore is not None else text_at(".gitignore")
        source = "The 'gitIgnore' of this request" if git_ignore is not None else f"The .gitignore at '{revision}'"
        ignore = GitIgnore.parse(ignore_text, what=source) if ignore_text else None
        answers = []
        for a in asks:
            lfs = should_upload_as_lfs(a.path, a.size, a.sample, rules,
                                       stores.settings.regular_file_max_bytes) \
                if a.size > 0 else False
            oid = None
            e = find_entry(stores.objects, conn, root, a.path)
            if e is not None and not e.is_tree:
                ptr = None
                if stores.objects.size(conn, e.sha) <= 1024:
                    ptr = LfsPointer.parse(stores.objects.get(conn, e.sha)[1])
                if lfs and ptr is not None:
                    oid = ptr.oid
                elif not lfs and ptr is None:
                    oid = e.sha
            answers.append(Answer(a.path, "lfs" if lfs else "regular",
                                  bool(ignore and ignore.ignores(a.path)), oid))
        return answers
