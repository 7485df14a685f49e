"""`inhouse audit verify | export | checkpoint` as an operator runs them, next to a running server whose log was
written by real client operations, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from inhouse.services.audit import iso
from inhouse.storage.db.schema import audit_log
from tests.support.live import LiveServer, drop_pg_database, new_pg_database


@dataclass
class Site:
    srv: LiveServer
    owner: str
    repo: str  # a private repo with uploads and downloads

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "inhouse", "audit", *args, "--data", str(self.srv.data_dir),
               "--database-url", self.srv.database_url]
        return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)

    def rows(self) -> list[dict[str, Any]]:
        with self.srv.stores.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]

    def count(self) -> int:
        with self.srv.stores.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp(f"audit-cli-{request.param}")
    url = new_pg_database() if request.param == "postgresql" else f"sqlite:///{base / 'inhouse.db'}"
    srv = LiveServer(base / "data", database_url=url, env={"INHOUSE_AUDIT_CHECKPOINT_INTERVAL_S": "3600"})
    try:
        srv.start()
        owner = srv.make_user()
        token = srv.make_token(owner, "write")
        api = srv.api(token)
        repo = f"{owner}/secret-{uuid.uuid4().hex[:6]}"
        api.create_repo(repo, private=True)
        api.upload_file(path_or_fileobj=b"weights", path_in_repo="w.bin", repo_id=repo)
        api.upload_file(path_or_fileobj=b"config", path_in_repo="config.json", repo_id=repo)
        api.create_repo(f"{owner}/public")
        for name in ("w.bin", "config.json", "w.bin"):
            r = httpx.get(f"{srv.url}/{repo}/resolve/main/{name}", headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200
        yield Site(srv, owner, repo)  # the server keeps running: operators verify and export a live hub
    finally:
        srv.close()
        if request.param == "postgresql":
            drop_pg_database(url)


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_verify_says_ok_with_counts_and_is_audited(site: Site) -> None:
    site.cli("checkpoint")
    n = site.count()
    checkpoints = len(site.srv.stores.audit.book.file.read_text().splitlines())
    out = site.cli("verify")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"OK: {n} entries, {checkpoints} checkpoints\n"
    last = site.rows()[-1]
    assert last["seq"] == n + 1 and last["action"] == "audit.verify" and last["outcome"] == "ok"
    assert json.loads(last["details"])["entries"] == n and json.loads(last["details"])["via"] == "cli"


def test_verify_names_a_tampered_entry_and_exits_1(site: Site) -> None:
    download = next(r for r in site.rows() if r["action"] == "file.download")
    with site.srv.stores.db.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == download["seq"]).values(ip="192.0.2.1"))
    try:
        out = site.cli("verify")
        assert out.returncode == 1
        lines = out.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"entry #{download['seq']} was modified"), out.stdout
        assert "action file.download" in lines[0] and "FAILED: 1 problem(s)" in out.stderr
        last = site.rows()[-1]
        assert last["action"] == "audit.verify" and last["outcome"] == "error"
    finally:
        with site.srv.stores.db.write() as conn:
            conn.execute(update(audit_log).where(audit_log.c.seq == download["seq"]).values(ip=download["ip"]))
    assert site.cli("verify").returncode == 0


def test_export_filters_stream_json_lines_and_are_audited(site: Site, tmp_path: Path) -> None:
    out = site.cli("export", "--repo", site.repo, "--action", "file.download")
    assert out.returncode == 0, out.stderr
    entries = _lines(out.stdout)
    assert [e["path"] for e in entries] == ["w.bin", "config.json", "w.bin"]
    assert all(e["actor"] == site.owner and e["repo"] == site.repo and e["ip"] == "127.0.0.1" for e in entries)
    assert all(len(e["revision"]) == 40 and e["request_id"] and e["token_id"] for e in entries)
    record = site.rows()[-1]
    assert record["action"] == "audit.export"
    assert json.loads(record["details"])["filters"] == {"repo": site.repo, "action": "file.download"}

    everything = _lines(site.cli("export").stdout)
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    assert everything[-1]["action"] == "audit.export"  # an export includes its own record
    by_owner = _lines(site.cli("export", "--actor", site.owner, "--action", "repo.*").stdout)
    assert [(e["action"], e["repo"]) for e in by_owner] == [("repo.create", site.repo),
                                                            ("repo.create", f"{site.owner}/public")]

    start = iso((everything[0]["ts"] + everything[1]["ts"]) / 2)
    end = iso((everything[3]["ts"] + everything[4]["ts"]) / 2)
    since = site.cli("export", "--since", start, "--until", end, "--output", str(tmp_path / "window.jsonl"))
    assert since.returncode == 0 and since.stdout == ""
    assert since.stderr.strip() == f"exported 3 entries to {tmp_path / 'window.jsonl'}"
    window = _lines((tmp_path / "window.jsonl").read_text())
    assert [e["seq"] for e in window] == [2, 3, 4]
    assert window == everything[1:4]
    assert [e["seq"] for e in _lines(site.cli("export", "--since", everything[2]["time"]).stdout)][:1] == [3]


def test_export_rejects_a_bad_time(site: Site) -> None:
    before = site.count()
    out = site.cli("export", "--since", "last tuesday")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("error: '--since' must be an ISO 8601 date or time")
    assert site.count() == before  # nothing was read, so nothing was recorded


def test_checkpoint_signs_the_head_once(site: Site) -> None:
    book = site.srv.stores.audit.book.file
    head = site.count()
    out = site.cli("checkpoint")
    assert out.returncode == 0 and out.stdout.startswith(f"signed entry #{head} (") and str(book) in out.stdout
    assert json.loads(book.read_text().splitlines()[-1])["seq"] == head
    again = site.cli("checkpoint")
    assert again.returncode == 0 and again.stdout.startswith("nothing to sign")
    forced = site.cli("checkpoint", "--force")
    assert forced.stdout.startswith(f"signed entry #{head + 1} (")


def test_verify_names_a_deleted_checkpoint_file(site: Site) -> None:
    book = site.srv.stores.audit.book.file
    site.cli("checkpoint", "--force")
    saved = book.read_bytes()
    book.unlink()
    try:
        out = site.cli("verify")
        assert out.returncode == 1
        assert out.stdout.startswith(f"checkpoint file {book} is missing: the log records ")
    finally:
        book.write_bytes(saved)
    assert site.cli("verify").returncode == 0
