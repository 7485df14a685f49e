"""Policy enforcement at the door: one evaluation for the three ways a change lands (an API commit, a git push, a
pull request's merge).

Each trigger says what it changes (`ScanTarget`s of the files added or changed, the README after the change, the
top-level names after it); `evaluate_change` then finds the repo's policy, runs the scans (cached by content) and
the rules BEFORE the trigger opens its write transaction, so that a long scan never holds the database. What comes
out is a `Verdict`:

- refused (a deny finding, or an approval finding on a branch): `refuse` records the evaluation and
  `policy.refused` (outcome denied) in a transaction of their own and raises PolicyViolation (git push reports it
  per ref instead, `push_refusal`);
- otherwise the trigger calls `record` inside its write transaction once the commit exists: the evaluation row,
  a quarantined_files row (and a `policy.quarantine` audit entry) per quarantine finding, and for a pull request
  with approval findings an approval request (services/governance/approvals.py).

A change with nothing to scan and no card change costs the policy lookup (cached), the small files' in-process
secrets scan and, under an organisation's policy, one evaluation row.

Beside it: held.py (a commit held for approval reaching a branch another way), security.py (what the scans said
of a revision's files, for model info and tree entries), views.py (the governance API's reads and the recheck).
"""

from __future__ import annotations

import hashlib
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import can_see
from inhouse.audit.log import Event
from inhouse.errors import InhouseError, PolicyViolation
from inhouse.names import split_repo_id
from inhouse.services import cards, merges
from inhouse.services.context import Stores
from inhouse.services.governance import approvals, policies, rules, scans
from inhouse.services.governance.policy_doc import Policy
from inhouse.services.governance.rules import BaseFacts, CardFacts, ChangeFacts, FileFacts, Finding, ScanResult
from inhouse.services.governance.scans import ScanTarget
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import discussions as disc_store
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import policy_evaluations
from inhouse.storage.db import quarantine as quarantine_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.ingest import ReceivedPack, stored_objects, tree_entries
from inhouse.storage.git.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from inhouse.storage.git.objects import TreeEntry
from inhouse.storage.git.store import ObjectMissing, small_bodies_and_sizes
from inhouse.vocabulary import Outcome, RepoType

README = "README.md"
DEFAULT_REF = f"refs/heads/{DEFAULT_BRANCH}"
MAX_CHANGED_FILES = 20_000  # changed files one evaluation looks at (a change beyond it is refused under a policy)
MAX_BASES = 16  # base models of a card looked up
MAX_HEADINGS = 500  # Markdown headings of a card read
MAX_CARD_BYTES = 1 << 20  # a README beyond this is read only up to it
MAX_SCAN_BYTES = 256 << 20  # bytes of regular (non-LFS) files one evaluation holds for its scanners
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


# what a trigger changes ---------------------------------------------------------------------------------------------

@dataclass
class Change:
    """What one trigger (commit, push of one ref, merge) brings: files added or changed, the README after the
    change (None: untouched; b"": deleted or not readable), the top-level names after it."""

    trigger: str  # commit | push | merge
    ref: str
    to_pr: bool  # lands on a pull request's ref (or opens one): approval findings do not refuse it
    targets: list[ScanTarget] = field(default_factory=list)
    readme: bytes | None = None
    root_paths: frozenset[str] = frozenset()
    truncated: bool = False  # more files changed than MAX_CHANGED_FILES

    def add(self, target: ScanTarget) -> None:
        if len(self.targets) >= MAX_CHANGED_FILES:
            self.truncated = True
            return
        self.targets.append(target)


@dataclass(frozen=True)
class Verdict:
    change_trigger: str
    ref: str
    to_pr: bool
    policy: Policy
    findings: list[Finding]
    keys: dict[str, str]  # path -> content key of the changed files (quarantine rows)

    @property
    def outcome(self) -> Outcome:
        return rules.outcome_of(self.findings)

    @property
    def needs_approval(self) -> bool:
        return any(f.outcome is Outcome.APPROVAL for f in self.findings)

    @property
    def refused(self) -> bool:
        return self.outcome is Outcome.DENY or (self.needs_approval and not self.to_pr)

    @property
    def quiet(self) -> bool:
        """Nothing worth a row: no finding, and no organisation's policy applied."""
        return not self.findings and self.policy.org is None


