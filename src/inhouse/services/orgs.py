"""Organisations, their members and their resource groups (teams that grant a role on a set of the org's repos).

Organisations are rows of `users` with kind "org", so org and user names share one namespace. Only org admins
(or site admins) change an organisation; members see its members and groups; everyone sees that it exists.
`by=None` is the local operator (the CLI, who holds the data folder) and may do anything. Every change is
audited in the transaction that makes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import OrgAction, can_see, decide_org
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, NotFound, RepoNotFound
from inhouse.names import RESERVED_NAMESPACES, check_label, check_name_part, split_repo_id
from inhouse.services.context import Stores
from inhouse.storage.db import orgs as store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.orgs import GroupRecord, Member
from inhouse.storage.db.records import RepoRecord, UserRecord
from inhouse.vocabulary import RepoType, Role


@dataclass(frozen=True)
class OrgView:
    name: str
    fullname: str
    created_at: float
    num_members: int


@dataclass(frozen=True)
class GroupView:
    group: GroupRecord
    members: list[Member]
    repos: list[RepoRecord]


# lookups -----------------------------------------------------------------------------------------------------------

def _org(conn: Connection, name: str) -> UserRecord:
    """The organisation `name` names, in any casing (as owners of repos are)."""
    org = user_store.user_by_name(conn, name) or user_store.user_by_name_ci(conn, name)
    if org is None or org.kind != "org":
        raise NotFound(f"No organisation named '{name}'; create it with `inhouse orgs create {name} --admin USER`.")
    return org


def _user(conn: Connection, name: str) -> UserRecord:
    user = user_store.user_by_name(conn, name)
    if user is None or user.kind != "user":
        raise NotFound(f"No user named '{name}'; create one with `inhouse users create {name}`.")
    return user


def _group(conn: Connection, org: UserRecord, name: str) -> GroupRecord:
    group = store.group_by_name(conn, org.id, name)
    if group is None:
        raise NotFound(f"No resource group '{name}' in '{org.name}'; list them with "
                       f"`inhouse orgs groups list {org.name}`.")
    return group


def _check(conn: Connection, by: Principal | None, action: OrgAction, org: UserRecord) -> None:
    """The policy decides, on the caller's role read in this transaction (not a possibly older snapshot)."""
    if by is None:
        return
    role = store.member_role(conn, org.id, by.user_id) if by.user_id is not None else None
    decide_org(by, action, org.name, role=role)


def _org_repo(conn: Connection, org: UserRecord, repo_type: RepoType, repo_id: str,
              by: Principal | None) -> RepoRecord:
    """One of the org's repos, by its id (or an old id it was moved from). A repo the caller may not see is
    answered exactly as a missing one: same error, same message, whether it exists, where it went or not."""
    namespace, name = split_repo_id(repo_id)
    hit = repo_store.find_repo(conn, repo_type, namespace, name)
    if hit is None or (by is not None and hit[0].owner_id != org.id and not can_see(by, hit[0])):
        raise RepoNotFound(f"No {repo_type} repository {repo_id}; check the id and pass --type dataset for a dataset.")
    repo = hit[0]
    if repo.owner_id != org.id:
        raise BadRequest(f"{repo.repo_id} does not belong to '{org.name}': a resource group holds only its "
                         "organisation's repos (move the repo into the organisation first).")
    return repo


# organisations -----------------------------------------------------------------------------------------------------

def create_org(stores: Stores, name: str, *, fullname: str = "", admin: str | None = None,
               by: Principal | None = None) -> UserRecord:
    """Creates organisation `name`; `admin` (by default the caller) becomes its first admin."""
    check_name_part(name, "organisation name")
    check_label(fullname, "full name")
    if name.lower() in RESERVED_NAMESPACES:
        raise BadRequest(f"'{name}' is a reserved name; choose another organisation name.")
    if by is not None:
        decide_org(by, OrgAction.CREATE, name, role=None)
        if admin is not None and admin != by.name and not by.is_admin:
            raise BadRequest("You become the admin of the organisations you create; add other admins afterwards.")
        admin = admin or by.name
    if not admin:
        raise BadRequest("An organisation needs a first admin: pass --admin USER.")
    now = time.time()
    with stores.db.write() as conn:
        if user_store.user_by_name_ci(conn, name) is not None:
            raise Conflict(f"A user or organisation named '{name}' already exists; choose another name.")
        first = _user(conn, admin)
        org = user_store.insert_user(conn, name=name, fullname=fullname or name, email=None, kind="org",
                                     is_admin=False, now=now)
        store.set_member(conn, org.id, first.id, Role.ADMIN, now)
        stores.audit.record(conn, by, Event("org.create", details={"org": name, "admin": first.name}))
        return org


