"""An organisation's policy document: YAML in, a frozen `Policy` out, every mistake named by line and column.

    licenses:        {allow: [ids], deny: [ids], denied, unknown, missing, derived}   (outcomes)
    pickles:         {outcome, on_error, extra_safe_globals: [module.Name]}
    personal_data:   {outcome, on_error, entities: [EMAIL_ADDRESS, …], repo_types: [dataset], max_rows}
    secrets:         {outcome, on_error}
    card:            {outcome, repo_types: [model], required: [{name, metadata: [keys], sections: [headings]}]}
    lifecycle:       {approver_roles: [admin], approvals: 1, high_risk_approvals: 2}

`parse(text)` reads the document with `yaml.compose` (nodes keep where they were written) and checks it against
that shape: a YAML syntax error, an unknown key (the closest valid one is suggested), a value of the wrong type, an
unknown outcome or role, a count out of range, a duplicate key: each is a `BadRequest` "policy line L, column C:
what is wrong; how to fix it" (1-based). A license id or an entity the hub does not know is accepted, with a
warning in `Policy.warnings` (the API shows them). The document is bounded (`MAX_DOCUMENT_BYTES`, `MAX_DEPTH`,
`MAX_LIST`) and may not use YAML anchors or aliases (no alias bombs).

`DEFAULT_POLICY` is what a user's repo, or an org without a policy, gets: pickles are scanned and flagged (outcome
allow, a scanner error allowed too but recorded), nothing else is checked: nothing the hub accepted before
policies existed is refused.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from inhouse.errors import BadRequest
from inhouse.services.governance.licenses import LICENSE_IDS
from inhouse.vocabulary import Outcome, RepoType, Role

__all__ = [
    "CardRules",
    "DEFAULT_DOCUMENT",
    "DEFAULT_POLICY",
    "KNOWN_ENTITIES",
    "LicenseRules",
    "LifecycleRules",
    "MAX_DOCUMENT_BYTES",
    "PersonalDataRules",
    "PickleRules",
    "Policy",
    "RequiredField",
    "SecretRules",
    "parse",
]

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_DEPTH = 8  # nested mappings / lists
MAX_LIST = 500  # entries of any one list
MAX_ERRORS = 10  # errors named in one answer
MAX_ROWS_CAP = 1_000_000  # personal_data.max_rows
MAX_APPROVALS = 10

#: The entities presidio-analyzer's pattern recognizers find offline (personal_data.entities).
KNOWN_ENTITIES: frozenset[str] = frozenset("""
    EMAIL_ADDRESS PHONE_NUMBER IBAN_CODE CREDIT_CARD CRYPTO IP_ADDRESS URL DATE_TIME MEDICAL_LICENSE
    US_SSN US_ITIN US_PASSPORT US_DRIVER_LICENSE US_BANK_NUMBER UK_NHS UK_NINO ES_NIF ES_NIE IT_FISCAL_CODE
    IT_DRIVER_LICENSE IT_VAT_CODE IT_PASSPORT IT_IDENTITY_CARD PL_PESEL SG_NRIC_FIN SG_UEN AU_ABN AU_ACN AU_TFN
    AU_MEDICARE IN_PAN IN_AADHAAR IN_VEHICLE_REGISTRATION IN_VOTER IN_PASSPORT FI_PERSONAL_IDENTITY_CODE
    KR_RRN TH_TNIN DE_TAX_ID
    """.split())

DEFAULT_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CREDIT_CARD", "US_SSN", "UK_NHS")

FILE_OUTCOMES = (Outcome.ALLOW, Outcome.APPROVAL, Outcome.QUARANTINE, Outcome.DENY)
REPO_OUTCOMES = (Outcome.ALLOW, Outcome.APPROVAL, Outcome.DENY)  # license and card findings concern no one file


@dataclass(frozen=True)
class LicenseRules:
    """`allow` empty: any license not denied. `unknown`: a license outside `allow` (when given), an id the hub
    does not know, or a base model not found on this hub. `derived`: a derived model that relaxes its base's
    license or drops its duties (license.derived, license.duty)."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    denied: Outcome = Outcome.DENY
    unknown: Outcome = Outcome.APPROVAL
    missing: Outcome = Outcome.DENY
    derived: Outcome = Outcome.DENY


