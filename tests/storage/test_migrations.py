"""Schema migrations on SQLite and PostgreSQL: the revisions build exactly schema.py (so a schema change without a
revision fails here), an empty database is created at the newest revision, and a database at any other revision
(made by inhouse 0.1.0, behind, or ahead of the code) is refused with both revisions and the command to run.
The upgrade of data really made by inhouse 0.1.0 is tests/cli/test_db_upgrade_from_v0_1_0.py."""

from __future__ import annotations

import fnmatch
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import String

from inhouse.config import Settings
from inhouse.errors import SchemaMismatch
from inhouse.services import users
from inhouse.services.context import Stores, upgrade_command
from inhouse.storage.db.engine import Database
from inhouse.storage.db.migrations import runner
from inhouse.vocabulary import TokenRole
from tests.support.schema import as_made_by_v0_1_0, execute, migrate, schema_diff

ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=url)


def _state(url: str) -> runner.SchemaState:
    db = Database(url)
    try:
        return runner.state(db)
    finally:
        db.dispose()


def _upgrade(url: str) -> runner.Upgrade:
    db = Database(url)
    try:
        return runner.upgrade(db)
    finally:
        db.dispose()


def test_the_revisions_build_exactly_the_schema_of_schema_py(database_url: str) -> None:
    """Run on empty databases, the revisions give what schema.py declares: a change to schema.py needs a revision
    (storage/db/migrations/versions) or this fails, naming the difference."""
    migrate(database_url)
    assert schema_diff(database_url) == []
    assert _state(database_url).revision == runner.head_revision()

    execute(database_url, "DROP INDEX ix_audit_ts")  # the comparison does see a difference
    assert [d[0] for d in schema_diff(database_url)] == ["add_index"]


def test_an_empty_database_is_created_at_the_newest_revision_and_stamped(database_url: str, tmp_path: Path) -> None:
    Stores.open(_settings(tmp_path, database_url)).close()
    s = _state(database_url)
    assert s.current and s.revision == runner.head_revision() and s.tables == runner.V0_1_0_TABLES
    assert schema_diff(database_url) == []
    Stores.open(_settings(tmp_path, database_url)).close()  # and opens again as it is


def test_first_opens_at_the_same_time_create_the_schema_once(database_url: str, tmp_path: Path) -> None:
    """Processes starting together on an empty database (a server and a CLI command): one creates and stamps it,
    the others wait and find it ready, none takes it for a 0.1.0 database."""
    def open_close(_: int) -> None:
        Stores.open(_settings(tmp_path, database_url)).close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(open_close, range(4)))
    assert execute(database_url, f"SELECT version_num FROM {runner.VERSION_TABLE}") == [(runner.head_revision(),)]


def test_a_v0_1_0_database_is_refused_until_upgraded_and_keeps_its_rows(database_url: str, tmp_path: Path) -> None:
    as_made_by_v0_1_0(database_url)
    execute(database_url, "INSERT INTO users (name, fullname, kind, is_admin, created_at) "
                          "VALUES ('alice', 'Alice', 'user', true, 1.0)")
    settings = _settings(tmp_path, database_url)
    with pytest.raises(SchemaMismatch) as e:
        Stores.open(settings)
    message = e.value.message
    assert "was made by inhouse 0.1.0 (it records no schema revision" in message
    assert f"this inhouse needs schema revision {runner.head_revision()}" in message
    assert message.endswith(f"upgrade in place: {upgrade_command(settings)}")
    assert upgrade_command(settings).startswith("inhouse db upgrade --database-url ")
    assert _state(database_url).legacy  # refusing changed nothing

    done = _upgrade(database_url)
    assert done.before.legacy and done.after == runner.head_revision()
    assert schema_diff(database_url) == []
    stores = Stores.open(settings)
    try:
        (alice,) = users.list_users(stores)
        assert (alice.name, alice.fullname, alice.is_admin) == ("alice", "Alice", True)
    finally:
        stores.close()
    assert _upgrade(database_url).before.current  # a second upgrade has nothing to do


def test_the_upgrade_command_names_the_folder_or_the_url_without_its_password(tmp_path: Path) -> None:
    assert upgrade_command(Settings(data_dir=tmp_path / "my data")) == f"inhouse db upgrade --data '{tmp_path}/my data'"
    assert upgrade_command(Settings(data_dir=tmp_path, database_url="postgresql://hub:s3cret@db:5432/inhouse")) == (
        "inhouse db upgrade --database-url 'postgresql://hub:***@db:5432/inhouse'")


def test_a_database_behind_the_code_is_refused_naming_both_revisions(database_url: str, tmp_path: Path) -> None:
    head = runner.head_revision()
    assert head != runner.V0_1_0, "there are revisions after 0.1.0's schema"
    migrate(database_url, runner.V0_1_0)
    settings = _settings(tmp_path, database_url)
    with pytest.raises(SchemaMismatch) as e:
        Stores.open(settings)
    assert (f"is at schema revision {runner.V0_1_0}; this inhouse needs schema revision {head}. Stop the server, "
            f"back up the data folder and database, then upgrade in place: {upgrade_command(settings)}"
            ) in e.value.message

    done = _upgrade(database_url)
    assert (done.before.revision, done.after) == (runner.V0_1_0, head)
    assert schema_diff(database_url) == []
    Stores.open(settings).close()


