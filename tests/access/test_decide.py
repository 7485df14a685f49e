"""policy.decide and authorize_create are pure: their edge cases, without a server or a database."""

from __future__ import annotations

import dataclasses

from dataclasses import replace
from typing import Any

import pytest

from inhouse.access.identity import Principal
from inhouse.access.policy import (
    Action,
    authorize_create,
    can_see,
    decide,
    repo_role,
    token_allows,
)
from inhouse.errors import (
    Forbidden,
    GatedRepo,
    InhouseError,
    RepoNotFound,
    Unauthorized,
)
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import RepoType, Role, Scope, TokenRole

ORG, OTHER_ORG, OWNER, STRANGER = 10, 11, 20, 30
GROUP, OTHER_GROUP = 100, 101
ALL = (Action.READ, Action.DOWNLOAD, Action.PROPOSE, Action.WRITE, Action.MANAGE)


def repo(*, private: bool = False, gated: str | None = None, owner_id: int = ORG, namespace: str = "acme",
         name: str = "bert", type: RepoType = RepoType.MODEL, group: int | None = None) -> RepoRecord:
    return RepoRecord(id=1, type=type, namespace=namespace, name=name, owner_id=owner_id, private=private,
                      gated=gated, created_at=0.0, last_modified=0.0, head_sha=None, card_data=None,
                      resource_group_id=group)


def who(*, user_id: int = STRANGER, role: str = "write", admin: bool = False, orgs: dict[int, str] | None = None,
        groups: dict[int, str] | None = None, scopes: list[Scope] | None = None) -> Principal:
    """A caller, with its token role and member roles named by their strings (as the API and the database do)."""
    return Principal(user_id=user_id, name=f"u{user_id}", is_admin=admin, token_id=1, token_name="t",
                     role=TokenRole(role), scopes=tuple(scopes or ()),
                     org_roles={k: Role(v) for k, v in (orgs or {}).items()},
                     group_roles={k: Role(v) for k, v in (groups or {}).items()})


def scope(kind: str, name: str, *permissions: str) -> Scope:
    return Scope.parse({"type": kind, "name": name, "permissions": list(permissions)})


ANONYMOUS = Principal()


def outcome(p: Principal, action: Action, r: RepoRecord, **kw: Any) -> str | tuple[str, int]:
    """"ok", or (X-Error-Code, status) of what decide raised."""
    try:
        decide(p, action, r, **kw)
    except InhouseError as err:
        return err.code, err.status
    return "ok"


def allowed(p: Principal, r: RepoRecord, **kw: Any) -> set[Action]:
    return {a for a in ALL if outcome(p, a, r, **kw) == "ok"}


# roles -------------------------------------------------------------------------------------------------------------

def test_site_admin_may_do_everything_on_anyones_private_gated_repo() -> None:
    assert allowed(who(admin=True), repo(private=True, gated="manual", owner_id=OTHER_ORG)) == set(ALL)
    assert repo_role(who(admin=True), repo()) == "admin"


def test_site_admin_is_still_capped_by_a_read_token() -> None:
    r = repo(private=True)
    assert allowed(who(admin=True, role="read"), r) == {Action.READ, Action.DOWNLOAD}
    assert outcome(who(admin=True, role="read"), Action.MANAGE, r) == ("Forbidden", 403)


def test_owner_of_a_user_namespace_repo_is_its_admin() -> None:
    mine = repo(private=True, owner_id=OWNER, namespace="u20")
    assert repo_role(who(user_id=OWNER), mine) == "admin"
    assert allowed(who(user_id=OWNER), mine) == set(ALL)
    # the same private repo is invisible to another user, even one who is admin of some org
    assert outcome(who(orgs={ORG: "admin"}), Action.READ, mine) == ("RepoNotFound", 404)