def list_orgs(stores: Stores) -> list[UserRecord]:
    with stores.db.read() as conn:
        return [u for u in user_store.list_users(conn) if u.kind == "org"]


def get_org(stores: Stores, name: str) -> OrgView:
    """What anyone may know about an organisation: that it exists, its full name and its size."""
    with stores.db.read() as conn:
        org = _org(conn, name)
        return OrgView(org.name, org.fullname, org.created_at, len(store.members(conn, org.id)))


def list_members(stores: Stores, org_name: str, *, by: Principal | None = None) -> list[Member]:
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.VIEW, org)
        return store.members(conn, org.id)


def set_member(stores: Stores, org_name: str, user_name: str, role: Role, *,
               by: Principal | None = None) -> Member:
    """Adds `user_name` to the organisation with `role`, or changes their role."""
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        store.lock_org(conn, org.id)
        _check(conn, by, OrgAction.MANAGE, org)
        user = _user(conn, user_name)
        before = store.member_role(conn, org.id, user.id)
        if before is role:
            return Member(user.id, user.name, user.fullname, role)
        if before is Role.ADMIN:
            _keep_an_admin(conn, org, user, "demote")
        store.set_member(conn, org.id, user.id, role, time.time())
        action = "org.member.add" if before is None else "org.member.role"
        stores.audit.record(conn, by, Event(action, details={
            "org": org.name, "user": user.name, "role": role, **({"previous": before} if before else {})}))
        return Member(user.id, user.name, user.fullname, role)


def remove_member(stores: Stores, org_name: str, user_name: str, *, by: Principal | None = None) -> None:
    """Removes a member (and their resource-group roles). Members may leave; the last admin may not."""
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        store.lock_org(conn, org.id)
        # the caller's right first: who exists is not an answer for someone who may not remove anyone
        leaving = by is not None and by.user_id is not None and by.name == user_name
        _check(conn, by, OrgAction.LEAVE if leaving else OrgAction.MANAGE, org)
        user = _user(conn, user_name)
        before = store.member_role(conn, org.id, user.id)
        if before is None:
            raise NotFound(f"'{user.name}' is not a member of '{org.name}'.")
        if before is Role.ADMIN:
            _keep_an_admin(conn, org, user, "remove")
        store.remove_member(conn, org.id, user.id)
        stores.audit.record(conn, by, Event("org.member.remove", details={
            "org": org.name, "user": user.name, "role": before}))


def _keep_an_admin(conn: Connection, org: UserRecord, user: UserRecord, verb: str) -> None:
    if not any(m.role is Role.ADMIN and m.user_id != user.id for m in store.members(conn, org.id)):
        raise Conflict(f"'{user.name}' is the last admin of '{org.name}' and cannot be {verb}d; make another member "
                       "admin first.")


# resource groups ---------------------------------------------------------------------------------------------------

def create_group(stores: Stores, org_name: str, name: str, *, description: str = "",
                 by: Principal | None = None) -> GroupRecord:
    check_name_part(name, "resource group name")
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.MANAGE, org)
        if store.group_by_name(conn, org.id, name) is not None:
            raise Conflict(f"'{org.name}' already has a resource group named '{name}'; choose another name.")
        group = store.insert_group(conn, org.id, name, description, time.time())
        stores.audit.record(conn, by, Event("group.create", details={"org": org.name, "group": name}))
        return group


def delete_group(stores: Stores, org_name: str, name: str, *, by: Principal | None = None) -> None:
    """Deletes a group: its members lose the roles it granted; its repos stay, outside any group."""
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.MANAGE, org)
        group = _group(conn, org, name)
        store.delete_group(conn, group.id)
        stores.audit.record(conn, by, Event("group.delete", details={"org": org.name, "group": name}))


def list_groups(stores: Stores, org_name: str, *, by: Principal | None = None) -> list[GroupView]:
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.VIEW, org)
        return [_view(conn, g) for g in store.groups_of_org(conn, org.id)]


def get_group(stores: Stores, org_name: str, name: str, *, by: Principal | None = None) -> GroupView:
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.VIEW, org)
        return _view(conn, _group(conn, org, name))


