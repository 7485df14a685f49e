"""Queries on use cases (an organisation's named purposes that models are put to, each with a risk tier) and the
repos attached to them.

Other services read `for_repo`: the approvals of a promotion count the risk tiers of the use cases a model is
attached to, and a factsheet lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update
from sqlalchemy.orm import aliased

from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.repos import _select as repo_select
from inhouse.storage.db.schema import use_case_models, use_cases, users
from inhouse.vocabulary import RiskTier, UseCaseStatus


@dataclass(frozen=True)
class UseCaseRecord:
    id: int
    org_id: int
    org: str  # the organisation's name
    slug: str
    title: str
    owner_id: int | None  # None: the owner's account was deleted
    owner: str | None
    purpose: str
    risk_tier: RiskTier
    status: UseCaseStatus
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class AttachedModel:
    repo: RepoRecord
    added_by: str | None
    added_at: float


_org = aliased(users)
_owner = aliased(users)


def _select() -> Select[Any]:
    return select(use_cases, _org.c.name.label("org_name"), _owner.c.name.label("owner_name")).select_from(
        use_cases.join(_org, _org.c.id == use_cases.c.org_id)
        .outerjoin(_owner, _owner.c.id == use_cases.c.owner_id))


def _record(row: Any) -> UseCaseRecord:
    m = row._mapping
    return UseCaseRecord(
        id=m["id"], org_id=m["org_id"], org=m["org_name"], slug=m["slug"], title=m["title"],
        owner_id=m["owner_id"], owner=m["owner_name"], purpose=m["purpose"] or "",
        risk_tier=RiskTier(m["risk_tier"]), status=UseCaseStatus(m["status"]), created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def insert_use_case(conn: Connection, *, org_id: int, slug: str, title: str, owner_id: int, purpose: str,
                    risk_tier: RiskTier, status: UseCaseStatus, now: float) -> int:
    return int(conn.execute(insert(use_cases).values(
        org_id=org_id, slug=slug, title=title, owner_id=owner_id, purpose=purpose, risk_tier=risk_tier.value,
        status=status.value, created_at=now, updated_at=now).returning(use_cases.c.id)).scalar_one())


def by_slug(conn: Connection, org_id: int, slug: str) -> UseCaseRecord | None:
    row = conn.execute(_select().where(use_cases.c.org_id == org_id, use_cases.c.slug == slug)).first()
    return _record(row) if row else None


def by_id(conn: Connection, use_case_id: int) -> UseCaseRecord | None:
    row = conn.execute(_select().where(use_cases.c.id == use_case_id)).first()
    return _record(row) if row else None


def list_for_org(conn: Connection, org_id: int, *, offset: int, limit: int) -> list[UseCaseRecord]:
    """An organisation's use cases, by slug."""
    rows = conn.execute(_select().where(use_cases.c.org_id == org_id).order_by(use_cases.c.slug)
                        .offset(offset).limit(limit))
    return [_record(r) for r in rows]


def count_for_org(conn: Connection, org_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(use_cases)
                            .where(use_cases.c.org_id == org_id)).scalar_one())


def update_use_case(conn: Connection, use_case_id: int, *, now: float, **values: Any) -> None:
    """Sets the given columns (slug, title, owner_id, purpose, risk_tier, status) and updated_at."""
    conn.execute(update(use_cases).where(use_cases.c.id == use_case_id).values(updated_at=now, **values))


def delete_use_case(conn: Connection, use_case_id: int) -> None:
    conn.execute(delete(use_case_models).where(use_case_models.c.use_case_id == use_case_id))
    conn.execute(delete(use_cases).where(use_cases.c.id == use_case_id))


# attached models ------------------------------------------------------------------------------------------------

def attach(conn: Connection, use_case_id: int, repo_id: int, *, added_by: int | None, now: float) -> bool:
    """Attaches a repo; False when it already was."""
    if is_attached(conn, use_case_id, repo_id):
        return False
    conn.execute(insert(use_case_models).values(use_case_id=use_case_id, repo_id=repo_id, added_by=added_by,
                                                added_at=now))
    return True


def detach(conn: Connection, use_case_id: int, repo_id: int) -> bool:
    """Detaches a repo; False when it was not attached."""
    return bool(conn.execute(delete(use_case_models).where(
        use_case_models.c.use_case_id == use_case_id, use_case_models.c.repo_id == repo_id)).rowcount)


def is_attached(conn: Connection, use_case_id: int, repo_id: int) -> bool:
    return conn.execute(select(use_case_models.c.repo_id).where(
        use_case_models.c.use_case_id == use_case_id, use_case_models.c.repo_id == repo_id)).first() is not None


def count_models(conn: Connection, use_case_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(use_case_models)
                            .where(use_case_models.c.use_case_id == use_case_id)).scalar_one())


def models_of(conn: Connection, use_case_id: int, *, limit: int) -> list[AttachedModel]:
    """The repos attached to a use case, in the order they were attached (at most `limit`)."""
    sub = repo_select().subquery()
    adder = aliased(users)
    rows = conn.execute(
        select(sub, use_case_models.c.added_at, adder.c.name.label("added_by_name"))
        .select_from(use_case_models.join(sub, sub.c.id == use_case_models.c.repo_id)
                     .outerjoin(adder, adder.c.id == use_case_models.c.added_by))
        .where(use_case_models.c.use_case_id == use_case_id)
        .order_by(use_case_models.c.added_at, use_case_models.c.repo_id).limit(limit))
    return [AttachedModel(repo=RepoRecord.from_row(r), added_by=r._mapping["added_by_name"],
                          added_at=r._mapping["added_at"]) for r in rows]


def for_repo(conn: Connection, repo_id: int) -> list[UseCaseRecord]:
    """The use cases a repo (by its row id) is attached to, of any organisation, by organisation and slug."""
    rows = conn.execute(_select().join(use_case_models, use_case_models.c.use_case_id == use_cases.c.id)
                        .where(use_case_models.c.repo_id == repo_id).order_by(_org.c.name, use_cases.c.slug))
    return [_record(r) for r in rows]

