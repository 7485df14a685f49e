"""Queries on webhooks and their deliveries (the outbox and the delivery log in one table).

A delivery row is written in the transaction of the change it reports (status `pending`), claimed by the
delivery thread before it is sent (its attempt counted, `next_attempt_at` pushed past the send's timeout, so a
crash mid-send only means the row is sent again later), and finished as `delivered`, `pending` again (a retry at
a later `next_attempt_at`), `failed` (attempts exhausted: the rows after it for the same webhook and repo wait
until it is resent) or `skipped` (not to be sent: the webhook's owner lost access to the repo).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from inhouse.storage.db.schema import discussion_events, users, webhook_deliveries, webhooks

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
SKIPPED = "skipped"


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


def active_webhooks(conn: Connection) -> list[WebhookRecord]:
    """Every enabled webhook (events are matched against them in the change's transaction)."""
    rows = conn.execute(select(webhooks).where(webhooks.c.disabled.is_(False)).order_by(webhooks.c.id))
    return [_hook(r) for r in rows]


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

def insert_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of {webhook_id, repo_key, event, payload}; pending and due now."""
    if rows:
        conn.execute(insert(webhook_deliveries), [
            {**r, "status": PENDING, "attempts": 0, "next_attempt_at": r["created_at"]} for r in rows])


def _heads() -> Any:
    """The first undone delivery of each (webhook, repo): only it may be sent, so each receiver gets a repo's
    events in order."""
    d = webhook_deliveries
    return (select(func.min(d.c.id)).where(d.c.status.in_((PENDING, FAILED)))
            .group_by(d.c.webhook_id, d.c.repo_key))


def due(conn: Connection, now: float, limit: int) -> list[DueDelivery]:
    """Deliveries to send now: pending heads of enabled webhooks whose time has come, oldest first."""
    d = webhook_deliveries
    rows = conn.execute(
        select(d, webhooks.c.url, webhooks.c.secret, webhooks.c.owner_id)
        .select_from(d.join(webhooks, webhooks.c.id == d.c.webhook_id))
        .where(d.c.id.in_(_heads()), d.c.status == PENDING, d.c.next_attempt_at <= now,
               webhooks.c.disabled.is_(False))
        .order_by(d.c.id).limit(limit))
    return [DueDelivery(_delivery(r), r.url, r.secret, r.owner_id) for r in rows]


def next_due_at(conn: Connection) -> float | None:
    """When the next pending head of an enabled webhook falls due (None: nothing is waiting)."""
    d = webhook_deliveries
    value = conn.execute(
        select(func.min(d.c.next_attempt_at))
        .select_from(d.join(webhooks, webhooks.c.id == d.c.webhook_id))
        .where(d.c.id.in_(_heads()), d.c.status == PENDING, webhooks.c.disabled.is_(False))).scalar()
    return float(value) if value is not None else None


def claim(conn: Connection, delivery_id: int, attempts: int, lease_until: float) -> bool:
    """Counts an attempt and hides the row until `lease_until`; False when another sender claimed it first."""
    d = webhook_deliveries
    result = conn.execute(update(d).where(d.c.id == delivery_id, d.c.status == PENDING, d.c.attempts == attempts)
                          .values(attempts=attempts + 1, next_attempt_at=lease_until))
    return result.rowcount == 1


def finish(conn: Connection, delivery_id: int, *, status: str, next_attempt_at: float, last_status: int | None,
           last_error: str | None, delivered_at: float | None) -> None:
    d = webhook_deliveries
    conn.execute(update(d).where(d.c.id == delivery_id).values(
        status=status, next_attempt_at=next_attempt_at, last_status=last_status, last_error=last_error,
        delivered_at=delivered_at))


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
