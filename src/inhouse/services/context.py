"""The parts every service works with, wired once by the composition root."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from inhouse.audit.log import AuditLog
from inhouse.config import Settings
from inhouse.storage.blobs.local import LocalBlobStore
from inhouse.storage.blobs.xorbs import XorbStore
from inhouse.storage.db.engine import Database
from inhouse.storage.db.migrations.runner import display_url
from inhouse.storage.git.store import ObjectStore
from inhouse.storage.private import private_dir


@dataclass
class Stores:
    settings: Settings
    db: Database
    objects: ObjectStore
    blobs: LocalBlobStore
    audit: AuditLog
    xorbs: XorbStore

    @classmethod
    def open(cls, settings: Settings) -> "Stores":
        private_dir(settings.data_dir)  # 0700; an existing folder open to others is made private
        db = Database(settings.resolved_database_url)
        try:  # an empty database is created; one at an older (or newer) schema revision is refused, never upgraded
            db.create_schema(how_to_upgrade=upgrade_command(settings))
        except BaseException:
            db.dispose()
            raise
        blobs = LocalBlobStore(settings.data_dir / "lfs")
        blobs.clean_tmp()
        audit = AuditLog(settings.data_dir, enabled=settings.audit_enabled)
        xorbs = XorbStore(settings.data_dir / "xet")
        xorbs.clean_tmp()
        return cls(settings, db, ObjectStore(db.engine.dialect.name), blobs, audit, xorbs)

    def close(self) -> None:
        self.db.dispose()


def upgrade_command(settings: Settings) -> str:
    """The command that upgrades the database of `settings` in place, as an operator would type it."""
    if settings.database_url:
        return f"inhouse db upgrade --database-url {shlex.quote(display_url(settings.database_url))}"
    return f"inhouse db upgrade --data {shlex.quote(str(settings.data_dir.resolve()))}"
