"""`inhouse audit verify`: walk the chain and say exactly which entry was modified, deleted, inserted or moved.

Every entry's hash is an HMAC (key outside the database) over its content, its sequence number and the previous
entry's hash, so a row that verifies at sequence number N *is* the genuine entry N, wherever it now sits. The
verifier first streams the log checking each row at its stored number (the common, intact case keeps nothing in
memory); only when something is off does it load the log and work out what happened:

* a row that verifies at another number was moved: two rows that trade places were swapped, a run shifted by
  the same amount was renumbered (around an insertion or a deletion);
* a row that verifies nowhere was modified when something still vouches for its hash (the next genuine entry
  names it as its predecessor, or a signed checkpoint pinned it), and was inserted otherwise;
* a number that no genuine or modified row accounts for was deleted; deletions at the end are caught by the
  signed checkpoints, which also catch a chain rebuilt with the key.

Checkpoints themselves are recorded in the log (action audit.checkpoint), so a deleted checkpoint line or file
is caught too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inhouse.audit.chain import GENESIS, entry_hash
from inhouse.audit.checkpoints import Checkpoint
from inhouse.audit.log import CHECKPOINT_ACTION, AuditLog
from inhouse.storage.db import audit as store
from inhouse.storage.db.engine import Database

WINDOW = 64  # how far to look for the true position of a moved entry that no neighbour points to


@dataclass
class Report:
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    checkpoints: int = 0
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(db: Database, log: AuditLog) -> Report:
    report = Report()
    # Checkpoints read before the log can only pin entries the log already holds; the file is read again
    # afterwards to check that every checkpoint the log records is still in it.
    pinned, bad_lines = log.book.read()
    report.problems.extend(bad_lines)
    report.checkpoints = len(pinned)
    pinned_seqs = {cp.seq for cp in pinned}
    recorded: list[tuple[int, int, str]] = []  # (entry seq, checkpointed seq, checkpointed hash)
    hash_at: dict[int, str] = {}
    intact = True
    with db.read() as conn:
        expected = 1
        for e in store.scan(conn):
            report.entries += 1
            seq = int(e["seq"])
            if seq != expected or entry_hash(log.key, e["prev_hash"], e) != e["hash"]:
                intact = False
                break
            if seq in pinned_seqs:
                hash_at[seq] = e["hash"]
            _note_checkpoint_entry(e, recorded)
            expected = seq + 1
        report.last_seq = expected - 1
        if not intact:
            rows = list(store.scan(conn))
            report.entries = len(rows)
            report.last_seq = int(rows[-1]["seq"]) if rows else 0
            recorded = []
            for e in rows:
                _note_checkpoint_entry(e, recorded)
            report.problems.extend(_diagnose(log.key, rows, pinned))
        else:
            report.problems.extend(_check_pins(pinned, hash_at, report.last_seq))
    present, _ = log.book.read()
    report.problems.extend(_check_recorded(log, recorded, present))
    return report


def _note_checkpoint_entry(e: dict[str, Any], recorded: list[tuple[int, int, str]]) -> None:
    if e["action"] != CHECKPOINT_ACTION:
        return
    try:
        d = json.loads(e["details"] or "{}")
        recorded.append((int(e["seq"]), int(d["seq"]), str(d["hash"])))
    except (ValueError, KeyError, TypeError):
        pass  # a damaged entry is reported by the chain walk


def _check_pins(pinned: list[Checkpoint], hash_at: dict[int, str], last_seq: int) -> list[str]:
    """Checkpoints against an intact chain ending at `last_seq`."""
    problems = []
    beyond = [cp for cp in pinned if cp.seq > last_seq]
    if beyond:
        cp = max(beyond, key=lambda c: c.seq)
        problems.append(_tail_deleted(cp, last_seq))
    for cp in pinned:
        if cp.seq <= last_seq and hash_at.get(cp.seq) != cp.hash:
            problems.append(_mismatch(cp, hash_at.get(cp.seq)))
    return problems


def _tail_deleted(cp: Checkpoint, last_seq: int) -> str:
    span = f"entry #{cp.seq} was" if cp.seq == last_seq + 1 else f"entries #{last_seq + 1}..#{cp.seq} were"
    return (f"{span} deleted: the checkpoint of {_iso(cp.ts)} signed entry #{cp.seq}, but the log ends at "
            f"#{last_seq}")


def _mismatch(cp: Checkpoint, actual: str | None) -> str:
    return (f"checkpoint mismatch: the checkpoint of {_iso(cp.ts)} signed entry #{cp.seq} as {cp.hash[:16]}…, "
            f"the log's entry #{cp.seq} hashes to {(actual or '?')[:16]}…: the log was rewritten at or before "
            f"#{cp.seq}")


def _check_recorded(log: AuditLog, recorded: list[tuple[int, int, str]], present: list[Checkpoint]) -> list[str]:
    """Every checkpoint the log says was taken must still be in the checkpoint file, correctly signed."""
    if not recorded:
        return []
    if not log.book.file.exists():
        last = recorded[-1]
        return [(f"checkpoint file {log.book.file} is missing: the log records {len(recorded)} checkpoint(s), the "
                 f"latest (entry #{last[0]}) signing entry #{last[1]}; restore it from a backup")]
    have = {(cp.seq, cp.hash) for cp in present}
    return [(f"checkpoint mismatch: entry #{at} records a checkpoint of entry #{seq} that is not in "
             f"{log.book.file} (a checkpoint line was deleted or altered)")
            for at, seq, hash_ in recorded if (seq, hash_) not in have]


def _verifies(key: bytes, e: dict[str, Any], seq: int) -> bool:
    return seq >= 1 and entry_hash(key, e["prev_hash"], {**e, "seq": seq}) == e["hash"]


def _diagnose(key: bytes, rows: list[dict[str, Any]], pinned: list[Checkpoint]) -> list[str]:
    n = len(rows)
    stored = [int(r["seq"]) for r in rows]
    at_stored = {s: i for i, s in enumerate(stored)}
    by_hash: dict[str, int] = {}
    by_prev: dict[str, list[int]] = {}  # several rows may name one predecessor when one was inserted
    for i, r in enumerate(rows):
        by_hash.setdefault(r["hash"], i)
        by_prev.setdefault(r["prev_hash"], []).append(i)

    # 1. the genuine number of every row that verifies somewhere
    orig: list[int | None] = [s if _verifies(key, r, s) else None for r, s in zip(rows, stored)]
    for _ in range(2):  # a second round lets rows resolve through neighbours resolved in the first
        for i, r in enumerate(rows):
            if orig[i] is not None:
                continue
            for cand in _candidates(r, stored[i], orig, by_hash, by_prev):
                if _verifies(key, r, cand):
                    orig[i] = cand
                    break

    # 2. rows that verify nowhere: modified if something vouches for their hash, inserted otherwise
    pinned_hash = {cp.hash: cp.seq for cp in pinned}
    genuine = {o for o in orig if o is not None}
    problems: list[tuple[int, str]] = []
    slots: set[int] = set()
    for i, r in enumerate(rows):
        if orig[i] is not None:
            continue
        s = stored[i]
        succ = [o for j in by_prev.get(r["hash"], ()) if (o := orig[j]) is not None]
        slot: int | None = None
        if succ:
            slot = succ[0] - 1
        elif r["hash"] in pinned_hash:
            slot = pinned_hash[r["hash"]]
        if slot is None:
            pred = by_hash.get(r["prev_hash"])
            pred_seq = 0 if r["prev_hash"] == GENESIS else (orig[pred] if pred is not None else None)
            if pred_seq is not None and pred_seq + 1 == s and s not in genuine and any(g > s for g in genuine):
                slot = s  # its place in the chain is empty: the entry there was rewritten, hash and all
                what = (f"entry #{s} was modified: neither its content nor its hash matches the chain "
                        f"({_describe(r)})")
            elif s > max(genuine, default=0):
                what = (f"entry #{s} was inserted: it is not authentic and nothing vouches for it (appended at the "
                        f"end, or modified after the last checkpoint) ({_describe(r)})")
            else:
                what = f"entry #{s} was inserted: it is not authentic and is not part of the chain ({_describe(r)})"
        else:
            where = "" if slot == s else f" (it was recorded as #{slot})"
            what = f"entry #{s} was modified: its content no longer matches its hash{where} ({_describe(r)})"
        if slot is not None:
            slots.add(slot)
        problems.append((s, what))

    # 3. rows out of place: swapped pairs, renumbered runs, single moves
    done: set[int] = set()
    for i in range(n):
        o = orig[i]
        if o is None or o == stored[i] or i in done:
            continue
        j = at_stored.get(o)
        if j is not None and j not in done and orig[j] == stored[i]:
            done.update((i, j))
            a, b = sorted((stored[i], o))
            swapped = f"entries #{a} and #{b} were swapped (reordered): each holds what was recorded as the other"
            problems.append((a, swapped))
            continue
        shift = stored[i] - o
        k = i
        while k + 1 < n and k + 1 not in done:
            nxt = orig[k + 1]
            if nxt is None or stored[k + 1] - nxt != shift or stored[k + 1] != stored[k] + 1:
                break
            k += 1
        done.update(range(i, k + 1))
        if k == i:
            problems.append((stored[i], f"entry #{stored[i]} is out of place (reordered): it was recorded as #{o}"))
        else:
            what = (f"entries #{stored[i]}..#{stored[k]} were renumbered (reordered): they were recorded as "
                    f"#{o}..#{orig[k]}")
            problems.append((stored[i], what))

    # 4. numbers nothing accounts for were deleted
    covered = genuine | slots
    for a, b in _ranges(s for s in range(1, max(covered, default=0) + 1) if s not in covered):
        span = f"entry #{a} was" if a == b else f"entries #{a}..#{b} were"
        recorded_as = f"#{a}" if a == b else f"#{a}..#{b}"
        problems.append((a, f"{span} deleted: no entry in the log is the one recorded as {recorded_as}"))

    # 5. checkpoints against the genuine entries
    hash_of = {o: rows[i]["hash"] for i, o in enumerate(orig) if o is not None}
    last = max(covered, default=0)
    beyond = [cp for cp in pinned if cp.seq > last]
    if beyond:
        cp = max(beyond, key=lambda c: c.seq)
        problems.append((last + 1, _tail_deleted(cp, last)))
    for cp in pinned:
        if cp.seq in hash_of and hash_of[cp.seq] != cp.hash:
            problems.append((cp.seq, _mismatch(cp, hash_of[cp.seq])))
    return [text for _, text in sorted(problems, key=lambda p: p[0])]


def _candidates(r: dict[str, Any], seq: int, orig: list[int | None], by_hash: dict[str, int],
                by_prev: dict[str, list[int]]) -> Iterable[int]:
    if r["prev_hash"] == GENESIS:
        yield 1
    pred = by_hash.get(r["prev_hash"])
    before = orig[pred] if pred is not None else None
    if before is not None:
        yield before + 1
    for j in by_prev.get(r["hash"], ()):
        after = orig[j]
        if after is not None:
            yield after - 1
    for delta in range(1, WINDOW + 1):
        yield seq - delta
        yield seq + delta


def _ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in seqs:
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def _describe(e: dict[str, Any]) -> str:
    return f"action {e['action']}, actor {e['actor']}, recorded at {_iso(float(e['ts']))}"


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"ts={ts!r}"
