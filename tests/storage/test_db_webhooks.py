"""The webhook delivery queues on each backend: one head per (webhook, repo), the next one made head when it is
done, a failed head holding the rest back until retried, and `repair` mending a queue left without a head."""

from __future__ import annotations

import time

from sqlalchemy import update

from inhouse.storage.db import users as user_store
from inhouse.storage.db import webhooks as store
from inhouse.storage.db.engine import Database
from inhouse.storage.db.schema import webhook_deliveries


def _statuses(db: Database, webhook_id: int) -> list[tuple[str, str]]:
    with db.read() as conn:
        return [(d.repo_key, d.status) for d in reversed(store.deliveries_of(conn, webhook_id, before=None,
                                                                             limit=100))]


def _hook(db: Database, now: float) -> int:
    with db.write() as conn:
        owner = user_store.insert_user(conn, name="alice", fullname="A", email=None, kind="user", is_admin=False,
                                       now=now)
        return store.insert_webhook(conn, public_id="abc", owner_id=owner.id, url="http://127.0.0.1:9/",
                                    secret=None, watched=[{"type": "user", "name": "alice"}], domains=["repo"],
                                    now=now)


def _rows(hook: int, keys: list[str], now: float) -> list[dict[str, object]]:
    return [{"webhook_id": hook, "repo_key": k, "event": "repo.content.update", "payload": "{}", "created_at": now}
            for k in keys]


def test_one_head_per_queue_and_the_next_one_follows(db: Database) -> None:
    now = time.time()
    hook = _hook(db, now)
    with db.write() as conn:
        store.insert_deliveries(conn, _rows(hook, ["model:1", "model:1", "model:2"], now))
    with db.write() as conn:
        store.insert_deliveries(conn, _rows(hook, ["model:1", "model:2"], now))
    assert _statuses(db, hook) == [("model:1", "pending"), ("model:1", "queued"), ("model:2", "pending"),
                                   ("model:1", "queued"), ("model:2", "queued")]
    with db.read() as conn:
        due = store.due(conn, now + 1, 10)
    assert [d.delivery.repo_key for d in due] == ["model:1", "model:2"]
    first = due[0].delivery
    with db.write() as conn:
        assert store.claim(conn, [first.id, due[1].delivery.id], now + 1, now + 60) == {first.id, due[1].delivery.id}
        assert store.claim(conn, [first.id], now + 1, now + 60) == set()  # claimed once only
    with db.read() as conn:
        assert store.due(conn, now + 1, 10) == []
        assert store.next_due_at(conn) == now + 60
    with db.write() as conn:  # a failed head holds its queue
        store.lock_queues(conn)
        store.finish(conn, [store.Outcome(first, store.FAILED, now, 503, "x")])
    assert _statuses(db, hook)[:2] == [("model:1", "failed"), ("model:1", "queued")]
    with db.write() as conn:
        assert store.retry(conn, hook, now) == 1
    with db.write() as conn:
        store.lock_queues(conn)
        store.finish(conn, [store.Outcome(first, store.DELIVERED, now, 200, None, now)])
    assert _statuses(db, hook)[:2] == [("model:1", "delivered"), ("model:1", "pending")]


def test_repair_gives_a_headless_queue_its_head(db: Database) -> None:
    now = time.time()
    hook = _hook(db, now)
    with db.write() as conn:
        store.insert_deliveries(conn, _rows(hook, ["model:1", "model:1"], now))
        conn.execute(update(webhook_deliveries).values(status=store.QUEUED))  # as a lost race would leave it
    with db.read() as conn:
        assert store.due(conn, now + 1, 10) == []
    with db.write() as conn:
        assert store.repair(conn, now, 100) == 1
        assert store.repair(conn, now, 100) == 0
    assert _statuses(db, hook) == [("model:1", "pending"), ("model:1", "queued")]
