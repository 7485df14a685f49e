"""services/orgs.py and the token rules of services/users.py, on real stores (SQLite; one test also on PostgreSQL).

Callers are real Principals built from real tokens by access.identity.authenticate, as a request would build them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inhouse.access.identity import Principal, authenticate
from inhouse.access.policy import Action, authorize
from inhouse.config import Settings
from inhouse.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from inhouse.services import orgs, repos, users
from inhouse.services.context import Stores
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db import repos as repo_store
from inhouse.vocabulary import RepoType, Role, Scope, TokenRole


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    s = Stores.open(Settings(data_dir=tmp_path / "data"))
    yield s
    s.close()


def _name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _user(stores: Stores, *, admin: bool = False) -> str:
    return users.create_user(stores, _name(), admin=admin).name


def _as(stores: Stores, user: str, role: str = "write", scopes: list[dict[str, Any]] | None = None) -> Principal:
    """The principal of a new token of `user`, its role and scopes given as the API takes them."""
    _, secret = users.create_token(stores, user, role=TokenRole.parse(role),
                                   scopes=Scope.parse_list(scopes) if scopes else ())
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


def _audit(stores: Stores, action: str) -> list[dict]:  # type: ignore[type-arg]
    with stores.db.read() as conn:
        rows = list(audit_store.scan(conn, action=action))
    return [{**r, "details": json.loads(r["details"])} for r in rows]


def _org(stores: Stores) -> tuple[str, str, Principal]:
    """(org, admin name, admin principal): an org created through the service by a user with a write token."""
    admin = _user(stores)
    p = _as(stores, admin)
    org = orgs.create_org(stores, _name("o"), fullname="Acme Corp", by=p).name
    return org, admin, _as(stores, admin)


def test_create_org_makes_the_creator_admin_and_is_audited(stores: Stores) -> None:
    org, admin, p = _org(stores)
    assert [(m.name, m.role) for m in orgs.list_members(stores, org, by=p)] == [(admin, "admin")]
    view = orgs.get_org(stores, org)
    assert (view.name, view.fullname, view.num_members) == (org, "Acme Corp", 1)
    assert users.orgs_of(stores, p) == [(org, "Acme Corp", "admin")]
    entry = _audit(stores, "org.create")[-1]
    assert entry["actor"] == admin and entry["details"] == {"org": org, "admin": admin}
    assert entry["ip"] == "127.0.0.1" and entry["request_id"]


def test_org_names_share_the_user_namespace_and_are_validated(stores: Stores) -> None:
    taken = _user(stores)
    p = _as(stores, _user(stores))
    with pytest.raises(Conflict, match="already exists"):
        orgs.create_org(stores, taken.upper(), by=p)
    with pytest.raises(BadRequest):
        orgs.create_org(stores, "bad--name", by=p)
    with pytest.raises(BadRequest, match="reserved"):
        orgs.create_org(stores, "datasets", by=p)
    org, _, _ = _org(stores)
    with pytest.raises(Conflict):
        users.create_user(stores, org)


def test_who_may_create_an_org(stores: Stores) -> None:
    user = _user(stores)
    with pytest.raises(Unauthorized):
        orgs.create_org(stores, _name("o"), by=Principal())
    with pytest.raises(Forbidden, match="write token"):
        orgs.create_org(stores, _name("o"), by=_as(stores, user, "read"))
    with pytest.raises(BadRequest, match="become the admin"):
        orgs.create_org(stores, _name("o"), admin=_user(stores), by=_as(stores, user))
    with pytest.raises(BadRequest, match="--admin"):
        orgs.create_org(stores, _name("o"))  # the operator must name the first admin
    with pytest.raises(NotFound):
        orgs.create_org(stores, _name("o"), admin="nobody-" + uuid.uuid4().hex[:6])
    assert _audit(stores, "org.create") == []  # nothing was created, nothing recorded


def test_members_add_change_remove_and_last_admin(stores: Stores) -> None:
    org, admin, p = _org(stores)
    bob, carol = _user(stores), _user(stores)
    assert orgs.set_member(stores, org, bob, Role.WRITE, by=p).role == "write"
    orgs.set_member(stores, org, bob, Role.WRITE, by=p)  # unchanged: no second record
    orgs.set_member(stores, org, carol, Role.READ, by=p)
    orgs.set_member(stores, org, carol, Role.ADMIN, by=p)
    assert {(m.name, m.role) for m in orgs.list_members(stores, org, by=p)} == {
        (admin, "admin"), (bob, "write"), (carol, "admin")}
    assert [e["details"] for e in _audit(stores, "org.member.add")] == [
        {"org": org, "user": bob, "role": "write"}, {"org": org, "user": carol, "role": "read"}]
    assert [e["details"] for e in _audit(stores, "org.member.role")] == [
        {"org": org, "user": carol, "role": "admin", "previous": "read"}]

    orgs.remove_member(stores, org, admin, by=p)  # carol is still admin, so this is allowed
    pc = _as(stores, carol)
    with pytest.raises(Conflict, match="last admin"):
        orgs.remove_member(stores, org, carol, by=pc)
    with pytest.raises(Conflict, match="last admin"):
        orgs.set_member(stores, org, carol, Role.WRITE, by=pc)
    with pytest.raises(NotFound, match="not a member"):
        orgs.remove_member(stores, org, admin, by=pc)
    assert [e["details"]["user"] for e in _audit(stores, "org.member.remove")] == [admin]
    # the removed admin's next request has no org role any more
    assert _as(stores, admin).org_roles == {}
    with pytest.raises(BadRequest, match="Invalid role"):  # what the API and the CLI parse a role with
        orgs.set_member(stores, org, bob, Role.parse("owner"), by=pc)


def test_only_admins_manage_and_only_members_see(stores: Stores) -> None:
    org, _, p = _org(stores)
    writer, outsider = _user(stores), _user(stores)
    orgs.set_member(stores, org, writer, Role.WRITE, by=p)
    pw, po = _as(stores, writer), _as(stores, outsider)
    with pytest.raises(Forbidden, match="Only admins"):
        orgs.set_member(stores, org, outsider, Role.READ, by=pw)
    with pytest.raises(Forbidden, match="Only admins"):
        orgs.create_group(stores, org, "team", by=pw)
    with pytest.raises(Forbidden, match="Only members"):
        orgs.list_members(stores, org, by=po)
    with pytest.raises(Forbidden, match="Only members"):
        orgs.list_groups(stores, org, by=po)
    with pytest.raises(Unauthorized):
        orgs.list_members(stores, org, by=Principal())
    assert orgs.get_org(stores, org).num_members == 2  # the org itself is visible by name
    assert {m.name for m in orgs.list_members(stores, org, by=pw)} >= {writer}
    # an admin's read token may look but not change
    admin_read = Principal(**{**p.__dict__, "role": TokenRole.READ})
    assert orgs.list_members(stores, org, by=admin_read)
    with pytest.raises(Forbidden, match="cannot change organisations"):
        orgs.set_member(stores, org, outsider, Role.READ, by=admin_read)
    # a member may leave on their own
    orgs.remove_member(stores, org, writer, by=pw)
    assert writer not in {m.name for m in orgs.list_members(stores, org, by=p)}
    # a site admin manages any org
    site = _as(stores, _user(stores, admin=True))
    orgs.set_member(stores, org, outsider, Role.CONTRIBUTOR, by=site)
    with pytest.raises(NotFound):
        orgs.list_members(stores, "no-such-org-" + uuid.uuid4().hex[:6], by=site)
    with pytest.raises(NotFound, match="No organisation"):
        orgs.set_member(stores, outsider, writer, Role.READ, by=site)  # a user is not an org


def test_fine_grained_token_scoped_to_the_org_can_manage_it(stores: Stores) -> None:
    org, admin, p = _org(stores)
    other_org, _, _ = _org(stores)
    scoped = _as(stores, admin, "fine-grained", [{"type": "org", "name": org, "permissions": ["repo.access.write"]}])
    orgs.set_member(stores, org, _user(stores), Role.READ, by=scoped)
    wrong = _as(stores, admin, "fine-grained", [{"type": "org", "name": other_org,
                                                 "permissions": ["repo.access.write"]}])
    with pytest.raises(Forbidden):
        orgs.set_member(stores, org, _user(stores), Role.READ, by=wrong)
    with pytest.raises(Forbidden):
        orgs.list_members(stores, org, by=wrong)


def test_resource_groups_grant_a_role_on_their_repos_only(stores: Stores) -> None:
    org, _, p = _org(stores)
    dev = _user(stores)
    orgs.set_member(stores, org, dev, Role.READ, by=p)
    in_group = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=org, name="in-group", private=True)
    outside = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=org, name="outside", private=True)
    data = repos.create(stores, p, repo_type=RepoType.DATASET, namespace=org, name="data")
    group = orgs.create_group(stores, org, "research", description="the research team", by=p)
    assert group.description == "the research team"
    with pytest.raises(Conflict):
        orgs.create_group(stores, org, "research", by=p)
    orgs.set_group_member(stores, org, "research", dev, Role.WRITE, by=p)
    orgs.add_group_repo(stores, org, "research", in_group.repo_id, by=p)
    orgs.add_group_repo(stores, org, "research", data.repo_id, repo_type=RepoType.DATASET, by=p)

    def record(repo):  # type: ignore[no-untyped-def]
        with stores.db.read() as conn:
            return repo_store.repo_by_id(conn, repo.id)

    pd = _as(stores, dev)
    authorize(stores.db, pd, Action.WRITE, record(in_group))
    authorize(stores.db, pd, Action.WRITE, record(data))
    with pytest.raises(Forbidden, match="write role"):
        authorize(stores.db, pd, Action.WRITE, record(outside))
    authorize(stores.db, pd, Action.DOWNLOAD, record(outside))  # the org role (read) still applies

    [view] = orgs.list_groups(stores, org, by=pd)
    assert [(m.name, m.role) for m in view.members] == [(dev, "write")]
    assert [r.url_path for r in view.repos] == [f"datasets/{org}/data", f"{org}/in-group"]
    assert [e["repo"] for e in _audit(stores, "group.repo.add")] == [in_group.repo_id, f"datasets/{org}/data"]

    # a repo is in at most one group: adding it to another moves it
    orgs.create_group(stores, org, "prod", by=p)
    orgs.add_group_repo(stores, org, "prod", in_group.repo_id, by=p)
    assert _audit(stores, "group.repo.add")[-1]["details"]["previous_group"] == "research"
    with pytest.raises(Forbidden):
        authorize(stores.db, _as(stores, dev), Action.WRITE, record(in_group))
    with pytest.raises(NotFound, match="not in resource group"):
        orgs.remove_group_repo(stores, org, "research", in_group.repo_id, by=p)
    orgs.remove_group_repo(stores, org, "prod", in_group.repo_id, by=p)
    assert record(in_group).resource_group_id is None

    # removing the member from the group, then deleting the group, are audited and take effect
    orgs.remove_group_member(stores, org, "research", dev, by=p)
    with pytest.raises(Forbidden):
        authorize(stores.db, _as(stores, dev), Action.WRITE, record(data))
    orgs.delete_group(stores, org, "research", by=p)
    assert record(data).resource_group_id is None
    assert [g.group.name for g in orgs.list_groups(stores, org, by=p)] == ["prod"]
    for action in ("group.create", "group.member.add", "group.member.remove", "group.repo.remove", "group.delete"):
        assert _audit(stores, action), action


def test_group_rules(stores: Stores) -> None:
    org, _, p = _org(stores)
    other_org, _, po = _org(stores)
    stranger = _user(stores)
    orgs.create_group(stores, org, "team", by=p)
    with pytest.raises(BadRequest, match="not a member"):
        orgs.set_group_member(stores, org, "team", stranger, Role.WRITE, by=p)
    foreign = repos.create(stores, po, repo_type=RepoType.MODEL, namespace=other_org, name="theirs")
    with pytest.raises(BadRequest, match="does not belong"):
        orgs.add_group_repo(stores, org, "team", foreign.repo_id, by=p)
    with pytest.raises(NotFound):
        orgs.add_group_repo(stores, org, "team", f"{org}/missing", by=p)
    with pytest.raises(NotFound, match="No resource group"):
        orgs.add_group_repo(stores, org, "nope", f"{org}/x", by=p)
    with pytest.raises(BadRequest):
        orgs.create_group(stores, org, "bad name", by=p)
    # removing someone from the org removes their group roles too
    orgs.set_member(stores, org, stranger, Role.READ, by=p)
    orgs.set_group_member(stores, org, "team", stranger, Role.ADMIN, by=p)
    orgs.set_group_member(stores, org, "team", stranger, Role.WRITE, by=p)
    assert _audit(stores, "group.member.role")[-1]["details"]["previous"] == "admin"
    orgs.remove_member(stores, org, stranger, by=p)
    assert orgs.get_group(stores, org, "team", by=p).members == []
    assert _as(stores, stranger).group_roles == {}


def test_tokens_owned_by_users_managed_by_their_owner_or_a_site_admin(stores: Stores) -> None:
    alice, bob = _user(stores), _user(stores)
    pa = _as(stores, alice)
    tok, secret = users.create_token(stores, alice, role=TokenRole.FINE_GRAINED, name="ci", expires_in_s=3600,
                                     scopes=[Scope.parse({"type": "repo", "name": f"{alice}/m", "permissions": ["repo.write"]})],
                                     by=pa)
    assert secret.startswith("ih_") and tok.hint == secret[:7] and tok.expires_at is not None
    listed = users.list_tokens(stores, alice, by=pa)
    assert tok.id in {t.id for t in listed}
    assert all(not hasattr(t, "secret") and secret not in repr(t) for t in listed)
    # someone else's tokens: neither listed, created nor revoked (their ids are not even confirmed)
    pb = _as(stores, bob)
    with pytest.raises(Forbidden):
        users.list_tokens(stores, alice, by=pb)
    with pytest.raises(Forbidden):
        users.create_token(stores, alice, role=TokenRole.WRITE, by=pb)
    with pytest.raises(NotFound):
        users.revoke_token(stores, tok.id, by=pb)
    # a read or scoped token cannot mint a stronger token, nor revoke
    with pytest.raises(Forbidden, match="write token"):
        users.create_token(stores, alice, role=TokenRole.WRITE, by=_as(stores, alice, "read"))
    scoped = authenticate(stores.db, secret)
    with pytest.raises(Forbidden, match="write token"):
        users.revoke_token(stores, pa.token_id, by=scoped)  # type: ignore[arg-type]
    # revocation by the owner takes effect on the next authentication
    users.revoke_token(stores, tok.id, by=pa)
    with pytest.raises(Unauthorized):
        authenticate(stores.db, secret)
    # a site admin manages anyone's
    site = _as(stores, _user(stores, admin=True))
    _, bob_secret = users.create_token(stores, bob, role=TokenRole.READ, by=site)
    assert len(users.list_tokens(stores, bob, by=site)) == 2
    # organisations have no tokens
    org, _, _ = _org(stores)
    with pytest.raises(BadRequest, match="organisation"):
        users.create_token(stores, org, role=TokenRole.WRITE)
    assert [e["details"]["token_id"] for e in _audit(stores, "token.revoke")] == [tok.id]


def test_last_use_is_recorded(stores: Stores) -> None:
    alice = _user(stores)
    tok, secret = users.create_token(stores, alice, role=TokenRole.READ)
    assert users.list_tokens(stores, alice)[0].last_used_at is None
    authenticate(stores.db, secret)
    [t] = users.list_tokens(stores, alice)
    assert t.id == tok.id and t.last_used_at is not None and t.last_used_at >= tok.created_at


def test_org_lifecycle_on_both_backends(database_url: str, tmp_path: Path) -> None:
    stores = Stores.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
    try:
        org, admin, p = _org(stores)
        dev = _user(stores)
        orgs.set_member(stores, org, dev, Role.CONTRIBUTOR, by=p)
        repo = repos.create(stores, _as(stores, dev), repo_type=RepoType.MODEL, namespace=org, name="m")
        orgs.create_group(stores, org, "g", by=p)
        orgs.set_group_member(stores, org, "g", dev, Role.ADMIN, by=p)
        orgs.add_group_repo(stores, org, "g", repo.repo_id, by=p)
        with stores.db.read() as conn:
            rec = repo_store.repo_by_id(conn, repo.id)
        assert rec is not None and rec.resource_group_id is not None
        authorize(stores.db, _as(stores, dev), Action.MANAGE, rec)
        with pytest.raises(Conflict, match="last admin"):
            orgs.remove_member(stores, org, admin, by=p)
        orgs.set_member(stores, org, dev, Role.ADMIN, by=p)
        orgs.remove_member(stores, org, admin, by=_as(stores, dev))
        assert [(m.name, m.role) for m in orgs.list_members(stores, org, by=_as(stores, dev))] == [(dev, "admin")]
        orgs.delete_group(stores, org, "g", by=_as(stores, dev))
        actions = [e for e in ("org.create", "org.member.add", "group.create", "group.member.add", "group.repo.add",
                               "org.member.role", "org.member.remove", "group.delete") if _audit(stores, e)]
        assert len(actions) == 8
    finally:
        stores.close()
