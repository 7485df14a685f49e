"""Policy rules as a pure function over facts: `evaluate(policy, facts) -> [Finding]`. No database, no I/O: the
caller (services/governance/enforce.py) gathers `ChangeFacts` (files added or changed with their scan results,
the card after the change when README.md changed, the base models it names resolved on this hub) and acts on the
outcome.

* `ScanResult` (services/governance/scans.py, re-exported): what one scanner said of one file content.
* `evaluate(policy, facts)`: one `Finding` per rule and file that found something, each with its outcome:
  license.denied / license.unknown / license.missing / license.derived / license.duty (only when the card
  changed), pickle.unsafe / pickle.scan_error, personal_data.found / personal_data.scan_error, secrets.found /
  secrets.scan_error, card.required_field (only when the card changed, for the repo types the policy names).
* `outcome_of(findings)`: the most severe outcome (allow when nothing was found).
* `describe(findings, policy=)`: the text the client shows: one line per finding, "rule: path: what; what to
  do", most severe first, at most `MAX_DESCRIPTION` characters (it says how many more were left out).

Findings carry rule names, paths, globals, column names, entity counts, secret types and line numbers: never a
scanned value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inhouse.services.governance import licenses
from inhouse.services.governance.policy_doc import LicenseRules, Policy
from inhouse.services.governance.scans import ScanResult
from inhouse.vocabulary import SEVERITY, Outcome, RepoType, Scanner

__all__ = ["BaseFacts", "CardFacts", "ChangeFacts", "FileFacts", "Finding", "MAX_DESCRIPTION", "README",
           "ScanResult", "describe", "evaluate", "outcome_of"]

README = "README.md"
MAX_DESCRIPTION = 4000  # characters of describe(): the client shows it in an exception
MAX_NAMED = 10  # globals, columns or secrets named in one finding's message


@dataclass(frozen=True)
class FileFacts:
    """A file the change adds or changes, with what each scanner that ran on it said."""

    path: str
    content_key: str
    size: int
    scans: dict[Scanner, ScanResult] = field(default_factory=dict)


@dataclass(frozen=True)
class CardFacts:
    """README.md after the change: its YAML metadata ({} when it has none or was removed), its Markdown headings,
    and its text (the body, for duties such as "Built with Llama"; None when not read: such duties count as
    met)."""

    metadata: dict[str, Any]
    headings: list[str]
    text: str | None = None


@dataclass(frozen=True)
class BaseFacts:
    """A base model the card's `base_model` names, as found on this hub (`found` False: not here; then `license`
    and `card` are None). `license` is the base card's license id."""

    repo_id: str
    found: bool
    license: str | None = None
    card: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChangeFacts:
    """What a commit, push or merge changes. `card` is None when README.md is untouched (license and card rules
    are then not evaluated). `root_paths`: the top-level file names after the change (NOTICE, LICENSE …)."""

    repo_type: RepoType
    repo_id: str
    files: list[FileFacts]
    card: CardFacts | None
    bases: list[BaseFacts] = field(default_factory=list)
    root_paths: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Finding:
    """One thing a rule found: `rule` (e.g. "pickle.unsafe"), its `outcome`, the file (None: the whole repo),
    a message saying what and what to do, and `details` (JSON; never a scanned value)."""

    rule: str
    outcome: Outcome
    path: str | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "outcome": self.outcome.value, "path": self.path, "message": self.message,
                "details": self.details}


def outcome_of(findings: list[Finding]) -> Outcome:
    """The most severe outcome of `findings`; allow when there are none."""
    return max((f.outcome for f in findings), key=SEVERITY.__getitem__, default=Outcome.ALLOW)


def _names(items: list[str], limit: int = MAX_NAMED) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- file rules ---------------------------------------------------------------------------------------------------

def _scan_error(scanner: Scanner, outcome: Outcome, f: FileFacts, result: ScanResult) -> Finding:
    then = {Outcome.ALLOW: "the file was let through unscanned; scan it yourself or ask an admin to retry",
            Outcome.APPROVAL: "it needs approval through a pull request",
            Outcome.QUARANTINE: "the file is quarantined until an org admin releases it",
            Outcome.DENY: "the change is refused; check the file, or ask an org admin about the scanner"}[outcome]
    reason = (result.error or "no reason given")[:300]
    return Finding(f"{scanner.value}.scan_error", outcome, f.path,
                   f"the {scanner.value.replace('_', ' ')} scanner failed on this file ({reason}); {then}",
                   {"scanner": scanner.value, "version": result.version, "error": reason})


