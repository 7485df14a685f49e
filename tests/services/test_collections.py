"""services/collections: slugs, and order kept under concurrent changes, on SQLite and PostgreSQL.

Eight writers at once (released together by a barrier) add items to one collection, create collections in one
namespace, or create collections with one title: positions stay dense and distinct, and one title is created once
(the others get CollectionExists naming it)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from inhouse.access.identity import Principal, authenticate
from inhouse.services import collections, repos, users
from inhouse.services.collections import CollectionExists, slugify
from inhouse.services.context import Stores
from inhouse.vocabulary import RepoType, TokenRole

N = 8


def _principal(stores: Stores) -> Principal:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    _, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


def _race(fn: Callable[[int], Any]) -> tuple[dict[int, Any], dict[int, BaseException]]:
    barrier = threading.Barrier(N)
    oks: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}

    def one(i: int) -> None:
        try:
            barrier.wait(30)
            oks[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            errors[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    return oks, errors


def test_slugs() -> None:
    assert slugify("Approved models") == "approved-models"
    assert slugify("  Été 2026: the *best* ones!  ") == "ete-2026-the-best-ones"
    assert slugify("模型") == "collection"  # no ASCII letter left
    assert slugify("x" * 200) == "x" * 60


def test_concurrent_adds_keep_positions_dense(stores: Stores) -> None:
    p = _principal(stores)
    repo_ids = [repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name=f"m{i}").repo_id
                for i in range(N)]
    c = collections.create(stores, p, title="Race", namespace=None)
    oks, errors = _race(lambda i: collections.add_item(stores, p, c.collection.slug, item_id=repo_ids[i],
                                                       item_type="model"))
    assert not errors and len(oks) == N
    view = collections.get(stores, p, c.collection.slug)
    assert [v.item.position for v in view.items] == list(range(N))
    assert sorted(v.repo.repo_id for v in view.items if v.repo) == sorted(repo_ids)


def test_concurrent_creates_keep_one_title_once_and_positions_dense(stores: Stores) -> None:
    p = _principal(stores)
    oks, errors = _race(lambda i: collections.create(stores, p, title="Same title", namespace=None))
    assert len(oks) == 1 and len(errors) == N - 1
    (made,) = oks.values()
    assert all(isinstance(e, CollectionExists) and e.slug == made.collection.slug for e in errors.values())
    oks, errors = _race(lambda i: collections.create(stores, p, title=f"List {i}", namespace=None))
    assert not errors
    listed, _ = collections.listing(stores, p, owners=[p.name or ""], items=[], sort=None, offset=0, limit=100)
    assert [v.collection.position for v in listed] == list(range(N + 1))
    assert len({v.collection.slug for v in listed}) == N + 1
