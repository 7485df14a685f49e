"""Factsheets: what is known of one model revision, assembled from what happened, never written by hand.

Every fact names its `source`: the commit it was read from ("commit 1a2b3c4d5e6f"), the audit entry ("audit #123"),
the card ("README.md card of 1a2b3c4d5e6f"), the scan cache ("file_scans …"), a policy evaluation, an approval
request, the download counter. Sections, in order:

- identity: the repo, the revision (its commit sha), dates, the card's metadata at that revision;
- card: the card's headings at that revision with the start of their text (what Annex IV items read);
- uploads: the commit history up to the revision (who, when, what files) and the audit log's entries of commits,
  pushes and merges that brought them (who: the authenticated user, not the git author string);
- lineage: the card's base_model and datasets, each resolved to a repo of this hub (its license, and its main at
  the revision's commit date, judged by commit dates) or said not to be one;
- scans: the scan cache's results for each file of the revision, and quarantined files;
- policy: the policy evaluations of the revision's commits;
- evaluations: `.eval_results/*.yaml` entries (verified when inhouse signed them) and the card's model-index;
- lifecycle: the stage and the approval requests with their reviewers and reasons;
- use_cases: the use cases the model is attached to (purpose, risk tier);
- downloads: the download counter, and who read a private or gated repo (from the audit log; names shown to the
  repo's admins only; reads of a public repo are not audited, so not attributed).

Everything is bounded whatever a repo holds: MAX_COMMITS commits listed (the rest counted up to MAX_COUNTED),
files changed named for the first MAX_COMMITS_WITH_FILES commits, MAX_FILES files looked up in the scan cache, the
newest MAX_AUDIT_ENTRIES upload entries and MAX_READ_ENTRIES read entries of the audit log, a card of at most
MAX_CARD_BYTES. A section whose facts were cut says so in `sections[name]["note"]`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, can_see, decide, visible_replacement
from inhouse.errors import InhouseError
from inhouse.services import cards, downloads, files, repo_access
from inhouse.services.cards import split_front_matter
from inhouse.services.context import Stores
from inhouse.services.evaluations.eval_results import eval_results_of
from inhouse.services.files import CommitView, describe
from inhouse.services.merges import changes
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH, Resolved, resolve
from inhouse.storage.db import approvals as approval_store
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db import lifecycle as lifecycle_store
from inhouse.storage.db import policy_evaluations as evaluation_store
from inhouse.storage.db import quarantine as quarantine_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import scans as scan_store
from inhouse.storage.db import use_cases as use_case_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.objects import Commit, TreeEntry
from inhouse.storage.git.store import small_bodies_and_sizes
from inhouse.storage.git.trees import find_entry, walk
from inhouse.vocabulary import RepoType

MAX_COMMITS = 200  # commits listed, newest first
MAX_COUNTED = 2_000  # commits counted past those listed
MAX_COMMITS_WITH_FILES = 50  # commits whose changed files are named
MAX_FILES_PER_COMMIT = 20
MAX_AUDIT_ENTRIES = 1_000  # newest commit / push / merge entries of the repo read from the audit log
MAX_READ_ENTRIES = 10_000  # newest audited reads grouped by reader
MAX_FILES = 1_000  # files of the revision looked up in the scan cache
MAX_CARD_BYTES = 1 << 20
MAX_CARD_SECTIONS = 60
MAX_SECTION_CHARS = 1_500
MAX_METADATA_KEYS = 40
MAX_LINEAGE = 20  # base models and datasets resolved
MAX_BASE_WALK = 200  # commits of a base's main walked to find the one at a date
MAX_EVAL_ENTRIES = 200
MAX_REQUESTS = 50
MAX_EVALUATIONS = 100
MAX_VALUE_CHARS = 2_000

SECTIONS: tuple[tuple[str, str], ...] = (
    ("identity", "Identity"), ("card", "Model card"), ("uploads", "Uploads"), ("lineage", "Lineage"),
    ("scans", "File scans"), ("policy", "Policy evaluations"), ("evaluations", "Evaluation results"),
    ("lifecycle", "Lifecycle and approvals"), ("use_cases", "Use cases"), ("downloads", "Downloads"),
)
UPLOAD_ACTIONS = ("commit", "git.push", "pull_request.merge", "history.squash")
READ_ACTIONS = ("file.download", "git.read")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")

Value = str | int | float | bool | None


@dataclass(frozen=True)
class Fact:
    section: str
    name: str
    value: Value
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "name": self.name, "value": self.value, "source": self.source}


@dataclass
class Factsheet:
    repo: str
    repo_type: str
    revision: str  # the commit sha
    ref: str | None  # the ref the revision named, if it named one
    generated_at: float
    facts: list[Fact] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # section -> what was cut or not recorded

    def add(self, section: str, name: str, value: Value, source: str) -> None:
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS] + "…"
        self.facts.append(Fact(section, name, value, source))

    def note(self, section: str, text: str) -> None:
        self.notes.setdefault(section, []).append(text)

    def of(self, section: str) -> list[Fact]:
        return [f for f in self.facts if f.section == section]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(sha: str) -> str:
    return sha[:12]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- the use case ---------------------------------------------------------------------------------------------------

def read(stores: Stores, principal: Principal, name: RepoName, revision: str | None, *, fmt: str) -> Factsheet:
    """The factsheet of a model revision, for a caller who may download from the repo; the read of a private or
    gated repo is audited as factsheet.read (with the format asked for). A withdrawn model's factsheet is still
    read (metadata, not its files): the record outlives the model."""
    repo = repo_access.load(stores, principal, name, Action.DOWNLOAD, metadata_only=True)
    with stores.db.read() as conn:
        res = resolve(conn, repo, revision)
    repo_access.audit_read(stores, principal, repo, "factsheet.read", revision=res.commit, details={"format": fmt})
    return assemble(stores, principal, repo, res)


def _sees_readers(principal: Principal, repo: RepoRecord) -> bool:
    """Who read a private or gated repo is shown to those who review its access (its admins)."""
    try:
        decide(principal, Action.MANAGE_ACCESS, repo)
    except InhouseError:
        return False
    return True


def assemble(stores: Stores, principal: Principal, repo: RepoRecord, res: Resolved) -> Factsheet:
    """Every section's facts for the revision `res` of `repo` (a caller already allowed to download)."""
    downloads.settle(stores)  # the counts include what this process counted
    sheet = Factsheet(repo=repo.repo_id, repo_type=repo.type.value, revision=res.commit, ref=res.ref,
                      generated_at=time.time())
    with stores.db.read() as conn:
        fresh = repo_store.repo_by_id(conn, repo.id) or repo
        commit = stores.objects.commit(conn, res.commit)
        metadata, body = _card(stores, conn, commit.tree, sheet)
        _identity(sheet, fresh, commit, metadata)
        _card_sections(sheet, body)
        walked = _uploads(stores, conn, sheet, fresh, res.commit)
        _lineage(stores, conn, sheet, principal, metadata, commit.committer.when)
        _scans(stores, conn, sheet, fresh, commit.tree)
        _policy(conn, sheet, fresh, walked)
        _lifecycle(conn, sheet, principal, fresh)
        _use_cases(conn, sheet, fresh)
    _evaluations(stores, sheet, fresh, metadata)
    _downloads(stores, sheet, fresh, _sees_readers(principal, fresh))
    return sheet


