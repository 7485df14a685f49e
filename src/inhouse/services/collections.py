"""Collections: curated, ordered lists of repos (and other collections) with notes, as on the Hub: how a team
publishes its approved models.

A collection belongs to a user or an organisation (its namespace) and is named by a slug,
'namespace/title-words-<24 hex digits>': the hex digits identify it for good (the title part follows the title,
and an old title part still finds it). Public collections are everyone's to read; a private one exists only for
its owner, the organisation's members and site admins (policy.can_see_collection): anyone else gets the same
NotFound as for a slug that never existed. Inside any collection, each caller sees only the repos they may see
(policy.can_see): a collection never opens a private repo, nor tells that one is there. Changes need the write
role on the namespace (policy.decide_collection_change) and are audited (collection.create, collection.update,
collection.delete, collection.item.add, collection.item.update, collection.item.delete) in the transaction that
makes them.

Bounds (constants, checked first): MAX_COLLECTIONS per namespace, MAX_ITEMS per collection, title, description and
note lengths, MAX_FILTERS values per listing filter and MAX_PAGE collections per listing page.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import can_see, can_see_collection, decide_collection_change
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, NotFound, RepoNotFound
from inhouse.names import check_label, shown
from inhouse.services.context import Stores
from inhouse.storage.db import collections as store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.collections import CollectionRecord, ItemRecord
from inhouse.storage.db.records import RepoRecord, UserRecord
from inhouse.vocabulary import RepoType

__all__ = ["CollectionRecord", "ItemRecord", "RepoRecord"]  # the records the web layer renders

MAX_COLLECTIONS = 1000  # per namespace
MAX_ITEMS = 1000  # per collection
MAX_TITLE = 100
MAX_DESCRIPTION = 150  # as the Hub (huggingface_hub's docstring)
MAX_NOTE = 500  # as the Hub
MAX_FILTERS = 50  # values of `owner` and of `item` in one listing
MAX_PAGE = 100  # collections per listing page
LISTED_ITEMS = 4  # items shown per collection in a listing, as the Hub (get_collection gives them all)
THEMES = ("orange", "blue", "green", "purple", "pink", "indigo")
SORTS = ("lastModified", "trending", "upvotes")
ITEM_TYPES = ("model", "dataset", "space", "collection")
_HEX_ID = re.compile(r"[0-9a-f]{24}")
_SCAN = 200  # items read at a time while looking for the visible ones (a listing shows 4)


class CollectionExists(Conflict):
    """The namespace has a collection with this title already; `slug` is its slug (create_collection's
    exists_ok reads it from the 409)."""

    def __init__(self, message: str, *, slug: str):
        super().__init__(message)
        self.slug = slug


@dataclass(frozen=True)
class ItemView:
    item: ItemRecord
    repo: RepoRecord | None  # a model, dataset or space item
    nested: CollectionRecord | None  # a collection item


@dataclass(frozen=True)
class CollectionView:
    collection: CollectionRecord
    items: list[ItemView]  # those the caller may see, in order


# names -------------------------------------------------------------------------------------------------------------

def slugify(title: str) -> str:
    """The title part of a slug: ASCII letters and digits, '-' between words, at most 60 characters."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")
    return words[:60].rstrip("-") or "collection"


def _parse_slug(slug: str) -> tuple[str, int, str]:
    """(namespace, row id, hex id) of 'namespace/title-<hex>'; NotFound for anything else."""
    parts = slug.split("/")
    hex_id = parts[-1].rsplit("-", 1)[-1] if len(parts) == 2 else ""
    if not _HEX_ID.fullmatch(hex_id):
        raise NotFound(f"Collection not found: '{shown(slug, 200)}' is not a collection slug; slugs look like "
                       "'namespace/title-<24 hex digits>', as create_collection and list_collections give them.")
    return parts[0], int(hex_id[:8], 16), hex_id


def _not_found(slug: str) -> NotFound:
    return NotFound(f"Collection not found: {shown(slug, 200)} does not exist or you cannot see it.")