@pytest.mark.parametrize(("org_role", "expected"), [
    ("read", {Action.READ, Action.DOWNLOAD, Action.PROPOSE}),
    ("contributor", {Action.READ, Action.DOWNLOAD, Action.PROPOSE}),
    ("write", {Action.READ, Action.DOWNLOAD, Action.PROPOSE, Action.WRITE}),
    ("admin", set(ALL)),
])
def test_org_roles_on_a_private_repo(org_role: str, expected: set[Action]) -> None:
    assert allowed(who(orgs={ORG: org_role}), repo(private=True)) == expected


def test_a_role_in_another_org_gives_nothing() -> None:
    assert outcome(who(orgs={OTHER_ORG: "admin"}), Action.READ, repo(private=True)) == ("RepoNotFound", 404)


def test_group_role_beats_a_lower_org_role() -> None:
    r = repo(private=True, group=GROUP)
    p = who(orgs={ORG: "read"}, groups={GROUP: "write"})
    assert repo_role(p, r) == "write"
    assert outcome(p, Action.WRITE, r) == "ok"
    assert outcome(p, Action.MANAGE, r) == ("Forbidden", 403)


def test_org_role_beats_a_lower_group_role() -> None:
    r = repo(private=True, group=GROUP)
    p = who(orgs={ORG: "admin"}, groups={GROUP: "read"})
    assert repo_role(p, r) == "admin"
    assert outcome(p, Action.MANAGE, r) == "ok"


def test_group_role_alone_opens_a_private_repo_of_that_group_only() -> None:
    p = who(groups={GROUP: "contributor"})
    assert allowed(p, repo(private=True, group=GROUP)) == {Action.READ, Action.DOWNLOAD, Action.PROPOSE}
    assert outcome(p, Action.READ, repo(private=True, group=OTHER_GROUP)) == ("RepoNotFound", 404)
    assert outcome(p, Action.READ, repo(private=True)) == ("RepoNotFound", 404)


# private repos do not exist for outsiders --------------------------------------------------------------------------

@pytest.mark.parametrize("action", ALL)
def test_private_repo_is_not_found_for_every_action(action: Action) -> None:
    r = repo(private=True)
    assert outcome(ANONYMOUS, action, r) == ("RepoNotFound", 401)
    assert outcome(who(), action, r) == ("RepoNotFound", 404)
    # an accepted gated-access request does not reveal a private gated repo
    assert outcome(who(), action, repo(private=True, gated="auto"), gate_accepted=True) == ("RepoNotFound", 404)


def test_public_repo_changes_need_credentials_then_a_role() -> None:
    r = repo()
    assert allowed(ANONYMOUS, r) == {Action.READ, Action.DOWNLOAD}
    assert outcome(ANONYMOUS, Action.PROPOSE, r) == ("Unauthorized", 401)
    assert outcome(ANONYMOUS, Action.WRITE, r) == ("Unauthorized", 401)
    # any authenticated user may propose (discussions, pull requests) on a public repo, not write
    assert allowed(who(), r) == {Action.READ, Action.DOWNLOAD, Action.PROPOSE}


# gated repos -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["auto", "manual"])
def test_gated_metadata_is_public_files_are_not(mode: str) -> None:
    r = repo(gated=mode)
    assert outcome(ANONYMOUS, Action.READ, r) == "ok"
    assert outcome(ANONYMOUS, Action.DOWNLOAD, r) == ("GatedRepo", 401)
    assert outcome(who(), Action.READ, r) == "ok"
    assert outcome(who(), Action.DOWNLOAD, r) == ("GatedRepo", 403)
    assert outcome(who(), Action.DOWNLOAD, r, gate_accepted=True) == "ok"
    # an accepted request opens the files, nothing more
    assert outcome(who(), Action.WRITE, r, gate_accepted=True) == ("Forbidden", 403)


