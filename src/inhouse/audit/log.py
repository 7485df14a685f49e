"""THE audit writer. Changes are recorded inside the transaction that makes them: no change without its record,
no record of a change that rolled back. Reads of private and gated artifacts get their own small transaction."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.audit.chain import GENESIS, entry_hash, load_chain_key
from inhouse.audit.checkpoints import Checkpoint, CheckpointBook
from inhouse.storage.db import audit as store
from inhouse.storage.db.engine import Database
from inhouse.storage.db.records import RepoRecord

CHECKPOINT_ACTION = "audit.checkpoint"


@dataclass(frozen=True)
class Event:
    action: str  # e.g. repo.create, commit, file.download, token.revoke
    repo: RepoRecord | str | None = None
    revision: str | None = None
    path: str | None = None
    outcome: str = "ok"  # ok | denied
    details: dict[str, Any] = field(default_factory=dict)


def repo_label(repo: RepoRecord | str | None) -> str | None:
    if repo is None or isinstance(repo, str):
        return repo
    return repo.url_path  # "ns/name" for models, "datasets/ns/name" for datasets


Observer = Callable[[Connection, Principal | None, Event], None]


class AuditLog:
    def __init__(self, data_dir: Path, *, enabled: bool = True):
        self.enabled = enabled
        # called as observer(conn, who, event) by `record`, in the change's transaction, after the entry is
        # written (also when the audit log is disabled): webhooks write their events from here
        self.observers: list[Observer] = []
        self.key = load_chain_key(data_dir)
        self.book = CheckpointBook(data_dir)

    def record(self, conn: Connection, who: Principal | None, event: Event) -> int | None:
        """Appends one entry inside the caller's write transaction, then tells the observers; returns its
        sequence number."""
        if not self.enabled:
            self._observe(conn, who, event)
            return None
        store.lock_for_append(conn)
        last = store.last_entry(conn)
        seq = (last[0] if last else 0) + 1
        prev = last[1] if last else GENESIS
        row: dict[str, Any] = {
            "seq": seq, "ts": time.time(), "actor": who.name if who else None,
            "token_id": who.token_id if who else None, "action": event.action, "repo": repo_label(event.repo),
            "revision": event.revision, "path": event.path, "ip": who.ip if who else None,
            "request_id": who.request_id if who else None, "outcome": event.outcome,
            "details": json.dumps(event.details, sort_keys=True, separators=(",", ":")),
        }
        row["prev_hash"] = prev
        row["hash"] = entry_hash(self.key, prev, row)
        store.append(conn, row)
        self._observe(conn, who, event)
        return seq

    def _observe(self, conn: Connection, who: Principal | None, event: Event) -> None:
        for observer in self.observers:
            observer(conn, who, event)

    def record_now(self, db: Database, who: Principal | None, event: Event) -> int | None:
        """Records an event that changes nothing else (a read), in a transaction of its own."""
        if not self.enabled:
            return None
        with db.write() as conn:
            return self.record(conn, who, event)

    def checkpoint(self, db: Database, who: Principal | None = None, *, force: bool = False) -> Checkpoint | None:
        """Signs the current head into the checkpoint file if it moved since the last checkpoint, then records
        the checkpoint in the log (audit.checkpoint), so that a deleted checkpoint line or file is noticed."""
        with db.read() as conn:
            last = store.last_entry(conn)
            head = next(store.scan(conn, after_seq=last[0] - 1, batch=1), None) if last else None
        if last is None or head is None:
            return None
        prev = self.book.last()
        if prev is not None and not force:
            if (prev.seq, prev.hash) == last:
                return None
            if head["action"] == CHECKPOINT_ACTION and head["seq"] == prev.seq + 1:
                return None  # only the record of the previous checkpoint was added since
        cp = self.book.write(last[0], last[1])
        if self.enabled:
            with db.write() as conn:
                self.record(conn, who, Event(CHECKPOINT_ACTION, details={"seq": cp.seq, "hash": cp.hash}))
        return cp
