"""services/governance/lifecycle and the promotions approvals.py applies, on SQLite and PostgreSQL: the stage moves a
promotion may ask for (one step at a time, withdrawn is final), who approves (never the author; an approver role in
the organisation or a site admin), what an approved promotion does (repo_stages and repos.stage, the production
tag moved to the revision, the previous one recorded), use cases' risk tiers (high: two approvals, unacceptable: no
approved or production), a withdrawn model's downloads refused with its replacement, and the audit entries of each
step with their reasons."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from inhouse.access.identity import Principal, authenticate
from inhouse.access.policy import Action, authorize
from inhouse.errors import BadRequest, Conflict, Forbidden, InhouseError, PolicyViolation, RepoDisabled
from inhouse.services import commits, orgs, repos, users
from inhouse.services.commits import AddFile
from inhouse.services.context import Stores
from inhouse.services.governance import approvals, lifecycle
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import use_cases as use_case_store
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import RepoType, RiskTier, Role, TokenRole, UseCaseStatus


def _user(stores: Stores, *, admin: bool = False) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name, admin=admin)
    return name


def _login(stores: Stores, name: str, role: TokenRole = TokenRole.WRITE) -> Principal:
    _, secret = users.create_token(stores, name, role=role)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


class Org:
    """An organisation with two admins, a writer and a reader, and a model of it with one commit on main."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self.name = f"o{uuid.uuid4().hex[:8]}"
        admin, admin2, writer, reader = (_user(stores) for _ in range(4))
        orgs.create_org(stores, self.name, admin=admin)
        orgs.set_member(stores, self.name, admin2, Role.ADMIN)
        orgs.set_member(stores, self.name, writer, Role.WRITE)
        orgs.set_member(stores, self.name, reader, Role.READ)
        self.admin, self.admin2, self.writer, self.reader = (_login(stores, n)
                                                             for n in (admin, admin2, writer, reader))
        self.model = self.repo("scorer")
        self.name_of = RepoName(RepoType.MODEL, self.name, "scorer")
        self.first = self.commit(b"v1")

    def repo(self, name: str, *, private: bool = False) -> RepoRecord:
        return repos.create(self.stores, self.admin, repo_type=RepoType.MODEL, namespace=self.name, name=name,
                            private=private)

    def commit(self, data: bytes) -> str:
        repo = self.current()
        return commits.commit(self.stores, self.writer, repo, revision="main", ops=[AddFile("w.txt", data)],
                              summary="weights").oid

    def current(self) -> RepoRecord:
        with self.stores.db.read() as conn:
            found = repo_store.repo_by_id(conn, self.model.id)
        assert found is not None
        return found

    def promote(self, stage: str, by: Principal | None = None, **kw: Any) -> int:
        return lifecycle.promote(self.stores, by or self.writer, self.name_of, stage=stage,
                                 reason=kw.pop("reason", f"ready for {stage}"), **kw).number

    def approve(self, number: int, by: Principal, reason: str = "looks right") -> str:
        return approvals.review(self.stores, by, self.name_of, number, decision="approve", reason=reason).status

    def production_tag(self) -> str | None:
        with self.stores.db.read() as conn:
            return repo_store.get_ref(conn, self.model.id, lifecycle.PRODUCTION_REF)


def _audit(stores: Stores, action: str) -> list[dict[str, Any]]:
    with stores.db.read() as conn:
        return [{**e, "details": json.loads(e["details"])} for e in audit_store.scan(conn, action=action)]


def _refusal(fn: Any, *args: Any, **kwargs: Any) -> InhouseError:
    with pytest.raises(InhouseError) as err:
        fn(*args, **kwargs)
    return err.value