@dataclass(frozen=True)
class PickleRules:
    """Pickle-based files (scanned by an allowlist of safe globals, plus `extra_safe_globals`)."""

    outcome: Outcome = Outcome.DENY
    on_error: Outcome = Outcome.QUARANTINE
    extra_safe_globals: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PersonalDataRules:
    outcome: Outcome = Outcome.APPROVAL
    on_error: Outcome = Outcome.QUARANTINE
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    repo_types: frozenset[RepoType] = frozenset({RepoType.DATASET})
    max_rows: int = 10_000


@dataclass(frozen=True)
class SecretRules:
    outcome: Outcome = Outcome.DENY
    on_error: Outcome = Outcome.QUARANTINE


@dataclass(frozen=True)
class RequiredField:
    """A card field the org requires: present as one of the `metadata` keys (non-empty) or as a Markdown heading
    named one of `sections` (case-insensitive)."""

    name: str
    metadata: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardRules:
    outcome: Outcome = Outcome.DENY
    repo_types: frozenset[RepoType] = frozenset({RepoType.MODEL})
    required: tuple[RequiredField, ...] = ()


@dataclass(frozen=True)
class LifecycleRules:
    """Who approves a promotion (besides site admins), and how many distinct approvers it needs."""

    approver_roles: tuple[Role, ...] = (Role.ADMIN,)
    approvals: int = 1
    high_risk_approvals: int = 2


@dataclass(frozen=True)
class Policy:
    """A parsed policy. A section that is None is not checked; pickles are always scanned (an absent section keeps
    the default: flagged, allowed). `version` and `org` say where it came from (0 and None: `DEFAULT_POLICY`);
    `warnings` are what `parse` accepted but thinks doubtful."""

    pickles: PickleRules = PickleRules(outcome=Outcome.ALLOW, on_error=Outcome.ALLOW)
    licenses: LicenseRules | None = None
    personal_data: PersonalDataRules | None = None
    secrets: SecretRules | None = None
    card: CardRules | None = None
    lifecycle: LifecycleRules = LifecycleRules()
    version: int = 0
    org: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON, every default filled in (what the API shows next to the document)."""
        def section(rules: Any) -> dict[str, Any] | None:
            if rules is None:
                return None
            out: dict[str, Any] = {}
            for f in dataclasses.fields(rules):
                out[f.name] = _jsonable(getattr(rules, f.name))
            return out
        return {"licenses": section(self.licenses), "pickles": section(self.pickles),
                "personal_data": section(self.personal_data), "secrets": section(self.secrets),
                "card": section(self.card), "lifecycle": section(self.lifecycle)}

    @property
    def source(self) -> str:
        """'the policy of 'acme' (version 3)' or 'the default policy': how messages name it."""
        return f"the policy of {self.org!r} (version {self.version})" if self.org else "the default policy"


DEFAULT_POLICY = Policy()


def _jsonable(value: object) -> Any:
    if isinstance(value, RequiredField):
        return {"name": value.name, "metadata": list(value.metadata), "sections": list(value.sections)}
    if isinstance(value, frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value

#: DEFAULT_POLICY as a document (what GET /api/orgs/{org}/policy shows an organisation that has none).
DEFAULT_DOCUMENT = """\
# The default policy: pickle-based files are scanned and flagged, nothing is refused.
pickles:
  outcome: allow
  on_error: allow
