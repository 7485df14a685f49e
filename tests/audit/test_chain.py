"""The hash chain, its verifier and its checkpoints, on SQLite and PostgreSQL, with entries written by the real
audit writer (AuditLog.record) and tampered with directly in SQL; and the export / read use cases."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from inhouse.access.identity import Principal
from inhouse.audit.chain import entry_hash
from inhouse.audit.log import Event
from inhouse.audit.verify import WINDOW
from inhouse.config import Settings
from inhouse.errors import BadRequest, Forbidden, Unauthorized
from inhouse.services import audit as audit_service
from inhouse.services.context import Stores
from inhouse.storage.db.schema import audit_log
from inhouse.vocabulary import TokenRole

ALICE = Principal(user_id=1, name="alice", is_admin=True, token_id=7, token_name="laptop", role=TokenRole.WRITE,
                  ip="10.0.0.1", request_id="r1")
BOB = Principal(user_id=2, name="bob", token_id=8, token_name="bob", role=TokenRole.WRITE, ip="10.0.0.2", request_id="r2")


def _fill(stores: Stores, n: int) -> None:
    for i in range(n):
        who = ALICE if i % 3 else BOB
        repo = "alice/model" if i % 2 else "datasets/bob/data"
        stores.audit.record_now(stores.db, who, Event("file.download" if i % 4 else "commit", repo,
                                                      revision="main", path=f"f{i}.bin", details={"i": i}))


def _rows(stores: Stores) -> list[dict[str, Any]]:
    with stores.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


def _problems(stores: Stores) -> list[str]:
    from inhouse.audit.verify import verify

    return verify(stores.db, stores.audit).problems


def _move(stores: Stores, pairs: list[tuple[int, int]]) -> None:
    """Renumbers entries (old → new) in one transaction, through negative numbers (the key is checked per row)."""
    with stores.db.write() as conn:
        for old, _ in pairs:
            conn.execute(update(audit_log).where(audit_log.c.seq == old).values(seq=-old))
        for old, new in pairs:
            conn.execute(update(audit_log).where(audit_log.c.seq == -old).values(seq=new))


def test_an_intact_chain_verifies_and_links_each_entry_to_the_previous(stores: Stores) -> None:
    _fill(stores, 40)
    rows = _rows(stores)
    assert [r["seq"] for r in rows] == list(range(1, 41))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    assert all(entry_hash(stores.audit.key, r["prev_hash"], r) == r["hash"] for r in rows)
    report = audit_service.verify(stores)
    assert report.ok and report.entries == 40 and report.problems == []
    last = _rows(stores)[-1]
    assert last["action"] == "audit.verify" and json.loads(last["details"])["problems"] == 0


def test_the_hash_covers_every_field(stores: Stores) -> None:
    _fill(stores, 3)
    for column, value in (("ts", 1.5), ("actor", "x"), ("token_id", 99), ("action", "x"), ("repo", "x/y"),
                          ("revision", "dev"), ("path", "other"), ("ip", "1.2.3.4"), ("request_id", "x"),
                          ("outcome", "denied"), ("details", "{}"), ("prev_hash", "1" * 64)):
        original = _rows(stores)[1][column]
        with stores.db.write() as conn:
            conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(**{column: value}))
        assert [p.split(":")[0] for p in _problems(stores)] == ["entry #2 was modified"], column
        with stores.db.write() as conn:
            conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(**{column: original}))
        assert _problems(stores) == []


def test_deletion_closed_up_by_renumbering_is_named(stores: Stores) -> None:
    _fill(stores, 20)
    with stores.db.write() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 8))
    _move(stores, [(s, s - 1) for s in range(9, 21)])
    assert _problems(stores) == [
        "entries #8..#19 were renumbered (reordered): they were recorded as #9..#20",
        "entry #8 was deleted: no entry in the log is the one recorded as #8",
    ]


def test_swap_further_apart_than_the_search_window_is_named(stores: Stores) -> None:
    n = WINDOW + 40
    _fill(stores, n)
    _move(stores, [(2, n - 1), (n - 1, 2)])
    assert _problems(stores) == [
        f"entries #2 and #{n - 1} were swapped (reordered): each holds what was recorded as the other"]


def test_an_entry_moved_to_the_end_is_named(stores: Stores) -> None:
    _fill(stores, 15)
    _move(stores, [(5, 15)] + [(s, s - 1) for s in range(6, 16)])
    assert _problems(stores) == [
        "entries #5..#14 were renumbered (reordered): they were recorded as #6..#15",
        "entry #15 is out of place (reordered): it was recorded as #5",
    ]


def test_rewritten_entry_with_the_stolen_chain_key_is_caught_by_the_checkpoint(stores: Stores) -> None:
    _fill(stores, 10)
    cp = audit_service.checkpoint(stores)
    assert cp is not None and cp.seq == 10
    rows = _rows(stores)
    prev = rows[3]["prev_hash"]
    with stores.db.write() as conn:  # someone with data/audit/chain.key rewrites history from #4 on
        for r in rows[3:]:
            r = {**r, "actor": "mallory"} if r["seq"] == 4 else dict(r)
            r["prev_hash"] = prev
            r["hash"] = entry_hash(stores.audit.key, prev, r)
            conn.execute(update(audit_log).where(audit_log.c.seq == r["seq"]).values(
                actor=r["actor"], prev_hash=r["prev_hash"], hash=r["hash"]))
            prev = r["hash"]
    problems = _problems(stores)
    assert len(problems) == 1, problems
    assert problems[0].startswith("checkpoint mismatch: the checkpoint of ") and "signed entry #10" in problems[0]
    assert problems[0].endswith("the log was rewritten at or before #10")


def test_checkpoints_sign_the_head_only_when_it_moved(stores: Stores) -> None:
    assert audit_service.checkpoint(stores) is None  # an empty log has nothing to sign
    assert not stores.audit.book.file.exists() or stores.audit.book.file.read_text() == ""
    _fill(stores, 5)
    cp = audit_service.checkpoint(stores, ALICE)
    assert cp is not None and (cp.seq, cp.hash) == (5, _rows(stores)[4]["hash"])
    record = _rows(stores)[-1]
    assert (record["seq"], record["action"], record["actor"]) == (6, "audit.checkpoint", "alice")
    assert json.loads(record["details"]) == {"seq": 5, "hash": cp.hash}
    assert audit_service.checkpoint(stores) is None  # only its own record was added since
    assert audit_service.checkpoint(stores, force=True) is not None  # unless forced
    _fill(stores, 1)
    again = audit_service.checkpoint(stores)
    assert again is not None and again.seq == 8
    lines = [json.loads(x) for x in stores.audit.book.file.read_text().splitlines()]
    assert [x["seq"] for x in lines] == [5, 6, 8]
    report = audit_service.verify(stores)
    assert report.ok and report.checkpoints == 3, report.problems


def test_a_deleted_checkpoint_line_is_named(stores: Stores) -> None:
    _fill(stores, 4)
    audit_service.checkpoint(stores)
    _fill(stores, 2)
    audit_service.checkpoint(stores)
    book = stores.audit.book.file
    first, second = book.read_text().splitlines()
    book.write_text(second + "\n")
    expected = (f"checkpoint mismatch: entry #5 records a checkpoint of entry #4 that is not in {book} (a checkpoint "
                "line was deleted or altered)")
    assert _problems(stores) == [expected]
    book.write_text(first + "\n" + second + "\n")
    assert _problems(stores) == []


def test_export_filters_and_is_itself_audited(stores: Stores) -> None:
    _fill(stores, 12)
    t_mid = _rows(stores)[5]["ts"]
    everything = list(audit_service.export(stores, None, audit_service.Filters()))
    assert [e["seq"] for e in everything] == list(range(1, 14))  # up to and including its own record
    own = everything[-1]
    assert own["action"] == "audit.export" and own["details"]["filters"] == {} and own["details"]["via"] == "cli"

    def seqs(**kw: Any) -> list[int]:
        return [e["seq"] for e in audit_service.export(stores, ALICE, audit_service.Filters(**kw), via="http")]

    assert seqs(actor="bob") == [1, 4, 7, 10]
    assert seqs(repo="datasets/bob/data") == [1, 3, 5, 7, 9, 11]
    assert seqs(action="commit") == [1, 5, 9]
    assert seqs(action="audit.*") == [13, 14, 15, 16, 17]  # the exports so far, this one included
    assert seqs(since=t_mid, action="file.*") == [6, 7, 8, 10, 11, 12]
    assert seqs(until=t_mid) == [1, 2, 3, 4, 5]
    exported = list(audit_service.export(stores, ALICE, audit_service.Filters(actor="alice", since=t_mid)))
    first = exported[0]
    assert first["seq"] == 6 and first["actor"] == "alice" and first["details"] == {"i": 5}
    assert first["time"].endswith("Z") and first["hash"] == _rows(stores)[5]["hash"]
    record = _rows(stores)[-1]
    assert record["action"] == "audit.export" and record["actor"] == "alice" and record["token_id"] == 7
    assert json.loads(record["details"])["filters"]["since"].startswith(time.strftime("%Y-", time.gmtime(t_mid)))
    assert audit_service.verify(stores).ok


def test_time_filters_parse_iso_dates() -> None:
    assert audit_service.parse_time("1970-01-02", "since") == 86400.0
    assert audit_service.parse_time("1970-01-01T01:00:00Z", "since") == 3600.0
    assert audit_service.parse_time("1970-01-01T02:00:00+01:00", "since") == 3600.0
    assert audit_service.parse_time(None, "since") is None
    with pytest.raises(BadRequest, match="ISO 8601"):
        audit_service.parse_time("yesterday", "since")


def test_reading_over_http_is_for_site_admins_and_is_audited(stores: Stores) -> None:
    _fill(stores, 7)
    with pytest.raises(Unauthorized):
        audit_service.read_page(stores, Principal(), audit_service.Filters(), after=0, limit=10)
    with pytest.raises(Forbidden, match="site admins"):
        audit_service.read_page(stores, BOB, audit_service.Filters(), after=0, limit=10)
    scoped = Principal(user_id=1, name="alice", is_admin=True, token_id=9, token_name="ci", role=TokenRole.FINE_GRAINED)
    with pytest.raises(Forbidden, match="read or write token"):
        audit_service.stream(stores, scoped, audit_service.Filters())
    denied = [r for r in _rows(stores) if r["action"].startswith("audit.")]
    assert denied == []  # refusals read nothing, so there is no read to record
    page, nxt = audit_service.read_page(stores, ALICE, audit_service.Filters(), after=0, limit=5)
    assert [e["seq"] for e in page] == [1, 2, 3, 4, 5] and nxt == 5
    page, nxt = audit_service.read_page(stores, ALICE, audit_service.Filters(), after=5, limit=5)
    assert [e["seq"] for e in page] == [6, 7, 8, 9] and nxt is None  # 8 and 9: the two reads
    reads = [r for r in _rows(stores) if r["action"] == "audit.read"]
    assert [json.loads(r["details"])["cursor"] for r in reads] == [0, 5]
    with pytest.raises(BadRequest):
        audit_service.read_page(stores, ALICE, audit_service.Filters(), after=0, limit=0)


def test_with_audit_off_nothing_is_recorded(database_url: str, tmp_path: Path) -> None:
    s = Stores.open(Settings(data_dir=tmp_path / "data", database_url=database_url, audit_enabled=False))
    try:
        _fill(s, 3)
        assert _rows(s) == []
        assert list(audit_service.export(s, None, audit_service.Filters())) == []
        assert audit_service.verify(s).ok
    finally:
        s.close()


def test_the_server_signs_the_head_at_shutdown_and_periodically_when_it_moved(tmp_path: Path) -> None:
    from tests.support.live import LiveServer

    srv = LiveServer(tmp_path / "data", env={"INHOUSE_AUDIT_CHECKPOINT_INTERVAL_S": "3600"})
    book = srv.stores.audit.book.file

    def signed() -> list[int]:
        return [json.loads(x)["seq"] for x in book.read_text().splitlines()] if book.exists() else []

    def head() -> int:
        return int(_rows(srv.stores)[-1]["seq"])

    try:
        srv.start()
        owner = srv.make_user()
        srv.api(srv.make_token(owner)).create_repo(f"{owner}/m")
        at_stop = head()
        srv.stop()  # SIGTERM: a last checkpoint at shutdown
        assert signed() == [at_stop] and head() == at_stop + 1  # and its record

        srv.env["INHOUSE_AUDIT_CHECKPOINT_INTERVAL_S"] = "1"
        srv.start()
        assert audit_service.verify(srv.stores).ok
        srv.api(srv.make_token(owner)).create_repo(f"{owner}/n")
        moved = head()
        deadline = time.time() + 15
        while moved not in signed() and time.time() < deadline:
            time.sleep(0.2)
        periodic = signed()
        assert periodic[0] == at_stop and periodic[-1] == moved  # (a tick may have fallen between the calls)
        time.sleep(3)  # idle: the head only gained the checkpoint's own record, so nothing more is signed
        assert signed() == periodic and head() == moved + 1
    finally:
        srv.close()
    assert signed() == periodic  # nothing moved before this shutdown either
    report = audit_service.verify(srv.stores)
    srv.close()
    assert report.ok and report.checkpoints == len(periodic), report.problems
