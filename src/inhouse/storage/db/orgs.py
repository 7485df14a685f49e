"""Queries on organisation membership, resource groups (teams) and gated-repo access requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from inhouse.storage.db.schema import (
    access_requests,
    org_members,
    resource_group_members,
    resource_group_repos,
    resource_groups,
    users,
)
from inhouse.vocabulary import Role


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    fullname: str
    role: Role


@dataclass(frozen=True)
class GroupRecord:
    id: int
    org_id: int
    name: str
    description: str


@dataclass(frozen=True)
class AccessRequest:
    user_id: int
    user: str
    fullname: str
    email: str | None
    status: str
    fields: dict[str, Any]
    reason: str | None
    created_at: float
    updated_at: float


# membership --------------------------------------------------------------------------------------------------------

def roles_of_user(conn: Connection, user_id: int) -> tuple[dict[int, Role], dict[int, Role]]:
    """({org_id: role}, {resource_group_id: role}) for one user, loaded once per request."""
    orgs = {r.org_id: Role(r.role) for r in conn.execute(
        select(org_members.c.org_id, org_members.c.role).where(org_members.c.user_id == user_id))}
    groups = {r.group_id: Role(r.role) for r in conn.execute(
        select(resource_group_members.c.group_id, resource_group_members.c.role)
        .where(resource_group_members.c.user_id == user_id))}
    return orgs, groups


def orgs_of_user(conn: Connection, user_id: int) -> list[tuple[str, str, Role]]:
    """(name, fullname, role) of each organisation the user belongs to."""
    rows = conn.execute(
        select(users.c.name, users.c.fullname, org_members.c.role)
        .select_from(org_members.join(users, users.c.id == org_members.c.org_id))
        .where(org_members.c.user_id == user_id).order_by(users.c.name))
    return [(r.name, r.fullname, Role(r.role)) for r in rows]


def lock_org(conn: Connection, org_id: int) -> None:
    """Serialises membership changes of one organisation (PostgreSQL row lock; SQLite writers are serial anyway),
    so that two admins demoting each other at once cannot leave it without an admin."""
    conn.execute(select(users.c.id).where(users.c.id == org_id).with_for_update())


def members(conn: Connection, org_id: int) -> list[Member]:
    rows = conn.execute(
        select(users.c.id, users.c.name, users.c.fullname, org_members.c.role)
        .select_from(org_members.join(users, users.c.id == org_members.c.user_id))
        .where(org_members.c.org_id == org_id).order_by(users.c.name))
    return [Member(r.id, r.name, r.fullname, Role(r.role)) for r in rows]


def member_role(conn: Connection, org_id: int, user_id: int) -> Role | None:
    row = conn.execute(select(org_members.c.role).where(
        org_members.c.org_id == org_id, org_members.c.user_id == user_id)).first()
    return Role(row.role) if row else None


def set_member(conn: Connection, org_id: int, user_id: int, role: Role, now: float) -> None:
    if member_role(conn, org_id, user_id) is None:
        conn.execute(insert(org_members).values(org_id=org_id, user_id=user_id, role=role.value, created_at=now))
    else:
        conn.execute(update(org_members).where(org_members.c.org_id == org_id, org_members.c.user_id == user_id)
                     .values(role=role.value))


def remove_member(conn: Connection, org_id: int, user_id: int) -> bool:
    conn.execute(delete(resource_group_members).where(
        resource_group_members.c.user_id == user_id,
        resource_group_members.c.group_id.in_(select(resource_groups.c.id).where(resource_groups.c.org_id == org_id))))
    return conn.execute(delete(org_members).where(
        org_members.c.org_id == org_id, org_members.c.user_id == user_id)).rowcount > 0


# resource groups ---------------------------------------------------------------------------------------------------

def _group(row: Any) -> GroupRecord:
    return GroupRecord(row.id, row.org_id, row.name, row.description)


def insert_group(conn: Connection, org_id: int, name: str, description: str, now: float) -> GroupRecord:
    gid = conn.execute(insert(resource_groups).values(org_id=org_id, name=name, description=description,
                                                      created_at=now).returning(resource_groups.c.id)).scalar_one()
    return GroupRecord(int(gid), org_id, name, description)


def group_by_name(conn: Connection, org_id: int, name: str) -> GroupRecord | None:
    row = conn.execute(select(resource_groups).where(resource_groups.c.org_id == org_id,
                                                     resource_groups.c.name == name)).first()
    return _group(row) if row else None


def groups_of_org(conn: Connection, org_id: int) -> list[GroupRecord]:
    return [_group(r) for r in conn.execute(
        select(resource_groups).where(resource_groups.c.org_id == org_id).order_by(resource_groups.c.name))]


def delete_group(conn: Connection, group_id: int) -> None:
    conn.execute(delete(resource_group_members).where(resource_group_members.c.group_id == group_id))
    conn.execute(delete(resource_group_repos).where(resource_group_repos.c.group_id == group_id))
    conn.execute(delete(resource_groups).where(resource_groups.c.id == group_id))


def group_members(conn: Connection, group_id: int) -> list[Member]:
    rows = conn.execute(
        select(users.c.id, users.c.name, users.c.fullname, resource_group_members.c.role)
        .select_from(resource_group_members.join(users, users.c.id == resource_group_members.c.user_id))
        .where(resource_group_members.c.group_id == group_id).order_by(users.c.name))
    return [Member(r.id, r.name, r.fullname, Role(r.role)) for r in rows]


def set_group_member(conn: Connection, group_id: int, user_id: int, role: Role) -> None:
    conn.execute(delete(resource_group_members).where(resource_group_members.c.group_id == group_id,
                                                      resource_group_members.c.user_id == user_id))
    conn.execute(insert(resource_group_members).values(group_id=group_id, user_id=user_id, role=role.value))


def remove_group_member(conn: Connection, group_id: int, user_id: int) -> bool:
    return conn.execute(delete(resource_group_members).where(
        resource_group_members.c.group_id == group_id, resource_group_members.c.user_id == user_id)).rowcount > 0


def group_of_repo(conn: Connection, repo_id: int) -> int | None:
    row = conn.execute(select(resource_group_repos.c.group_id).where(resource_group_repos.c.repo_id == repo_id)).first()
    return int(row.group_id) if row else None


def set_repo_group(conn: Connection, repo_id: int, group_id: int | None) -> None:
    conn.execute(delete(resource_group_repos).where(resource_group_repos.c.repo_id == repo_id))
    if group_id is not None:
        conn.execute(insert(resource_group_repos).values(repo_id=repo_id, group_id=group_id))


def repos_of_group(conn: Connection, group_id: int) -> list[int]:
    return [r.repo_id for r in conn.execute(
        select(resource_group_repos.c.repo_id).where(resource_group_repos.c.group_id == group_id))]


# gated access requests ---------------------------------------------------------------------------------------------

def access_status(conn: Connection, repo_id: int, user_id: int) -> str | None:
    row = conn.execute(select(access_requests.c.status).where(
        access_requests.c.repo_id == repo_id, access_requests.c.user_id == user_id)).first()
    return row.status if row else None


def access_decision(conn: Connection, repo_id: int, user_id: int) -> tuple[str, str | None] | None:
    """(status, rejection reason) of the user's access request to the repo, if any."""
    row = conn.execute(select(access_requests.c.status, access_requests.c.reason).where(
        access_requests.c.repo_id == repo_id, access_requests.c.user_id == user_id)).first()
    return (row.status, row.reason) if row else None


