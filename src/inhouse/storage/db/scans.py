"""Queries on file_scans: what each scanner (at a version) found in some bytes, keyed by their content key.

The same bytes are never scanned twice by the same scanner version: services/governance/scans.py reads these
rows before it scans and writes a row for each scan that finished (errors are not written: a crash may be
transient, so the next change scans the bytes again)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from inhouse.storage.db.schema import file_scans

MAX_KEYS_PER_QUERY = 500  # IN lists are read in chunks (SQLite's bound on parameters)


@dataclass(frozen=True)
class ScanRecord:
    content_key: str
    scanner: str
    scanner_version: str
    status: str  # clean | findings | error
    findings: dict[str, Any]
    size: int | None
    duration_s: float | None
    scanned_at: float


def get_scans(conn: Connection, keys: Sequence[str]) -> dict[str, list[ScanRecord]]:
    """Content key -> its scan rows (any scanner, any version); keys never scanned are absent."""
    out: dict[str, list[ScanRecord]] = {}
    unique = sorted(set(keys))
    for i in range(0, len(unique), MAX_KEYS_PER_QUERY):
        chunk = unique[i:i + MAX_KEYS_PER_QUERY]
        q = select(file_scans).where(file_scans.c.content_key.in_(chunk)).order_by(file_scans.c.id)
        for r in conn.execute(q):
            out.setdefault(r.content_key, []).append(ScanRecord(
                content_key=r.content_key, scanner=r.scanner, scanner_version=r.scanner_version, status=r.status,
                findings=json.loads(r.findings), size=r.size, duration_s=r.duration_s,
                scanned_at=float(r.scanned_at)))
    return out


def put_scan(conn: Connection, *, content_key: str, scanner: str, scanner_version: str, status: str,
             findings: dict[str, Any], size: int | None, duration_s: float | None, now: float) -> None:
    """Records a finished scan; a row for the same (content key, scanner, version) written meanwhile (by another
    commit scanning the same bytes) is kept."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(file_scans).values(
        content_key=content_key, scanner=scanner, scanner_version=scanner_version, status=status,
        findings=json.dumps(findings, sort_keys=True), size=size, duration_s=duration_s, scanned_at=now,
    ).on_conflict_do_nothing())