def test_a_model_goes_to_production_one_approved_step_at_a_time(stores: Stores) -> None:
    o = Org(stores)
    assert lifecycle.stage_of(o.current()).value == "draft"
    # no step is skipped
    for stage in ("approved", "production"):
        assert isinstance(_refusal(o.promote, stage), Conflict)
    n = o.promote("validated", reason="evaluated on the held-out set")
    req = approvals.get(stores, o.reader, o.name_of, n)
    assert (req.kind, req.target, req.revision, req.status, req.approvals_required, req.author) == (
        "promotion", "validated", o.first, "open", 1, o.writer.name)
    # the author cannot approve their own request; a reader is no approver; nothing changed
    own = _refusal(o.approve, n, o.writer)
    assert isinstance(own, Forbidden) and "two-person rule" in own.message
    assert isinstance(_refusal(o.approve, n, o.reader), Forbidden)
    assert lifecycle.stage_of(o.current()).value == "draft"
    # a second person with the admin role approves: the stage moves
    assert o.approve(n, o.admin) == "approved"
    assert o.current().stage == "validated"
    with stores.db.read() as conn:
        rec = lifecycle.get_stage(conn, o.model.id)
    assert rec is not None and (rec.stage, rec.revision, rec.request_number, rec.updated_by) == (
        "validated", o.first, n, o.admin.name)
    n = o.promote("approved")
    assert o.approve(n, o.admin2) == "approved"
    # main moves on; production defaults to the approved revision, not the head of main
    second = o.commit(b"v2")
    n = o.promote("production", by=o.admin)
    assert approvals.get(stores, o.reader, o.name_of, n).revision == o.first
    assert o.production_tag() is None
    assert o.approve(n, o.admin2) == "approved"
    assert (o.current().stage, o.production_tag()) == ("production", o.first)
    # another revision to production: the tag moves, the previous revision is recorded
    n = o.promote("production", revision="main")
    assert o.approve(n, o.admin) == "approved"
    assert o.production_tag() == second
    changes = [e for e in _audit(stores, "stage.change") if e["repo"] == f"{o.name}/scorer"]
    assert [(c["details"]["from"], c["details"]["to"]) for c in changes] == [
        ("draft", "validated"), ("validated", "approved"), ("approved", "production"), ("production", "production")]
    assert changes[-1]["details"]["previous_production"] == o.first
    assert changes[-1]["details"]["revision"] == second and changes[-1]["actor"] == o.admin.name
    requests = [e for e in _audit(stores, "approval.request") if e["repo"] == f"{o.name}/scorer"]
    assert requests[0]["details"]["reason"] == "evaluated on the held-out set"
    assert requests[0]["actor"] == o.writer.name
    view = lifecycle.view(stores, o.reader, o.name_of)
    assert (view.stage.value, view.production, view.open_requests) == ("production", second, [])


def test_reviews_rejections_cancellations_and_their_audit(stores: Stores) -> None:
    o = Org(stores)
    n = o.promote("validated")
    # only writers promote
    assert isinstance(_refusal(o.promote, "validated", o.reader), Forbidden)
    # a rejection needs a reason
    assert isinstance(_refusal(approvals.review, stores, o.admin, o.name_of, n, decision="reject"), BadRequest)
    rejected = approvals.review(stores, o.admin, o.name_of, n, decision="reject", reason="no evaluation attached")
    assert rejected.status == "rejected" and rejected.reviews[0].reason == "no evaluation attached"
    assert isinstance(_refusal(o.approve, n, o.admin2), Conflict)  # closed
    entry = [e for e in _audit(stores, "approval.reject") if e["repo"] == f"{o.name}/scorer"][-1]
    assert (entry["actor"], entry["details"]["reason"], entry["details"]["number"]) == (
        o.admin.name, "no evaluation attached", n)
    # the author cancels; someone else (not a site admin) may not
    n = o.promote("validated")
    assert isinstance(_refusal(approvals.cancel, stores, o.admin, o.name_of, n), Forbidden)
    assert approvals.cancel(stores, o.writer, o.name_of, n, reason="wrong revision").status == "cancelled"
    assert [e["details"]["reason"] for e in _audit(stores, "approval.cancel")
            if e["repo"] == f"{o.name}/scorer"] == ["wrong revision"]
    assert o.current().stage is None
    # a newer request for the same stage supersedes an open one
    first, second = o.promote("validated"), o.promote("validated")
    assert approvals.get(stores, o.admin, o.name_of, first).status == "superseded"
    assert isinstance(_refusal(o.approve, first, o.admin), Conflict)
    # a read token cannot approve, even an admin's
    assert isinstance(_refusal(o.approve, second, _login(stores, o.admin.name or "", TokenRole.READ)), Forbidden)
    assert o.approve(second, o.admin, reason="evaluation is fine") == "approved"
    approve = [e for e in _audit(stores, "approval.approve") if e["repo"] == f"{o.name}/scorer"][-1]
    assert approve["details"]["reason"] == "evaluation is fine"
    # a bad stage, a bad reason
    assert isinstance(_refusal(o.promote, "shipped"), BadRequest)
    assert isinstance(_refusal(o.promote, "draft"), BadRequest)
    assert isinstance(_refusal(o.promote, "approved", reason=""), BadRequest)
    assert isinstance(_refusal(o.promote, "approved", reason="x" * 3000), BadRequest)


