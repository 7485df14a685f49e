"""Queries on collections (curated, ordered lists of repos and other collections, with notes) and their items.

Positions are kept dense: a collection's items are at 0 … n-1, and an owner's collections likewise; every change
of order or membership rewrites the positions it moves, inside the caller's write transaction, after
`lock_collection` / `lock_owner` took the row that serialises such changes (PostgreSQL; SQLite has one writer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, func, insert, or_, select, update

from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.repos import _select as repo_select
from inhouse.storage.db.schema import collection_items, collections, users


@dataclass(frozen=True)
class CollectionRecord:
    id: int
    slug: str  # as stored: "namespace/title-slug-<24 hex>"
    owner_id: int
    owner_name: str
    owner_fullname: str
    owner_kind: str  # user | org
    title: str
    description: str | None
    private: bool
    theme: str
    position: int
    upvotes: int
    created_at: float
    updated_at: float

    @property
    def hex_id(self) -> str:
        """The 24 hex digits that end the slug: what identifies the collection (titles and slugs change)."""
        return self.slug.rsplit("-", 1)[1]


@dataclass(frozen=True)
class ItemRecord:
    id: int
    public_id: str  # the item_object_id the client sees
    collection_id: int
    item_type: str  # model | dataset | space | collection
    repo_id: int | None
    item_ref: str | None  # a collection item: the nested collection's row id
    position: int
    note: str | None
    created_at: float
    repo: RepoRecord | None = None  # the repo a repo item names (None: a collection item)


def _select() -> Select[Any]:
    return select(collections, users.c.name.label("owner_name"), users.c.fullname.label("owner_fullname"),
                  users.c.kind.label("owner_kind")).select_from(
        collections.join(users, users.c.id == collections.c.owner_id))


def _record(row: Any) -> CollectionRecord:
    m = row._mapping
    return CollectionRecord(
        id=m["id"], slug=m["slug"], owner_id=m["owner_id"], owner_name=m["owner_name"],
        owner_fullname=m["owner_fullname"] or "", owner_kind=m["owner_kind"], title=m["title"],
        description=m["description"], private=bool(m["private"]), theme=m["theme"], position=m["position"],
        upvotes=m["upvotes"], created_at=m["created_at"], updated_at=m["updated_at"],
    )


def insert_collection(conn: Connection, *, slug: str, owner_id: int, title: str, description: str | None,
                      private: bool, theme: str, position: int, now: float) -> int:
    return int(conn.execute(insert(collections).values(
        slug=slug, owner_id=owner_id, title=title, description=description, private=private, theme=theme,
        position=position, upvotes=0, created_at=now, updated_at=now).returning(collections.c.id)).scalar_one())


def collection_by_id(conn: Connection, collection_id: int) -> CollectionRecord | None:
    row = conn.execute(_select().where(collections.c.id == collection_id)).first()
    return _record(row) if row else None


def collections_by_ids(conn: Connection, ids: Sequence[int]) -> dict[int, CollectionRecord]:
    if not ids:
        return {}
    return {r.id: r for r in map(_record, conn.execute(_select().where(collections.c.id.in_(list(ids)))))}


def owned(conn: Connection, owner_id: int) -> list[CollectionRecord]:
    """The owner's collections in their order (bounded by the service's cap per owner)."""
    q = _select().where(collections.c.owner_id == owner_id).order_by(collections.c.position, collections.c.id)
    return [_record(r) for r in conn.execute(q)]


def count_owned(conn: Connection, owner_id: int) -> int:
    return int(conn.execute(
        select(func.count()).select_from(collections).where(collections.c.owner_id == owner_id)).scalar_one())


def lock_owner(conn: Connection, owner_id: int) -> None:
    """Serialises changes to an owner's list of collections (a row lock on PostgreSQL)."""
    conn.execute(select(users.c.id).where(users.c.id == owner_id).with_for_update())


def lock_collection(conn: Connection, collection_id: int) -> None:
    """Serialises changes to one collection's items (a row lock on PostgreSQL)."""
    conn.execute(select(collections.c.id).where(collections.c.id == collection_id).with_for_update())


def update_collection(conn: Connection, collection_id: int, **values: Any) -> None:
    conn.execute(update(collections).where(collections.c.id == collection_id).values(**values))


def set_positions(conn: Connection, table_ids: Sequence[int], *, items: bool) -> None:
    """Writes position i to the i-th row of `table_ids` where it differs (items or collections)."""
    table = collection_items if items else collections
    current = dict(conn.execute(select(table.c.id, table.c.position).where(table.c.id.in_(list(table_ids)))).all())
    for pos, row_id in enumerate(table_ids):
        if current.get(row_id) != pos:
            conn.execute(update(table).where(table.c.id == row_id).values(position=pos))


def delete_collection(conn: Connection, collection_id: int) -> None:
    """The collection, its items, and the items of other collections that point at it."""
    conn.execute(delete(collection_items).where(collection_items.c.collection_id == collection_id))
    holders = [r.collection_id for r in conn.execute(
        select(collection_items.c.collection_id).where(collection_items.c.item_type == "collection",
                                                        collection_items.c.item_ref == str(collection_id)))]
    conn.execute(delete(collection_items).where(collection_items.c.item_type == "collection",
                                                collection_items.c.item_ref == str(collection_id)))
    conn.execute(delete(collections).where(collections.c.id == collection_id))
    for holder in set(holders):
        set_positions(conn, item_ids(conn, holder), items=True)


