"""The eval-results index: the `.eval_results/*.yaml` entries of each model repo's default branch, as rows, so
that a dataset's leaderboard is one query instead of a read of every repo (services/evaluations/eval_results.py).

`eval_result_index` says which head of the default branch a repo's rows were read from; a repo whose head moved
since (or that was never read) is *stale*, and the service reads it again (`stale_repos`, `replace_entries`).
Rows hold the entry as it was read (validated, as JSON); whether it is verified is decided when it is served."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select

from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.schema import eval_result_entries, eval_result_index, repos, resource_group_repos, users
from inhouse.vocabulary import RepoType


@dataclass(frozen=True)
class IndexedEntry:
    """One entry of the index, with the model repo it sits in."""

    repo: RepoRecord
    filename: str
    data: dict[str, Any]


def stale_repos(conn: Connection, *, limit: int) -> list[tuple[int, str | None]]:
    """(repo pk, head of its default branch) of at most `limit` model repos whose rows do not reflect that head."""
    i = eval_result_index
    q = (select(repos.c.id, repos.c.head_sha)
         .select_from(repos.outerjoin(i, i.c.repo_id == repos.c.id))
         .where(repos.c.type == RepoType.MODEL.value,
                or_(i.c.repo_id.is_(None), i.c.commit != func.coalesce(repos.c.head_sha, "")))
         .order_by(repos.c.id).limit(limit))
    return [(int(r.id), r.head_sha) for r in conn.execute(q)]


def replace_entries(conn: Connection, repo_pk: int, commit: str | None,
                    rows: Sequence[tuple[str, str, str, float, dict[str, Any]]], now: float) -> bool:
    """The rows of `repo_pk` become `rows` (filename, dataset id, task id, value, entry), read at `commit`; False
    (nothing written) when the repo is gone. The repo's row is locked first (PostgreSQL), so that two requests
    refreshing the same repo at once take turns instead of leaving both their rows."""
    if conn.execute(select(repos.c.id).where(repos.c.id == repo_pk).with_for_update()).first() is None:
        return False
    conn.execute(delete(eval_result_entries).where(eval_result_entries.c.repo_id == repo_pk))
    conn.execute(delete(eval_result_index).where(eval_result_index.c.repo_id == repo_pk))
    conn.execute(insert(eval_result_index).values(repo_id=repo_pk, commit=commit or "", updated_at=now))
    if rows:
        conn.execute(insert(eval_result_entries), [
            {"repo_id": repo_pk, "filename": f, "dataset_id": d, "task_id": t, "value": v,
             "data": json.dumps(e, separators=(",", ":"))} for f, d, t, v, e in rows])
    return True


def entries_for_dataset(conn: Connection, dataset_id: str, *, visible_to: int | None, is_admin: bool,
                        org_ids: Sequence[int], group_ids: Sequence[int], limit: int) -> list[IndexedEntry]:
    """The indexed entries naming `dataset_id`, in model repos a caller with these memberships may list (the same
    rule as repo listings; fine-grained tokens are narrowed further by the caller), at most `limit`."""
    e = eval_result_entries
    q = (select(repos, resource_group_repos.c.group_id.label("resource_group_id"),
                e.c.filename.label("eval_filename"), e.c.data.label("eval_data"))
         .select_from(e.join(repos, repos.c.id == e.c.repo_id)
                      .outerjoin(resource_group_repos, resource_group_repos.c.repo_id == repos.c.id))
         .where(e.c.dataset_id == dataset_id, repos.c.type == RepoType.MODEL.value))
    if not is_admin:
        q = q.where(or_(
            repos.c.private.is_(False), repos.c.owner_id == (visible_to if visible_to else -1),
            repos.c.owner_id.in_(list(org_ids)), resource_group_repos.c.group_id.in_(list(group_ids)),
        ))
    q = q.order_by(e.c.id).limit(limit)
    return [IndexedEntry(RepoRecord.from_row(r), r.eval_filename, json.loads(r.eval_data)) for r in conn.execute(q)]


def owners(conn: Connection, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """name -> (kind "user" | "org", full name) of the users and organisations named."""
    if not names:
        return {}
    rows = conn.execute(select(users.c.name, users.c.kind, users.c.fullname).where(users.c.name.in_(list(names))))
    return {r.name: (r.kind, r.fullname) for r in rows}