def git_key(data: bytes) -> str:
    """The content key of a small file: its git blob id."""
    return "git:" + hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_key(oid: str) -> str:
    return "sha256:" + oid


def target_of(path: str, data: bytes) -> ScanTarget:
    """A small file given by its bytes; a Git LFS pointer stands for its large file."""
    ptr = LfsPointer.parse(data) if len(data) <= MAX_POINTER_SIZE else None
    if ptr is not None:
        return ScanTarget(path, lfs_key(ptr.oid), ptr.size, None)
    return ScanTarget(path, git_key(data), len(data), data)


# evaluation -------------------------------------------------------------------------------------------------------

def evaluate_change(stores: Stores, principal: Principal, repo: RepoRecord, change: Change, *,
                    policy: Policy | None = None) -> Verdict:
    """Scans (outside any transaction) and evaluates one change under the repo's policy."""
    with stores.db.read() as conn:
        if policy is None:
            policy = policies.policy_for(stores, conn, repo)
        card = _card(change.readme)
        bases = _bases(conn, principal, card) if card is not None else []
    results = scans.run_scans(stores, change.targets, policy, repo.type) if change.targets else {}
    files = [FileFacts(t.path, t.content_key, t.size, {
        s: ScanResult(r.scanner, r.version, r.status, r.findings, r.error)
        for s, r in results.get(t.content_key, {}).items()}) for t in change.targets]
    facts = ChangeFacts(repo_type=repo.type, repo_id=repo.repo_id, files=files, card=card, bases=bases,
                        root_paths=change.root_paths)
    findings = list(rules.evaluate(policy, facts))
    if change.truncated and policy.org is not None:
        findings.append(Finding(
            rule="change.too_large", outcome=Outcome.DENY, path=None,
            message=f"this change touches more than {MAX_CHANGED_FILES} files, more than one policy evaluation "
                    "looks at: split it into several commits or pushes.", details={"limit": MAX_CHANGED_FILES}))
    keys = {t.path: t.content_key for t in change.targets}
    return Verdict(change.trigger, change.ref, change.to_pr, policy, findings, keys)


def _card(readme: bytes | None) -> CardFacts | None:
    if readme is None:
        return None
    text = readme[:MAX_CARD_BYTES].decode("utf-8", "replace")
    meta, body, _ = cards.split_front_matter(text)
    headings = [m.group(1).strip() for _, m in zip(range(MAX_HEADINGS), _HEADING.finditer(body))]
    return CardFacts(metadata=meta or {}, headings=headings, text=body)


def _base_ids(meta: dict[str, Any]) -> list[str]:
    base = meta.get("base_model")
    ids = [base] if isinstance(base, str) else [b for b in base if isinstance(b, str)] if isinstance(base, list) \
        else []
    return list(dict.fromkeys(ids))[:MAX_BASES]


def _bases(conn: Connection, principal: Principal, card: CardFacts) -> list[BaseFacts]:
    """The card's base models, looked up in this hub: found (with their license and card) only when the pusher
    may see them, so that a private repo's license never shows through another repo's evaluation."""
    out = []
    for base_id in _base_ids(card.metadata):
        hit = None
        try:
            ns, name = split_repo_id(base_id)
            hit = repo_store.find_repo(conn, RepoType.MODEL, ns, name)
        except InhouseError:  # not a repo id this hub could hold: an unknown base
            hit = None
        if hit is None or not can_see(principal, hit[0]):
            out.append(BaseFacts(repo_id=base_id, found=False, license=None, card=None))
        else:
            base = hit[0]
            out.append(BaseFacts(repo_id=base.repo_id, found=True, license=base.license, card=base.card_data))
    return out


# refusing and recording ---------------------------------------------------------------------------------------------

def _findings_json(verdict: Verdict) -> list[dict[str, Any]]:
    return [f.to_json() for f in verdict.findings]