def _view(conn: Connection, group: GroupRecord) -> GroupView:
    # only the org's own repos: one moved to another owner is no business of this org's members any more
    repos = [r for r in (repo_store.repo_by_id(conn, i) for i in store.repos_of_group(conn, group.id))
             if r and r.owner_id == group.org_id]
    return GroupView(group, store.group_members(conn, group.id), sorted(repos, key=lambda r: r.url_path))


def set_group_member(stores: Stores, org_name: str, group_name: str, user_name: str, role: Role, *,
                     by: Principal | None = None) -> Member:
    """Gives an org member `role` on every repo of the group (a role above their org role raises it there)."""
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.MANAGE, org)
        group = _group(conn, org, group_name)
        user = _user(conn, user_name)
        if store.member_role(conn, org.id, user.id) is None:
            raise BadRequest(f"'{user.name}' is not a member of '{org.name}': add them to the organisation first "
                             f"(`inhouse orgs members add {org.name} {user.name} --role read`).")
        before = {m.user_id: m.role for m in store.group_members(conn, group.id)}.get(user.id)
        if before is not role:
            store.set_group_member(conn, group.id, user.id, role)
            stores.audit.record(conn, by, Event(
                "group.member.add" if before is None else "group.member.role",
                details={"org": org.name, "group": group.name, "user": user.name, "role": role,
                         **({"previous": before} if before else {})}))
        return Member(user.id, user.name, user.fullname, role)


def remove_group_member(stores: Stores, org_name: str, group_name: str, user_name: str, *,
                        by: Principal | None = None) -> None:
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.MANAGE, org)
        group = _group(conn, org, group_name)
        user = _user(conn, user_name)
        if not store.remove_group_member(conn, group.id, user.id):
            raise NotFound(f"'{user.name}' is not a member of resource group '{group.name}'.")
        stores.audit.record(conn, by, Event("group.member.remove", details={
            "org": org.name, "group": group.name, "user": user.name}))


def add_group_repo(stores: Stores, org_name: str, group_name: str, repo_id: str, *,
                   repo_type: RepoType = RepoType.MODEL,
                   by: Principal | None = None) -> RepoRecord:
    """Puts one of the org's repos into the group; a repo is in at most one group, so it leaves its old one."""
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.MANAGE, org)
        group = _group(conn, org, group_name)
        repo = _org_repo(conn, org, repo_type, repo_id, by)
        previous = store.group_of_repo(conn, repo.id)
        if previous != group.id:
            store.set_repo_group(conn, repo.id, group.id)
            old = next((g.name for g in store.groups_of_org(conn, org.id) if g.id == previous), None)
            stores.audit.record(conn, by, Event("group.repo.add", repo, details={
                "org": org.name, "group": group.name, **({"previous_group": old} if old else {})}))
        return repo


def remove_group_repo(stores: Stores, org_name: str, group_name: str, repo_id: str, *,
                      repo_type: RepoType = RepoType.MODEL, by: Principal | None = None) -> None:
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.MANAGE, org)
        group = _group(conn, org, group_name)
        repo = _org_repo(conn, org, repo_type, repo_id, by)
        if store.group_of_repo(conn, repo.id) != group.id:
            raise NotFound(f"{repo.repo_id} is not in resource group '{group.name}'.")
        store.set_repo_group(conn, repo.id, None)
        stores.audit.record(conn, by, Event("group.repo.remove", repo, details={"org": org.name,
                                                                              "group": group.name}))


# settings ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrgSettings:
    default_private: bool | None  # None: the site-wide default applies
    new_repos_private: bool  # what a repo created without saying public or private gets now


def get_settings(stores: Stores, org_name: str, *, by: Principal | None = None) -> OrgSettings:
    """The organisation's settings, to its members."""
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.VIEW, org)
        value = user_store.default_private(conn, org.id)
    return OrgSettings(value, stores.settings.new_repos_private if value is None else value)


def set_default_private(stores: Stores, org_name: str, value: bool | None, *,
                        by: Principal | None = None) -> OrgSettings:
    """Whether the organisation's new repos are private unless their creator asks for a public one (org admins;
    None: follow the site-wide `new_repos_private`). Audited as org.settings."""
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.MANAGE, org)
        user_store.set_default_private(conn, org.id, value)
        stores.audit.record(conn, by, Event("org.settings", details={"org": org.name, "default_private": value}))
    return OrgSettings(value, stores.settings.new_repos_private if value is None else value)