def search(conn: Connection, *, readers: Sequence[int] | None, owners: Sequence[int] | None,
           repo_ids: Sequence[int] | None, collection_refs: Sequence[str] | None, sort: str, offset: int,
           limit: int) -> list[CollectionRecord]:
    """A page of collections: public ones and the private ones of `readers` (owner ids; None: all), of `owners`
    when given, holding one of `repo_ids` / `collection_refs` when given."""
    q = _select()
    if readers is not None:
        q = q.where(or_(collections.c.private.is_(False), collections.c.owner_id.in_(list(readers))))
    if owners is not None:
        q = q.where(collections.c.owner_id.in_(list(owners)))
    if repo_ids is not None or collection_refs is not None:
        holds = select(collection_items.c.collection_id).where(or_(
            collection_items.c.repo_id.in_(list(repo_ids or [])),
            and_(collection_items.c.item_type == "collection",
                 collection_items.c.item_ref.in_(list(collection_refs or []))),
        ))
        q = q.where(collections.c.id.in_(holds))
    orders: dict[str, list[Any]] = {
        "lastModified": [collections.c.updated_at.desc()],
        "upvotes": [collections.c.upvotes.desc(), collections.c.updated_at.desc()],
        "trending": [collections.c.upvotes.desc(), collections.c.updated_at.desc()],
        "position": [collections.c.owner_id, collections.c.position],
    }
    q = q.order_by(*orders[sort], collections.c.id.desc()).offset(offset).limit(limit)
    return [_record(r) for r in conn.execute(q)]


# items -------------------------------------------------------------------------------------------------------------

def _item_select() -> Select[Any]:
    r = repo_select().subquery()
    return select(collection_items, *[c.label(f"r_{c.name}") for c in r.c]).select_from(
        collection_items.outerjoin(r, r.c.id == collection_items.c.repo_id))


def _item(row: Any) -> ItemRecord:
    m = row._mapping
    repo = None
    if m["r_id"] is not None:
        repo = RepoRecord.from_row(_Prefixed(m))
    return ItemRecord(id=m["id"], public_id=m["public_id"], collection_id=m["collection_id"],
                      item_type=m["item_type"], repo_id=m["repo_id"], item_ref=m["item_ref"],
                      position=m["position"], note=m["note"], created_at=m["created_at"], repo=repo)


class _Prefixed:
    """A row whose repo columns carry an 'r_' prefix, read by RepoRecord.from_row as a plain repo row."""

    def __init__(self, mapping: Any):
        self._mapping = {k[2:]: v for k, v in mapping.items() if k.startswith("r_")}


def items(conn: Connection, collection_id: int, *, offset: int = 0, limit: int = 1000) -> list[ItemRecord]:
    q = (_item_select().where(collection_items.c.collection_id == collection_id)
         .order_by(collection_items.c.position, collection_items.c.id).offset(offset).limit(limit))
    return [_item(r) for r in conn.execute(q)]


def item_ids(conn: Connection, collection_id: int) -> list[int]:
    return [r.id for r in conn.execute(
        select(collection_items.c.id).where(collection_items.c.collection_id == collection_id)
        .order_by(collection_items.c.position, collection_items.c.id))]


def count_items(conn: Connection, collection_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(collection_items)
                            .where(collection_items.c.collection_id == collection_id)).scalar_one())


def item_by_public_id(conn: Connection, collection_id: int, public_id: str) -> ItemRecord | None:
    row = conn.execute(_item_select().where(collection_items.c.collection_id == collection_id,
                                            collection_items.c.public_id == public_id)).first()
    return _item(row) if row else None


def find_item(conn: Connection, collection_id: int, *, repo_id: int | None, item_ref: str | None
              ) -> ItemRecord | None:
    cond = (collection_items.c.repo_id == repo_id) if repo_id is not None else and_(
        collection_items.c.item_type == "collection", collection_items.c.item_ref == item_ref)
    row = conn.execute(_item_select().where(collection_items.c.collection_id == collection_id, cond)).first()
    return _item(row) if row else None


def insert_item(conn: Connection, *, public_id: str, collection_id: int, item_type: str, repo_id: int | None,
                item_ref: str | None, position: int, note: str | None, now: float) -> int:
    return int(conn.execute(insert(collection_items).values(
        public_id=public_id, collection_id=collection_id, item_type=item_type, repo_id=repo_id, item_ref=item_ref,
        position=position, note=note, created_at=now).returning(collection_items.c.id)).scalar_one())


def update_item(conn: Connection, item_id: int, **values: Any) -> None:
    conn.execute(update(collection_items).where(collection_items.c.id == item_id).values(**values))


def delete_item(conn: Connection, item_id: int) -> None:
    conn.execute(delete(collection_items).where(collection_items.c.id == item_id))

