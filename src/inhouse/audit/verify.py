"""`inhouse audit verify`: walk the chain and say exactly which entry was modified, deleted, inserted or moved."""

from __future__ import annotations

from dataclasses import dataclass, field

from inhouse.audit.chain import GENESIS, entry_hash
from inhouse.audit.log import AuditLog
from inhouse.storage.db import audit as store
from inhouse.storage.db.engine import Database

WINDOW = 64  # how far to look for the true position of an entry that is out of place


@dataclass
class Report:
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(db: Database, log: AuditLog) -> Report:
    report = Report()
    hashes: dict[int, str] = {}
    expected_seq = 1
    prev_hash = GENESIS
    with db.read() as conn:
        for e in store.scan(conn):
            report.entries += 1
            seq = int(e["seq"])
            if seq > expected_seq:
                gap = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}..#{seq - 1}"
                report.problems.append(f"entry {gap} deleted: the sequence jumps from #{expected_seq - 1} to #{seq}")
            authentic = entry_hash(log.key, e["prev_hash"], e) == e["hash"]
            if not authentic:
                moved_from = _true_position(log.key, e, seq)
                if moved_from is not None:
                    report.problems.append(
                        f"entry #{seq} is out of place: its content was recorded as entry #{moved_from} (reordered)")
                elif e["prev_hash"] == prev_hash or seq > expected_seq:
                    report.problems.append(
                        f"entry #{seq} was modified: its content no longer matches its hash "
                        f"(action {e['action']}, actor {e['actor']})")
                else:
                    report.problems.append(f"entry #{seq} is not authentic: inserted or forged (action {e['action']})")
            elif e["prev_hash"] != prev_hash and seq == expected_seq:
                report.problems.append(
                    f"entry #{seq} does not follow entry #{seq - 1}: an entry before it was removed or replaced")
            hashes[seq] = e["hash"]
            prev_hash = e["hash"]
            expected_seq = seq + 1
    checkpoints, bad = log.book.read()
    report.problems.extend(bad)
    report.checkpoints = len(checkpoints)
    last_seq = expected_seq - 1
    for cp in checkpoints:
        if cp.seq > last_seq:
            report.problems.append(
                f"checkpoint of {_iso(cp.ts)} signed entry #{cp.seq}, but the log ends at #{last_seq}: "
                f"entries #{last_seq + 1}..#{cp.seq} were deleted")
        elif hashes.get(cp.seq) != cp.hash:
            report.problems.append(
                f"checkpoint of {_iso(cp.ts)} signed entry #{cp.seq} with another hash: the log was rewritten "
                f"at or before #{cp.seq}")
    return report


def _true_position(key: bytes, e: dict, seq: int) -> int | None:  # type: ignore[type-arg]
    for delta in range(1, WINDOW + 1):
        for cand in (seq - delta, seq + delta):
            if cand >= 1 and entry_hash(key, e["prev_hash"], {**e, "seq": cand}) == e["hash"]:
                return cand
    return None


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