# --- identity and card ----------------------------------------------------------------------------------------------

def _card(stores: Stores, conn: Connection, tree: str, sheet: Factsheet) -> tuple[dict[str, Any], str]:
    """(metadata, body) of the revision's README.md; ({}, "") when there is none or it cannot be read."""
    source = f"README.md card of {short(sheet.revision)}"
    entry = find_entry(stores.objects, conn, tree, "README.md")
    if entry is None or entry.is_tree:
        sheet.note("card", "The revision has no README.md: no card metadata or sections.")
        return {}, ""
    size, data = small_bodies_and_sizes(conn, [entry.sha], small=MAX_CARD_BYTES).get(entry.sha, (0, None))
    if data is None:
        sheet.note("card", f"README.md is {size} bytes, over the {MAX_CARD_BYTES} bytes read: not read.")
        return {}, ""
    text = data.decode("utf-8", "replace")
    metadata, body, error = split_front_matter(text)
    if error is not None:
        sheet.add("card", "metadata error", error, source)
    return (metadata or {}), body


def _identity(sheet: Factsheet, repo: RepoRecord, commit: Commit, metadata: dict[str, Any]) -> None:
    src = f"commit {short(sheet.revision)}"
    sheet.add("identity", "repo", repo.repo_id, "repos table")
    sheet.add("identity", "type", repo.type.value, "repos table")
    sheet.add("identity", "provider (namespace)", repo.namespace, "repos table")
    sheet.add("identity", "revision", sheet.revision, src)
    if sheet.ref is not None:
        sheet.add("identity", "ref", sheet.ref, "refs table")
    sheet.add("identity", "revision date", iso(commit.committer.when), src)
    sheet.add("identity", "revision title", commit.title, src)
    sheet.add("identity", "created", iso(repo.created_at), "repos table")
    sheet.add("identity", "last modified", iso(repo.last_modified), "repos table")
    sheet.add("identity", "visibility", "private" if repo.private else ("gated" if repo.gated else "public"),
              "repos table")
    card = f"README.md card of {short(sheet.revision)}"
    keys = [k for k in metadata if k != "model-index"]
    for key in keys[:MAX_METADATA_KEYS]:
        value = metadata[key]
        sheet.add("identity", f"card {key}", ", ".join(value) if cards.strings_of(value) and isinstance(value, list)
                  and len(cards.strings_of(value)) == len(value) else _text(value), card)
    if len(keys) > MAX_METADATA_KEYS:
        sheet.note("identity", f"The card's first {MAX_METADATA_KEYS} of {len(keys)} metadata keys are listed.")
    if not metadata:
        sheet.note("identity", "The card has no metadata (license, pipeline, library, language, tags).")


