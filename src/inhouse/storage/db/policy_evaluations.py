"""Queries on policy evaluations: one row per commit, push (per ref), merge or recheck that a policy looked at,
with the policy version, the outcome and the findings (rule names, paths, counts: never the values scanned).

Factsheets read `list_for_repo` and `for_commit`; the governance API shows the latest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from inhouse.storage.db.schema import policy_evaluations, users


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    repo_id: int
    policy_org_id: int | None
    policy_version: int | None  # None: no policy of an organisation applied (the default policy)
    trigger: str  # commit | push | merge | recheck
    ref: str | None
    commit: str | None  # None: refused before the commit existed
    outcome: str  # allow | approval | quarantine | deny
    findings: list[dict[str, Any]]
    actor: str | None
    created_at: float


def _select() -> Any:
    return select(policy_evaluations, users.c.name.label("actor_name")).select_from(
        policy_evaluations.outerjoin(users, users.c.id == policy_evaluations.c.actor_id))


def _record(row: Any) -> EvaluationRecord:
    m = row._mapping
    try:
        findings = json.loads(m["findings"] or "[]")
    except ValueError:
        findings = []
    return EvaluationRecord(
        id=m["id"], repo_id=m["repo_id"], policy_org_id=m["policy_org_id"], policy_version=m["policy_version"],
        trigger=m["trigger"], ref=m["ref"], commit=m["commit"], outcome=m["outcome"],
        findings=findings if isinstance(findings, list) else [], actor=m["actor_name"],
        created_at=float(m["created_at"]))


_INSERT = insert(policy_evaluations)  # built once: every commit under a policy adds a row (bench/policy_commit.py)


def add(conn: Connection, *, repo_id: int, policy_org_id: int | None, policy_version: int | None, trigger: str,
        ref: str | None, commit: str | None, outcome: str, findings: list[dict[str, Any]], actor_id: int | None,
        now: float) -> None:
    conn.execute(_INSERT, {
        "repo_id": repo_id, "policy_org_id": policy_org_id, "policy_version": policy_version, "trigger": trigger,
        "ref": ref, "commit": commit, "outcome": outcome, "findings": json.dumps(findings, sort_keys=True),
        "actor_id": actor_id, "created_at": now})


def list_for_repo(conn: Connection, repo_id: int, *, limit: int) -> list[EvaluationRecord]:
    """The repo's evaluations, latest first, at most `limit`."""
    q = (_select().where(policy_evaluations.c.repo_id == repo_id)
         .order_by(policy_evaluations.c.id.desc()).limit(limit))
    return [_record(r) for r in conn.execute(q)]


def for_commit(conn: Connection, repo_id: int, sha: str) -> list[EvaluationRecord]:
    """The evaluations that let commit `sha` land (or looked at it), oldest first (a commit is evaluated once per
    trigger: the commit or push that brought it, then a merge)."""
    q = (_select().where(policy_evaluations.c.repo_id == repo_id, policy_evaluations.c.commit == sha)
         .order_by(policy_evaluations.c.id).limit(100))
    return [_record(r) for r in conn.execute(q)]


def held_for_approval(conn: Connection, repo_id: int, *, limit: int = 1000) -> list[tuple[str, str]]:
    """(commit, ref) of the repo's commits an evaluation held for approval (on a pull request's ref), newest first:
    what may reach a branch only through its approved merge."""
    q = (select(policy_evaluations.c.commit, policy_evaluations.c.ref)
         .where(policy_evaluations.c.repo_id == repo_id, policy_evaluations.c.outcome == "approval",
                policy_evaluations.c.commit.is_not(None))
         .order_by(policy_evaluations.c.id.desc()).limit(limit))
    return [(str(r[0]), str(r[1] or "")) for r in conn.execute(q)]