"""


# -- reading ------------------------------------------------------------------------------------------------------

class _Problems:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, node: Node | None, what: str, fix: str) -> None:
        self.errors.append(f"{_where(node)}: {what}; {fix}")

    def warn(self, node: Node | None, what: str) -> None:
        self.warnings.append(f"{_where(node)}: {what}")


def _where(node: Node | None) -> str:
    return _at(None if node is None else node.start_mark)


def _at(mark: Any) -> str:
    """'policy line L, column C' (1-based) for a YAML mark; 'policy' without one."""
    if mark is None:
        return "policy"
    return f"policy line {mark.line + 1}, column {mark.column + 1}"


class _Invalid(Exception):
    """A value that cannot be read (the problem is already noted)."""


T = TypeVar("T")

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {_STR: "a string", _INT: "a number", _NULL: "empty (null)", _BOOL: "a boolean"}.get(
        node.tag, f"{node.value!r}")


def _short(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "…")


def _mapping(node: Node, p: _Problems, valid: tuple[str, ...], what: str) -> dict[str, tuple[Node, Node]]:
    """The mapping's entries by key (key node, value node); unknown and duplicate keys are noted."""
    if not isinstance(node, MappingNode):
        p.error(node, f"{what} must be a mapping, not {_kind(node)}",
                f"write it as 'key: value' lines, with keys among {', '.join(valid)}")
        raise _Invalid
    out: dict[str, tuple[Node, Node]] = {}
    seen: dict[str, Node] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
            p.error(key_node, f"a key of {what} must be a word", f"use one of {', '.join(valid)}")
            continue
        key = key_node.value
        if key in seen:
            first = seen[key].start_mark.line + 1
            p.error(key_node, f"{_short(key)} is given twice in {what} (first on line {first})",
                    "keep only one of them")
            continue
        seen[key] = key_node
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys are {', '.join(valid)}"
            p.error(key_node, f"unknown key {_short(key)} in {what}", hint)
            continue
        out[key] = (key_node, value_node)
    return out


def _string(node: Node, p: _Problems, what: str) -> str:
    if not isinstance(node, ScalarNode) or node.tag != _STR:
        p.error(node, f"{what} must be a string, not {_kind(node)}", "quote it if it looks like a number or yes/no")
        raise _Invalid
    value = str(node.value).strip()
    if not value or len(value) > 200:
        p.error(node, f"{what} must be 1 to 200 characters", "write a shorter, non-empty value")
        raise _Invalid
    return value


def _int(node: Node, p: _Problems, what: str, low: int, high: int) -> int:
    value: int | None = None
    if isinstance(node, ScalarNode) and node.tag == _INT:
        try:
            value = int(node.value.replace("_", ""), 0)
        except ValueError:
            value = None
    if value is None:
        p.error(node, f"{what} must be a whole number, not {_kind(node)}", f"write a number from {low} to {high}")
        raise _Invalid
    if not low <= value <= high:
        p.error(node, f"{what} is {value}, out of range", f"write a number from {low} to {high}")
        raise _Invalid
    return value


def _list(node: Node, p: _Problems, what: str, item: Callable[[Node], T]) -> list[T]:
    """A list of items (a single scalar is taken as a list of one); items that fail are noted and left out."""
    if isinstance(node, ScalarNode) and node.tag == _NULL:
        return []
    nodes = node.value if isinstance(node, SequenceNode) else [node] if isinstance(node, ScalarNode) else None
    if nodes is None:
        p.error(node, f"{what} must be a list, not {_kind(node)}", "write it as [a, b] or as '- a' lines")
        raise _Invalid
    if len(nodes) > MAX_LIST:
        p.error(node, f"{what} has {len(nodes)} entries", f"keep it to at most {MAX_LIST}")
        raise _Invalid
    out: list[T] = []
    for n in nodes:
        try:
            out.append(item(n))
        except _Invalid:
            pass
    return out


def _empty(node: Node) -> bool:
    """An empty list, or nothing at all, was written."""
    return isinstance(node, SequenceNode) and not node.value or isinstance(node, ScalarNode) and node.tag == _NULL


def _outcome(node: Node, p: _Problems, what: str, allowed: tuple[Outcome, ...]) -> Outcome:
    names = " | ".join(o.value for o in allowed)
    if isinstance(node, ScalarNode) and node.tag == _STR and node.value in Outcome._value2member_map_:
        outcome = Outcome(node.value)
        if outcome in allowed:
            return outcome
        p.error(node, f"{what} cannot be {outcome.value!r}: quarantine holds back one file, and this rule is "
                      "about the whole repo", f"use one of {names}")
        raise _Invalid
    shown = _short(str(node.value)) if isinstance(node, ScalarNode) else _kind(node)
    close = difflib.get_close_matches(str(node.value), [o.value for o in allowed], n=1, cutoff=0.5) \
        if isinstance(node, ScalarNode) else []
    p.error(node, f"unknown outcome {shown} for {what}",
            (f"did you mean {close[0]!r}? " if close else "") + f"use one of {names}")
    raise _Invalid


