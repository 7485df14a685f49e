"""services/governance/approvals on SQLite and PostgreSQL: change requests a policy opens for a pull request's commit
(one per commit, a newer commit supersedes, approved only by someone other than its author with an approver role
the policy names), the listing factsheets read, and two approvers approving at the same moment (the request is
approved and its promotion applied once); the decisions access/policy.py makes for them."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest

from inhouse.access.identity import Principal, authenticate
from inhouse.access.policy import Action, decide, decide_approval
from inhouse.errors import Forbidden, GatedRepo, InhouseError, RepoDisabled, RepoNotFound
from inhouse.services import commits, orgs, repos, users
from inhouse.services.commits import AddFile
from inhouse.services.context import Stores
from inhouse.services.governance import approvals, lifecycle
from inhouse.services.governance.policy_doc import DEFAULT_POLICY, LifecycleRules
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import Permission, RepoType, Role, Scope, ScopeKind, TokenRole


def _login(stores: Stores, name: str) -> Principal:
    _, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


class World:
    def __init__(self, stores: Stores):
        self.stores = stores
        self.org = f"o{uuid.uuid4().hex[:8]}"
        names = [f"u{uuid.uuid4().hex[:8]}" for _ in range(4)]
        for n in names:
            users.create_user(stores, n)
        orgs.create_org(stores, self.org, admin=names[0])
        orgs.set_member(stores, self.org, names[1], Role.ADMIN)
        orgs.set_member(stores, self.org, names[2], Role.WRITE)
        orgs.set_member(stores, self.org, names[3], Role.WRITE)
        self.admin, self.admin2, self.writer, self.writer2 = (_login(stores, n) for n in names)
        self.repo = repos.create(stores, self.admin, repo_type=RepoType.MODEL, namespace=self.org, name="m")
        self.name = RepoName(RepoType.MODEL, self.org, "m")
        self.sha = commits.commit(stores, self.writer, self.repo, revision="main", ops=[AddFile("a.txt", b"a")],
                                  summary="a").oid

    def open_change(self, pr: str, sha: str, policy: Any = DEFAULT_POLICY) -> int:
        with self.stores.db.write() as conn:
            return approvals.open_change_request(self.stores, conn, self.writer, self.repo, pr, sha, [
                {"rule": "personal_data.found", "outcome": "approval", "path": "d.csv", "message": "2 emails"}],
                policy)

    def approved(self, pr: str, sha: str) -> bool:
        with self.stores.db.read() as conn:
            return approvals.change_approved(conn, self.repo.id, pr, sha)


def _refusal(fn: Any, *args: Any, **kwargs: Any) -> InhouseError:
    with pytest.raises(InhouseError) as err:
        fn(*args, **kwargs)
    return err.value


def test_change_requests_of_a_pull_request(stores: Stores) -> None:
    w = World(stores)
    other = "b" * 40
    n = w.open_change("refs/pr/1", w.sha)
    assert w.open_change("refs/pr/1", w.sha) == n  # the same commit again: the same request
    req = approvals.get(stores, w.admin, w.name, n)
    assert (req.kind, req.target, req.revision, req.status, req.author) == (
        "change", "refs/pr/1", w.sha, "open", w.writer.name)
    assert req.details["findings"][0]["rule"] == "personal_data.found" and "personal_data.found" in req.reason
    assert not w.approved("refs/pr/1", w.sha)
    # a newer commit of the pull request supersedes the request; another pull request's request stays
    n2 = w.open_change("refs/pr/1", other)
    n3 = w.open_change("refs/pr/2", w.sha)
    assert approvals.get(stores, w.admin, w.name, n).status == "superseded"
    assert len({n, n2, n3}) == 3
    # its author cannot approve it, nor can a writer who is no approver; an org admin can
    for who in (w.writer, w.writer2):
        assert isinstance(_refusal(approvals.review, stores, who, w.name, n2, decision="approve"), Forbidden)
    approvals.review(stores, w.admin, w.name, n2, decision="approve", reason="the e-mails are synthetic")
    assert w.approved("refs/pr/1", other) and not w.approved("refs/pr/1", w.sha)
    assert not w.approved("refs/pr/2", w.sha)
    assert w.open_change("refs/pr/1", other) == n2  # approved already: not opened again
    # the policy's approver roles decide: with [write], a writer (not the author) approves
    writers = replace(DEFAULT_POLICY, lifecycle=LifecycleRules(approver_roles=(Role.WRITE,), approvals=1))
    n4 = w.open_change("refs/pr/3", w.sha, writers)
    assert isinstance(_refusal(approvals.review, stores, w.admin2, w.name, n4, decision="approve"), Forbidden)
    approvals.review(stores, w.writer2, w.name, n4, decision="approve")
    assert w.approved("refs/pr/3", w.sha)
    with stores.db.read() as conn:
        entries = [json.loads(e["details"]) for e in audit_store.scan(conn, action="approval.request")
                   if e["repo"] == f"{w.org}/m"]
    assert entries[1]["supersedes"] == [n]
    assert [(e["kind"], e["target"], e["number"]) for e in entries] == [
        ("change", "refs/pr/1", n), ("change", "refs/pr/1", n2), ("change", "refs/pr/2", n3),
        ("change", "refs/pr/3", n4)]
    # the listing factsheets read: newest first, with reviews, bounded
    with stores.db.read() as conn:
        listed = approvals.list_requests(conn, w.repo.id, limit=2)
    assert [r.number for r in listed] == [n4, n3]
    assert listed[0].reviews[0].reviewer == w.writer2.name
    assert [r.number for r in approvals.list_for(stores, w.writer, w.name, limit=10, status="approved")] == [n4, n2]
    assert [r.number for r in approvals.list_for(stores, w.writer, w.name, limit=10, before=n2)] == [n]


def test_two_approvers_at_once_apply_a_promotion_once(stores: Stores) -> None:
    w = World(stores)
    high = replace(DEFAULT_POLICY, lifecycle=LifecycleRules(approvals=2))
    with stores.db.write() as conn:
        number = lifecycle.open_request(stores, conn, w.writer, w.repo, kind="promotion", target="validated",
                                        revision=w.sha, reason="r", required=high.lifecycle.approvals,
                                        approver_roles=["admin"], replacement=None, details={})
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def approve(who: Principal) -> None:
        barrier.wait()
        try:
            approvals.review(stores, who, w.name, number, decision="approve")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=approve, args=(p,)) for p in (w.admin, w.admin2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    req = approvals.get(stores, w.admin, w.name, number)
    assert (req.status, req.approvals) == ("approved", 2)
    with stores.db.read() as conn:
        changes = [e for e in audit_store.scan(conn, action="stage.change") if e["repo"] == f"{w.org}/m"]
        assert len(changes) == 1
        stage = lifecycle.get_stage(conn, w.repo.id)
    assert stage is not None and stage.stage == "validated"


def test_the_decisions_in_access_policy() -> None:
    """decide: a withdrawn model refuses bytes to everyone who can see it, a HEAD's metadata still follows the
    gate, an invisible one stays invisible; decide_approval: never the author, approver roles of the repo's
    organisation or site admins, cancel by the author, always with a token that may write."""
    def repo(**kw: Any) -> RepoRecord:
        base: dict[str, Any] = dict(id=1, type=RepoType.MODEL, namespace="acme", name="m", owner_id=10,
                                    private=False, gated=None, created_at=0.0, last_modified=0.0, head_sha=None,
                                    card_data=None, stage="withdrawn")
        return RepoRecord(**{**base, **kw})

    member = Principal(user_id=1, name="a", role=TokenRole.WRITE, org_roles={10: Role.ADMIN})
    outsider = Principal(user_id=2, name="b", role=TokenRole.WRITE)
    for who in (member, outsider, Principal()):
        assert isinstance(_refusal(decide, who, Action.DOWNLOAD, repo()), RepoDisabled)
        decide(who, Action.DOWNLOAD, repo(), metadata_only=True)
        decide(who, Action.READ, repo())
    assert isinstance(_refusal(decide, outsider, Action.DOWNLOAD, repo(gated="manual"), metadata_only=True),
                      GatedRepo)
    assert isinstance(_refusal(decide, outsider, Action.DOWNLOAD, repo(private=True)), RepoNotFound)
    decide(member, Action.DOWNLOAD, repo(stage="deprecated"))

    roles = (Role.ADMIN,)
    decide_approval(member, repo(), author_id=2, approver_roles=roles, decision="approve")
    assert "two-person" in _refusal(decide_approval, member, repo(), author_id=1, approver_roles=roles,
                                    decision="approve").message
    assert isinstance(_refusal(decide_approval, member, repo(), author_id=2, approver_roles=(Role.WRITE,),
                               decision="reject"), Forbidden)
    writer = Principal(user_id=3, name="c", role=TokenRole.WRITE, org_roles={10: Role.WRITE})
    decide_approval(writer, repo(), author_id=2, approver_roles=(Role.WRITE, Role.ADMIN), decision="approve")
    site_admin = Principal(user_id=4, name="d", role=TokenRole.WRITE, is_admin=True)
    decide_approval(site_admin, repo(), author_id=2, approver_roles=roles, decision="approve")
    decide_approval(site_admin, repo(), author_id=2, approver_roles=roles, decision="cancel")
    decide_approval(outsider, repo(), author_id=2, approver_roles=roles, decision="cancel")
    assert isinstance(_refusal(decide_approval, member, repo(), author_id=2, approver_roles=roles,
                               decision="cancel"), Forbidden)
    reader_token = Principal(user_id=1, name="a", role=TokenRole.READ, org_roles={10: Role.ADMIN})
    assert isinstance(_refusal(decide_approval, reader_token, repo(), author_id=2, approver_roles=roles,
                               decision="approve"), Forbidden)
    scoped = Principal(user_id=1, name="a", role=TokenRole.FINE_GRAINED, org_roles={10: Role.ADMIN},
                       scopes=(Scope(ScopeKind.REPO, "acme/m", frozenset({Permission.WRITE})),))
    decide_approval(scoped, repo(), author_id=2, approver_roles=roles, decision="approve")
    assert _refusal(decide_approval, Principal(), repo(), author_id=2, approver_roles=roles,
                    decision="approve").status == 401