def explanation(verdict: Verdict) -> str:
    """What the pusher is told: the policy's description of the findings, and for an approval on a branch what to
    do instead."""
    text = rules.describe(verdict.findings, verdict.policy)
    if verdict.outcome is not Outcome.DENY and verdict.needs_approval and not verdict.to_pr:
        if verdict.change_trigger == "merge":
            text += ("\nThis pull request needs approval: ask an approver of the organisation to approve its request "
                     "(GET .../approvals lists them), then merge again.")
        elif verdict.change_trigger == "push":
            text += ("\nThis change needs approval: open a pull request with the API (HfApi().create_pull_request, "
                     "or upload with create_pr=True), push to the ref it names (git push origin "
                     "HEAD:refs/pr/<number>) and ask an approver of the organisation to approve the request it "
                     "opens; the pull request can be merged once approved.")
        else:
            text += ("\nThis change needs approval: open a pull request with it (create_commit(..., "
                     "create_pr=True), or upload_file(..., create_pr=True)) and ask an approver of the organisation "
                     "to approve the request it opens; the pull request can be merged once approved.")
    return text.strip()


def rule_names(verdict: Verdict) -> list[str]:
    worst = [f for f in verdict.findings if f.outcome is Outcome.DENY] or \
        [f for f in verdict.findings if f.outcome is Outcome.APPROVAL]
    return sorted({f.rule for f in worst})


def note_refusal(stores: Stores, principal: Principal, repo: RepoRecord, verdict: Verdict) -> None:
    """Records a refused change: its evaluation (no commit) and `policy.refused`, in a transaction of their own
    (the change itself rolled back or never began)."""
    findings = _findings_json(verdict)
    with stores.db.write() as conn:
        add_evaluation(conn, principal, repo, verdict, commit=None, outcome=verdict.outcome.value)
        _hold_refused_uploads(stores, conn, principal, repo, verdict)
        stores.audit.record(conn, principal, Event(
            "policy.refused", repo, revision=verdict.ref, outcome="denied",
            details={"trigger": verdict.change_trigger, "ref": verdict.ref, "findings": findings,
                     "policy_version": verdict.policy.version}))


def _hold_refused_uploads(stores: Stores, conn: Connection, principal: Principal, repo: RepoRecord,
                          verdict: Verdict) -> None:
    """A large file is uploaded to the repo before the commit that names it: when the commit is refused for what
    that file holds, its bytes stay with the repo (storage GC forgets them later) and could be fetched by their
    sha256 (LFS batch, Xet). They are held back like a quarantined file (no commit), until an admin releases
    them."""
    now = time.time()
    for f in verdict.findings:
        key = verdict.keys.get(f.path or "")
        if f.outcome is not Outcome.DENY or key is None or not key.startswith("sha256:"):
            continue
        if quarantine_store.add(conn, repo_id=repo.id, content_key=key, path=f.path or "", commit=None, rule=f.rule,
                                reason=f"refused upload: {f.message}"[:2000], now=now) is not None:
            stores.audit.record(conn, principal, Event("policy.quarantine", repo, revision=verdict.ref, path=f.path,
                                                       details={"path": f.path, "rule": f.rule, "content_key": key,
                                                                "commit": None}))


def refuse(stores: Stores, principal: Principal, repo: RepoRecord, verdict: Verdict) -> NoReturn:
    note_refusal(stores, principal, repo, verdict)
    raise PolicyViolation(explanation(verdict), findings=_findings_json(verdict))


def check(stores: Stores, principal: Principal, repo: RepoRecord, verdict: Verdict) -> None:
    """Raises (after recording the refusal) when the verdict refuses the change."""
    if verdict.refused:
        refuse(stores, principal, repo, verdict)


def add_evaluation(conn: Connection, principal: Principal, repo: RepoRecord, verdict: Verdict, *,
                    commit: str | None, outcome: str) -> None:
    policy_evaluations.add(
        conn, repo_id=repo.id, policy_org_id=repo.owner_id if verdict.policy.org is not None else None,
        policy_version=verdict.policy.version if verdict.policy.org is not None else None,
        trigger=verdict.change_trigger, ref=verdict.ref, commit=commit, outcome=outcome,
        findings=_findings_json(verdict), actor_id=principal.user_id, now=time.time())