def card_sections(body: str) -> list[tuple[str, str]]:
    """(heading, the start of its text) of each Markdown heading of a card body, outside code blocks."""
    out: list[tuple[str, list[str]]] = []
    fenced = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m is not None:
            out.append((m.group(2).strip(), []))
            continue
        if out and sum(len(x) for x in out[-1][1]) < MAX_SECTION_CHARS:
            out[-1][1].append(line.strip())
    result = []
    for heading, lines in out:
        text = " ".join(x for x in lines if x)
        result.append((heading, text[:MAX_SECTION_CHARS] + ("…" if len(text) > MAX_SECTION_CHARS else "")))
    return result


def _card_sections(sheet: Factsheet, body: str) -> None:
    found = card_sections(body)
    source = f"README.md card of {short(sheet.revision)}"
    for heading, text in found[:MAX_CARD_SECTIONS]:
        sheet.add("card", heading, text or "(empty)", source)
    if len(found) > MAX_CARD_SECTIONS:
        sheet.note("card", f"The first {MAX_CARD_SECTIONS} of {len(found)} headings are listed.")


# --- uploads --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    seq: int
    actor: str | None
    action: str
    ts: float
    how: str


def _how(entry: dict[str, Any], details: dict[str, Any]) -> str:
    action = entry["action"]
    if action == "commit":
        return f"commit API to {entry['revision'] or 'a branch'}"
    if action == "git.push":
        return "git push"
    if action == "pull_request.merge":
        return f"merge of pull request #{details.get('num')}"
    return "super-squash"


def _uploads_by_commit(stores: Stores, conn: Connection, sheet: Factsheet, repo: RepoRecord,
                       walked: dict[str, Commit]) -> dict[str, Upload]:
    """The audit entry that brought each walked commit (commit, merge, squash: its sha; push: every commit from the
    pushed tip down to the ref's old target)."""
    if not stores.audit.enabled:
        sheet.note("uploads", "The audit log is off on this server: who uploaded is not recorded.")
        return {}
    entries = audit_store.latest_for_repo(conn, repo.url_path, UPLOAD_ACTIONS, limit=MAX_AUDIT_ENTRIES)
    if len(entries) == MAX_AUDIT_ENTRIES:
        sheet.note("uploads", f"The newest {MAX_AUDIT_ENTRIES} upload entries of the audit log were read.")
    found: dict[str, Upload] = {}
    for e in reversed(entries):  # oldest first: a later entry naming the same commit (a merge) wins
        try:
            details = json.loads(e["details"] or "{}")
        except ValueError:
            continue
        if not isinstance(details, dict):
            continue
        up = Upload(int(e["seq"]), e["actor"], e["action"], float(e["ts"]), _how(e, details))
        if e["action"] == "git.push":
            for u in details.get("updates") or []:
                if isinstance(u, dict) and isinstance(u.get("new"), str):
                    _mark_pushed(walked, u["new"], u.get("old"), up, found)
        else:
            sha = details.get("commit") or details.get("new")
            if isinstance(sha, str) and sha in walked:
                found[sha] = up
    return found


