"""What the governance API shows: a repo's latest policy evaluations, quarantined files and stage; and an
organisation's recheck, which evaluates the head of its repos under the current policy and changes nothing in them
(a policy change never applies retroactively: this says what would fail now)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, OrgAction, decide_org
from inhouse.audit.log import Event
from inhouse.errors import NotFound
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.governance import enforce, policies
from inhouse.services.governance.policy_doc import Policy
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import policy_evaluations
from inhouse.storage.db import quarantine as quarantine_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.store import ObjectMissing
from inhouse.vocabulary import Stage

MAX_EVALUATIONS = 50  # evaluations a repo's governance view lists
MAX_RECHECK_REPOS = 50  # repos one recheck evaluates at most (the next page: offset)


@dataclass(frozen=True)
class GovernanceView:
    repo: RepoRecord
    stage: str
    evaluations: list[policy_evaluations.EvaluationRecord]
    quarantined: list[quarantine_store.QuarantineRecord]


def governance(stores: Stores, principal: Principal, name: RepoName, *, limit: int = MAX_EVALUATIONS
               ) -> GovernanceView:
    """A repo's latest policy evaluations (newest first, at most `limit`), its quarantined files (released ones
    too, marked) and its lifecycle stage, for a caller who may download from it."""
    repo = repo_access.load(stores, principal, name, Action.DOWNLOAD, metadata_only=True)  # withdrawn too
    repo_access.audit_read(stores, principal, repo, "repo.governance")
    with stores.db.read() as conn:
        evaluations = policy_evaluations.list_for_repo(conn, repo.id, limit=max(1, min(limit, MAX_EVALUATIONS)))
        held = quarantine_store.list_for_repo(conn, repo.id, active_only=False)
    return GovernanceView(repo, repo.stage or Stage.DRAFT.value, evaluations, held)


@dataclass(frozen=True)
class Recheck:
    org: str
    version: int
    results: list[tuple[RepoRecord, enforce.Verdict]]
    offset: int
    more: bool  # more repos after this page: ask again with offset + limit


def head_change(stores: Stores, conn: Connection, repo: RepoRecord, policy: Policy) -> enforce.Change | None:
    """The whole head of the default branch as a change (every file, the README), for a recheck."""
    head = repo_store.get_ref(conn, repo.id, enforce.DEFAULT_REF)
    if head is None:
        return None
    try:
        tree = stores.objects.commit(conn, head).tree
    except ObjectMissing:
        return None
    change = enforce.Change("recheck", enforce.DEFAULT_REF, False, readme=None)
    enforce.tree_change(stores, conn, enforce.PackTrees(stores, None), change, [(None, tree)], tree, policy=policy,
                repo_type=repo.type)
    return change


def recheck(stores: Stores, principal: Principal, org_name: str, *, offset: int = 0,
            limit: int = MAX_RECHECK_REPOS) -> Recheck:
    """Evaluates the head of the default branch of a page of the organisation's repos under its current policy
    (org admins), changing nothing in them: a policy change never applies retroactively; this says what would
    fail now. Each evaluation is recorded (trigger "recheck"); audited policy.recheck."""
    limit = max(1, min(limit, MAX_RECHECK_REPOS))
    with stores.db.read() as conn:
        org = user_store.user_by_name(conn, org_name) or user_store.user_by_name_ci(conn, org_name)
        if org is None or org.kind != "org":
            raise NotFound(f"No organisation named '{org_name}'.")
        role = org_store.member_role(conn, org.id, principal.user_id) if principal.user_id is not None else None
        decide_org(principal, OrgAction.GOVERN, org.name, role=role)
        page = repo_store.repos_of_owner(conn, org.id, limit=limit + 1, offset=offset)
        more = len(page) > limit
        page = page[:limit]
        policy = policies.policy_for(stores, conn, page[0]) if page else None
        changes = [(r, head_change(stores, conn, r, policy) if policy is not None else None) for r in page]
    results: list[tuple[RepoRecord, enforce.Verdict]] = []
    for repo, change in changes:
        if change is None or policy is None:
            continue
        results.append((repo, enforce.evaluate_change(stores, principal, repo, change, policy=policy)))
    version = policy.version if policy is not None else 0
    with stores.db.write() as conn:
        for repo, verdict in results:
            enforce.add_evaluation(conn, principal, repo, verdict, commit=repo_store.get_ref(conn, repo.id, enforce.DEFAULT_REF),
                            outcome=verdict.outcome.value)
        stores.audit.record(conn, principal, Event("policy.recheck", org.name, details={
            "org": org.name, "version": version, "repos": len(results), "offset": offset}))
    return Recheck(org.name, version, results, offset, more)


EvaluationRecord = policy_evaluations.EvaluationRecord  # for the web layer (it never imports storage)
QuarantineRecord = quarantine_store.QuarantineRecord
