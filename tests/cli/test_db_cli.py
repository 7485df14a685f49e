"""`inhouse db upgrade | current`, and every other command (serve included) refusing a database at another schema
revision with the command to run, as an operator meets them: `python -m inhouse …` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inhouse.storage.db.migrations import runner
from tests.support.live import drop_pg_database, free_port, new_pg_database
from tests.support.schema import as_made_by_v0_1_0, execute, schema_diff

HEAD = runner.head_revision()


def inhouse(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INHOUSE_")}
    return subprocess.run([sys.executable, "-m", "inhouse", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def error(out: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command (a line may come before it: the data folder's permissions tightened)."""
    assert out.returncode == 1, out.stdout + out.stderr
    return out.stderr.splitlines()[-1]


def ok(*args: str) -> str:
    out = inhouse(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = new_pg_database()
    yield url
    drop_pg_database(url)


def test_a_v0_1_0_data_folder_is_refused_by_every_command_until_db_upgrade(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'inhouse.db'}"
    as_made_by_v0_1_0(url)
    refusal = (f"error: The database {url} was made by inhouse 0.1.0 (it records no schema revision; 0.1.0's is "
               f"0001); this inhouse needs schema revision {HEAD}. Stop the server, back up the data folder and "
               f"database, then upgrade in place: inhouse db upgrade --data {data}")
    for args in (["users", "list"], ["tokens", "list", "--user", "alice"], ["audit", "verify"],
                 ["serve", "--port", str(free_port())]):
        out = inhouse(*args, "--data", str(data))
        assert (error(out), out.stdout) == (refusal, ""), args  # serve never starts

    assert ok("db", "current", "--data", str(data)) == (
        f"database: {url}\nrevision: none recorded (made by inhouse 0.1.0, whose schema is revision 0001)\n"
        f"this inhouse needs: {HEAD}\nstate: needs an upgrade: inhouse db upgrade --data {data}\n")
    assert ok("db", "upgrade", "--data", str(data)) == (
        f"upgraded {url} from inhouse 0.1.0's schema (revision 0001, recorded now) to revision {HEAD}\n")
    assert schema_diff(url) == []
    assert ok("db", "current", "--data", str(data)) == (
        f"database: {url}\nrevision: {HEAD}\nthis inhouse needs: {HEAD}\nstate: up to date\n")
    assert ok("db", "upgrade", "--data", str(data)) == f"{url} is already at revision {HEAD}: nothing to do\n"
    assert ok("users", "list", "--data", str(data)) == ""


def test_on_postgresql_the_commands_name_the_database_url(pg_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    as_made_by_v0_1_0(pg_url)
    out = inhouse("users", "list", "--data", str(data), "--database-url", pg_url)
    assert error(out).startswith(f"error: The database {pg_url} was made by inhouse 0.1.0")
    assert error(out).endswith(f"upgrade in place: inhouse db upgrade --database-url {pg_url}")

    # the database is all there is to upgrade: no data folder needed
    assert ok("db", "upgrade", "--database-url", pg_url, "--data", str(tmp_path / "elsewhere")) == (
        f"upgraded {pg_url} from inhouse 0.1.0's schema (revision 0001, recorded now) to revision {HEAD}\n")
    assert not (tmp_path / "elsewhere").exists()
    assert schema_diff(pg_url) == []
    ok("users", "list", "--data", str(data), "--database-url", pg_url)


def test_a_database_a_newer_inhouse_upgraded_is_refused_and_not_touched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok("users", "create", "alice", "--data", str(data))
    execute(f"sqlite:///{data / 'inhouse.db'}", f"UPDATE {runner.VERSION_TABLE} SET version_num = 'f00d'")
    for args in (["users", "list"], ["db", "upgrade"]):
        out = inhouse(*args, "--data", str(data))
        assert "schema revision f00d, which this inhouse does not know" in error(out), args
    assert ok("db", "current", "--data", str(data)).splitlines()[1:] == [
        "revision: f00d (unknown to this inhouse: a newer one upgraded it)", f"this inhouse needs: {HEAD}",
        "state: newer than this inhouse: run the inhouse that upgraded it"]


def test_db_commands_do_not_create_a_database_where_there_is_none(tmp_path: Path) -> None:
    typo = tmp_path / "dtaa"
    for command in ("upgrade", "current"):
        out = inhouse("db", command, "--data", str(typo))
        assert error(out) == (
            f"error: No inhouse database at {typo / 'inhouse.db'}: pass the --data DIR (or --database-url URL) of "
            "an existing installation. `inhouse serve` creates a new one.")
    assert not typo.exists()
