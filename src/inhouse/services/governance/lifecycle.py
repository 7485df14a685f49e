"""A model's lifecycle: draft → validated → approved → production, and deprecated / withdrawn.

Every stage change is a promotion: an approval request (services/governance/approvals.py reviews it) that names the
stage, the commit it is for and why; it takes effect when enough approvers other than its author approve it. The
moves a promotion may ask for, from the stage the model is in:

    validated   from draft (or validated: a newer revision validated again)
    approved    from validated (or approved)
    production  from approved (or production: another revision to production); moves the tag `production`
    deprecated  from any stage but deprecated and withdrawn; downloads still work
    withdrawn   from any stage but withdrawn (final); every download answers the Hub's disabled-repo error

No stage is skipped: production needs the model approved, approved needs it validated. The revision defaults to the
head of main, and for production to the revision that was approved. Deprecated and withdrawn may name a replacement
("namespace/name", a model the requester can see), which a withdrawn model's refusals carry (X-Replaced-By). The
check is made when the request opens and again when it takes effect (the stage may have moved in between).

The tag `production` (refs/tags/production) is written here only, in the transaction that changes the stage; the
tag API and git push refuse to create, move or delete it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, visible_replacement
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, InhouseError, PolicyViolation, RevisionNotFound
from inhouse.names import check_label
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.governance import policies
from inhouse.services.governance.policy_doc import Policy
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH, resolve
from inhouse.storage.db import approvals as request_store
from inhouse.storage.db import lifecycle as store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import use_cases as use_case_store
from inhouse.storage.db.approvals import ApprovalRequestRecord
from inhouse.storage.db.lifecycle import StageRecord
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import PRODUCTION_TAG, RepoType, RiskTier, Stage, UseCaseStatus

PRODUCTION_REF = f"refs/tags/{PRODUCTION_TAG}"
MAX_REASON = 2000  # characters of a request's or a review's reason
PROMOTION = "promotion"

# the stages a promotion to each stage may start from
SOURCES: dict[Stage, frozenset[Stage]] = {
    Stage.DRAFT: frozenset(),
    Stage.VALIDATED: frozenset({Stage.DRAFT, Stage.VALIDATED}),
    Stage.APPROVED: frozenset({Stage.VALIDATED, Stage.APPROVED}),
    Stage.PRODUCTION: frozenset({Stage.APPROVED, Stage.PRODUCTION}),
    Stage.DEPRECATED: frozenset({Stage.DRAFT, Stage.VALIDATED, Stage.APPROVED, Stage.PRODUCTION}),
    Stage.WITHDRAWN: frozenset(set(Stage) - {Stage.WITHDRAWN}),
}
FORWARD = (Stage.VALIDATED, Stage.APPROVED, Stage.PRODUCTION)  # more approvals for high-risk use cases


def get_stage(conn: Connection, repo_id: int) -> StageRecord | None:
    """The repo's stage record (None: a draft never promoted)."""
    return store.get_stage(conn, repo_id)


def stage_of(repo: RepoRecord) -> Stage:
    return Stage(repo.stage) if repo.stage else Stage.DRAFT


def check_reason(reason: object, what: str, *, required: bool) -> str:
    """A reason people read in the audit log: text of at most MAX_REASON characters (line breaks allowed)."""
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise BadRequest(f"The {what} must be text.")
    reason = reason.strip()
    if required and not reason:
        raise BadRequest(f"Give a {what}: it is kept in the audit log as the evidence of this decision.")
    check_label(reason.replace("\n", " ").replace("\t", " "), what, max_len=MAX_REASON)
    return reason


def check_move(repo: RepoRecord, current: Stage, target: Stage) -> None:
    """Raises unless a promotion to `target` may start from `current`."""
    if current in SOURCES[target]:
        return
    if current is Stage.WITHDRAWN:
        raise Conflict(f"{repo.repo_id} is withdrawn, which is final: publish a new model instead.")
    if target is Stage.DRAFT:
        raise BadRequest("A model cannot be promoted back to draft: withdraw or deprecate it instead.")
    need = " or ".join(sorted(s.value for s in SOURCES[target]))
    raise Conflict(f"{repo.repo_id} is {current.value}: a promotion to {target.value} needs it {need} first "
                   f"(draft → validated → approved → production, one step at a time).")


