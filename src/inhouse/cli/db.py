"""`inhouse db upgrade | current`: the database's schema revision, and upgrading it in place.

`inhouse serve` and every other command refuse a database at another revision than the code's (SchemaMismatch,
naming the command to run): nothing upgrades on its own, so the operator stops the server, backs up, and chooses
when.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inhouse.storage.db.engine import Database


def _database(args: argparse.Namespace) -> "Database":
    """The database of --data / --database-url, its schema neither created nor checked. A SQLite file that does not
    exist (a typo in --data) is an error, as for every command but `serve` and `users create`."""
    from inhouse.cli.main import _settings
    from inhouse.errors import NotFound
    from inhouse.storage.db.engine import Database

    url = _settings(args).resolved_database_url
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[-1])
        if not path.is_file():
            raise NotFound(f"No inhouse database at {path}: pass the --data DIR (or --database-url URL) of an "
                           "existing installation. `inhouse serve` creates a new one.")
    return Database(url)


def cmd_upgrade(args: argparse.Namespace) -> int:
    from inhouse.storage.db.migrations import runner

    db = _database(args)
    try:
        done = runner.upgrade(db)
    finally:
        db.dispose()
    where = runner.display_url(db.url)
    if done.before.empty:
        print(f"created the schema at revision {done.after} in {where}")
    elif done.before.current:
        print(f"{where} is already at revision {done.after}: nothing to do")
    elif done.before.legacy:
        print(f"upgraded {where} from inhouse 0.1.0's schema (revision {runner.V0_1_0}, recorded now) "
              f"to revision {done.after}")
    else:
        print(f"upgraded {where} from revision {done.before.revision} to revision {done.after}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from inhouse.cli.main import _settings
    from inhouse.services.context import upgrade_command
    from inhouse.storage.db.migrations import runner

    db = _database(args)
    try:
        s = runner.state(db)
    finally:
        db.dispose()
    if s.current:
        verdict = "up to date"
    elif s.empty:
        verdict = "empty: `inhouse serve` creates the schema"
    elif s.ahead:
        verdict = "newer than this inhouse: run the inhouse that upgraded it"
    else:
        verdict = f"needs an upgrade: {upgrade_command(_settings(args))}"
    print(f"database: {runner.display_url(db.url)}\nrevision: {s.describe()}\nthis inhouse needs: {s.head}\n"
          f"state: {verdict}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    db_p = sub.add_parser("db", help="the database's schema revision, and upgrading it in place").add_subparsers(
        dest="db_command", required=True)
    db_p.add_parser("upgrade", parents=[common], help="bring the database to this inhouse's schema revision, in one "
                    "transaction (stop the server and back up first; a database made by inhouse 0.1.0 included)"
                    ).set_defaults(func=cmd_upgrade)
    db_p.add_parser("current", parents=[common], help="print the database's schema revision and the one this "
                    "inhouse needs").set_defaults(func=cmd_current)
