"""Download counts, as the Hub counts them: not every file request, but requests (GET and HEAD alike) for a repo's
query files, so that one download of a sharded model counts once.

* models: the top-level `config.json`, `config.yaml`, `hyperparams.yaml` or `meta.yaml` (the Hub's default query
  files; it has per-library overrides, which inhouse does not have);
* datasets: the top-level `README.md`, the dataset card every `load_dataset` reads first (the Hub counts
  `load_dataset` calls server-side; a `wget` of a data file is not a download);
* spaces: none.

Each counted request is one upsert of the repo's row for the day (UTC) in `repo_downloads` and one increment of
`repos.downloads` (all time), in one short write transaction: nothing is read back on the download path. A repo's
`downloads` is the sum of its last 30 days (storage/db/repos.RECENT_DAYS), `downloadsAllTime` the total.
"""

from __future__ import annotations

import time

from inhouse.services.context import Stores
from inhouse.storage.db import likes as store
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import RepoType

QUERY_FILES: dict[RepoType, frozenset[str]] = {
    RepoType.MODEL: frozenset({"config.json", "config.yaml", "hyperparams.yaml", "meta.yaml"}),
    RepoType.DATASET: frozenset({"README.md"}),
}


def today(now: float | None = None) -> int:
    """Days since the epoch, UTC: the key of a day's download count."""
    return int((time.time() if now is None else now) // 86400)


def counts(repo: RepoRecord, path: str) -> bool:
    """Whether a request for `path` is a download of `repo`."""
    return path in QUERY_FILES.get(repo.type, frozenset())


def note(stores: Stores, repo: RepoRecord, path: str) -> None:
    """Counts a request for `path` (already allowed and answered) when it is one of the repo's query files."""
    if not counts(repo, path):
        return
    with stores.db.write() as conn:
        store.add_download(conn, repo.id, today())


def recent(stores: Stores, repo_ids: list[int]) -> dict[int, int]:
    """Downloads of the last 30 days of each repo (absent: none)."""
    with stores.db.read() as conn:
        return store.recent_downloads(conn, repo_ids, today())
