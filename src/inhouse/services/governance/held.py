"""A commit a policy held for approval (on its pull request) reaches a branch or tag only through the merge of its
approved pull request: `check_held` refuses pointing a branch or tag at it (or at a commit on top of it) any other
way — a git push, a branch or tag created from the pull request — while its change request is not approved."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.services.context import Stores
from inhouse.services.governance import approvals, policies
from inhouse.services.governance.enforce import Verdict, refuse
from inhouse.services.governance.rules import Finding
from inhouse.storage.db import policy_evaluations
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.store import ObjectMissing
from inhouse.vocabulary import Outcome

MAX_ANCESTRY = 20_000  # commits walked to tell whether a held commit would reach a branch


def check_held(stores: Stores, principal: Principal, repo: RepoRecord, ref: str, old: str | None, new: str,
               *, trigger: str, commits_in: dict[str, tuple[str, ...]] | None = None) -> Verdict | None:
    """Refuses pointing `ref` at `new` (from `old`) when that would land a held commit: returns the refusing
    verdict (not yet recorded), or None. Costs one query on a repo where nothing is held. `commits_in`: parents of
    commits not stored yet (a received pack's)."""
    if ref.startswith("refs/pr/"):
        return None
    parents_in = commits_in or {}
    with stores.db.read() as conn:
        held = [(c, r) for c, r in policy_evaluations.held_for_approval(conn, repo.id)
                if not approvals.change_approved(conn, repo.id, r, c)]
        if not held:
            return None
        wanted = {c for c, _ in held}
        # what already landed (a merged pull request) is no longer held: the history of every branch and tag
        heads = [t for n, t in repo_store.list_refs(conn, repo.id) if n.startswith(("refs/heads/", "refs/tags/"))]
        landed = set(_walk(stores, conn, [*heads, *([old] if old else [])], parents_in))
        found = {sha for sha in _walk(stores, conn, [new], parents_in, stop=landed) if sha in wanted}
        policy = policies.policy_for(stores, conn, repo)
    if not found:
        return None
    refs = sorted({r for c, r in held if c in found})
    finding = Finding(
        rule="approval.pending", outcome=Outcome.DENY, path=None,
        message=f"{ref} would include commits held for approval on {', '.join(refs)}: they reach a branch only by "
                "merging their pull request once its change request is approved (GET .../approvals lists them).",
        details={"commits": sorted(found)[:20], "pull_requests": refs})
    return Verdict(trigger, ref, False, policy, [finding], {})


def _walk(stores: Stores, conn: Connection, starts: list[str], parents_in: dict[str, tuple[str, ...]], *,
          stop: set[str] | frozenset[str] = frozenset()) -> Iterator[str]:
    """The commits reachable from `starts` that are not in `stop` (nor behind them), each once, at most
    MAX_ANCESTRY of them; a commit not stored (nor in `parents_in`) ends its line."""
    seen = set(starts)
    queue = [s for s in starts if s not in stop]
    while queue and len(seen) <= MAX_ANCESTRY:
        sha = queue.pop()
        yield sha
        parents = parents_in.get(sha)
        if parents is None:
            try:
                parents = stores.objects.commit(conn, sha).parents
            except ObjectMissing:
                parents = ()
        for p in parents:
            if p not in seen and p not in stop:
                seen.add(p)
                queue.append(p)


def refuse_held(stores: Stores, principal: Principal, repo: RepoRecord, ref: str, target: str, *,
                trigger: str) -> None:
    """`check_held` for a branch or tag created at `target` through the API; raises PolicyViolation (recorded)."""
    verdict = check_held(stores, principal, repo, ref, None, target, trigger=trigger)
    if verdict is not None:
        refuse(stores, principal, repo, verdict)
