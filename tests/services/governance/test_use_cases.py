"""services/governance/use_cases on SQLite and PostgreSQL: who may read, create, change and delete an organisation's
use cases; validation; attaching and detaching models (write access to the model and membership, an invisible
model answered as a missing one); the changes that lower the approvals a promotion needs (lowering the tier,
deleting or detaching from a high-risk use case) kept for org admins; every change audited; `for_repo` (what
approvals and factsheets read)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from inhouse.access.identity import Principal, authenticate
from inhouse.access.policy import UseCaseAction, decide_use_case
from inhouse.errors import BadRequest, Conflict, Forbidden, InhouseError, NotFound, RepoNotFound, Unauthorized
from inhouse.services import orgs, repos, users
from inhouse.services.context import Stores
from inhouse.services.governance import use_cases
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db import use_cases as store
from inhouse.vocabulary import RepoType, RiskTier, Role, Scope, TokenRole, UseCaseStatus


def _user(stores: Stores) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    return name


def _login(stores: Stores, name: str, role: TokenRole = TokenRole.WRITE) -> Principal:
    _, secret = users.create_token(stores, name, role=role)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


class Org:
    """An organisation with an admin, a writer, a reader and an outsider, each logged in (after joining)."""

    def __init__(self, stores: Stores):
        self.name = f"o{uuid.uuid4().hex[:8]}"
        admin, writer, reader, outsider = (_user(stores) for _ in range(4))
        orgs.create_org(stores, self.name, admin=admin)
        orgs.set_member(stores, self.name, writer, Role.WRITE)
        orgs.set_member(stores, self.name, reader, Role.READ)
        self.admin, self.writer, self.reader, self.outsider = (_login(stores, n)
                                                                for n in (admin, writer, reader, outsider))


def _audit(stores: Stores, action: str) -> list[dict[str, Any]]:
    with stores.db.read() as conn:
        return [{**e, "details": json.loads(e["details"])} for e in audit_store.scan(conn, action=action)]


def _refusal(fn: Any, *args: Any, **kwargs: Any) -> InhouseError:
    with pytest.raises(InhouseError) as err:
        fn(*args, **kwargs)
    return err.value


def test_create_read_list_and_validation(stores: Stores) -> None:
    o = Org(stores)
    made = use_cases.create(stores, o.writer, o.name, title="Credit scoring (retail)", risk_tier="high",
                            purpose="Decide on retail credit lines.\nHumans review every refusal.")
    u = made.use_case
    assert (u.slug, u.title, u.owner, u.risk_tier, u.status, u.org) == (
        "credit-scoring-retail", "Credit scoring (retail)", o.writer.name, RiskTier.HIGH, UseCaseStatus.PROPOSED,
        o.name)
    assert made.models == []
    # readers read; outsiders and anonymous callers do not, and learn nothing of which use cases exist
    assert use_cases.get(stores, o.reader, o.name, "Credit-Scoring-Retail").use_case.id == u.id
    assert isinstance(_refusal(use_cases.get, stores, o.outsider, o.name, u.slug), Forbidden)
    assert isinstance(_refusal(use_cases.get, stores, o.outsider, o.name, "nothing-here"), Forbidden)
    assert isinstance(_refusal(use_cases.list_for_org, stores, o.outsider, o.name), Forbidden)
    assert _refusal(use_cases.get, stores, Principal(), o.name, u.slug).status == 401
    assert isinstance(_refusal(use_cases.get, stores, o.reader, o.name, "nothing-here"), NotFound)
    # readers do not create; a read token does not either
    assert isinstance(_refusal(use_cases.create, stores, o.reader, o.name, title="x", risk_tier="minimal"), Forbidden)
    read_token = _login(stores, o.writer.name or "", TokenRole.READ)
    assert isinstance(_refusal(use_cases.create, stores, read_token, o.name, title="x", risk_tier="minimal"),
                      Forbidden)

    # validation
    for kwargs, words in (
        ({"title": "x", "risk_tier": "extreme"}, "Invalid riskTier 'extreme'"),
        ({"title": "x"}, "'riskTier' is required"),
        ({"title": "x", "risk_tier": "low", "purpose": "p" * (use_cases.MAX_PURPOSE_CHARS + 1)},
         f"longer than {use_cases.MAX_PURPOSE_CHARS}"),
        ({"title": "x", "risk_tier": "minimal", "purpose": "hidden\u202etext"}, "purpose"),
        ({"title": "", "risk_tier": "minimal"}, "'title' is required"),
        ({"title": "t" * 201, "risk_tier": "minimal"}, "longer than 200"),
        ({"title": "模型", "risk_tier": "minimal"}, "gives no slug"),
        ({"title": "x", "slug": "bad slug", "risk_tier": "minimal"}, "Invalid use case slug"),
        ({"title": "x", "slug": "a--b", "risk_tier": "minimal"}, "Invalid use case slug"),
        ({"title": "x", "risk_tier": "minimal", "status": "done"}, "Invalid status 'done'"),
        ({"title": "x", "risk_tier": "minimal", "owner": o.outsider.name}, "is not a member"),
    ):
        err = _refusal(use_cases.create, stores, o.writer, o.name, **kwargs)
        assert isinstance(err, BadRequest) and words in str(err), (kwargs, str(err))
    dup = _refusal(use_cases.create, stores, o.admin, o.name, title="Other", slug="CREDIT-scoring-retail",
                   risk_tier="minimal")
    assert isinstance(dup, Conflict) and dup.status == 409 and "credit-scoring-retail" in str(dup)

    # given slug, owner and status; the list pages by slug and counts
    use_cases.create(stores, o.admin, o.name, title="Chat triage", slug="a-chat", owner=o.reader.name,
                     risk_tier="limited", status="active")
    page, total = use_cases.list_for_org(stores, o.reader, o.name, offset=0, limit=1)
    assert total == 2 and [x.slug for x in page] == ["a-chat"]
    page, _ = use_cases.list_for_org(stores, o.reader, o.name, offset=1, limit=1)
    assert [x.slug for x in page] == ["credit-scoring-retail"]
    created = [e["details"] for e in _audit(stores, "use_case.create") if e["details"]["org"] == o.name]
    assert [(d["slug"], d["riskTier"], d["owner"]) for d in created] == [
        ("credit-scoring-retail", "high", o.writer.name), ("a-chat", "limited", o.reader.name)]


def test_changes_and_who_may_lower_the_tier(stores: Stores) -> None:
    o = Org(stores)
    use_cases.create(stores, o.writer, o.name, title="Fraud", risk_tier="limited")
    # the owner changes it, raising the tier included; a reader who does not own it does not
    after = use_cases.update(stores, o.writer, o.name, "fraud", {"riskTier": "high", "status": "active",
                                                                 "purpose": "Flag card fraud."})
    assert (after.use_case.risk_tier, after.use_case.status, after.use_case.purpose) == (
        RiskTier.HIGH, UseCaseStatus.ACTIVE, "Flag card fraud.")
    assert isinstance(_refusal(use_cases.update, stores, o.reader, o.name, "fraud", {"title": "Mine"}), Forbidden)
    # lowering the tier lowers the approvals a promotion needs: org admins only
    lowered = _refusal(use_cases.update, stores, o.writer, o.name, "fraud", {"riskTier": "minimal"})
    assert isinstance(lowered, Forbidden) and "admins" in str(lowered)
    assert use_cases.get(stores, o.writer, o.name, "fraud").use_case.risk_tier is RiskTier.HIGH
    assert use_cases.update(stores, o.admin, o.name, "fraud", {"riskTier": "minimal"}).use_case.risk_tier is (
        RiskTier.MINIMAL)
    # handing over: to a member only; the new owner may change it, the old one no longer
    assert isinstance(_refusal(use_cases.update, stores, o.writer, o.name, "fraud", {"owner": o.outsider.name}),
                      BadRequest)
    use_cases.update(stores, o.writer, o.name, "fraud", {"owner": o.reader.name})
    assert use_cases.update(stores, o.reader, o.name, "fraud", {"title": "Card fraud"}).use_case.title == "Card fraud"
    assert isinstance(_refusal(use_cases.update, stores, o.writer, o.name, "fraud", {"title": "x"}), Forbidden)
    # unknown fields, nothing to change, the slug itself
    for changes, words in (({"slug": "new"}, "Cannot change 'slug'"), ({}, "Nothing to change"),
                           ({"riskTier": "severe"}, "Invalid riskTier")):
        err = _refusal(use_cases.update, stores, o.admin, o.name, "fraud", changes)
        assert isinstance(err, BadRequest) and words in str(err)
    changes = [e["details"]["changes"] for e in _audit(stores, "use_case.update") if e["details"]["org"] == o.name]
    assert changes[0]["riskTier"] == {"from": "limited", "to": "high"}
    assert changes[0]["purpose"] == {"from": 0, "to": len("Flag card fraud.")}  # lengths, not the text
    assert changes[1] == {"riskTier": {"from": "high", "to": "minimal"}}
    assert changes[2] == {"owner": {"from": o.writer.name, "to": o.reader.name}}


def test_attach_detach_visibility_and_audit(stores: Stores) -> None:
    o = Org(stores)
    model = repos.create(stores, o.admin, repo_type=RepoType.MODEL, namespace=o.name, name="scorer")
    hidden = repos.create(stores, o.outsider, repo_type=RepoType.MODEL, namespace=None, name="secret",
                          private=True)
    reader_own = repos.create(stores, o.reader, repo_type=RepoType.MODEL, namespace=None, name="mine", private=True)
    use_cases.create(stores, o.writer, o.name, title="Scoring", risk_tier="high")

    view = use_cases.attach(stores, o.writer, o.name, "scoring", model.repo_id)
    assert [m.repo.repo_id for m in view.models] == [model.repo_id]
    assert [(u.org, u.slug, u.risk_tier) for u in use_cases.for_repo(stores, model)] == [
        (o.name, "scoring", RiskTier.HIGH)]
    use_cases.attach(stores, o.writer, o.name, "scoring", model.repo_id)  # again: nothing changes
    with stores.db.read() as conn:
        assert store.count_models(conn, view.use_case.id) == 1

    # a private model the caller cannot see answers exactly as a missing one
    missing = _refusal(use_cases.attach, stores, o.writer, o.name, "scoring", f"{o.outsider.name}/nothing")
    invisible = _refusal(use_cases.attach, stores, o.writer, o.name, "scoring", hidden.repo_id)
    assert isinstance(missing, RepoNotFound) and isinstance(invisible, RepoNotFound)
    assert (missing.status, str(missing)) == (invisible.status, str(invisible))
    # a member without write access to the model may not attach it; nor may an outsider who owns the model
    assert isinstance(_refusal(use_cases.attach, stores, o.reader, o.name, "scoring", model.repo_id), Forbidden)
    assert isinstance(_refusal(use_cases.attach, stores, o.outsider, o.name, "scoring", hidden.repo_id), Forbidden)
    assert isinstance(_refusal(use_cases.attach, stores, o.writer, o.name, "scoring", "not an id"), InhouseError)

    # a reader attaches their own private model: others see the use case without it, the reader with it
    use_cases.attach(stores, o.reader, o.name, "scoring", reader_own.repo_id)
    assert [m.repo.repo_id for m in use_cases.get(stores, o.writer, o.name, "scoring").models] == [model.repo_id]
    assert sorted(m.repo.repo_id for m in use_cases.get(stores, o.reader, o.name, "scoring").models) == sorted(
        [model.repo_id, reader_own.repo_id])

    # detaching from a high-risk use case lowers the approvals its models need: org admins only
    refused = _refusal(use_cases.detach, stores, o.writer, o.name, "scoring", model.repo_id)
    assert isinstance(refused, Forbidden)
    assert use_cases.for_repo(stores, model) != []
    use_cases.detach(stores, o.admin, o.name, "scoring", model.repo_id)
    assert use_cases.for_repo(stores, model) == []
    again = _refusal(use_cases.detach, stores, o.admin, o.name, "scoring", model.repo_id)
    assert isinstance(again, NotFound) and "is not attached" in str(again)

    attached = [(e["actor"], e["repo"], e["details"]) for e in _audit(stores, "use_case.attach")
                if e["details"]["org"] == o.name]
    assert attached == [
        (o.writer.name, model.repo_id, {"org": o.name, "slug": "scoring", "repo": model.repo_id}),
        (o.reader.name, reader_own.repo_id, {"org": o.name, "slug": "scoring", "repo": reader_own.repo_id})]
    detached = [(e["actor"], e["details"]) for e in _audit(stores, "use_case.detach") if e["details"]["org"] == o.name]
    assert detached == [(o.admin.name, {"org": o.name, "slug": "scoring", "repo": model.repo_id})]


def test_delete(stores: Stores) -> None:
    o = Org(stores)
    model = repos.create(stores, o.admin, repo_type=RepoType.MODEL, namespace=o.name, name="m")
    use_cases.create(stores, o.writer, o.name, title="Low", risk_tier="minimal")
    use_cases.create(stores, o.writer, o.name, title="Severe", risk_tier="unacceptable")
    for slug in ("low", "severe"):
        use_cases.attach(stores, o.writer, o.name, slug, model.repo_id)
    assert [u.slug for u in use_cases.for_repo(stores, model)] == ["low", "severe"]
    # the owner deletes a low-risk one; a non-owner member does not; a severe one with models: admins only
    assert isinstance(_refusal(use_cases.delete, stores, o.reader, o.name, "low"), Forbidden)
    use_cases.delete(stores, o.writer, o.name, "low")
    assert isinstance(_refusal(use_cases.delete, stores, o.writer, o.name, "severe"), Forbidden)
    use_cases.delete(stores, o.admin, o.name, "severe")
    assert use_cases.for_repo(stores, model) == []
    assert use_cases.list_for_org(stores, o.admin, o.name) == ([], 0)
    deleted = [e["details"] for e in _audit(stores, "use_case.delete") if e["details"]["org"] == o.name]
    assert deleted == [{"org": o.name, "slug": "low", "riskTier": "minimal", "models": 1},
                       {"org": o.name, "slug": "severe", "riskTier": "unacceptable", "models": 1}]
    # the slug is free again
    assert use_cases.create(stores, o.writer, o.name, title="Low", risk_tier="minimal").use_case.slug == "low"


# the decision alone (access/policy.decide_use_case): pure, a table --------------------------------------------------

def _p(*, admin: bool = False, role: TokenRole = TokenRole.WRITE, scopes: tuple[dict[str, Any], ...] = ()) -> Principal:
    return Principal(user_id=5, name="pat", is_admin=admin, token_name="t", role=role,
                     scopes=tuple(Scope.parse(s) for s in scopes))


ORG_WRITE = {"type": "org", "name": "Acme", "permissions": ["repo.content.read", "repo.write"]}
ORG_READ = {"type": "org", "name": "acme", "permissions": ["repo.content.read"]}
OTHER_ORG = {"type": "org", "name": "other", "permissions": ["repo.content.read", "repo.write"]}
V, C, E, W, A = (UseCaseAction.VIEW, UseCaseAction.CREATE, UseCaseAction.EDIT, UseCaseAction.WEAKEN,
                 UseCaseAction.ATTACH)


@pytest.mark.parametrize("who,role,owner,allowed", [
    (_p(), None, False, set()),  # not a member: nothing, not even reading
    (_p(), Role.READ, False, {V, A}),
    (_p(), Role.READ, True, {V, E, A}),  # an owner who only reads still edits what they own
    (_p(), Role.CONTRIBUTOR, False, {V, A}),
    (_p(), Role.WRITE, False, {V, C, A}),
    (_p(), Role.WRITE, True, {V, C, E, A}),
    (_p(), Role.ADMIN, False, {V, C, E, W, A}),
    (_p(admin=True), None, False, {V, C, E, W, A}),  # site admins
    (_p(role=TokenRole.READ), Role.ADMIN, True, {V}),  # a read token reads
    (_p(role=TokenRole.FINE_GRAINED, scopes=(ORG_WRITE,)), Role.ADMIN, False, {V, C, E, W, A}),
    (_p(role=TokenRole.FINE_GRAINED, scopes=(ORG_READ,)), Role.ADMIN, False, {V}),
    (_p(role=TokenRole.FINE_GRAINED, scopes=(OTHER_ORG,)), Role.ADMIN, False, set()),
    (Principal(), None, False, set()),
])
def test_decide_use_case(who: Principal, role: Role | None, owner: bool, allowed: set[UseCaseAction]) -> None:
    for action in UseCaseAction:
        if action in allowed:
            decide_use_case(who, action, "acme", role=role, is_owner=owner)
        else:
            with pytest.raises((Forbidden, Unauthorized)):
                decide_use_case(who, action, "acme", role=role, is_owner=owner)
