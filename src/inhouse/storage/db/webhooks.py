"""Queries on webhooks and their deliveries (the outbox and the delivery log in one table).

Each (webhook, repo) is a queue: its first undone delivery is its head, `pending` (due at `next_attempt_at`) or
`failed` (attempts exhausted: the queue waits until it is resent); the deliveries behind it are `queued`. A delivery
is written in the transaction of the change it reports (the head if its queue was empty, else queued), claimed by
the delivery thread before it is sent (its attempt counted, `next_attempt_at` pushed past the send's timeout, so a
crash mid-send only means it is sent again later), and finished as `delivered` or `skipped` (not to be sent: the
webhook's owner lost access to the repo), which makes the next queued delivery the head, or `pending` again at a
later time (a retry), or `failed`. Queues change under one lock (PostgreSQL advisory lock; SQLite has one writer),
so that a delivery written while its head finishes is never left behind; `repair` mends any queue without a head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, delete, func, insert, or_, select, text, update

from inhouse.storage.db.schema import discussion_events, users, webhook_deliveries, webhooks

QUEUED = "queued"
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
SKIPPED = "skipped"
UNDONE = (QUEUED, PENDING, FAILED)
HEAD = (PENDING, FAILED)
MAX_MEMO = 4096  # webhook records a caller of webhooks_for_event keeps
_PG_QUEUE_LOCK = 0x776562686F6F6B  # "webhook": serialises changes to the delivery queues on PostgreSQL


@dataclass(frozen=True)
class WebhookRecord:
    id: int
    public_id: str
    owner_id: int
    url: str
    secret: str | None
    watched: list[dict[str, str]]
    domains: list[str]
    disabled: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    webhook_id: int
    repo_key: str
    event: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None


@dataclass(frozen=True)
class DueDelivery:
    """A delivery to send now, with where to and how to sign it."""

    delivery: DeliveryRecord
    url: str
    secret: str | None
    owner_id: int


def _hook(row: Any) -> WebhookRecord:
    m = row._mapping
    return WebhookRecord(id=m["id"], public_id=m["public_id"], owner_id=m["owner_id"], url=m["url"],
                         secret=m["secret"], watched=json.loads(m["watched"] or "[]"),
                         domains=json.loads(m["domains"] or "[]"), disabled=bool(m["disabled"]),
                         created_at=m["created_at"], updated_at=m["updated_at"])


def _delivery(row: Any) -> DeliveryRecord:
    m = row._mapping
    return DeliveryRecord(id=m["id"], webhook_id=m["webhook_id"], repo_key=m["repo_key"], event=m["event"],
                          payload=m["payload"], status=m["status"], attempts=m["attempts"],
                          next_attempt_at=m["next_attempt_at"], last_status=m["last_status"],
                          last_error=m["last_error"], created_at=m["created_at"], delivered_at=m["delivered_at"])


# webhooks ----------------------------------------------------------------------------------------------------------

def insert_webhook(conn: Connection, *, public_id: str, owner_id: int, url: str, secret: str | None,
                   watched: list[dict[str, str]], domains: list[str], now: float) -> int:
    result = conn.execute(insert(webhooks).values(
        public_id=public_id, owner_id=owner_id, url=url, secret=secret, watched=json.dumps(watched),
        domains=json.dumps(domains), disabled=False, created_at=now, updated_at=now))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def webhook_by_public_id(conn: Connection, public_id: str) -> WebhookRecord | None:
    row = conn.execute(select(webhooks).where(webhooks.c.public_id == public_id)).first()
    return _hook(row) if row else None


def webhook_by_id(conn: Connection, webhook_id: int) -> WebhookRecord | None:
    row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
    return _hook(row) if row else None


def webhooks_of(conn: Connection, owner_id: int) -> list[WebhookRecord]:
    rows = conn.execute(select(webhooks).where(webhooks.c.owner_id == owner_id).order_by(webhooks.c.id))
    return [_hook(r) for r in rows]


def count_of(conn: Connection, owner_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(webhooks)
                            .where(webhooks.c.owner_id == owner_id)).scalar_one())


def webhooks_for_event(conn: Connection, repo_key: str, memo: dict[tuple[Any, ...], WebhookRecord] | None = None
                       ) -> list[tuple[WebhookRecord, bool]]:
    """Every enabled webhook, each with whether its queue for `repo_key` holds an undone delivery, in one
    statement (the change's transaction runs it for each event; call `lock_queues` first). `memo`: records already
    built, by their row's values (a row that changed in any column is a new key), kept by the caller across calls
    so that each event does not parse every webhook's JSON columns again."""
    out = []
    for r in conn.execute(_FOR_EVENT, {"b_key": repo_key}):
        values = tuple(r)
        key, busy = values[:-1], values[-1]
        hook = memo.get(key) if memo is not None else None
        if hook is None:
            hook = _hook(r)
            if memo is not None:
                if len(memo) >= MAX_MEMO:
                    memo.clear()
                memo[key] = hook
        out.append((hook, bool(busy)))
    return out


def update_webhook(conn: Connection, webhook_id: int, *, now: float, url: str | None = None,
                   secret: str | None = None, watched: list[dict[str, str]] | None = None,
                   domains: list[str] | None = None, disabled: bool | None = None) -> None:
    values: dict[str, Any] = {"updated_at": now}
    if url is not None:
        values["url"] = url
    if secret is not None:
        values["secret"] = secret or None  # "" removes the secret
    if watched is not None:
        values["watched"] = json.dumps(watched)
    if domains is not None:
        values["domains"] = json.dumps(domains)
    if disabled is not None:
        values["disabled"] = disabled
    conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(**values))


