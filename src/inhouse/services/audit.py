"""The audit log as operators use it: export with filters, verify, checkpoint. Reading the log is itself audited
(audit.export, audit.read, audit.verify) and, over HTTP, restricted to site admins."""

from __future__ import annotations

import getpass
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import decide_audit_read
from inhouse.audit.checkpoints import Checkpoint
from inhouse.audit.log import Event
from inhouse.audit.verify import Report
from inhouse.audit.verify import verify as verify_chain
from inhouse.errors import BadRequest
from inhouse.services.context import Stores
from inhouse.storage.db import audit as store

BATCH = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PAGE = 1000


@dataclass(frozen=True)
class Filters:
    """Which entries to read. `action` may end in `*` (`repo.*`); `since` is inclusive, `until` exclusive."""

    actor: str | None = None
    repo: str | None = None
    action: str | None = None
    since: float | None = None
    until: float | None = None

    def as_details(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in asdict(self).items() if v is not None}
        for k in ("since", "until"):
            if k in out:
                out[k] = iso(out[k])
        return out


def parse_time(value: str | None, name: str) -> float | None:
    """'2024-05-01', '2024-05-01T12:00:00Z' or with an offset → a Unix time; a time without a zone is UTC."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{name}' must be an ISO 8601 date or time such as 2024-05-01 or 2024-05-01T12:00:00Z; "
                         f"got '{value}'.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def iso(ts: float) -> str:
    """Microseconds rounded down, so that --since with an exported time includes that entry."""
    return (EPOCH + timedelta(microseconds=math.floor(Decimal(ts) * 1_000_000))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(e: dict[str, Any]) -> dict[str, Any]:
    """One entry as exported: every field of the chain, `details` as an object and the time in ISO form."""
    try:
        details = json.loads(e["details"] or "{}")
    except ValueError:
        details = e["details"]  # a damaged entry is exported as it is; `inhouse audit verify` names it
    return {
        "seq": int(e["seq"]), "time": iso(float(e["ts"])), "ts": float(e["ts"]), "actor": e["actor"],
        "token_id": e["token_id"], "action": e["action"], "repo": e["repo"], "revision": e["revision"],
        "path": e["path"], "ip": e["ip"], "request_id": e["request_id"], "outcome": e["outcome"],
        "details": details, "prev_hash": e["prev_hash"], "hash": e["hash"],
    }


def _operator(via: str) -> dict[str, Any]:
    try:
        return {"via": via, "os_user": getpass.getuser()}
    except (KeyError, OSError):
        return {"via": via}


def export(stores: Stores, who: Principal | None, filters: Filters, *, via: str = "cli") -> Iterator[dict[str, Any]]:
    """Records the export (audit.export, with its filters), then streams the matching entries up to and including
    that record, in order, a batch per short read transaction."""
    details = {"filters": filters.as_details(), **(_operator(via) if who is None else {"via": via})}
    upto = stores.audit.record_now(stores.db, who, Event("audit.export", details=details))
    return _entries(stores, filters, after=0, upto=upto)


def stream(stores: Stores, who: Principal, filters: Filters) -> Iterator[dict[str, Any]]:
    """GET /api/audit as JSON Lines: the caller must be a site admin; the read is recorded (audit.read)."""
    decide_audit_read(who)
    upto = stores.audit.record_now(stores.db, who, Event("audit.read", details={
        "filters": filters.as_details(), "format": "jsonl"}))
    return _entries(stores, filters, after=0, upto=upto)


def read_page(stores: Stores, who: Principal, filters: Filters, *, after: int,
              limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """One page of GET /api/audit: entries after sequence number `after`, and the cursor of the next page."""
    decide_audit_read(who)
    if after < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"'cursor' must be 0 or more and 'limit' between 1 and {MAX_PAGE}.")
    stores.audit.record_now(stores.db, who, Event("audit.read", details={
        "filters": filters.as_details(), "cursor": after, "limit": limit}))
    with stores.db.read() as conn:
        rows = list(itertools.islice(_scan(conn, filters, after), limit + 1))
    page = [to_json(r) for r in rows[:limit]]
    return page, (page[-1]["seq"] if len(rows) > limit else None)


def _scan(conn: Connection, filters: Filters, after: int, batch: int = BATCH) -> Iterator[dict[str, Any]]:
    return store.scan(conn, actor=filters.actor, repo=filters.repo, action=filters.action, since=filters.since,
                      until=filters.until, after_seq=after, batch=batch)


def _entries(stores: Stores, filters: Filters, *, after: int, upto: int | None) -> Iterator[dict[str, Any]]:
    while True:
        with stores.db.read() as conn:
            rows = list(itertools.islice(_scan(conn, filters, after), BATCH))
        for r in rows:
            if upto is not None and int(r["seq"]) > upto:
                return
            yield to_json(r)
        if len(rows) < BATCH:
            return
        after = int(rows[-1]["seq"])


def verify(stores: Stores, who: Principal | None = None, *, via: str = "cli") -> Report:
    """Walks the chain and the checkpoints; records that it did (audit.verify) with what it found."""
    report = verify_chain(stores.db, stores.audit)
    details = {"entries": report.entries, "checkpoints": report.checkpoints, "problems": len(report.problems),
               **(_operator(via) if who is None else {"via": via})}
    stores.audit.record_now(stores.db, who, Event("audit.verify", outcome="ok" if report.ok else "error",
                                                  details=details))
    return report


def checkpoint(stores: Stores, who: Principal | None = None, *, force: bool = False) -> Checkpoint | None:
    """Signs the head into data/audit/checkpoints.jsonl if it moved (or always with force); None if it did not."""
    return stores.audit.checkpoint(stores.db, who, force=force)