def test_a_database_a_newer_inhouse_upgraded_is_refused_and_left_alone(database_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url)
    Stores.open(settings).close()
    execute(database_url, f"UPDATE {runner.VERSION_TABLE} SET version_num = '9999'")
    with pytest.raises(SchemaMismatch) as e:
        Stores.open(settings)
    assert ("is at schema revision 9999, which this inhouse does not know (its newest is "
            f"{runner.head_revision()}): a newer inhouse upgraded it. Run that newer version") in e.value.message
    with pytest.raises(SchemaMismatch) as e:
        _upgrade(database_url)  # never downgrades
    assert "a newer inhouse upgraded it" in e.value.message
    assert execute(database_url, f"SELECT version_num FROM {runner.VERSION_TABLE}") == [("9999",)]


def test_a_database_without_all_of_v0_1_0_tables_is_not_stamped(database_url: str) -> None:
    as_made_by_v0_1_0(database_url)
    execute(database_url, "DROP TABLE repo_xorbs")
    with pytest.raises(SchemaMismatch) as e:
        _upgrade(database_url)
    assert "lacks tables inhouse 0.1.0 created (repo_xorbs)" in e.value.message
    assert _state(database_url).legacy  # rolled back: no revision recorded


def test_sqlite_revisions_that_copy_a_table_do_not_cascade_deletes(tmp_path: Path) -> None:
    """SQLite alters a table by copying it and dropping the original; with foreign keys on, dropping `users` would
    delete every token (ON DELETE CASCADE). Revisions run with them off, as here."""
    url = f"sqlite:///{tmp_path / 'inhouse.db'}"

    def copy_users_table(conn):  # type: ignore[no-untyped-def]
        with Operations(MigrationContext.configure(conn)).batch_alter_table("users", recreate="always") as batch:
            batch.alter_column("fullname", existing_type=String(200), existing_nullable=False)

    def tokens() -> int:
        return int(execute(url, "SELECT count(*) FROM tokens")[0][0])

    stores = Stores.open(_settings(tmp_path, url))
    try:
        users.create_user(stores, "alice")
        users.create_token(stores, "alice", role=TokenRole.WRITE)
    finally:
        stores.close()
    db = Database(url)
    try:
        with runner._migrating(db) as conn:
            copy_users_table(conn)
        assert tokens() == 1
        with db.write() as conn:  # the same with foreign keys on, as every other transaction has them
            copy_users_table(conn)
        assert tokens() == 0
    finally:
        db.dispose()


def test_the_migrations_ship_in_the_package() -> None:
    """`pip install .` carries the revisions: every folder is a package, every other file is package data."""
    folder = ROOT / "src/inhouse/storage/db/migrations"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    for path in folder.rglob("*"):
        if "__pycache__" in path.parts:
            continue
        if path.is_dir():
            assert (path / "__init__.py").is_file(), f"{path} is not a package: add an __init__.py"
        elif path.suffix != ".py":
            package = ".".join(path.parent.relative_to(ROOT / "src").parts)
            patterns = package_data.get(package, [])
            assert any(fnmatch.fnmatch(path.name, p) for p in patterns), \
                f"{path.name} is not in [tool.setuptools.package-data] {package!r}"


def test_revision_0003_drops_group_rows_of_repos_moved_to_another_owner(database_url: str) -> None:
    """Before 0.2 a repo moved to another owner stayed in its old organisation's resource group, whose members kept
    their role on it; 0003 removes such rows and keeps every group's own repos."""
    migrate(database_url, "0002")
    for i, (name, kind) in enumerate([("org-a", "org"), ("org-b", "org")], 1):
        execute(database_url, "INSERT INTO users (id, name, fullname, kind, is_admin, created_at) "
                "VALUES (:i, :n, '', :k, false, 0)", i=i, n=name, k=kind)
    execute(database_url, "INSERT INTO resource_groups (id, org_id, name, description, created_at) "
            "VALUES (1, 1, 'team', '', 0)")
    for repo_id, owner, ns in [(1, 1, "org-a"), (2, 2, "org-b")]:  # repo 2 was moved from org-a to org-b
        execute(database_url, "INSERT INTO repos (id, type, namespace, name, owner_id, private, created_at, "
                "last_modified, tags, downloads, likes, next_discussion) "
                "VALUES (:i, 'model', :ns, :n, :o, true, 0, 0, '[]', 0, 0, 1)", i=repo_id, ns=ns, n=f"r{repo_id}", o=owner)
        execute(database_url, "INSERT INTO resource_group_repos (repo_id, group_id) VALUES (:i, 1)", i=repo_id)

    migrate(database_url, "0003")

    assert [tuple(r) for r in execute(database_url, "SELECT repo_id, group_id FROM resource_group_repos")] == [(1, 1)]