def _pickles(policy: Policy, f: FileFacts) -> list[Finding]:
    result = f.scans.get(Scanner.PICKLE)
    if result is None:
        return []
    rules = policy.pickles
    if result.status == "error":
        return [_scan_error(Scanner.PICKLE, rules.on_error, f, result)]
    if result.status != "findings":
        return []
    unsafe = [u for u in result.findings.get("unsafe", []) if isinstance(u, dict)
              and str(u.get("global", "")) not in rules.extra_safe_globals]
    if not unsafe:
        return []
    named = list(dict.fromkeys(
        str(u.get("global")) + (f" (in {u['member']})" if u.get("member") else "") for u in unsafe))
    return [Finding("pickle.unsafe", rules.outcome, f.path,
                    f"loading this pickle would import {_names(named)}, outside the safe globals; save the weights "
                    "as safetensors (save_file / save_pretrained(safe_serialization=True)), or have an org admin "
                    "add the globals to pickles.extra_safe_globals if they are yours and safe",
                    {"format": result.findings.get("format"), "unsafe": unsafe[:50],
                     "imports": list(result.findings.get("imports", []))[:200]})]


def _personal_data(policy: Policy, repo_type: RepoType, f: FileFacts) -> list[Finding]:
    rules = policy.personal_data
    result = f.scans.get(Scanner.PERSONAL_DATA)
    if rules is None or result is None or repo_type not in rules.repo_types:
        return []
    if result.status == "error":
        return [_scan_error(Scanner.PERSONAL_DATA, rules.on_error, f, result)]
    if result.status != "findings":
        return []
    wanted = set(rules.entities)
    columns: dict[str, dict[str, int]] = {}
    for column, counts in (result.findings.get("columns") or {}).items():
        if isinstance(counts, dict):
            kept = {e: int(n) for e, n in counts.items() if e in wanted and isinstance(n, int) and n > 0}
            if kept:
                columns[str(column)] = kept
    if not columns:
        return []
    entities: dict[str, int] = {}
    for counts in columns.values():
        for entity, n in counts.items():
            entities[entity] = entities.get(entity, 0) + n
    said = [f"{c} ({', '.join(f'{n} {e}' for e, n in sorted(counts.items()))})" for c, counts in columns.items()]
    sampled = result.findings.get("sampled")
    scope = f" in {result.findings.get('rows_scanned')} sampled rows" if sampled else ""
    return [Finding("personal_data.found", rules.outcome, f.path,
                    f"personal data in column{'s' if len(columns) > 1 else ''} {_names(said)}{scope}; remove or "
                    "pseudonymise those columns, or have the dataset approved",
                    {"columns": columns, "entities": entities, "rows_total": result.findings.get("rows_total"),
                     "rows_scanned": result.findings.get("rows_scanned"), "sampled": bool(sampled),
                     "confidence": result.findings.get("confidence")})]


def _secrets(policy: Policy, f: FileFacts) -> list[Finding]:
    rules = policy.secrets
    result = f.scans.get(Scanner.SECRETS)
    if rules is None or result is None:
        return []
    if result.status == "error":
        return [_scan_error(Scanner.SECRETS, rules.on_error, f, result)]
    found = [s for s in result.findings.get("secrets", []) if isinstance(s, dict)]
    if result.status != "findings" or not found:
        return []
    said = [f"{s.get('type', 'a secret')} on line {s.get('line', '?')}" for s in found]
    return [Finding("secrets.found", rules.outcome, f.path,
                    f"{_names(said)}; remove the secret from the file (and from history), revoke it where it was "
                    "issued, and load it from the environment instead",
                    {"secrets": [{"type": s.get("type"), "line": s.get("line")} for s in found[:50]]})]


# -- card rules ---------------------------------------------------------------------------------------------------

def _card_licenses(metadata: dict[str, Any]) -> list[str]:
    value = metadata.get("license")
    values = value if isinstance(value, list) else [value]
    return [str(v).strip().lower() for v in values if isinstance(v, str | int | float) and str(v).strip()]


def _license_findings(rules: LicenseRules, facts: ChangeFacts, card: CardFacts) -> list[Finding]:
    out: list[Finding] = []
    ids = _card_licenses(card.metadata)
    if not ids:
        out.append(Finding("license.missing", rules.missing, README,
                           "the card names no license; add 'license: <id>' to README.md's metadata (e.g. "
                           "apache-2.0), with 'license_name' and 'license_link' for license: other", {}))
    name = card.metadata.get("license_name")
    for lid in ids:
        names = {lid} | ({str(name).lower()} if lid == "other" and isinstance(name, str) and name else set())
        shown = f"other ({name})" if len(names) > 1 else lid
        if names & rules.deny:
            out.append(Finding("license.denied", rules.denied, README,
                               f"license {shown} is denied by the policy; publish under a license the "
                               "organisation accepts, or ask an org admin", {"license": lid}))
        elif rules.allow and not names & rules.allow:
            out.append(Finding("license.unknown", rules.unknown, README,
                               f"license {shown} is not among the licenses the policy allows "
                               f"({_names(sorted(rules.allow))})", {"license": lid}))
        elif lid not in licenses.LICENSE_IDS:
            out.append(Finding("license.unknown", rules.unknown, README,
                               f"{lid!r} is not a license id the Hub knows; use one of its ids "
                               "(huggingface.co/docs/hub/repositories-licenses), or license: other with "
                               "license_name and license_link", {"license": lid}))
    out.extend(_derived(rules, facts, ids))
    return out