def test_read_token_of_a_member_downloads_a_gated_repo_without_a_request() -> None:
    r = repo(gated="manual")
    for role in ("read", "contributor", "write", "admin"):
        assert outcome(who(role="read", orgs={ORG: role}), Action.DOWNLOAD, r) == "ok", role
    assert outcome(who(role="read", groups={GROUP: "read"}), Action.DOWNLOAD, repo(gated="auto", group=GROUP)) == "ok"


def test_member_token_without_content_read_stays_gated() -> None:
    r = repo(gated="auto")
    p = who(role="fine-grained", orgs={ORG: "admin"}, scopes=[scope("repo", "acme/bert", "discussion.write")])
    assert outcome(p, Action.DOWNLOAD, r) == ("GatedRepo", 403)
    assert outcome(p, Action.PROPOSE, r) == "ok"


# fine-grained tokens -----------------------------------------------------------------------------------------------

ADMIN = {ORG: "admin"}


def test_org_scope_covers_every_repo_of_the_org_and_no_other() -> None:
    p = who(role="fine-grained", orgs={ORG: "admin", OTHER_ORG: "admin"}, scopes=[scope("org", "acme", "repo.write")])
    assert allowed(p, repo(private=True, name="a")) == set(ALL)
    assert allowed(p, repo(private=True, name="b", type=RepoType.DATASET)) == set(ALL)
    other = repo(private=True, owner_id=OTHER_ORG, namespace="globex")
    assert outcome(p, Action.READ, other) == ("RepoNotFound", 404)


def test_repo_scope_covers_that_repo_only() -> None:
    p = who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/bert", "repo.write")])
    assert allowed(p, repo(private=True)) == set(ALL)
    assert outcome(p, Action.READ, repo(private=True, name="gpt")) == ("RepoNotFound", 404)
    # "acme/bert" names the model; the dataset acme/bert is "datasets/acme/bert"
    assert outcome(p, Action.READ, repo(private=True, type=RepoType.DATASET)) == ("RepoNotFound", 404)
    d = who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "datasets/acme/bert", "repo.write")])
    assert allowed(d, repo(private=True, type=RepoType.DATASET)) == set(ALL)
    assert outcome(d, Action.READ, repo(private=True)) == ("RepoNotFound", 404)
    # the plural form names a model too
    m = who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "models/acme/bert", "repo.content.read")])
    assert allowed(m, repo(private=True)) == {Action.READ, Action.DOWNLOAD}


def test_repo_scope_on_a_public_repo_of_the_org_does_not_reach_its_siblings() -> None:
    p = who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/bert", "repo.write")])
    sibling = repo(name="gpt")
    assert outcome(p, Action.READ, sibling) == "ok"  # public: visible to anyone
    assert outcome(p, Action.WRITE, sibling) == ("Forbidden", 403)
    assert outcome(p, Action.MANAGE, sibling) == ("Forbidden", 403)


@pytest.mark.parametrize(("permission", "expected"), [
    ("repo.content.read", {Action.READ, Action.DOWNLOAD}),
    ("repo.access.write", {Action.READ, Action.DOWNLOAD}),  # reviewing access requests needs to see the repo
    ("discussion.write", set()),  # cannot even see a private repo
    ("repo.write", set(ALL)),  # implies content read and discussions
])
def test_each_fine_grained_permission_on_a_private_repo(permission: str, expected: set[Action]) -> None:
    p = who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/bert", permission)])
    assert allowed(p, repo(private=True)) == expected


def test_scopes_add_up() -> None:
    p = who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/bert", "repo.content.read"),
                                                     scope("org", "acme", "discussion.write")])
    assert allowed(p, repo(private=True)) == {Action.READ, Action.DOWNLOAD, Action.PROPOSE}


def test_a_token_never_raises_the_role() -> None:
    """A scope with every permission gives an outsider nothing beyond what outsiders have."""
    p = who(role="fine-grained", scopes=[scope("org", "acme", "repo.write", "repo.access.write")])
    assert outcome(p, Action.READ, repo(private=True)) == ("RepoNotFound", 404)
    assert allowed(p, repo()) == {Action.READ, Action.DOWNLOAD, Action.PROPOSE}
    assert outcome(p, Action.DOWNLOAD, repo(gated="manual")) == ("GatedRepo", 403)