def delete_webhook(conn: Connection, webhook_id: int) -> None:
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
    conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))


def comment(conn: Connection, discussion_id: int, event_id: int) -> tuple[str | None, dict[str, Any]] | None:
    """(author name, data) of one comment of a discussion, for the event's payload."""
    e = discussion_events
    row = conn.execute(select(users.c.name, e.c.data)
                       .select_from(e.outerjoin(users, users.c.id == e.c.author_id))
                       .where(e.c.discussion_id == discussion_id, e.c.id == event_id)).first()
    if row is None:
        return None
    data = json.loads(row.data or "{}")
    return row.name, data if isinstance(data, dict) else {}


# deliveries --------------------------------------------------------------------------------------------------------

def lock_queues(conn: Connection) -> None:
    """Serialises changes to the queues until the transaction ends (SQLite's write transaction already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_QUEUE_LOCK})


def _busy(conn: Connection, repo_key: str, webhook_ids: list[int]) -> set[int]:
    """Which of the webhooks' queues for `repo_key` have an undone delivery (one statement, each answered by the
    first index entry it finds, however long the queue)."""
    d = webhook_deliveries
    undone = (select(d.c.id).where(d.c.webhook_id == webhooks.c.id, d.c.repo_key == repo_key,
                                   d.c.status.in_(UNDONE)).exists())
    return set(conn.execute(select(webhooks.c.id).where(webhooks.c.id.in_(webhook_ids), undone)).scalars())


def insert_deliveries(conn: Connection, rows: list[dict[str, Any]],
                      busy: set[tuple[int, str]] | None = None) -> None:
    """Rows of {webhook_id, repo_key, event, payload, created_at}: each its queue's head, due now, when the queue
    is empty; else queued behind what is there. `busy`: the (webhook id, repo key) queues known to hold an undone
    delivery, read under `lock_queues` in this transaction (None: looked up here)."""
    if not rows:
        return
    if busy is None:
        lock_queues(conn)
        busy = set()
        for key in {r["repo_key"] for r in rows}:
            ids = sorted({r["webhook_id"] for r in rows if r["repo_key"] == key})
            busy |= {(w, key) for w in _busy(conn, key, ids)}
    busy = set(busy)
    values = []
    for r in rows:
        group = (r["webhook_id"], r["repo_key"])
        status = QUEUED if group in busy else PENDING
        busy.add(group)
        values.append({**r, "status": status, "attempts": 0, "next_attempt_at": r["created_at"]})
    conn.execute(_INSERT, values)


def _promote(conn: Connection, webhook_id: int, repo_key: str, now: float) -> None:
    """Makes the first queued delivery of a queue without a head its head, due now (one statement)."""
    conn.execute(_PROMOTE, {"b_hook": webhook_id, "b_key": repo_key, "b_now": now})


def due(conn: Connection, now: float, limit: int) -> list[DueDelivery]:
    """Deliveries to send now: heads of enabled webhooks' queues whose time has come, the longest waiting first."""
    rows = conn.execute(_DUE, {"b_now": now, "b_limit": limit})
    return [DueDelivery(_delivery(r), r.url, r.secret, r.owner_id) for r in rows]


