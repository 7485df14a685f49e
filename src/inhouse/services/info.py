"""What a repo looks like at a revision: the view `model_info` / `dataset_info` and listings are built from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from inhouse.access.identity import Principal
from inhouse.services import cards
from inhouse.services import downloads, repo_access
from inhouse.services.context import Stores
from inhouse.services.evaluations.eval_results import eval_results_of
from inhouse.services.files import FileEntry, describe
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import resolve
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.trees import find_entry, walk


@dataclass(frozen=True)
class RepoView:
    repo: RepoRecord
    sha: str | None
    files: list[FileEntry] | None
    card_data: dict[str, Any] | None
    tags: list[str]
    pipeline_tag: str | None
    library_name: str | None
    used_storage: int | None = None
    eval_results: list[dict[str, Any]] | None = None  # `expand=evalResults` only


def view_from_record(repo: RepoRecord) -> RepoView:
    """The cheap view listings use: what the row already holds about the default branch."""
    return RepoView(repo, repo.head_sha, None, repo.card_data, repo.tags, repo.pipeline_tag, repo.library_name)


def view_at(stores: Stores, repo: RepoRecord, revision: str | None, *, with_files: bool) -> RepoView:
    with stores.db.read() as conn:
        res = resolve(conn, repo, revision)
        root = stores.objects.commit(conn, res.commit).tree
        files = None
        if with_files:
            items = [(p, e) for p, e in walk(stores.objects, conn, root) if not e.is_tree]
            files = describe(conn, items)
        if res.commit == repo.head_sha:
            card, tags, pipe, lib = repo.card_data, repo.tags, repo.pipeline_tag, repo.library_name
        else:
            card, tags, pipe, lib = None, [], None, None
            readme = find_entry(stores.objects, conn, root, "README.md")
            if readme is not None and not readme.is_tree:
                _, body = stores.objects.get(conn, readme.sha)
                if LfsPointer.parse(body) is None:
                    meta, _, _ = cards.split_front_matter(body.decode("utf-8", "replace"))
                    f = cards.card_facts(meta, repo.type)
                    card, tags, pipe, lib = f.card_data, f.tags, f.pipeline_tag, f.library_name
    used = sum(e.size for e in files) if files is not None else None
    return RepoView(repo, res.commit, files, card, tags, pipe, lib, used)


def read(stores: Stores, principal: Principal, name: RepoName, revision: str | None, *, with_files: bool,
         eval_results: bool = False) -> RepoView:
    """`model_info` / `dataset_info`: the repo at a revision (the default branch when None), for a caller who may
    see it; audited as repo.info on a private or gated repo. `eval_results`: with the entries of its
    `.eval_results/*.yaml` at that revision, each marked verified or not (services/evaluations/eval_results.py)."""
    downloads.settle(stores)  # the counts this server holds in memory, before the repo's row is read
    repo = repo_access.load(stores, principal, name)
    repo_access.audit_read(stores, principal, repo, "repo.info", revision=revision)
    repo = replace(repo, recent_downloads=downloads.recent(stores, [repo.id]).get(repo.id, 0))
    view = view_at(stores, repo, revision, with_files=with_files)
    if eval_results and view.sha is not None:
        view = replace(view, eval_results=eval_results_of(stores, repo, view.sha))
    return view