def test_user_scope_covers_ones_own_repos() -> None:
    mine = repo(private=True, owner_id=OWNER, namespace="u20")
    p = who(user_id=OWNER, role="fine-grained", scopes=[scope("user", "u20", "repo.content.read")])
    assert allowed(p, mine) == {Action.READ, Action.DOWNLOAD}
    assert token_allows(p, mine, "repo.content.read")
    assert not token_allows(p, mine, "repo.write")


def test_read_token_only_reads() -> None:
    assert can_see(who(role="read", orgs=ADMIN), repo(private=True))
    assert outcome(who(role="read", orgs=ADMIN), Action.PROPOSE, repo()) == ("Forbidden", 403)
    assert outcome(who(role="read"), Action.PROPOSE, repo()) == ("Forbidden", 403)


def test_a_role_without_the_role_errors_before_the_token_errors() -> None:
    """A read member with a read token hears that the role is missing (the first thing to fix)."""
    with pytest.raises(Forbidden, match="You need the write role"):
        decide(who(role="read", orgs={ORG: "read"}), Action.WRITE, repo())
    with pytest.raises(Forbidden, match="does not allow changing"):
        decide(who(role="read", orgs={ORG: "write"}), Action.WRITE, repo())


def test_decide_is_pure_and_leaves_the_principal_alone() -> None:
    p = who(orgs={ORG: "read"})
    before = replace(p)
    for _ in range(2):
        assert outcome(p, Action.WRITE, repo(private=True)) == ("Forbidden", 403)
    assert p == before


# creating repos ----------------------------------------------------------------------------------------------------

def create(p: Principal, namespace: str = "acme", *, owner_id: int = ORG, owner_kind: str = "org") -> str:
    try:
        authorize_create(p, namespace, owner_id=owner_id, owner_kind=owner_kind)
    except InhouseError as err:
        return err.code
    return "ok"


def test_who_may_create_repos_in_an_org() -> None:
    assert create(ANONYMOUS) == "Unauthorized"
    assert create(who()) == "Forbidden"
    assert create(who(orgs={ORG: "read"})) == "Forbidden"
    assert create(who(orgs={ORG: "contributor"})) == "ok"
    assert create(who(orgs={ORG: "admin"})) == "ok"
    assert create(who(orgs={OTHER_ORG: "admin"})) == "Forbidden"
    assert create(who(admin=True)) == "ok"
    assert create(who(role="read", orgs={ORG: "admin"})) == "Forbidden"


def test_who_may_create_repos_in_a_user_namespace() -> None:
    assert create(who(user_id=OWNER), "u20", owner_id=OWNER, owner_kind="user") == "ok"
    assert create(who(), "u20", owner_id=OWNER, owner_kind="user") == "Forbidden"
    assert create(who(admin=True), "u20", owner_id=OWNER, owner_kind="user") == "ok"


def test_fine_grained_creation_needs_repo_write_on_the_namespace() -> None:
    member = {ORG: "write"}
    assert create(who(role="fine-grained", orgs=member, scopes=[scope("org", "acme", "repo.write")])) == "ok"
    assert create(who(role="fine-grained", orgs=member, scopes=[scope("org", "acme", "repo.content.read")])) == (
        "Forbidden")
    assert create(who(role="fine-grained", orgs=member, scopes=[scope("repo", "acme/bert", "repo.write")])) == (
        "Forbidden")
    assert create(who(role="fine-grained", orgs=member, scopes=[scope("org", "globex", "repo.write")])) == "Forbidden"


def test_errors_are_the_kinds_the_client_maps() -> None:
    with pytest.raises(RepoNotFound):
        decide(ANONYMOUS, Action.READ, repo(private=True))
    with pytest.raises(GatedRepo):
        decide(ANONYMOUS, Action.DOWNLOAD, repo(gated="auto"))
    with pytest.raises(Unauthorized):
        decide(ANONYMOUS, Action.MANAGE, repo())