def _mark_pushed(walked: dict[str, Commit], tip: str, old: Any, up: Upload, found: dict[str, Upload]) -> None:
    stack = [tip]
    seen: set[str] = set()
    while stack:
        sha = stack.pop()
        if sha in seen or sha == old or sha not in walked:
            continue
        seen.add(sha)
        found.setdefault(sha, up)
        stack.extend(walked[sha].parents)


def _uploads(stores: Stores, conn: Connection, sheet: Factsheet, repo: RepoRecord, head: str) -> dict[str, Commit]:
    """Lists the history up to `head` (bounded) and who brought each commit; returns the commits walked."""
    commits = files.walk_history(stores, conn, head)
    listed = list(itertools.islice(commits, MAX_COMMITS))
    rest = sum(1 for _ in itertools.islice(commits, MAX_COUNTED))
    walked = {c.oid: c.commit for c in listed}
    total = f"{len(listed) + rest}{'+' if rest == MAX_COUNTED else ''}"
    sheet.add("uploads", "commits up to the revision", total, f"commit history of {short(head)}")
    if rest:
        sheet.note("uploads", f"The newest {MAX_COMMITS} of {total} commits are listed.")
    by = _uploads_by_commit(stores, conn, sheet, repo, walked)
    for i, view in enumerate(listed):
        c = view.commit
        src = f"commit {short(view.oid)}"
        what = f"{c.title} (git author {c.author.name}, {iso(c.committer.when)})"
        if i < MAX_COMMITS_WITH_FILES:
            parent = stores.objects.commit(conn, c.parents[0]).tree if c.parents else None
            changed, more = changes(stores.objects, conn, parent, c.tree, limit=MAX_FILES_PER_COMMIT)
            if changed:
                what += "; files: " + ", ".join(ch.path for ch in changed) + (" and more" if more else "")
        sheet.add("uploads", f"commit {short(view.oid)}", what, src)
        up = by.get(view.oid)
        if up is not None:
            sheet.add("uploads", f"commit {short(view.oid)} uploaded by", f"{up.actor or 'anonymous'} "
                      f"({up.how}, {iso(up.ts)})", f"audit #{up.seq}")
    if len(listed) > MAX_COMMITS_WITH_FILES:
        sheet.note("uploads", f"Files changed are named for the newest {MAX_COMMITS_WITH_FILES} commits.")
    return walked


# --- lineage --------------------------------------------------------------------------------------------------------

def _commit_at(stores: Stores, conn: Connection, head: str, when: float) -> str | None:
    """The newest commit reachable from `head` dated (committer date) at or before `when`, within MAX_BASE_WALK
    commits; None when not found within them."""
    for cv in itertools.islice(files.walk_history(stores, conn, head), MAX_BASE_WALK):
        if cv.commit.committer.when <= when:
            return cv.oid
    return None


def _resolve_base(stores: Stores, conn: Connection, principal: Principal, repo_type: RepoType, name: str,
                  when: float) -> tuple[str, str]:
    """(what the hub knows of `name`, source)."""
    parts = name.strip().split("/")
    hit = repo_store.find_repo(conn, repo_type, parts[0], parts[1]) if len(parts) == 2 and all(parts) else None
    if hit is None or not can_see(principal, hit[0]):
        return "not a repo of this hub (or not visible to you)", f"{repo_type.plural} of this hub"
    base = hit[0]
    head = repo_store.get_ref(conn, base.id, f"refs/heads/{DEFAULT_BRANCH}")
    lic = base.license or "none stated"
    if head is None:
        return f"found: {base.repo_id}; license {lic}; its main branch is empty", f"repo {base.repo_id}"
    at = _commit_at(stores, conn, head, when)
    if at is not None:
        rev = f"{at} (its main at {iso(when)}, by commit dates)"
    else:
        rev = f"{head} (its current head: its main at {iso(when)} is older than {MAX_BASE_WALK} commits walked)"
    return f"found: {base.repo_id}; license {lic} (current card); revision {rev}", f"repo {base.repo_id}"