def _repo_types(node: Node, p: _Problems, what: str) -> frozenset[RepoType]:
    def one(n: Node) -> RepoType:
        value = _string(n, p, f"an entry of {what}")
        if value not in RepoType._value2member_map_:
            p.error(n, f"unknown repo type {_short(value)} in {what}",
                    f"use {', '.join(t.value for t in RepoType)}")
            raise _Invalid
        return RepoType(value)
    return frozenset(_list(node, p, what, one))


def _section(entries: dict[str, tuple[Node, Node]], key: str, read: Callable[[Node], T], default: T) -> T:
    """The value under `key` read by `read`, or `default` when absent or unreadable (noted)."""
    if key not in entries:
        return default
    try:
        return read(entries[key][1])
    except _Invalid:
        return default


def _license_id(node: Node, p: _Problems, where: str) -> str:
    value = _string(node, p, f"a license id in {where}").lower()
    if value not in LICENSE_IDS:
        close = difflib.get_close_matches(value, sorted(LICENSE_IDS), n=1, cutoff=0.6)
        p.warn(node, f"{_short(value)} is not one of the hub's license ids" +
               (f" (did you mean {close[0]!r}?)" if close else "") + "; it only matches a card naming it exactly")
    return value


def _licenses(node: Node, p: _Problems) -> LicenseRules:
    keys = ("allow", "deny", "denied", "unknown", "missing", "derived")
    e = _mapping(node, p, keys, "licenses")
    d = LicenseRules()
    allow = frozenset(_section(e, "allow", lambda n: _list(n, p, "licenses.allow",
                                                           lambda x: _license_id(x, p, "licenses.allow")), list[str]()))
    deny = frozenset(_section(e, "deny", lambda n: _list(n, p, "licenses.deny",
                                                         lambda x: _license_id(x, p, "licenses.deny")), list[str]()))
    both = sorted(allow & deny)
    if both:
        p.error(e["deny"][1], f"{', '.join(both)} is both allowed and denied", "remove it from one of the lists")

    def outcome(key: str, default: Outcome) -> Outcome:
        return _section(e, key, lambda n: _outcome(n, p, f"licenses.{key}", REPO_OUTCOMES), default)

    return LicenseRules(allow=allow, deny=deny, denied=outcome("denied", d.denied),
                        unknown=outcome("unknown", d.unknown), missing=outcome("missing", d.missing),
                        derived=outcome("derived", d.derived))


def _global_name(node: Node, p: _Problems) -> str:
    value = _string(node, p, "an entry of pickles.extra_safe_globals")
    module, dot, name = value.rpartition(".")
    if not dot or not module or not name or any(not part.isidentifier() for part in value.split(".")):
        p.error(node, f"{_short(value)} is not a global's full name",
                "write 'module.Name', as the pickle scanner reports it (e.g. mypkg.layers.Block)")
        raise _Invalid
    return value


def _pickles(node: Node, p: _Problems) -> PickleRules:
    e = _mapping(node, p, ("outcome", "on_error", "extra_safe_globals"), "pickles")
    d = PickleRules()
    return PickleRules(
        outcome=_section(e, "outcome", lambda n: _outcome(n, p, "pickles.outcome", FILE_OUTCOMES), d.outcome),
        on_error=_section(e, "on_error", lambda n: _outcome(n, p, "pickles.on_error", FILE_OUTCOMES), d.on_error),
        extra_safe_globals=frozenset(_section(
            e, "extra_safe_globals",
            lambda n: _list(n, p, "pickles.extra_safe_globals", lambda x: _global_name(x, p)), list[str]())))


def _entity(node: Node, p: _Problems) -> str:
    value = _string(node, p, "an entry of personal_data.entities").upper()
    if value not in KNOWN_ENTITIES:
        close = difflib.get_close_matches(value, sorted(KNOWN_ENTITIES), n=1, cutoff=0.6)
        p.error(node, f"unknown entity {_short(value)} in personal_data.entities",
                f"did you mean {close[0]!r}?" if close else
                f"use entities the offline recognizers find, e.g. {', '.join(DEFAULT_ENTITIES)}")
        raise _Invalid
    return value


