"""The parts every service works with, wired once by the composition root: the stores, and the runtime (the
state the app keeps in memory, services/runtime.py)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inhouse.audit.log import AuditLog
from inhouse.config import Settings
from inhouse.storage.blobs.local import LocalBlobStore
from inhouse.storage.blobs.xorbs import XorbStore
from inhouse.storage.db.engine import Database
from inhouse.storage.db.migrations.runner import display_url
from inhouse.storage.git.store import ObjectStore
from inhouse.storage.private import private_dir

if TYPE_CHECKING:
    from inhouse.services.runtime import Runtime


@dataclass
class Stores:
    settings: Settings
    db: Database
    objects: ObjectStore
    blobs: LocalBlobStore
    audit: AuditLog
    xorbs: XorbStore
    runtime: Runtime

    @classmethod
    def open(cls, settings: Settings, runtime: Runtime | None = None) -> "Stores":
        """The stores of `settings`. `runtime` is the app's (create_app passes it); without one (the CLI, tests)
        they get a runtime of their own that is never started: caches work, background threads do not run."""
        # runtime.py holds parts of services that take Stores, so it is imported here, not at the top
        from inhouse.services.runtime import Runtime

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
        stores = cls(settings, db, ObjectStore(db.engine.dialect.name), blobs, audit, xorbs,
                     runtime if runtime is not None else Runtime(settings))
        from inhouse.services import webhooks  # it takes Stores: imported here, not at the top

        audit.observers.append(webhooks.on_audit(stores))  # webhook events, in the change's transaction
        return stores

    def close(self) -> None:
        """Stops the runtime's threads (when the app's lifespan did not already) and closes the database."""
        self.runtime.stop()
        self.db.dispose()


def upgrade_command(settings: Settings) -> str:
    """The command that upgrades the database of `settings` in place, as an operator would type it."""
    if settings.database_url:
        return f"inhouse db upgrade --database-url {shlex.quote(display_url(settings.database_url))}"
    return f"inhouse db upgrade --data {shlex.quote(str(settings.data_dir.resolve()))}"