def _lineage(stores: Stores, conn: Connection, sheet: Factsheet, principal: Principal, metadata: dict[str, Any],
             when: float) -> None:
    card = f"README.md card of {short(sheet.revision)}"
    bases = cards.strings_of(metadata.get("base_model"))
    datasets = cards.strings_of(metadata.get("datasets"))
    relation = metadata.get("base_model_relation")
    if bases:
        told = isinstance(relation, str) and relation
        sheet.add("lineage", "base model relation",
                  relation if told else ("merge" if len(bases) > 1 else "finetune") + " (not stated; inferred)", card)
    for kind, names, repo_type in (("base model", bases, RepoType.MODEL), ("dataset", datasets, RepoType.DATASET)):
        for n in names[:MAX_LINEAGE]:
            sheet.add("lineage", f"{kind} {n}", n, card)
            value, source = _resolve_base(stores, conn, principal, repo_type, n, when)
            sheet.add("lineage", f"{kind} {n} in this hub", value, source)
        if len(names) > MAX_LINEAGE:
            sheet.note("lineage", f"The first {MAX_LINEAGE} of {len(names)} {kind}s are resolved.")
    if not bases:
        sheet.note("lineage", "The card names no base_model.")
    if not datasets:
        sheet.note("lineage", "The card names no datasets.")


# --- scans and policy -----------------------------------------------------------------------------------------------

def summarize_findings(scanner: str, status: str, findings: dict[str, Any], error: str | None = None) -> str:
    """A line for a scan result: counts, rule names, globals and column names (scans never keep values)."""
    if status == "clean":
        return "clean"
    if status == "error":
        return f"error: {error or findings.get('error') or 'the scanner failed'}"
    parts: list[str] = []
    if scanner == "pickle":
        unsafe = [u.get("global") for u in findings.get("unsafe") or [] if isinstance(u, dict)]
        if unsafe:
            parts.append("unsafe globals: " + ", ".join(str(g) for g in unsafe[:20]))
        parts.append(f"format {findings.get('format')}, {len(findings.get('imports') or [])} imports")
    elif scanner == "personal_data":
        entities = findings.get("entities") or {}
        if isinstance(entities, dict):
            parts.append("entities: " + ", ".join(f"{k} {v}" for k, v in entities.items()))
        columns = findings.get("columns") or {}
        if isinstance(columns, dict) and columns:
            parts.append("columns: " + ", ".join(str(c) for c in list(columns)[:20]))
    elif scanner == "secrets":
        found = [s for s in findings.get("secrets") or [] if isinstance(s, dict)]
        parts.append("secrets: " + ", ".join(f"{s.get('type')} (line {s.get('line')})" for s in found[:20]))
    else:
        parts.append(_text(findings)[:300])
    return "findings: " + "; ".join(p for p in parts if p)


def content_key(sha: str, lfs_oid: str | None) -> str:
    return f"sha256:{lfs_oid}" if lfs_oid is not None else f"git:{sha}"


def _scans(stores: Stores, conn: Connection, sheet: Factsheet, repo: RepoRecord, tree: str) -> None:
    items: list[tuple[str, TreeEntry]] = []
    total = 0
    for path, e in walk(stores.objects, conn, tree):
        if e.is_tree or e.mode == "160000":
            continue
        total += 1
        if len(items) < MAX_FILES:
            items.append((path, e))
        elif total > MAX_FILES * 10:
            break
    files = describe(conn, items)
    keys = {f.path: content_key(f.oid, f.lfs.oid if f.lfs else None) for f in files}
    sheet.add("scans", "files in the revision", total if total <= MAX_FILES * 10 else f"more than {MAX_FILES * 10}",
              f"tree of {short(sheet.revision)}")
    if total > MAX_FILES:
        sheet.note("scans", f"The first {MAX_FILES} files (by path) are looked up in the scan cache.")
    found = scan_store.get_scans(conn, list(keys.values()))
    unscanned: list[str] = []
    for path, key in keys.items():
        rows = found.get(key)
        if not rows:
            unscanned.append(path)
            continue
        latest: dict[str, scan_store.ScanRecord] = {}
        for r in rows:  # by id: the newest version of each scanner last
            latest[r.scanner] = r
        for scanner, r in latest.items():
            sheet.add("scans", f"{path} [{scanner}]", summarize_findings(scanner, r.status, r.findings),
                      f"file_scans {key[:19]} ({scanner} {r.scanner_version}, {iso(r.scanned_at)})")
    if unscanned:
        sheet.add("scans", "files without a scan result", f"{len(unscanned)}: " + ", ".join(unscanned[:50])
                  + (" and more" if len(unscanned) > 50 else ""), "file_scans (no row for their content)")
    for q in quarantine_store.list_for_repo(conn, repo.id, active_only=False, limit=100):
        state = (f"released {iso(q.released_at)} by {q.released_by or 'a deleted user'}: {q.release_reason}"
                 if q.released_at is not None else "held")
        sheet.add("scans", f"quarantined {q.path}", f"rule {q.rule}: {q.reason}; {state}", f"quarantine #{q.id}")