# reviewing gated-access requests -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("caller", "expected"), [
    (ANONYMOUS, ("Unauthorized", 401)),
    (who(), ("Forbidden", 403)),
    (who(orgs={ORG: "write"}), ("Forbidden", 403)),  # reviewing requests is an admin's job
    (who(orgs=ADMIN), "ok"),
    (who(admin=True), "ok"),
    (who(role="read", orgs=ADMIN), ("Forbidden", 403)),
    (who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/bert", "repo.access.write")]), "ok"),
    (who(role="fine-grained", orgs=ADMIN, scopes=[scope("org", "acme", "repo.access.write")]), "ok"),
    (who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/bert", "repo.write")]), ("Forbidden", 403)),
    (who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/gpt", "repo.access.write")]),
     ("Forbidden", 403)),
], ids=["anonymous", "outsider", "write member", "org admin", "site admin", "admin read token",
        "access.write on repo", "access.write on org", "repo.write only", "access.write elsewhere"])
def test_who_reviews_access_requests(caller: Principal, expected: object) -> None:
    assert outcome(caller, Action.MANAGE_ACCESS, repo(gated="manual")) == expected


def test_access_requests_of_a_private_repo_do_not_exist_for_outsiders() -> None:
    assert outcome(who(), Action.MANAGE_ACCESS, repo(private=True, gated="manual")) == ("RepoNotFound", 404)
    scoped_elsewhere = who(role="fine-grained", orgs=ADMIN, scopes=[scope("repo", "acme/gpt", "repo.access.write")])
    assert outcome(scoped_elsewhere, Action.MANAGE_ACCESS, repo(private=True, gated="auto")) == ("RepoNotFound", 404)


def test_contributor_writes_only_to_the_org_repos_they_created():
    mine = dataclasses.replace(repo(), created_by=STRANGER)
    theirs = dataclasses.replace(repo(), created_by=OWNER)
    p = who(orgs={ORG: "contributor"})
    assert outcome(p, Action.WRITE, mine) == "ok"
    assert outcome(p, Action.WRITE, theirs) == ("Forbidden", 403)
    assert outcome(p, Action.MANAGE, mine) == ("Forbidden", 403)
    assert outcome(who(orgs={ORG: "contributor"}, role="read"), Action.WRITE, mine) == ("Forbidden", 403)


def test_only_its_author_and_writers_push_to_a_pull_request():
    """own_pull_request: a push to an existing pull request, which the caller opened (True) or not (False)."""
    r = repo()
    assert outcome(who(), Action.PROPOSE, r, own_pull_request=True) == "ok"
    assert outcome(who(), Action.PROPOSE, r, own_pull_request=False) == ("Forbidden", 403)
    assert outcome(who(orgs={ORG: "read"}), Action.PROPOSE, r, own_pull_request=False) == ("Forbidden", 403)
    assert outcome(who(orgs={ORG: "write"}), Action.PROPOSE, r, own_pull_request=False) == "ok"
    assert outcome(who(orgs={ORG: "write"}, role="read"), Action.PROPOSE, r, own_pull_request=False) == (
        "Forbidden", 403)
    discuss_only = who(role="fine-grained", orgs={ORG: "write"}, scopes=[scope("org", "acme", "discussion.write")])
    assert outcome(discuss_only, Action.PROPOSE, r, own_pull_request=True) == "ok"
    assert outcome(discuss_only, Action.PROPOSE, r, own_pull_request=False) == ("Forbidden", 403)
    assert outcome(who(admin=True), Action.PROPOSE, r, own_pull_request=False) == "ok"
    assert outcome(ANONYMOUS, Action.PROPOSE, r, own_pull_request=True) == ("Unauthorized", 401)