def _find(conn: Connection, p: Principal, slug: str) -> CollectionRecord:
    """The collection `slug` names, if the caller may see it; the same NotFound otherwise."""
    namespace, row_id, hex_id = _parse_slug(slug)
    c = store.collection_by_id(conn, row_id)
    if (c is None or c.hex_id != hex_id or c.owner_name.lower() != namespace.lower()
            or not can_see_collection(p, owner_id=c.owner_id, owner_name=c.owner_name, private=c.private)):
        raise _not_found(slug)
    return c


def _for_change(conn: Connection, p: Principal, slug: str) -> CollectionRecord:
    """The collection, once the caller may change it (they must see it first: else NotFound, never 403)."""
    c = _find(conn, p, slug)
    decide_collection_change(p, owner_id=c.owner_id, owner_name=c.owner_name, owner_kind=c.owner_kind)
    return c


def _owner(conn: Connection, namespace: str) -> UserRecord:
    owner = user_store.user_by_name(conn, namespace) or user_store.user_by_name_ci(conn, namespace)
    if owner is None:
        raise BadRequest(f"There is no user or organisation named '{shown(namespace, 100)}'; pass an existing "
                         "namespace (your user name by default).")
    return owner


# checks of what callers send ----------------------------------------------------------------------------------------

def _title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise BadRequest("'title' is required: a text of 1 to 100 characters.")
    return check_label(title.strip(), "collection title", MAX_TITLE)