def _personal_data(node: Node, p: _Problems) -> PersonalDataRules:
    e = _mapping(node, p, ("outcome", "on_error", "entities", "repo_types", "max_rows"), "personal_data")
    d = PersonalDataRules()
    entities = tuple(dict.fromkeys(_section(
        e, "entities", lambda n: _list(n, p, "personal_data.entities", lambda x: _entity(x, p)),
        list(d.entities))))
    if "entities" in e and _empty(e["entities"][1]):
        p.error(e["entities"][1], "personal_data.entities is empty",
                "name at least one entity, or remove the personal_data section to scan nothing")
    return PersonalDataRules(
        outcome=_section(e, "outcome", lambda n: _outcome(n, p, "personal_data.outcome", FILE_OUTCOMES), d.outcome),
        on_error=_section(e, "on_error", lambda n: _outcome(n, p, "personal_data.on_error", FILE_OUTCOMES),
                          d.on_error),
        entities=entities,
        repo_types=_section(e, "repo_types", lambda n: _repo_types(n, p, "personal_data.repo_types"),
                            d.repo_types),
        max_rows=_section(e, "max_rows", lambda n: _int(n, p, "personal_data.max_rows", 1, MAX_ROWS_CAP),
                          d.max_rows))


def _secrets(node: Node, p: _Problems) -> SecretRules:
    e = _mapping(node, p, ("outcome", "on_error"), "secrets")
    d = SecretRules()
    return SecretRules(
        outcome=_section(e, "outcome", lambda n: _outcome(n, p, "secrets.outcome", FILE_OUTCOMES), d.outcome),
        on_error=_section(e, "on_error", lambda n: _outcome(n, p, "secrets.on_error", FILE_OUTCOMES), d.on_error))


def _required_field(node: Node, p: _Problems) -> RequiredField:
    e = _mapping(node, p, ("name", "metadata", "sections"), "an entry of card.required")
    if "name" not in e:
        p.error(node, "this required card field has no 'name'",
                "add 'name: <what the field is>' (it is shown to whoever misses it)")
        raise _Invalid
    name = _string(e["name"][1], p, "a name")
    metadata = tuple(_section(e, "metadata", lambda n: _list(
        n, p, "metadata", lambda x: _string(x, p, "a metadata key")), list[str]()))
    sections = tuple(_section(e, "sections", lambda n: _list(
        n, p, "sections", lambda x: _string(x, p, "a section heading")), list[str]()))
    if not metadata and not sections:
        p.error(node, f"the required card field {name!r} names no metadata key and no section",
                "add 'metadata: [key]' and/or 'sections: [Heading]' saying where it may be written")
        raise _Invalid
    return RequiredField(name=name, metadata=metadata, sections=sections)


def _card(node: Node, p: _Problems) -> CardRules:
    e = _mapping(node, p, ("outcome", "repo_types", "required"), "card")
    d = CardRules()
    return CardRules(
        outcome=_section(e, "outcome", lambda n: _outcome(n, p, "card.outcome", REPO_OUTCOMES), d.outcome),
        repo_types=_section(e, "repo_types", lambda n: _repo_types(n, p, "card.repo_types"), d.repo_types),
        required=tuple(_section(e, "required", lambda n: _list(
            n, p, "card.required", lambda x: _required_field(x, p)), [])))


def _role(node: Node, p: _Problems) -> Role:
    value = _string(node, p, "an entry of lifecycle.approver_roles")
    if value not in Role._value2member_map_:
        p.error(node, f"unknown role {_short(value)} in lifecycle.approver_roles",
                f"use org roles: {', '.join(r.value for r in Role)}")
        raise _Invalid
    return Role(value)


def _lifecycle(node: Node, p: _Problems) -> LifecycleRules:
    e = _mapping(node, p, ("approver_roles", "approvals", "high_risk_approvals"), "lifecycle")
    d = LifecycleRules()
    roles = tuple(dict.fromkeys(_section(
        e, "approver_roles", lambda n: _list(n, p, "lifecycle.approver_roles", lambda x: _role(x, p)),
        list(d.approver_roles))))
    if "approver_roles" in e and _empty(e["approver_roles"][1]):
        p.error(e["approver_roles"][1], "lifecycle.approver_roles is empty",
                "name at least one role (site admins always qualify), e.g. [admin]")
    approvals = _section(e, "approvals", lambda n: _int(
        n, p, "lifecycle.approvals", 1, MAX_APPROVALS), d.approvals)
    high = _section(e, "high_risk_approvals", lambda n: _int(
        n, p, "lifecycle.high_risk_approvals", 1, MAX_APPROVALS), max(d.high_risk_approvals, approvals))
    if high < approvals:
        p.error(e["high_risk_approvals"][1],
                f"lifecycle.high_risk_approvals ({high}) is fewer than lifecycle.approvals ({approvals})",
                "a high-risk use case needs at least as many approvals as any other")
    return LifecycleRules(approver_roles=roles or d.approver_roles, approvals=approvals, high_risk_approvals=high)


