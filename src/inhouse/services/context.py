"""The parts every service works with, wired once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from inhouse.audit.log import AuditLog
from inhouse.config import Settings
from inhouse.storage.blobs.local import LocalBlobStore
from inhouse.storage.blobs.xorbs import XorbStore
from inhouse.storage.db.engine import Database
from inhouse.storage.git.store import ObjectStore


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
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        db.create_schema()
        blobs = LocalBlobStore(settings.data_dir / "lfs")
        blobs.clean_tmp()
        audit = AuditLog(settings.data_dir, enabled=settings.audit_enabled)
        xorbs = XorbStore(settings.data_dir / "xet")
        xorbs.clean_tmp()
        return cls(settings, db, ObjectStore(db.engine.dialect.name), blobs, audit, xorbs)

    def close(self) -> None:
        self.db.dispose()