def use_case_check(conn: Connection, repo: RepoRecord, target: Stage, policy: Policy) -> tuple[int, list[str]]:
    """How many approvals a promotion to `target` needs, and the use cases that made it so: the policy's
    lifecycle.high_risk_approvals when a live (not retired) use case the model serves is high-risk, else
    lifecycle.approvals. An unacceptable use case refuses promotion to approved or production."""
    rules = policy.lifecycle
    cases = [u for u in use_case_store.for_repo(conn, repo.id) if u.status is not UseCaseStatus.RETIRED]
    banned = [u for u in cases if u.risk_tier is RiskTier.UNACCEPTABLE]
    if banned and target in (Stage.APPROVED, Stage.PRODUCTION):
        names = ", ".join(f"{u.org}/{u.slug}" for u in banned)
        raise PolicyViolation(
            f"{repo.repo_id} serves a use case of unacceptable risk ({names}): it cannot be {target.value}. "
            "Detach it from that use case (or retire the use case) first.",
            findings=[{"rule": "use_case.unacceptable", "outcome": "deny", "path": None,
                       "message": f"use case {u.org}/{u.slug} has risk tier unacceptable"} for u in banned])
    high = [f"{u.org}/{u.slug}" for u in cases if u.risk_tier is RiskTier.HIGH]
    if high and target in FORWARD:
        return max(rules.approvals, rules.high_risk_approvals), high
    return rules.approvals, []


def _replacement(stores: Stores, p: Principal, repo: RepoRecord, value: object, target: Stage) -> str | None:
    if value is None or value == "":
        return None
    if target not in (Stage.DEPRECATED, Stage.WITHDRAWN):
        raise BadRequest("Only a deprecated or withdrawn model names a replacement; leave 'replacement' out.")
    if not isinstance(value, str) or value.count("/") != 1:
        raise BadRequest("The replacement is a model id 'namespace/name'.")
    ns, name = value.split("/")
    try:
        found = repo_access.find(stores, p, RepoType.MODEL, ns, name)
    except InhouseError:
        raise BadRequest(f"The replacement '{value[:200]}' is not a model you can see: name an existing model."
                         ) from None
    if found.repo.id == repo.id:
        raise BadRequest("A model cannot be its own replacement: name another model.")
    return found.repo.repo_id


@dataclass(frozen=True)
class LifecycleView:
    repo: RepoRecord
    stage: Stage
    record: StageRecord | None
    production: str | None  # the commit the tag `production` names
    open_requests: list[ApprovalRequestRecord]


def view(stores: Stores, p: Principal, name: RepoName, *, limit: int = 20) -> LifecycleView:
    """A model's stage, what it applies to, its replacement, the production tag and the open promotions; for a
    caller who may see the model (audited as repo.lifecycle on a private or gated one)."""
    repo = repo_access.load(stores, p, name)
    if repo.type is not RepoType.MODEL:
        raise BadRequest("Only models have a lifecycle.")
    repo_access.audit_read(stores, p, repo, "repo.lifecycle")
    with stores.db.read() as conn:
        record = store.get_stage(conn, repo.id)
        if record is not None:
            record = dataclasses.replace(record, replacement=visible_replacement(conn, p, record.replacement))
        return LifecycleView(repo, stage_of(repo), record, repo_store.get_ref(conn, repo.id, PRODUCTION_REF),
                             [shown(conn, p, r) for r in request_store.open_requests(conn, repo.id,
                                                                                       kind=PROMOTION)[:limit]])


def shown(conn: Connection, p: Principal, req: ApprovalRequestRecord) -> ApprovalRequestRecord:
    """A request as `p` may see it: the replacement it names only if `p` may see that model."""
    if req.replacement is None:
        return req
    replacement = visible_replacement(conn, p, req.replacement)
    details = dict(req.details)
    if isinstance(details.get("effect"), dict):
        details["effect"] = {**details["effect"], "replacement": replacement}
    return dataclasses.replace(req, replacement=replacement, details=details)