def _derived(rules: LicenseRules, facts: ChangeFacts, ids: list[str]) -> list[Finding]:
    out: list[Finding] = []
    if not facts.bases or facts.card is None:
        return out
    own = ids[0] if ids else None
    name = facts.repo_id.rpartition("/")[2]
    owed: dict[licenses.Duty, str] = {}  # duty -> whose license owes it
    for base in facts.bases:
        if not base.found:
            out.append(Finding("license.unknown", rules.unknown, README,
                               f"base model {base.repo_id} was not found on this hub, so its license and duties "
                               "cannot be checked; mirror it here (same id), or have the model approved",
                               {"base_model": base.repo_id}))
            continue
        if not base.license:
            out.append(Finding("license.unknown", rules.unknown, README,
                               f"base model {base.repo_id}'s card names no license, so what a derived model owes "
                               "it is unknown; ask its owners to add one, or have the model approved",
                               {"base_model": base.repo_id}))
            continue
        why = licenses.may_relicense(base.license, own)
        if why:
            out.append(Finding("license.derived", rules.derived, README, f"derived from {base.repo_id}: {why}",
                               {"base_model": base.repo_id, "base_license": base.license, "license": own}))
        for duty in licenses.duties(base.license):
            owed.setdefault(duty, f"base model {base.repo_id} ({base.license})")
    for duty in licenses.duties(own):  # a derived model under a community license owes its duties too
        owed.setdefault(duty, f"its own license ({own})")
    card_text = facts.card.text
    for duty, whose in owed.items():
        if duty.met(repo_name=name, root_paths=facts.root_paths, card_text=card_text):
            continue
        fix = {licenses.DutyKind.NAME_PREFIX: f"rename the repo so that its name begins with \"{duty.value}\"",
               licenses.DutyKind.NOTICE_FILE: f"add a top-level {duty.value} file",
               licenses.DutyKind.CARD_TEXT: f"add \"{duty.value}\" to the card"}[duty.kind]
        out.append(Finding("license.duty", rules.derived, README, f"{duty.says}, owed to {whose}; {fix}",
                           {"duty": duty.kind.value, "value": duty.value}))
    return out


def _norm_heading(text: str) -> str:
    return " ".join(text.strip().strip("#:").split()).casefold()


def _card_findings(policy: Policy, facts: ChangeFacts, card: CardFacts) -> list[Finding]:
    rules = policy.card
    if rules is None or facts.repo_type not in rules.repo_types:
        return []
    headings = {_norm_heading(h) for h in card.headings}
    out: list[Finding] = []
    for req in rules.required:
        if any(card.metadata.get(key) not in (None, "", [], {}) for key in req.metadata):
            continue
        if any(_norm_heading(s) in headings for s in req.sections):
            continue
        where = [f"metadata key {', '.join(req.metadata)}" if req.metadata else "",
                 f"a section headed {' or '.join(repr(s) for s in req.sections)}" if req.sections else ""]
        out.append(Finding("card.required_field", rules.outcome, README,
                           f"the card lacks {req.name!r}, which the organisation requires; add "
                           f"{' or '.join(w for w in where if w)} to README.md",
                           {"field": req.name, "metadata": list(req.metadata), "sections": list(req.sections)}))
    return out


def evaluate(policy: Policy, facts: ChangeFacts) -> list[Finding]:
    """Every finding of `policy`'s rules on `facts` (see the module's docstring)."""
    found: list[Finding] = []
    for f in facts.files:
        found.extend(_pickles(policy, f))
        found.extend(_personal_data(policy, facts.repo_type, f))
        found.extend(_secrets(policy, f))
    if facts.card is not None:
        if policy.licenses is not None:
            found.extend(_license_findings(policy.licenses, facts, facts.card))
        found.extend(_card_findings(policy, facts, facts.card))
    return found


_HEADS = {Outcome.DENY: "Refused by", Outcome.QUARANTINE: "Files quarantined by",
          Outcome.APPROVAL: "Needs approval under", Outcome.ALLOW: "Flagged by"}


def describe(findings: list[Finding], policy: Policy | None = None) -> str:
    """The findings as the client shows them: a heading naming the policy (when given), then one line per finding,
    most severe first, cut at `MAX_DESCRIPTION` characters with a count of what was left out."""
    ordered = sorted(findings, key=lambda f: -SEVERITY[f.outcome])
    lines = [f"{_HEADS[outcome_of(findings)]} {policy.source}:"] if policy is not None else []
    size = sum(len(line) + 1 for line in lines)
    for i, f in enumerate(ordered):
        line = f"- {f.rule} ({f.outcome.value}): " + (f"{f.path}: " if f.path else "") + f.message
        line = line if len(line) <= 1000 else line[:999] + "…"
        left = len(ordered) - i
        if size + len(line) + 1 > MAX_DESCRIPTION - 60 and left > 1 or size + len(line) > MAX_DESCRIPTION:
            lines.append(f"… and {left} more finding{'s' if left > 1 else ''} (the repo's governance page lists "
                         "them all)")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)