def _findings_text(findings: Iterable[dict[str, Any]]) -> str:
    out = []
    for f in itertools.islice(findings, 20):
        where = f" {f['path']}" if f.get("path") else ""
        out.append(f"{f.get('rule')} ({f.get('outcome')}){where}: {f.get('message')}")
    return "; ".join(out) if out else "no findings"


def _policy(conn: Connection, sheet: Factsheet, repo: RepoRecord, walked: dict[str, Commit]) -> None:
    records = evaluation_store.for_commit(conn, repo.id, sheet.revision)
    seen = {r.id for r in records}
    older = [r for r in evaluation_store.list_for_repo(conn, repo.id, limit=MAX_EVALUATIONS)
             if r.id not in seen and r.commit in walked]
    for r in [*records, *older]:
        policy = f"policy version {r.policy_version}" if r.policy_version is not None else "the default policy"
        what = "this revision" if r.commit == sheet.revision else f"commit {short(r.commit or '')}"
        sheet.add("policy", f"evaluation #{r.id} of {what} ({r.trigger})",
                  f"{r.outcome} under {policy}, by {r.actor or 'unknown'} at {iso(r.created_at)}; "
                  f"{_findings_text(r.findings)}", f"policy_evaluations #{r.id}")
    if not records:
        sheet.note("policy", "No policy evaluation names this revision's commit: a commit with no findings under the "
                             "default policy (no organisation policy) leaves no row, nor does one that landed before "
                             "policies were evaluated.")


# --- evaluations ----------------------------------------------------------------------------------------------------

def _model_index(sheet: Factsheet, metadata: dict[str, Any]) -> int:
    source = f"README.md card of {short(sheet.revision)} (model-index)"
    count = 0
    index = metadata.get("model-index")
    for model in index if isinstance(index, list) else []:
        if not isinstance(model, dict):
            continue
        for result in model.get("results") or []:
            if not isinstance(result, dict):
                continue
            task, ds = _dict(result.get("task")), _dict(result.get("dataset"))
            for metric in result.get("metrics") or []:
                if count >= MAX_EVAL_ENTRIES or not isinstance(metric, dict):
                    return count
                label = metric.get("name") or metric.get("type")
                sheet.add("evaluations", f"{ds.get('name') or ds.get('type')} {task.get('type')} {label}",
                          _text(metric.get("value")) + " (self-reported in the card)", source)
                count += 1
    return count


def _evaluations(stores: Stores, sheet: Factsheet, repo: RepoRecord, metadata: dict[str, Any]) -> None:
    items = eval_results_of(stores, repo, sheet.revision)
    for item in items[:MAX_EVAL_ENTRIES]:
        src = f"{item['filename']} at {short(sheet.revision)}"
        if "error" in item:
            sheet.add("evaluations", f"{item['filename']} unreadable", item["error"], src)
            continue
        d = item["data"]
        ds, origin = _dict(d.get("dataset")), _dict(d.get("source"))
        how = "verified: signed by this hub" if item["verified"] else "unverified"
        extra = "; ".join(x for x in (d.get("notes"), origin.get("name"), d.get("date")) if isinstance(x, str))
        sheet.add("evaluations", f"{ds.get('id')} {ds.get('task_id')}",
                  f"{d.get('value')} ({how}{'; ' + extra if extra else ''})", src)
    if len(items) > MAX_EVAL_ENTRIES:
        sheet.note("evaluations", f"The first {MAX_EVAL_ENTRIES} of {len(items)} eval results are listed.")
    if not _model_index(sheet, metadata) and not items:
        sheet.note("evaluations", "No evaluation result is recorded for this revision (.eval_results/*.yaml or "
                                  "the card's model-index).")