def _description(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise BadRequest(f"'description' must be a text of at most {MAX_DESCRIPTION} characters.")
    return check_label(description.strip(), "collection description", MAX_DESCRIPTION) or None


def _note(note: object) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise BadRequest(f"'note' must be a text of at most {MAX_NOTE} characters.")
    note = note.strip()
    # line breaks are fine in a note; other control and invisible characters are not
    check_label(note.replace("\r\n", "\n").replace("\n", " "), "note", MAX_NOTE)
    return note or None


def _position(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
        raise BadRequest(f"'{what}' must be a whole number from 0 (first).")
    return value


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"'{what}' must be true or false.")
    return value


# reads -------------------------------------------------------------------------------------------------------------

def _views(conn: Connection, p: Principal, records: list[ItemRecord]) -> list[ItemView]:
    """The items the caller may see, with what each names."""
    nested = store.collections_by_ids(conn, [int(i.item_ref) for i in records
                                             if i.item_type == "collection" and i.item_ref])
    out = []
    for i in records:
        if i.repo is not None:
            if can_see(p, i.repo):
                out.append(ItemView(i, i.repo, None))
        elif i.item_ref is not None:
            n = nested.get(int(i.item_ref))
            if n is not None and can_see_collection(p, owner_id=n.owner_id, owner_name=n.owner_name,
                                                    private=n.private):
                out.append(ItemView(i, None, n))
    return out


def _visible_items(conn: Connection, p: Principal, c: CollectionRecord, limit: int) -> list[ItemView]:
    """The first `limit` items of `c` the caller may see, reading _SCAN at a time."""
    found: list[ItemView] = []
    offset = 0
    while len(found) < limit:
        batch = store.items(conn, c.id, offset=offset, limit=_SCAN if limit < MAX_ITEMS else MAX_ITEMS)
        found.extend(_views(conn, p, batch))
        offset += len(batch)
        if len(batch) < (_SCAN if limit < MAX_ITEMS else MAX_ITEMS):
            break
    return found[:limit]


def get(stores: Stores, p: Principal, slug: str) -> CollectionView:
    """The collection with every item the caller may see, in order."""
    with stores.db.read() as conn:
        c = _find(conn, p, slug)
        return CollectionView(c, _visible_items(conn, p, c, MAX_ITEMS))


def _item_filter(conn: Connection, p: Principal, items: list[str]) -> tuple[list[int], list[str]]:
    """The repos and collections `item` filters name ('models/ns/name', 'datasets/…', 'spaces/…',
    'collections/<slug>'), those the caller may see; other kinds (papers) match nothing here."""
    repo_ids: list[int] = []
    refs: list[str] = []
    for raw in items:
        kind, _, rest = raw.partition("/")
        if kind in ("models", "datasets", "spaces"):
            ns, _, name = rest.partition("/")
            hit = repo_store.find_repo(conn, RepoType.from_plural(kind), ns, name) if ns and name else None
            if hit is not None and can_see(p, hit[0]):
                repo_ids.append(hit[0].id)
        elif kind == "collections":
            try:
                refs.append(str(_find(conn, p, rest).id))
            except NotFound:
                pass
        elif kind != "papers":
            raise BadRequest(f"Invalid item filter '{shown(raw, 100)}': use 'models/namespace/name', "
                             "'datasets/…', 'spaces/…' or 'collections/<slug>'.")
    return repo_ids, refs


def listing(stores: Stores, p: Principal, *, owners: list[str], items: list[str], sort: str | None, offset: int,
            limit: int) -> tuple[list[CollectionView], bool]:
    """A page of the collections the caller may see, each with its first LISTED_ITEMS visible items, and whether
    more may follow. Filters: `owners` (any of these namespaces), `items` (holding any of these). Order: `sort`
    (lastModified, or trending / upvotes: most upvoted, then last modified); without one, an owner's own order
    when owners are named, else last modified first."""
    if len(owners) > MAX_FILTERS or len(items) > MAX_FILTERS:
        raise BadRequest(f"At most {MAX_FILTERS} 'owner' and {MAX_FILTERS} 'item' values per listing.")
    if sort is not None and sort not in SORTS:
        raise BadRequest(f"Invalid sort '{shown(sort, 50)}': use one of {', '.join(SORTS)}.")
    limit = max(1, min(limit, MAX_PAGE))
    with stores.db.read() as conn:
        owner_ids = None
        if owners:
            found = [user_store.user_by_name(conn, o) or user_store.user_by_name_ci(conn, o) for o in owners]
            owner_ids = [u.id for u in found if u is not None]
        repo_ids = refs = None
        if items:
            repo_ids, refs = _item_filter(conn, p, items)
        readers = None if p.is_admin else [i for i in [p.user_id, *p.org_roles] if i is not None]
        page = [] if owner_ids == [] or (items and not repo_ids and not refs) else store.search(
            conn, readers=readers, owners=owner_ids, repo_ids=repo_ids, collection_refs=refs,
            sort=sort or ("position" if owners else "lastModified"), offset=offset, limit=limit)
        visible = [c for c in page
                   if can_see_collection(p, owner_id=c.owner_id, owner_name=c.owner_name, private=c.private)]
        return [CollectionView(c, _visible_items(conn, p, c, LISTED_ITEMS)) for c in visible], len(page) == limit


# changes -----------------------------------------------------------------------------------------------------------

def _touch(conn: Connection, c: CollectionRecord, now: float) -> None:
    store.update_collection(conn, c.id, updated_at=now)


def _current(conn: Connection, p: Principal, c: CollectionRecord) -> CollectionView:
    fresh = store.collection_by_id(conn, c.id)
    assert fresh is not None, c.id
    return CollectionView(fresh, _visible_items(conn, p, fresh, MAX_ITEMS))


def create(stores: Stores, p: Principal, *, title: object, namespace: object, description: object = None,
           private: object = False) -> CollectionView:
    """A new, empty collection at the end of the namespace's list. A title the namespace already has (the same
    slug words) is CollectionExists, naming that collection."""
    title = _title(title)
    description = _description(description)
    private = _bool(private, "private")
    if namespace is None:
        namespace = p.name or ""
    if not isinstance(namespace, str) or not namespace:
        raise BadRequest("'namespace' must be the user or organisation the collection belongs to.")
    now = time.time()
    with stores.db.write() as conn:
        owner = _owner(conn, namespace)
        decide_collection_change(p, owner_id=owner.id, owner_name=owner.name, owner_kind=owner.kind)
        store.lock_owner(conn, owner.id)
        existing = store.owned(conn, owner.id)
        words = slugify(title)
        same = next((c for c in existing if slugify(c.title) == words), None)
        if same is not None:
            raise CollectionExists(f"{owner.name} already has a collection titled like this: {same.slug}. Pass "
                                   "exists_ok=True to use it, or choose another title.", slug=same.slug)
        if len(existing) >= MAX_COLLECTIONS:
            raise BadRequest(f"'{owner.name}' has {MAX_COLLECTIONS} collections, the most a namespace may hold; "
                             "delete one first.")
        cid = store.insert_collection(conn, slug=f"{owner.name}/pending-{secrets.token_hex(16)}", owner_id=owner.id,
                                      title=title, description=description, private=private, theme=THEMES[0],
                                      position=len(existing), now=now)
        slug = f"{owner.name}/{words}-{cid:08x}{secrets.token_hex(8)}"
        store.update_collection(conn, cid, slug=slug, theme=THEMES[cid % len(THEMES)])
        stores.audit.record(conn, p, Event("collection.create", details={
            "collection": slug, "title": title, "private": private}))
        c = store.collection_by_id(conn, cid)
        assert c is not None
        return CollectionView(c, [])


def update_metadata(stores: Stores, p: Principal, slug: str, *, title: object = None, description: object = None,
                    position: object = None, private: object = None, theme: object = None) -> CollectionView:
    """Changes what is given: the title (the slug's words follow it, its hex id stays), description, the
    collection's position among its namespace's collections, visibility, theme."""
    values: dict[str, object] = {}
    if title is not None:
        values["title"] = _title(title)
    if description is not None:
        values["description"] = _description(description)
    if private is not None:
        values["private"] = _bool(private, "private")
    if theme is not None:
        if theme not in THEMES:
            raise BadRequest(f"Invalid theme {str(theme)[:30]!r}: use one of {', '.join(THEMES)}.")
        values["theme"] = theme
    new_position = None if position is None else _position(position, "position")
    now = time.time()
    with stores.db.write() as conn:
        c = _for_change(conn, p, slug)
        if "title" in values:
            new_slug = f"{c.owner_name}/{slugify(str(values['title']))}-{c.hex_id}"
            if new_slug != c.slug:
                values["slug"] = new_slug
        if new_position is not None:
            store.lock_owner(conn, c.owner_id)
            order = [x.id for x in store.owned(conn, c.owner_id) if x.id != c.id]
            order.insert(min(new_position, len(order)), c.id)
            store.set_positions(conn, order, items=False)
        store.update_collection(conn, c.id, updated_at=now, **values)
        changed = {k: v for k, v in values.items()}
        if new_position is not None:
            changed["position"] = new_position
        stores.audit.record(conn, p, Event("collection.update", details={"collection": c.slug, **changed}))
        return _current(conn, p, c)


def delete(stores: Stores, p: Principal, slug: str) -> None:
    """Deletes the collection and its items (and removes it from collections that held it)."""
    with stores.db.write() as conn:
        c = _for_change(conn, p, slug)
        store.lock_owner(conn, c.owner_id)
        store.delete_collection(conn, c.id)
        store.set_positions(conn, [x.id for x in store.owned(conn, c.owner_id)], items=False)
        stores.audit.record(conn, p, Event("collection.delete", details={"collection": c.slug, "title": c.title}))


def _target(conn: Connection, p: Principal, item_id: object, item_type: object
            ) -> tuple[str, RepoRecord | None, CollectionRecord | None]:
    """What an item to add names: a repo or a collection the caller may see (else RepoNotFound / NotFound)."""
    if not isinstance(item_id, str) or not item_id:
        raise BadRequest("'item.id' is required: a repo id ('namespace/name') or a collection slug.")
    if item_type in ("paper", "bucket"):
        raise BadRequest(f"inhouse holds no {item_type}s: a collection here lists models, datasets, spaces and "
                         "other collections.")
    if item_type not in ITEM_TYPES:
        raise BadRequest(f"Invalid item type {str(item_type)[:30]!r}: use one of {', '.join(ITEM_TYPES)}.")
    if item_type == "collection":
        return "collection", None, _find(conn, p, item_id)
    kind = RepoType(str(item_type))
    ns, _, name = item_id.partition("/")
    hit = repo_store.find_repo(conn, kind, ns, name) if ns and name and "/" not in name else None
    if hit is None or not can_see(p, hit[0]):
        raise RepoNotFound(f"Repository not found: there is no {kind} '{shown(item_id, 200)}' you can see; give "
                           "the id of an existing repo ('namespace/name') and its type.")
    return kind.value, hit[0], None


def add_item(stores: Stores, p: Principal, slug: str, *, item_id: object, item_type: object,
             note: object = None) -> CollectionView:
    """Adds a repo (or a collection) at the end of the collection; Conflict when it is there already."""
    note = _note(note)
    now = time.time()
    with stores.db.write() as conn:
        c = _for_change(conn, p, slug)
        kind, repo, nested = _target(conn, p, item_id, item_type)
        if nested is not None and nested.id == c.id:
            raise BadRequest("A collection cannot hold itself.")
        store.lock_collection(conn, c.id)
        ref = str(nested.id) if nested is not None else None
        if store.find_item(conn, c.id, repo_id=repo.id if repo else None, item_ref=ref) is not None:
            raise Conflict(f"{shown(str(item_id), 200)} is in this collection already; update its note or "
                           "position instead (update_collection_item), or pass exists_ok=True.")
        count = store.count_items(conn, c.id)
        if count >= MAX_ITEMS:
            raise BadRequest(f"This collection holds {MAX_ITEMS} items, the most a collection may hold; remove one "
                             "first.")
        public_id = secrets.token_hex(12)
        store.insert_item(conn, public_id=public_id, collection_id=c.id, item_type=kind,
                          repo_id=repo.id if repo else None, item_ref=ref, position=count, note=note, now=now)
        _touch(conn, c, now)
        stores.audit.record(conn, p, Event("collection.item.add", details={
            "collection": c.slug, "item": public_id, "type": kind,
            "id": repo.repo_id if repo else nested.slug if nested else None, "note": note}))
        return _current(conn, p, c)


def _item_for_change(conn: Connection, p: Principal, c: CollectionRecord, public_id: str) -> ItemView:
    item = store.item_by_public_id(conn, c.id, public_id) if re.fullmatch(r"[0-9a-f]{1,32}", public_id) else None
    views = _views(conn, p, [item]) if item is not None else []
    if not views:  # an item the caller cannot see is as absent as one that never was
        raise NotFound(f"Item {shown(public_id, 50)} is not in collection {c.slug}; item ids are the "
                       "item_object_id of get_collection's items.")
    return views[0]


def update_item(stores: Stores, p: Principal, slug: str, public_id: str, *, note: object = None,
                position: object = None) -> None:
    """Changes an item's note (an empty one removes it) and/or moves it to `position` (0 is first; past the end
    is last), the items between shifting by one."""
    new_note = _note(note) if note is not None else None
    new_position = None if position is None else _position(position, "position")
    now = time.time()
    with stores.db.write() as conn:
        c = _for_change(conn, p, slug)
        store.lock_collection(conn, c.id)
        view = _item_for_change(conn, p, c, public_id)
        if note is not None:
            store.update_item(conn, view.item.id, note=new_note)
        if new_position is not None:
            order = [i for i in store.item_ids(conn, c.id) if i != view.item.id]
            order.insert(min(new_position, len(order)), view.item.id)
            store.set_positions(conn, order, items=True)
        _touch(conn, c, now)
        details: dict[str, object] = {"collection": c.slug, "item": public_id}
        if note is not None:
            details["note"] = new_note
        if new_position is not None:
            details["position"] = new_position
        stores.audit.record(conn, p, Event("collection.item.update", details=details))


def delete_item(stores: Stores, p: Principal, slug: str, public_id: str) -> None:
    """Removes an item; those after it move up by one."""
    now = time.time()
    with stores.db.write() as conn:
        c = _for_change(conn, p, slug)
        store.lock_collection(conn, c.id)
        view = _item_for_change(conn, p, c, public_id)
        store.delete_item(conn, view.item.id)
        store.set_positions(conn, store.item_ids(conn, c.id), items=True)
        _touch(conn, c, now)
        stores.audit.record(conn, p, Event("collection.item.delete", details={
            "collection": c.slug, "item": public_id,
            "id": view.repo.repo_id if view.repo else view.nested.slug if view.nested else None}))