def record(stores: Stores, conn: Connection, principal: Principal, repo: RepoRecord, verdict: Verdict, *,
           commit: str, ref: str | None = None) -> None:
    """Inside the trigger's write transaction, once the commit exists: the evaluation, the quarantines and, for a
    pull request that needs approval, the approval request. `ref`: where it landed (a new pull request's ref)."""
    if verdict.quiet:
        return
    where = ref or verdict.ref
    if ref is not None and ref != verdict.ref:
        verdict = Verdict(verdict.change_trigger, ref, verdict.to_pr, verdict.policy, verdict.findings, verdict.keys)
    add_evaluation(conn, principal, repo, verdict, commit=commit, outcome=verdict.outcome.value)
    now = time.time()
    for f in verdict.findings:
        if f.outcome is not Outcome.QUARANTINE or f.path is None or f.path not in verdict.keys:
            continue
        key = verdict.keys[f.path]
        if quarantine_store.add(conn, repo_id=repo.id, content_key=key, path=f.path, commit=commit, rule=f.rule,
                                reason=f.message[:2000], now=now) is not None:
            stores.audit.record(conn, principal, Event("policy.quarantine", repo, revision=where, path=f.path,
                                                       details={"path": f.path, "rule": f.rule, "content_key": key,
                                                                "commit": commit}))
    if verdict.needs_approval and where.startswith("refs/pr/") and verdict.outcome is not Outcome.DENY:
        approvals.open_change_request(stores, conn, principal, repo, where, commit,
                                      [f.to_json() for f in verdict.findings if f.outcome is Outcome.APPROVAL],
                                      verdict.policy)


# API commits ------------------------------------------------------------------------------------------------------

def commit_change(stores: Stores, repo: RepoRecord, ref: str, ops: list[Any], *, to_pr: bool) -> Change:
    """The change of an API commit's operations (services/commits.py's AddFile, AddLfsFile, DeleteFile,
    DeleteFolder) on the head of `ref`."""
    change = Change("commit", ref, to_pr)
    readme: bytes | None = None
    touched_readme = False
    added_roots: set[str] = set()
    deleted_roots: set[str] = set()
    for op in ops:
        path = op.path.rstrip("/")
        root = path.split("/", 1)[0]
        content = getattr(op, "content", None)
        oid = getattr(op, "oid", None)
        if isinstance(content, bytes):
            change.add(target_of(path, content))
            added_roots.add(root)
            if path == README:
                touched_readme, readme = True, content
        elif isinstance(oid, str):
            size = getattr(op, "size", None)
            change.add(ScanTarget(path, lfs_key(oid), size if isinstance(size, int) else 0, None))
            added_roots.add(root)
            if path == README:
                touched_readme, readme = True, b""  # a large README: no card the rules can read
        else:
            if "/" not in path:
                deleted_roots.add(root)
                added_roots.discard(root)
            if path in ("", README):
                touched_readme, readme = True, b""
    large = [t for t in change.targets if t.data is None]
    if not large and not touched_readme:  # the common commit: no read at all (top-level names serve card rules)
        change.readme = None
        return change
    names: set[str] = set()
    with stores.db.read() as conn:
        # a large file this repo does not hold is refused by the commit itself ("upload it first"), not scanned
        missing = {t.content_key for t in large
                   if not lfs_store.repo_has_object(conn, repo.id, t.content_key.removeprefix("sha256:"))}
        change.targets = [t for t in change.targets if t.content_key not in missing]
        head = repo_store.get_ref(conn, repo.id, ref) if touched_readme else None
        if head is not None:
            try:
                names = {e.name for e in stores.objects.tree(conn, stores.objects.commit(conn, head).tree)}
            except ObjectMissing:
                names = set()
    change.root_paths = frozenset((names - deleted_roots) | added_roots)
    change.readme = readme if touched_readme else None
    return change


def check_commit(stores: Stores, principal: Principal, repo: RepoRecord, ref: str, ops: list[Any], *,
                 to_pr: bool) -> Verdict:
    """Evaluates an API commit before its write transaction; raises PolicyViolation (recorded) when refused."""
    verdict = evaluate_change(stores, principal, repo, commit_change(stores, repo, ref, ops, to_pr=to_pr))
    check(stores, principal, repo, verdict)
    return verdict


# trees: push and merge --------------------------------------------------------------------------------------------

class PackTrees:
    """Trees read from a received pack, else from the object store (merges.changes walks them)."""

    def __init__(self, stores: Stores, pack: ReceivedPack | None):
        self.stores = stores
        self.pack = pack

    def tree(self, conn: Connection, sha: str) -> tuple[TreeEntry, ...]:
        raw = self.pack.trees.get(sha) if self.pack is not None else None
        if raw is None:
            return self.stores.objects.tree(conn, sha)
        return tuple(TreeEntry(f"{mode:o}", name.decode(), hexsha.decode()) for name, mode, hexsha
                     in tree_entries(raw))