def next_due_at(conn: Connection) -> float | None:
    """When the next head of an enabled webhook's queue falls due (None: nothing is waiting)."""
    value = conn.execute(_NEXT_DUE).scalar()
    return float(value) if value is not None else None


def waiting(conn: Connection) -> bool:
    """Whether any delivery is still to be sent (a queue's head, or a queued one behind it)."""
    return conn.execute(_WAITING).first() is not None


def claim(conn: Connection, ids: list[int], now: float, lease_until: float) -> set[int]:
    """Counts an attempt of each delivery still pending and due, and hides it until `lease_until`; returns the
    ids claimed (another sender may have claimed some first)."""
    if not ids:
        return set()
    return set(conn.execute(_CLAIM, {"b_ids": ids, "b_now": now, "b_lease": lease_until}).scalars())


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt of `delivery`."""

    delivery: DeliveryRecord
    status: str
    next_attempt_at: float
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None


def finish(conn: Connection, outcomes: list[Outcome]) -> None:
    """Records attempts' outcomes (two statements however many); a delivery done with (delivered, skipped) hands
    its queue to the next one. Call `lock_queues` first in the transaction."""
    if not outcomes:
        return
    conn.execute(_FINISH, [{"b_id": o.delivery.id, "b_status": o.status, "b_next": o.next_attempt_at,
                            "b_last_status": o.last_status, "b_last_error": o.last_error,
                            "b_delivered_at": o.delivered_at} for o in outcomes])
    done = [{"b_hook": o.delivery.webhook_id, "b_key": o.delivery.repo_key, "b_now": o.next_attempt_at}
            for o in outcomes if o.status in (DELIVERED, SKIPPED)]
    if done:
        conn.execute(_PROMOTE, done)


def repair(conn: Connection, now: float, limit: int) -> int:
    """Gives a head to queues left without one (on PostgreSQL without the audit log's lock, or by hand); returns
    how many. Looks at every undone delivery: run it rarely."""
    lock_queues(conn)
    d = webhook_deliveries
    heads = func.sum(case((d.c.status.in_(HEAD), 1), else_=0))
    groups = conn.execute(select(d.c.webhook_id, d.c.repo_key).where(d.c.status.in_(UNDONE))
                          .group_by(d.c.webhook_id, d.c.repo_key).having(heads == 0).limit(limit)).all()
    for g in groups:
        _promote(conn, g.webhook_id, g.repo_key, now)
    return len(groups)


def deliveries_of(conn: Connection, webhook_id: int, *, before: int | None, limit: int,
                  status: str | None = None) -> list[DeliveryRecord]:
    """The delivery log of one webhook, newest first, `limit` rows with ids below `before`."""
    d = webhook_deliveries
    q = select(d).where(d.c.webhook_id == webhook_id)
    if before is not None:
        q = q.where(d.c.id < before)
    if status is not None:
        q = q.where(d.c.status == status)
    return [_delivery(r) for r in conn.execute(q.order_by(d.c.id.desc()).limit(limit))]


def delivery(conn: Connection, webhook_id: int, delivery_id: int) -> DeliveryRecord | None:
    d = webhook_deliveries
    row = conn.execute(select(d).where(d.c.webhook_id == webhook_id, d.c.id == delivery_id)).first()
    return _delivery(row) if row else None


def retry(conn: Connection, webhook_id: int, now: float, delivery_id: int | None = None) -> int:
    """Puts failed deliveries (one, or all of the webhook's) back in the queue, due now, with fresh attempts."""
    d = webhook_deliveries
    where = and_(d.c.webhook_id == webhook_id, d.c.status == FAILED)
    if delivery_id is not None:
        where = and_(where, d.c.id == delivery_id)
    result = conn.execute(update(d).where(where).values(status=PENDING, attempts=0, next_attempt_at=now))
    return int(result.rowcount)


def prune(conn: Connection, older_than: float, limit: int) -> int:
    """Deletes up to `limit` delivered or skipped rows finished before `older_than` (the log's retention)."""
    d = webhook_deliveries
    ids = select(d.c.id).where(d.c.status.in_((DELIVERED, SKIPPED)), d.c.created_at < older_than).limit(limit)
    old = [r[0] for r in conn.execute(ids)]
    if old:
        conn.execute(delete(d).where(d.c.id.in_(old)))
    return len(old)


# The statements the change's transaction and the delivery thread run all the time, built once (building one costs
# more than running it).
_d = webhook_deliveries
_other = webhook_deliveries.alias("other")
_FOR_EVENT = select(webhooks, select(_d.c.id).where(
    _d.c.webhook_id == webhooks.c.id, _d.c.repo_key == bindparam("b_key"), _d.c.status.in_(UNDONE)
).exists().label("busy")).where(webhooks.c.disabled.is_(False)).order_by(webhooks.c.id)
_INSERT = insert(webhook_deliveries)
_GROUP = and_(_other.c.webhook_id == bindparam("b_hook"), _other.c.repo_key == bindparam("b_key"))
_PROMOTE = update(_d).where(
    _d.c.id == select(func.min(_other.c.id)).where(_GROUP, _other.c.status == QUEUED).scalar_subquery(),
    ~select(_other.c.id).where(_GROUP, or_(*(_other.c.status == h for h in HEAD))).exists(),  # executemany: no IN
).values(status=PENDING, next_attempt_at=bindparam("b_now"))
_DUE = (select(_d, webhooks.c.url, webhooks.c.secret, webhooks.c.owner_id)
        .select_from(_d.join(webhooks, webhooks.c.id == _d.c.webhook_id))
        .where(_d.c.status == PENDING, _d.c.next_attempt_at <= bindparam("b_now"), webhooks.c.disabled.is_(False))
        .order_by(_d.c.next_attempt_at, _d.c.id).limit(bindparam("b_limit")))
_NEXT_DUE = (select(func.min(_d.c.next_attempt_at)).select_from(_d.join(webhooks, webhooks.c.id == _d.c.webhook_id))
             .where(_d.c.status == PENDING, webhooks.c.disabled.is_(False)))
_WAITING = select(_d.c.id).where(_d.c.status.in_((PENDING, QUEUED))).limit(1)
_CLAIM = (update(_d).where(_d.c.id.in_(bindparam("b_ids", expanding=True)), _d.c.status == PENDING,
                           _d.c.next_attempt_at <= bindparam("b_now"))
          .values(attempts=_d.c.attempts + 1, next_attempt_at=bindparam("b_lease")).returning(_d.c.id))
_FINISH = update(_d).where(_d.c.id == bindparam("b_id")).values(
    status=bindparam("b_status"), next_attempt_at=bindparam("b_next"), last_status=bindparam("b_last_status"),
    last_error=bindparam("b_last_error"), delivered_at=bindparam("b_delivered_at"))
