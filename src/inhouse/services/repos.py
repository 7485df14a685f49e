"""Repo lifecycle: create (with the initial .gitattributes commit), settings, move, delete, list. Finding the repo
a request names for a caller is services/repo_access.py."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, authorize_create, can_see
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, RepoExists, RepoNotFound
from inhouse.names import check_repo_id
from inhouse.services import downloads, repo_access
from inhouse.services.commits import AddFile, write_commit, signature_for
from inhouse.services.context import Stores
from inhouse.services.files import describe
from inhouse.services.info import RepoView, view_from_record
from inhouse.services.repo_access import Found, RepoName, authorize_audited, find, load

__all__ = ["Found", "RepoName", "authorize_audited", "find", "load"]  # where callers have found them
from inhouse.services.gitattributes import default_gitattributes
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.records import RepoRecord, UserRecord
from inhouse.storage.git.trees import walk
from inhouse.vocabulary import RepoType, TokenRole

MAX_SCOPED_SCAN = 100_000  # rows a fine-grained listing looks through at most
MAX_LISTED_SIBLINGS = 10_000  # files each repo of a `full=True` listing lists at most
MAX_PAGE_SIBLINGS = 20_000  # files one page of a `full=True` listing lists (it ends early at the repo that passes it)
GATED = ("auto", "manual")


def _owner(conn: Connection, namespace: str) -> UserRecord:
    """The user or organisation `namespace` names, in any casing (names are unique case-insensitively, as on the
    Hub); callers name the repo with `owner.name`, the canonical casing."""
    owner = user_store.user_by_name(conn, namespace) or user_store.user_by_name_ci(conn, namespace)
    if owner is None:
        raise BadRequest(f"There is no user or organisation named '{namespace}'.")
    return owner


def _current(conn: Connection, repo_id: int) -> RepoRecord:
    """The repo as this write transaction left it (the transaction holds its row, so it is there)."""
    repo = store.repo_by_id(conn, repo_id)
    assert repo is not None, repo_id
    return repo


def create(stores: Stores, principal: Principal, *, repo_type: RepoType, namespace: str | None, name: str,
           private: bool | None = None) -> RepoRecord:
    """Creates a repo. `private=None` (the caller said neither public nor private): the owner organisation's
    "new repos are private" setting decides, else the site-wide `new_repos_private`."""
    namespace = namespace or principal.name or ""
    check_repo_id(namespace, name)
    now = time.time()
    with stores.db.write() as conn:
        owner = _owner(conn, namespace)
        namespace = owner.name
        authorize_create(principal, namespace, owner_id=owner.id, owner_kind=owner.kind)
        if private is None:
            chosen = user_store.default_private(conn, owner.id) if owner.kind == "org" else None
            private = stores.settings.new_repos_private if chosen is None else chosen
        if store.name_taken(conn, repo_type, namespace, name):  # in any case: names are case-insensitive
            hit = store.find_repo(conn, repo_type, namespace, name)
            existing = hit[0].repo_id if hit is not None and not hit[1] else f"{namespace}/{name}"
            raise RepoExists(f"You already created this {repo_type} repo: {existing}",
                             url_path=f"{repo_type.url_prefix}{existing}")
        repo_id = store.insert_repo(conn, type=repo_type, namespace=namespace, name=name, owner_id=owner.id,
                                    private=private, now=now, created_by=principal.user_id)
        repo = _current(conn, repo_id)
        sha = write_commit(
            stores, conn, repo, base=None,
            ops=[AddFile(".gitattributes", default_gitattributes(repo_type).encode())],
            message="initial commit\n", author=signature_for(principal, now),
        )
        store.create_ref(conn, repo_id, f"refs/heads/{DEFAULT_BRANCH}", sha, now)
        store.update_repo(conn, repo_id, head_sha=sha)
        stores.audit.record(conn, principal, Event("repo.create", repo, revision="main",
                                                   details={"private": private, "commit": sha}))
        return _current(conn, repo_id)


def delete(stores: Stores, principal: Principal, repo_type: RepoType, namespace: str, name: str) -> None:
    found = find(stores, principal, repo_type, namespace, name, Action.MANAGE)
    if found.moved:
        raise RepoNotFound(anonymous=principal.anonymous)
    with stores.db.write() as conn:
        store.delete_repo(conn, found.repo.id)
        stores.audit.record(conn, principal, Event("repo.delete", found.repo))


def move(stores: Stores, principal: Principal, repo_type: RepoType, from_id: str, to_id: str) -> RepoRecord:
    src = from_id.split("/")
    dst = to_id.split("/")
    if len(src) != 2 or len(dst) != 2:
        raise BadRequest("Both fromRepo and toRepo must look like 'namespace/name'.")
    check_repo_id(*dst)
    found = find(stores, principal, repo_type, src[0], src[1], Action.MANAGE)
    if found.moved:
        raise RepoNotFound(anonymous=principal.anonymous)
    with stores.db.write() as conn:
        owner = _owner(conn, dst[0])
        dst[0] = owner.name
        to_id = f"{dst[0]}/{dst[1]}"
        if dst[0] != found.repo.namespace:
            authorize_create(principal, dst[0], owner_id=owner.id, owner_kind=owner.kind)
        holder = store.find_repo(conn, repo_type, dst[0], dst[1])  # a change of case only keeps its own name
        if store.name_taken(conn, repo_type, dst[0], dst[1]) and (holder is None or holder[0].id != found.repo.id):
            raise Conflict(f"A {repo_type} repository called {to_id} already exists; choose another name.")
        store.move_repo(conn, found.repo, dst[0], dst[1])
        store.update_repo(conn, found.repo.id, owner_id=owner.id)
        if owner.id != found.repo.owner_id:  # a resource group holds only its own organisation's repos
            org_store.set_repo_group(conn, found.repo.id, None)
        stores.audit.record(conn, principal, Event("repo.move", found.repo, details={"to": to_id}))
        return _current(conn, found.repo.id)


def update_settings(stores: Stores, principal: Principal, name: RepoName, *, private: bool | None = None,
                    gated: str | bool | None = None) -> RepoRecord:
    """Changes visibility and gating; admins of the repo only (a refusal on a private or gated repo is audited)."""
    repo = load(stores, principal, name, Action.MANAGE, follow_moves=False)
    values: dict[str, object] = {}
    if private is not None:
        values["private"] = bool(private)
    if gated is not None:
        if gated is False or gated == "false":
            values["gated"] = None
        elif gated in GATED:
            values["gated"] = gated
        else:
            raise BadRequest(f"Invalid 'gated' value {gated!r}: use \"auto\", \"manual\" or false.")
    with stores.db.write() as conn:
        if values:
            store.update_repo(conn, repo.id, **values)
            stores.audit.record(conn, principal, Event("repo.settings", repo, details=dict(values)))
        return _current(conn, repo.id)


def search(stores: Stores, principal: Principal, *, repo_type: RepoType, search: list[str], author: str | None,
           tags: list[str], sort: str, descending: bool, limit: int, offset: int,
           gated: bool | None = None) -> list[RepoRecord]:
    """A page of the repos the caller may see, each with its downloads of the last 30 days."""
    downloads.settle(stores)  # the counts this server holds in memory count too
    today = downloads.today()

    def query(lim: int, off: int) -> list[RepoRecord]:
        with stores.db.read() as conn:
            return store.search_repos(
                conn, type=repo_type, visible_to=principal.user_id, is_admin=principal.is_admin,
                org_ids=list(principal.org_roles), group_ids=list(principal.group_roles), search=search,
                author=author, tags=tags, gated=gated, sort=sort, descending=descending, limit=lim, offset=off,
                today=today,
            )

    if principal.role is not TokenRole.FINE_GRAINED:
        return query(limit, offset)
    # A scoped token sees fewer private repos than its user's memberships: filter, then page over what it sees,
    # so that pages are full and the cursor counts visible repos only.
    visible: list[RepoRecord] = []
    raw = 0
    while len(visible) < offset + limit and raw < MAX_SCOPED_SCAN:
        batch = query(1000, raw)
        if not batch:
            break
        raw += len(batch)
        visible.extend(r for r in batch if can_see(principal, r))
    return visible[offset : offset + limit]


def with_files(stores: Stores, repos: list[RepoRecord], *, budget: int | None = None) -> list[RepoView]:
    """Listing views of repos the caller may see, with their files at the default branch (`full=True`): at most
    MAX_LISTED_SIBLINGS each (a larger repo lists its first ones, by path; `model_info` lists them all). The views
    of the first repos only, once their files reach `budget` (MAX_PAGE_SIBLINGS; at least one repo): the listing's
    next page starts at the first repo left out."""
    budget = MAX_PAGE_SIBLINGS if budget is None else budget
    views: list[RepoView] = []
    listed = 0
    with stores.db.read() as conn:
        for r in repos:
            if views and listed >= budget:
                break
            files = None
            if r.head_sha is not None:
                root = stores.objects.commit(conn, r.head_sha).tree
                items = list(itertools.islice(
                    ((p, e) for p, e in walk(stores.objects, conn, root) if not e.is_tree), MAX_LISTED_SIBLINGS))
                files = describe(conn, items)
                listed += len(files)
            views.append(replace(view_from_record(r), files=files))
    return views


# tags by type ------------------------------------------------------------------------------------------------------

MAX_TAG_SCAN = 10_000  # most recently changed repos whose tags `models-tags-by-type` gathers
DATASET_TAG_TYPES = ("task_categories", "task_ids", "annotations_creators", "language_creators", "multilinguality",
                     "source_datasets", "language", "license", "size_categories", "modality", "format", "library",
                     "benchmark", "region", "arxiv", "doi")


@dataclass(frozen=True)
class Tag:
    id: str
    label: str
    type: str


def tags_by_type(stores: Stores, principal: Principal, repo_type: RepoType) -> dict[str, list[Tag]]:
    """The tags used by the repos of this type the caller may see (the MAX_TAG_SCAN most recently changed), by
    type, as `get_model_tags` / `get_dataset_tags` read them: each tag once, the most used first."""
    counts: dict[tuple[str, str], int] = {}
    labels: dict[tuple[str, str], str] = {}
    for r in search(stores, principal, repo_type=repo_type, search=[], author=None, tags=[], sort="last_modified",
                    descending=True, limit=MAX_TAG_SCAN, offset=0):
        for key, label in _typed_tags(r):
            counts[key] = counts.get(key, 0) + 1
            labels[key] = label
    out: dict[str, list[Tag]] = {}
    for (kind, tag_id), _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        out.setdefault(kind, []).append(Tag(tag_id, labels[(kind, tag_id)], kind))
    return out


def _typed_tags(r: RepoRecord) -> list[tuple[tuple[str, str], str]]:
    """((type, id), label) of each of a repo's tags."""
    out: list[tuple[tuple[str, str], str]] = []
    card = r.card_data or {}
    languages = card.get("language")
    languages = {languages} if isinstance(languages, str) else set(languages) if isinstance(languages, list) else set()
    for t in r.tags:
        if r.type is RepoType.MODEL:
            if t == r.pipeline_tag:
                out.append((("pipeline_tag", t), _label(t)))
            elif t == r.library_name:
                out.append((("library", t), t))
            elif t in languages:
                out.append((("language", t), t))
            elif ":" in t and t.split(":", 1)[0] in ("dataset", "license", "base_model", "region", "arxiv", "doi"):
                kind, value = t.split(":", 1)
                out.append(((kind, t), value))
            else:
                out.append((("other", t), t))
        else:
            kind, _, value = t.partition(":")
            if value and kind in DATASET_TAG_TYPES:
                out.append(((kind, t), _label(value) if kind == "task_categories" else value))
            else:
                out.append((("other", t), t))
    return out


def _label(tag: str) -> str:
    return " ".join(w.capitalize() for w in tag.replace("_", "-").split("-"))


def auth_check(stores: Stores, principal: Principal, name: RepoName, *, write: bool) -> RepoRecord:
    """`auth_check`: whether the caller may download from the repo (a gated one: once their request is accepted),
    or, with `write`, commit to it. Refused as any use of the repo would be (RepoNotFound when they may not see it,
    GatedRepo, Forbidden); allowed checks of a private or gated repo are audited as repo.auth_check."""
    repo = load(stores, principal, name, Action.WRITE if write else Action.DOWNLOAD)
    repo_access.audit_read(stores, principal, repo, "repo.auth_check", details={"write": write})
    return repo
