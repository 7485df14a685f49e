"""Download counts, as the Hub counts them: not every file request, but requests (GET and HEAD alike) for a repo's
query files, so that one download of a sharded model counts once.

* models: the top-level `config.json`, `config.yaml`, `hyperparams.yaml` or `meta.yaml` (the Hub's default query
  files; it has per-library overrides, which inhouse does not have);
* datasets: the top-level `README.md`, the dataset card every `load_dataset` reads first (the Hub counts
  `load_dataset` calls server-side; a `wget` of a data file is not a download);
* spaces: none.

Counted per repo and UTC day in `repo_downloads`, and all time in `repos.downloads`. A repo's `downloads` is the
sum of its last 30 days (storage/db/repos.RECENT_DAYS), `downloadsAllTime` the total.

Cheap on the download path: a running server (`Runtime.downloads`, a `DownloadCounter`) only adds the request to a
map in memory; its thread writes what gathered every FLUSH_INTERVAL_S in one transaction (one upsert per repo and
day), and at shutdown. Every read of the counts in this process (model_info, listings, sort by downloads) writes
what is pending first, so answers are never behind the downloads this server served. A server killed without
shutting down loses at most the last FLUSH_INTERVAL_S of counts. Stores without a started runtime (the CLI, tests)
write each count at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from inhouse.storage.db import likes as store
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import RepoType

if TYPE_CHECKING:
    from inhouse.services.context import Stores

log = logging.getLogger("inhouse.downloads")

QUERY_FILES: dict[RepoType, frozenset[str]] = {
    RepoType.MODEL: frozenset({"config.json", "config.yaml", "hyperparams.yaml", "meta.yaml"}),
    RepoType.DATASET: frozenset({"README.md"}),
}
FLUSH_INTERVAL_S = 1.0
MAX_PENDING = 10_000  # (repo, day) pairs held in memory at most: past it the request that adds one writes them


def today(now: float | None = None) -> int:
    """Days since the epoch, UTC: the key of a day's download count."""
    return int((time.time() if now is None else now) // 86400)


def counts(repo: RepoRecord, path: str) -> bool:
    """Whether a request for `path` is a download of `repo`."""
    return path in QUERY_FILES.get(repo.type, frozenset())


class DownloadCounter:
    """Downloads counted in memory and written in batches by a thread of the app's runtime (see the module)."""

    def __init__(self, interval_s: float = FLUSH_INTERVAL_S):
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch at a time, so that counts land in order
        self._pending: dict[tuple[int, int], int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stores: Stores | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def add(self, repo_id: int, day: int) -> bool:
        """Counts one download; True when the map is full and the caller should write it now."""
        with self._lock:
            key = (repo_id, day)
            self._pending[key] = self._pending.get(key, 0) + 1
            return len(self._pending) >= MAX_PENDING

    def flush(self, stores: Stores) -> None:
        """Writes what is pending, in one transaction (repos deleted meanwhile are skipped)."""
        with self._write_lock:
            with self._lock:
                if not self._pending:
                    return
                batch, self._pending = self._pending, {}
            try:
                with stores.db.write() as conn:
                    store.add_downloads(conn, batch)
            except Exception:
                log.exception("could not write %d download counts; they are kept for the next attempt", len(batch))
                with self._lock:
                    for key, n in batch.items():
                        self._pending[key] = self._pending.get(key, 0) + n
                raise

    def start(self, stores: Stores) -> None:
        """Starts the thread that writes the counts of `stores` (those of the runtime this counter belongs to)."""
        if self._thread is not None:
            return
        self._stores = stores
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(stores,), name="inhouse-downloads", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread and writes what is left."""
        thread, self._thread = self._thread, None
        if thread is None or self._stores is None:
            return
        self._stop.set()
        thread.join()
        self.flush(self._stores)

    def _run(self, stores: Stores) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush(stores)
            except Exception:  # logged by flush; the counts wait for the next round
                pass


def note(stores: Stores, repo: RepoRecord, path: str) -> None:
    """Counts a request for `path` (already allowed and answered) when it is one of the repo's query files."""
    if not counts(repo, path):
        return
    counter = stores.runtime.downloads
    if not counter.running:
        with stores.db.write() as conn:
            store.add_downloads(conn, {(repo.id, today()): 1})
    elif counter.add(repo.id, today()):
        counter.flush(stores)


def settle(stores: Stores) -> None:
    """Writes the counts this process holds, so that a read of the counts that follows includes them."""
    stores.runtime.downloads.flush(stores)


def recent(stores: Stores, repo_ids: Sequence[int]) -> dict[int, int]:
    """Downloads of the last 30 days of each repo (absent: none)."""
    settle(stores)
    with stores.db.read() as conn:
        return store.recent_downloads(conn, repo_ids, today())
