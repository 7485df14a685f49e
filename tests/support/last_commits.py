"""The straightforward algorithm `services.files.last_commits` ran before the one-walk version
(storage/git/last_change.py): every pending path looked up in every commit and its first parent. O(commits x paths
x depth), but obviously right: the oracle of tests/services/test_last_commits.py and the baseline of
bench/last_commits.py."""

from __future__ import annotations

from inhouse.services.context import Stores
from inhouse.storage.git.trees import find_entry


def old_last_commits(stores: Stores, head: str, paths: list[str], max_depth: int = 2000) -> dict[str, str]:
    out: dict[str, str] = {}
    pending = set(paths)
    with stores.db.read() as conn:
        sha: str | None = head
        depth = 0
        while sha and pending and depth < max_depth:
            c = stores.objects.commit(conn, sha)
            parent = c.parents[0] if c.parents else None
            ptree = stores.objects.commit(conn, parent).tree if parent else None
            for p in list(pending):
                here = find_entry(stores.objects, conn, c.tree, p)
                before = find_entry(stores.objects, conn, ptree, p) if ptree else None
                if (here.sha if here else None) != (before.sha if before else None):
                    out[p] = sha
                    pending.discard(p)
            sha = parent
            depth += 1
    return out