# --- lifecycle, use cases, downloads --------------------------------------------------------------------------------

def _lifecycle(conn: Connection, sheet: Factsheet, principal: Principal, repo: RepoRecord) -> None:
    stage = lifecycle_store.get_stage(conn, repo.id)
    if stage is None:
        sheet.add("lifecycle", "stage", "draft (no promotion recorded)", "repo_stages")
    else:
        src = f"approval request #{stage.request_number}" if stage.request_number is not None else "repo_stages"
        rev = f" for revision {stage.revision}" if stage.revision else ""
        sheet.add("lifecycle", "stage", f"{stage.stage}{rev} since {iso(stage.updated_at)}", src)
        replacement = visible_replacement(conn, principal, stage.replacement)  # a private one is not named
        if replacement:
            sheet.add("lifecycle", "replacement", replacement, src)
    requests = approval_store.list_requests(conn, repo.id, limit=MAX_REQUESTS)
    for r in requests:
        src = f"approval request #{r.number}"
        rev = f" of {short(r.revision)}" if r.revision else ""
        sheet.add("lifecycle", f"request #{r.number}: {r.kind} to {r.target}{rev}",
                  f"{r.status}; asked by {r.author or 'a deleted user'} at {iso(r.created_at)}; "
                  f"{r.approvals_required} approval(s) needed; reason: {r.reason or '(none given)'}", src)
        for review in r.reviews:
            sheet.add("lifecycle", f"request #{r.number} {review.decision} by {review.reviewer or 'a deleted user'}",
                      f"{iso(review.created_at)}; reason: {review.reason or '(none given)'}", src)
    if len(requests) == MAX_REQUESTS:
        sheet.note("lifecycle", f"The newest {MAX_REQUESTS} approval requests are listed.")


def _use_cases(conn: Connection, sheet: Factsheet, repo: RepoRecord) -> None:
    found = use_case_store.for_repo(conn, repo.id)
    for u in found:
        src = f"use case {u.org}/{u.slug}"
        sheet.add("use_cases", f"{u.org}/{u.slug}", f"{u.title}; purpose: {u.purpose or '(none given)'}; "
                  f"risk tier {u.risk_tier.value}; status {u.status.value}; owner {u.owner or 'a deleted user'}", src)
    if not found:
        sheet.note("use_cases", "The model is attached to no use case.")


def _downloads(stores: Stores, sheet: Factsheet, repo: RepoRecord, sees_readers: bool) -> None:
    recent = downloads.recent(stores, [repo.id]).get(repo.id, 0)
    sheet.add("downloads", "downloads, all time", repo.downloads, "download counter")
    sheet.add("downloads", "downloads, last 30 days", recent, "download counter")
    if not (repo.private or repo.gated):
        sheet.add("downloads", "readers", "not attributed: reads of a public repo are not audited",
                  "audit log (reads of private and gated repos only)")
        return
    if not stores.audit.enabled:
        sheet.note("downloads", "The audit log is off on this server: readers are not recorded.")
        return
    with stores.db.read() as conn:
        rows = audit_store.actors_for_repo(conn, repo.url_path, READ_ACTIONS, window=MAX_READ_ENTRIES)
    total = sum(r[2] for r in rows)
    window = f"audit log (newest {MAX_READ_ENTRIES} reads)" if total >= MAX_READ_ENTRIES else "audit log"
    readers = {r[0] for r in rows}
    sheet.add("downloads", "audited reads", f"{total} by {len(readers)} reader(s)", window)
    if not sees_readers:
        sheet.note("downloads", "Readers are named to the repo's admins only.")
        return
    for actor, action, n, first, last in rows[:200]:
        sheet.add("downloads", f"read by {actor or 'anonymous'} ({action})",
                  f"{n} time(s), {iso(first)} to {iso(last)}", window)