_SECTIONS = ("licenses", "pickles", "personal_data", "secrets", "card", "lifecycle")


def _check_events(text: str, p: _Problems) -> None:
    """Refuse anchors, aliases and deep nesting before anything is built from the document."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            p.errors.append(f"{_at(event.start_mark)}: YAML anchors and aliases "
                            "('&name', '*name') are not accepted in a policy; write the value out in full")
            return
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                p.errors.append(f"{_at(event.start_mark)}: nested more than "
                                f"{MAX_DEPTH} levels deep; a policy needs at most 4")
                return
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _raise(p: _Problems) -> None:
    first, rest = p.errors[0], p.errors[1:MAX_ERRORS]
    more = len(p.errors) - 1 - len(rest)
    message = first
    if rest:
        message += " | also: " + " | ".join(rest) + (f" | and {more} more" if more > 0 else "")
    raise BadRequest(message)


def parse(text: str, *, org: str | None = None, version: int = 0) -> Policy:
    """The policy `text` says (see the module's docstring), or BadRequest naming each mistake's line and column.
    An empty document is the default policy (with `org` and `version`)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise BadRequest(f"The policy document is {size} bytes; keep it under {MAX_DOCUMENT_BYTES} bytes "
                         "(a policy needs a few hundred).")
    p = _Problems()
    try:
        _check_events(text, p)
        if p.errors:
            _raise(p)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        what = " ".join(x for x in (err.context, err.problem) if x)
        raise BadRequest(f"{_at(err.problem_mark or err.context_mark)}: {what}; fix the YAML there (indent with spaces, quote values that contain "
                         "':' or '#', close every bracket)") from None
    except yaml.YAMLError as err:
        raise BadRequest(f"policy: not YAML ({str(err)[:200]}); write the policy as a YAML mapping") from None
    if root is None or isinstance(root, ScalarNode) and root.tag == _NULL:
        return Policy(org=org, version=version)
    try:
        e = _mapping(root, p, _SECTIONS, "the policy")
    except _Invalid:
        _raise(p)
        raise  # unreachable: _raise raised
    d = DEFAULT_POLICY

    def optional(key: str, read: Callable[[Node, _Problems], T]) -> T | None:
        if key not in e:
            return None
        node = e[key][1]
        if isinstance(node, ScalarNode) and (node.tag == _NULL or node.tag == _BOOL and node.value.lower() in (
                "false", "no", "off")):
            return None  # "secrets: off": not checked
        try:
            return read(node, p)
        except _Invalid:
            return None

    if "pickles" in e and isinstance(e["pickles"][1], ScalarNode) and e["pickles"][1].tag in (_NULL, _BOOL):
        p.error(e["pickles"][1], "pickles cannot be turned off: pickle-based files are always scanned",
                "write 'pickles: {outcome: allow}' to only flag them")
    policy = Policy(
        pickles=optional("pickles", _pickles) or d.pickles,
        licenses=optional("licenses", _licenses),
        personal_data=optional("personal_data", _personal_data),
        secrets=optional("secrets", _secrets),
        card=optional("card", _card),
        lifecycle=optional("lifecycle", _lifecycle) or d.lifecycle,
        version=version, org=org, warnings=tuple(p.warnings[:MAX_ERRORS]))
    if p.errors:
        _raise(p)
    return policy


def parse_any(value: Any) -> Policy:
    """`parse` for a value that should be a document (the API's JSON field), refusing anything else."""
    if not isinstance(value, str):
        raise BadRequest("Send the policy as a YAML document in 'document' (a string).")
    return parse(value)