def tree_change(stores: Stores, conn: Connection, trees: PackTrees, change: Change,
                pairs: list[tuple[str | None, str]], final_tree: str | None, *, policy: Policy,
                repo_type: RepoType) -> None:
    """Adds to `change` the files that differ in each (old tree, new tree) pair (merges.changes walks them), the
    top-level names of `final_tree` and, when a pair changed it, the README there. A Git LFS pointer stands for its
    large file (read from the pack's index or the object store, never its content); a regular file's bytes are read
    (from the received pack, else the object store) only when a scanner of `policy` needs them, at most
    MAX_SCAN_BYTES of them in all (beyond: the change is too large to evaluate)."""
    wanted: dict[str, str] = {}  # blob sha -> path
    readme_changed = False
    for old, new in pairs:
        found, more = merges.changes(trees, conn, old, new, limit=MAX_CHANGED_FILES)
        change.truncated = change.truncated or more
        for c in found:
            readme_changed = readme_changed or c.path == README
            if c.new is not None:
                wanted.setdefault(c.new.sha, c.path)
    add_files(stores, conn, trees, change, wanted, final_tree, readme_changed, policy=policy, repo_type=repo_type)


def add_files(stores: Stores, conn: Connection, trees: PackTrees, change: Change, wanted: dict[str, str],
              final_tree: str | None, readme_changed: bool, *, policy: Policy, repo_type: RepoType) -> None:
    """Adds the changed files `wanted` (blob sha -> path) to `change` as scan targets (see `tree_change`), the
    top-level names of `final_tree` and, when `readme_changed`, its README."""
    pack = trees.pack
    readme_sha = None
    if final_tree is not None:
        root = trees.tree(conn, final_tree)
        change.root_paths = frozenset(e.name for e in root)
        readme_sha = next((e.sha for e in root if e.name == README and not e.is_tree), None)
    if readme_changed:
        change.readme = b""
    # sizes and pointers: from the pack's index, else the store (small bodies only: a pointer is small)
    known = {sha: pack.blobs[sha] for sha in wanted if pack is not None and sha in pack.blobs}
    stored = small_bodies_and_sizes(conn, [sha for sha in wanted if sha not in known], MAX_POINTER_SIZE)
    for sha, (size, body) in stored.items():
        known[sha] = (size, LfsPointer.parse(body) if body is not None else None)
    to_read: dict[str, str] = {}
    budget = MAX_SCAN_BYTES
    for sha, path in wanted.items():
        size, ptr = known.get(sha, (0, None))
        if ptr is not None:
            change.add(ScanTarget(path, lfs_key(ptr.oid), ptr.size, None))
        elif scans.scanners_for(policy, repo_type, ScanTarget(path, f"git:{sha}", size, b"")):
            budget -= size
            if budget < 0:
                change.truncated = True
                continue
            to_read[sha] = path
        # else: no scanner of this policy looks at it, and no rule at a file that was not scanned
    readme = {readme_sha} if readme_changed and readme_sha is not None else set()
    data = pack_blobs(pack, set(to_read) | readme) if pack is not None else {}
    for sha in (set(to_read) | readme) - set(data):
        try:
            data[sha] = stores.objects.get(conn, sha)[1]
        except ObjectMissing:
            continue
    if readme_sha in readme:
        body = data.get(readme_sha or "")
        change.readme = body if body is not None and LfsPointer.parse(body) is None else b""
    for sha, path in to_read.items():
        if sha in data:
            change.add(ScanTarget(path, f"git:{sha}", len(data[sha]), data[sha]))


def pack_blobs(pack: ReceivedPack, wanted: set[str]) -> dict[str, bytes]:
    """The contents of these blobs of a received pack (one pass over its stored objects)."""
    out: dict[str, bytes] = {}
    if not wanted:
        return out
    for rows in stored_objects(pack):
        for sha, kind, _size, body in rows:
            if kind == "blob" and sha in wanted:
                out[sha] = zlib.decompress(body)
    return out


# git push ---------------------------------------------------------------------------------------------------------

