"""Queries on a model's lifecycle stage: repo_stages (what the stage applies to, what replaces the model, which
request put it there) and its copy repos.stage (read with every repo, so that a download's permission check needs no
query to know the model is withdrawn). Both are written together, by `set_stage` only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inhouse.storage.db.schema import approval_requests, repo_stages, repos, users


@dataclass(frozen=True)
class StageRecord:
    repo_id: int
    stage: str  # a vocabulary.Stage value
    revision: str | None  # the commit the stage was granted for
    replacement: str | None  # "namespace/name" of the model to use instead (deprecated, withdrawn)
    request_id: int | None  # the approval request that set it (approval_requests.id)
    request_number: int | None  # its number within the repo
    reason: str | None  # that request's reason
    updated_at: float
    updated_by: str | None  # name of who made the change take effect (the last approver)


def _record(row: Any) -> StageRecord:
    m = row._mapping
    return StageRecord(repo_id=m["repo_id"], stage=m["stage"], revision=m["revision"], replacement=m["replacement"],
                       request_id=m["request_id"], request_number=m["request_number"], reason=m["reason"],
                       updated_at=m["updated_at"], updated_by=m["updated_by_name"])


def get_stage(conn: Connection, repo_id: int) -> StageRecord | None:
    """The repo's stage record; None: the repo is a draft that was never promoted."""
    row = conn.execute(
        select(repo_stages, approval_requests.c.number.label("request_number"), approval_requests.c.reason,
               users.c.name.label("updated_by_name"))
        .select_from(repo_stages
                     .outerjoin(approval_requests, approval_requests.c.id == repo_stages.c.request_id)
                     .outerjoin(users, users.c.id == repo_stages.c.updated_by))
        .where(repo_stages.c.repo_id == repo_id)).first()
    return _record(row) if row else None


def set_stage(conn: Connection, repo_id: int, *, stage: str, revision: str | None, replacement: str | None,
              request_id: int | None, by: int | None, now: float) -> None:
    """Records the repo's new stage in repo_stages and repos.stage, in the caller's transaction."""
    values = {"stage": stage, "revision": revision, "replacement": replacement, "request_id": request_id,
              "updated_at": now, "updated_by": by}
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(repo_stages).values(repo_id=repo_id, **values)
                 .on_conflict_do_update(index_elements=[repo_stages.c.repo_id], set_=values))
    conn.execute(update(repos).where(repos.c.id == repo_id).values(stage=stage))


def lock_repo(conn: Connection, repo_id: int) -> None:
    """Takes the repo's row lock for the rest of the transaction (PostgreSQL; SQLite has one writer anyway), so that
    two requests opened at once get distinct numbers and two last approvals change the stage once."""
    conn.execute(select(repos.c.id).where(repos.c.id == repo_id).with_for_update())


def current_stage(conn: Connection, repo_id: int) -> str | None:
    """repos.stage as the transaction sees it now (None: draft)."""
    value = conn.execute(select(repos.c.stage).where(repos.c.id == repo_id)).scalar()
    return str(value) if value is not None else None