def upsert_access(conn: Connection, repo_id: int, user_id: int, status: str, now: float,
                  fields: dict[str, Any] | None = None, reason: str | None = None) -> None:
    if access_status(conn, repo_id, user_id) is None:
        conn.execute(insert(access_requests).values(repo_id=repo_id, user_id=user_id, status=status,
                                                    fields=json.dumps(fields or {}), reason=reason,
                                                    created_at=now, updated_at=now))
    else:
        values: dict[str, Any] = {"status": status, "updated_at": now, "reason": reason}
        if fields is not None:
            values["fields"] = json.dumps(fields)
        conn.execute(update(access_requests).where(access_requests.c.repo_id == repo_id,
                                                   access_requests.c.user_id == user_id).values(**values))


def list_access(conn: Connection, repo_id: int, status: str, *, offset: int = 0,
                limit: int | None = None) -> list[AccessRequest]:
    rows = conn.execute(
        select(access_requests, users.c.name, users.c.fullname, users.c.email)
        .select_from(access_requests.join(users, users.c.id == access_requests.c.user_id))
        .where(access_requests.c.repo_id == repo_id, access_requests.c.status == status)
        .order_by(access_requests.c.created_at, access_requests.c.user_id)
        .offset(offset).limit(limit))
    return [AccessRequest(r.user_id, r.name, r.fullname, r.email, r.status, json.loads(r.fields or "{}"), r.reason,
                          r.created_at, r.updated_at) for r in rows]