def push_change(stores: Stores, conn: Connection, trees: PackTrees, pack: ReceivedPack, repo: RepoRecord,
                policy: Policy, ref: str, target: str, new_files: dict[str, tuple[str, str]]) -> Change:
    """The change a push brings to `ref`: the files new in the pack (`new_files`: blob sha -> (path, the pushed
    commit that added it), as the push's own checks found them, services/git_push._Checker) that a pushed commit
    `target` reaches adds, every one of them: a file added by one pushed commit and removed by the next is scanned
    too (it stays downloadable by its commit); the README and top-level names of `target`'s tree."""
    change = Change("push", ref, ref.startswith("refs/pr/"))
    reach: set[str] = set()
    queue = [target]
    while queue:
        sha = queue.pop()
        c = pack.commits.get(sha)
        if c is None or sha in reach:
            continue  # already in the repo: evaluated when it landed
        reach.add(sha)
        queue.extend(c.parents)
    wanted = {blob: path for blob, (path, commit) in new_files.items() if commit in reach}
    if len(wanted) > MAX_CHANGED_FILES:
        change.truncated = True
        wanted = dict(list(wanted.items())[:MAX_CHANGED_FILES])
    add_files(stores, conn, trees, change, wanted, _commit_tree(stores, conn, pack, target),
              any(path == README for path in wanted.values()), policy=policy, repo_type=repo.type)
    return change


def _commit_tree(stores: Stores, conn: Connection, pack: ReceivedPack, sha: str) -> str | None:
    if sha in pack.commits:
        return pack.commits[sha].tree
    try:
        return stores.objects.commit(conn, sha).tree
    except ObjectMissing:
        return None


def check_push(stores: Stores, principal: Principal, repo: RepoRecord, pack: ReceivedPack,
               targets: dict[str, str], new_files: dict[str, tuple[str, str]]) -> dict[str, Verdict]:
    """The verdict for each ref a push moves (`targets`: ref -> new commit; deletes left out; `new_files`: see
    `push_change`), before the push's write transaction. Refusals are not recorded here: the caller reports them
    per ref (`push_refusal`)."""
    trees = PackTrees(stores, pack)
    changes: dict[str, Change] = {}
    with stores.db.read() as conn:
        policy = policies.policy_for(stores, conn, repo)
        for ref, target in targets.items():
            changes[ref] = push_change(stores, conn, trees, pack, repo, policy, ref, target, new_files)
    return {ref: evaluate_change(stores, principal, repo, change, policy=policy) for ref, change in changes.items()}


def push_refusal(stores: Stores, principal: Principal, repo: RepoRecord, verdict: Verdict) -> tuple[str, list[str]]:
    """Records a refused ref of a push and returns git's reason ("policy: <rules>") and the explanation lines."""
    note_refusal(stores, principal, repo, verdict)
    return f"policy: {', '.join(rule_names(verdict))}", explanation(verdict).splitlines()


# pull request merges ----------------------------------------------------------------------------------------------

def check_merge(stores: Stores, principal: Principal, repo: RepoRecord, num: int) -> tuple[Verdict, str] | None:
    """The verdict on merging pull request `num` (what it changes since it left its branch), before the merge's
    write transaction, and the pull request's head it was made for; None when there is nothing to evaluate (the
    merge itself refuses it). An approval finding refuses the merge unless the change request of that head was
    approved by someone other than its author (approvals.change_approved). Raises PolicyViolation (recorded)."""
    pr_ref = f"refs/pr/{num}"
    with stores.db.read() as conn:
        d = disc_store.get_discussion(conn, repo.id, num)
        if d is None or not d.is_pr or d.status != "open" or d.base_ref is None:
            return None
        base_head = repo_store.get_ref(conn, repo.id, d.base_ref)
        head = repo_store.get_ref(conn, repo.id, pr_ref)
        if base_head is None or head is None:
            return None
        try:
            mb = merges.merge_base(stores.objects, conn, base_head, head)
            old = stores.objects.commit(conn, mb).tree if mb else None
            new = stores.objects.commit(conn, head).tree
        except ObjectMissing:
            return None
        change = Change("merge", d.base_ref, False)
        policy = policies.policy_for(stores, conn, repo)
        tree_change(stores, conn, PackTrees(stores, None), change, [(old, new)], new, policy=policy,
                    repo_type=repo.type)
        approved = approvals.change_approved(conn, repo.id, pr_ref, head)
    change.to_pr = approved  # an approved change request lets the approval findings through
    verdict = evaluate_change(stores, principal, repo, change, policy=policy)
    check(stores, principal, repo, verdict)
    return verdict, head