def promote(stores: Stores, p: Principal, name: RepoName, *, stage: object, revision: object = None,
            reason: object = None, replacement: object = None) -> ApprovalRequestRecord:
    """Opens a promotion of the model to `stage` at `revision` (a commit; default: the head of main, or for
    production the approved revision): an approval request, audited approval.request. Needs write access."""
    repo = repo_access.load(stores, p, name, Action.WRITE, follow_moves=False)
    if repo.type is not RepoType.MODEL:
        raise BadRequest("Only models have a lifecycle: promotions are for models.")
    if not isinstance(stage, str) or stage not in Stage._value2member_map_:
        raise BadRequest(f"Invalid stage {str(stage)[:100]!r}: use one of "
                         f"{', '.join(s.value for s in Stage if s is not Stage.DRAFT)}.")
    target = Stage(stage)
    if revision is not None and not isinstance(revision, str):
        raise BadRequest("The revision is a branch, tag or commit id.")
    why = check_reason(reason, "reason", required=True)
    check_move(repo, stage_of(repo), target)
    instead = _replacement(stores, p, repo, replacement, target)
    with stores.db.write() as conn:
        store.lock_repo(conn, repo.id)
        current = Stage(store.current_stage(conn, repo.id) or Stage.DRAFT)
        check_move(repo, current, target)
        record = store.get_stage(conn, repo.id)
        if revision is None and target is Stage.PRODUCTION and current is Stage.APPROVED and record is not None \
                and record.revision is not None:
            sha = record.revision
        else:
            sha = resolve(conn, repo, revision or DEFAULT_BRANCH).commit
        policy = policies.policy_for(stores, conn, repo)
        required, high = use_case_check(conn, repo, target, policy)
        superseded = []
        for older in request_store.open_requests(conn, repo.id, kind=PROMOTION, target=target.value):
            request_store.set_status(conn, older.id, "superseded", time.time())
            superseded.append(older.number)
        details = {"policy_version": policy.version, "from": current.value,
                   **({"high_risk_use_cases": high} if high else {})}
        number = open_request(stores, conn, p, repo, kind=PROMOTION, target=target.value, revision=sha,
                              reason=why, required=required, approver_roles=[r.value for r in
                                                                              policy.lifecycle.approver_roles],
                              replacement=instead, details=details, supersedes=superseded)
        found = request_store.get_request(conn, repo.id, number)
        assert found is not None
        return found


def open_request(stores: Stores, conn: Connection, p: Principal, repo: RepoRecord, *, kind: str, target: str,
                 revision: str | None, reason: str, required: int, approver_roles: list[str],
                 replacement: str | None, details: dict[str, Any], supersedes: list[int] | None = None) -> int:
    """Writes an open request with the next number of the repo and its approval.request audit entry (naming the
    open requests it `supersedes`, which the caller closed), in the caller's write transaction (which holds the
    repo's lock: store.lock_repo); returns its number."""
    number = request_store.next_number(conn, repo.id)
    request_store.insert_request(conn, repo_id=repo.id, number=number, kind=kind, target=target, revision=revision,
                                 author_id=p.user_id, reason=reason, approvals_required=required,
                                 approver_roles=approver_roles, replacement=replacement, details=details,
                                 now=time.time())
    stores.audit.record(conn, p, Event("approval.request", repo, revision=revision, details={
        "number": number, "kind": kind, "target": target, "revision": revision, "reason": reason,
        "approvals_required": required, **({"replacement": replacement} if replacement else {}),
        **({"supersedes": supersedes} if supersedes else {})}))
    return number


def take_effect(stores: Stores, conn: Connection, p: Principal, repo: RepoRecord, req: ApprovalRequestRecord
                ) -> dict[str, object]:
    """An approved promotion changes the stage (repo_stages and repos.stage) and, to production, points the tag
    `production` at its revision; audited stage.change. In the caller's write transaction, which holds the repo's
    lock. Returns what changed (for the request's details)."""
    target = Stage(req.target)
    current = Stage(store.current_stage(conn, repo.id) or Stage.DRAFT)
    check_move(repo, current, target)
    if req.revision is not None and not repo_store.repo_has_commit(conn, repo.id, req.revision):
        raise RevisionNotFound(f"Commit {req.revision} is no longer in {repo.repo_id} (history was rewritten): "
                               "cancel this request and open a new promotion.")
    now = time.time()
    store.set_stage(conn, repo.id, stage=target.value, revision=req.revision, replacement=req.replacement,
                    request_id=req.id, by=p.user_id, now=now)
    change: dict[str, object] = {"from": current.value, "to": target.value, "revision": req.revision,
                                 "number": req.number, "replacement": req.replacement}
    if target is Stage.PRODUCTION and req.revision is not None:
        previous = repo_store.get_ref(conn, repo.id, PRODUCTION_REF)
        if previous is None:
            repo_store.create_ref(conn, repo.id, PRODUCTION_REF, req.revision, now)
        elif previous != req.revision and not repo_store.compare_and_set_ref(conn, repo.id, PRODUCTION_REF,
                                                                             previous, req.revision, now):
            raise Conflict("The production tag moved meanwhile; approve again.")
        change["previous_production"] = previous
    stores.audit.record(conn, p, Event("stage.change", repo, revision=req.revision, details=change))
    return change