def test_high_risk_use_cases_need_two_approvals_and_unacceptable_ones_stop_promotion(stores: Stores) -> None:
    o = Org(stores)
    with stores.db.write() as conn:
        org_id = o.current().owner_id
        high = use_case_store.insert_use_case(conn, org_id=org_id, slug="credit", title="Credit", owner_id=org_id,
                                              purpose="", risk_tier=RiskTier.HIGH, status=UseCaseStatus.ACTIVE,
                                              now=time.time())
        use_case_store.attach(conn, high, o.model.id, added_by=None, now=time.time())
    n = o.promote("validated")
    assert approvals.get(stores, o.admin, o.name_of, n).approvals_required == 2
    assert o.approve(n, o.admin) == "open"
    again = _refusal(o.approve, n, o.admin)
    assert isinstance(again, Conflict) and "once" in again.message  # a reviewer approves once
    assert o.current().stage is None
    assert o.approve(n, o.admin2) == "approved"
    assert o.current().stage == "validated"
    # a use case of unacceptable risk: no promotion to approved (nor production), neither when asked nor when
    # approved
    n = o.promote("approved")
    with stores.db.write() as conn:
        bad = use_case_store.insert_use_case(conn, org_id=org_id, slug="social-scoring", title="Social scoring",
                                             owner_id=org_id, purpose="", risk_tier=RiskTier.UNACCEPTABLE,
                                             status=UseCaseStatus.PROPOSED, now=time.time())
        use_case_store.attach(conn, bad, o.model.id, added_by=None, now=time.time())
    refused = _refusal(o.promote, "approved")
    assert isinstance(refused, PolicyViolation) and "social-scoring" in refused.message
    assert isinstance(_refusal(o.approve, n, o.admin), PolicyViolation)
    assert approvals.get(stores, o.admin, o.name_of, n).reviews == ()  # the refused review left nothing
    # retiring the use case lifts it
    with stores.db.write() as conn:
        use_case_store.update_use_case(conn, bad, now=time.time(), status=UseCaseStatus.RETIRED.value)
    o.approve(n, o.admin)
    assert o.approve(n, o.admin2) == "approved"
    assert o.current().stage == "approved"


def test_a_withdrawn_model_serves_nothing_and_names_its_replacement(stores: Stores) -> None:
    o = Org(stores)
    newer = o.repo("scorer-v2", private=True)  # the organisation's members see it, others do not
    private = repos.create(stores, o.reader, repo_type=RepoType.MODEL, namespace=None, name="p", private=True)
    # the replacement is a model the requester can see, and not the model itself; only for deprecated/withdrawn
    for bad in (f"{private.repo_id}", f"{o.name}/missing", "no-slash", f"{o.name}/scorer"):
        assert isinstance(_refusal(o.promote, "withdrawn", replacement=bad), BadRequest), bad
    assert isinstance(_refusal(o.promote, "validated", replacement=newer.repo_id), BadRequest)
    n = o.promote("deprecated", replacement=newer.repo_id, reason="superseded by v2")
    assert o.approve(n, o.admin) == "approved"
    authorize(stores.db, o.reader, Action.DOWNLOAD, o.current())  # deprecated: downloads still work
    n = o.promote("withdrawn", replacement=newer.repo_id, reason="leaks training data")
    assert o.approve(n, o.admin) == "approved"
    repo = o.current()
    assert repo.stage == "withdrawn"
    outsider = _login(stores, _user(stores))
    for who, told in ((o.admin, newer.repo_id), (o.reader, newer.repo_id), (outsider, None), (Principal(), None)):
        err = _refusal(authorize, stores.db, who, Action.DOWNLOAD, repo)
        assert isinstance(err, RepoDisabled) and err.message == "Access to this resource is disabled."
        # a private replacement is named only to those who may see it
        assert (err.replacement, err.reason) == (told, "leaks training data")
        view = lifecycle.view(stores, who, o.name_of)
        assert view.record is not None and view.record.replacement == told
        assert approvals.get(stores, who, o.name_of, n).replacement == told
    authorize(stores.db, o.reader, Action.READ, repo)  # its metadata stays readable
    # withdrawn is final
    for stage in ("validated", "deprecated", "withdrawn"):
        assert isinstance(_refusal(o.promote, stage), Conflict), stage


def test_a_users_own_model_is_approved_by_a_site_admin_only(stores: Stores) -> None:
    owner, other, admin = _user(stores), _user(stores), _user(stores, admin=True)
    p_owner, p_other, p_admin = (_login(stores, n) for n in (owner, other, admin))
    repo = repos.create(stores, p_owner, repo_type=RepoType.MODEL, namespace=None, name="mine")
    commits.commit(stores, p_owner, repo, revision="main", ops=[AddFile("a.txt", b"a")], summary="a")
    name = RepoName(RepoType.MODEL, owner, "mine")
    n = lifecycle.promote(stores, p_owner, name, stage="validated", reason="works").number
    assert isinstance(_refusal(approvals.review, stores, p_owner, name, n, decision="approve"), Forbidden)
    assert isinstance(_refusal(approvals.review, stores, p_other, name, n, decision="approve"), Forbidden)
    assert approvals.review(stores, p_admin, name, n, decision="approve").status == "approved"
    # a site admin's own request is not theirs to approve either
    n = lifecycle.promote(stores, p_admin, name, stage="approved", reason="works").number
    assert isinstance(_refusal(approvals.review, stores, p_admin, name, n, decision="approve"), Forbidden)
    # datasets have no lifecycle
    ds = repos.create(stores, p_owner, repo_type=RepoType.DATASET, namespace=None, name="d")
    assert isinstance(_refusal(lifecycle.promote, stores, p_owner, RepoName(RepoType.DATASET, owner, ds.name),
                               stage="validated", reason="r"), BadRequest)
