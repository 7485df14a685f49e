"""The words the hub speaks, as types: what kind a repo is (RepoType), a member's role in an organisation or a
resource group (Role), what an access token may do (TokenRole), and a fine-grained token's scopes (Scope: a
ScopeKind, a name and Permissions).

Each is a `StrEnum`, so a value is still the very string the JSON API, the CLI and the database hold ("model",
"datasets/…"): nothing is migrated. The edges (web handlers, the CLI, the stores reading rows) turn strings into
these types once, with `parse`; everything inside takes and compares the types.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from inhouse.errors import BadRequest


def _choices(kind: type[StrEnum]) -> str:
    return ", ".join(m.value for m in kind)


class RepoType(StrEnum):
    """What a repo holds. Its URLs: `/api/models/…` and `/ns/name` for a model, `/api/datasets/…` and
    `/datasets/ns/name` for a dataset, `/api/spaces/…` and `/spaces/ns/name` for a space."""

    MODEL = "model"
    DATASET = "dataset"
    SPACE = "space"

    @property
    def plural(self) -> str:
        """'models', 'datasets', 'spaces': the word in `/api/{plural}/…`."""
        return f"{self.value}s"

    @property
    def url_prefix(self) -> str:
        """What comes before 'ns/name' in the repo's web path: '' for a model, 'datasets/' for a dataset."""
        return "" if self is RepoType.MODEL else f"{self.plural}/"

    @classmethod
    def from_plural(cls, plural: str) -> RepoType:
        """The type a route's `/api/{plural}/` or `/{plural}/` prefix names (the router admits only these)."""
        return cls(plural.removesuffix("s"))

    @classmethod
    def parse(cls, value: object) -> RepoType:
        """A repo type sent by a client; a missing one (None or '') is a model, as on the Hub."""
        if value is None or value == "":
            return cls.MODEL
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise BadRequest(f"Invalid repo type {str(value)[:100]!r}: use one of {_choices(cls)}.")


class Role(StrEnum):
    """A member's role in an organisation or a resource group, weakest first. On the org's repos (or the group's):
    read reads, contributor also creates repos and writes to those it created, write writes, admin manages."""

    READ = "read"
    CONTRIBUTOR = "contributor"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """1 for read … 4 for admin. (Comparing the values themselves would compare strings.)"""
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: object) -> Role:
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise BadRequest(f"Invalid role {str(value)[:100]!r}: use one of {_choices(cls)}.")


_ROLE_RANK = {role: rank for rank, role in enumerate(Role, 1)}


class TokenRole(StrEnum):
    """What an access token may do, whatever its user's roles: read only reads, write does what the user's roles
    allow, fine-grained only what its scopes list."""

    READ = "read"
    WRITE = "write"
    FINE_GRAINED = "fine-grained"

    @classmethod
    def parse(cls, value: object) -> TokenRole:
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise BadRequest(f"Invalid token role {str(value)[:100]!r}: use one of {_choices(cls)}.")


class Permission(StrEnum):
    """What a fine-grained token's scope allows on the repos it covers (the Hub's permission names)."""

    READ_CONTENT = "repo.content.read"
    WRITE = "repo.write"
    DISCUSS = "discussion.write"
    MANAGE_ACCESS = "repo.access.write"

    @property
    def implied(self) -> frozenset[Permission]:
        """This permission and those it includes: repo.write reads and discusses, repo.access.write reads."""
        return _IMPLIED[self]


_IMPLIED = {
    Permission.READ_CONTENT: frozenset({Permission.READ_CONTENT}),
    Permission.WRITE: frozenset({Permission.WRITE, Permission.READ_CONTENT, Permission.DISCUSS}),
    Permission.DISCUSS: frozenset({Permission.DISCUSS}),
    Permission.MANAGE_ACCESS: frozenset({Permission.MANAGE_ACCESS, Permission.READ_CONTENT}),
}


class ScopeKind(StrEnum):
    """What a scope names: one repo ('acme/bert', 'datasets/acme/data'), or every repo of an org or a user."""

    REPO = "repo"
    ORG = "org"
    USER = "user"


NEEDS_A_SCOPE = ("A fine-grained token needs at least one scope, e.g. "
                 '[{"type": "repo", "name": "acme/bert", "permissions": ["repo.content.read"]}].')
MAX_SCOPES = 1000  # scopes of one token; each is checked on every request the token makes


@dataclass(frozen=True)
class Scope:
    """One entry of a fine-grained token: `permissions` on what `kind` and `name` cover. Its JSON (API, database,
    audit log) is {"type": kind, "name": name, "permissions": [sorted permission names]}."""

    kind: ScopeKind
    name: str
    permissions: frozenset[Permission]

    def allows(self, permission: Permission) -> bool:
        """Does this scope grant `permission` (itself, or through one that includes it)?"""
        return any(permission in held.implied for held in self.permissions)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind.value, "name": self.name, "permissions": sorted(p.value for p in self.permissions)}

    @classmethod
    def parse(cls, value: object) -> Scope:
        """One scope as JSON: {"type": "repo"|"org"|"user", "name": …, "permissions": [non-empty list]}."""
        needs = f"Each scope needs a 'type' ({_choices(ScopeKind)}) and a 'name'."
        if not isinstance(value, dict):
            raise BadRequest(needs)
        kind, name, perms = value.get("type"), value.get("name"), value.get("permissions")
        if not isinstance(kind, str) or kind not in ScopeKind._value2member_map_ or not isinstance(name, str):
            raise BadRequest(needs)
        if not isinstance(perms, list) or not perms or any(
                not isinstance(p, str) or p not in Permission._value2member_map_ for p in perms):
            raise BadRequest(f"Scope permissions must be a non-empty list drawn from {_choices(Permission)}.")
        return cls(ScopeKind(kind), name, frozenset(Permission(p) for p in perms))

    @classmethod
    def parse_list(cls, value: object) -> tuple[Scope, ...]:
        """A fine-grained token's scopes as JSON: a non-empty list of scopes."""
        if not value or not isinstance(value, list):
            raise BadRequest(NEEDS_A_SCOPE)
        if len(value) > MAX_SCOPES:
            raise BadRequest(f"A token holds at most {MAX_SCOPES} scopes; name an org or a user to cover all their "
                             "repos at once.")
        return tuple(cls.parse(s) for s in value)


class EvalTask(StrEnum):
    """A task family an evaluation measures models on (the `task` of `POST /api/evaluations`, `inhouse eval`).
    Each names the columns it reads (`EVAL_COLUMNS`) and, in the worker (inhouse.ml), the model heads that fit it
    and the metrics its field uses."""

    TEXT_CLASSIFICATION = "text-classification"
    TOKEN_CLASSIFICATION = "token-classification"
    QUESTION_ANSWERING = "question-answering"
    SENTENCE_SIMILARITY = "sentence-similarity"
    RETRIEVAL = "retrieval"
    SUMMARIZATION = "summarization"
    TRANSLATION = "translation"
    TEXT_GENERATION = "text-generation"

    @property
    def generative(self) -> bool:
        """Tasks whose models generate text (sequence-to-sequence or causal): no ONNX variant is offered."""
        return self in (EvalTask.SUMMARIZATION, EvalTask.TRANSLATION, EvalTask.TEXT_GENERATION)

    @classmethod
    def parse(cls, value: object) -> EvalTask:
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise BadRequest(f"Invalid task {str(value)[:100]!r}: use one of {_choices(cls)}.")


@dataclass(frozen=True)
class EvalColumns:
    """The column roles a task reads: `required` must all be mapped to dataset columns (by default a role reads the
    column of the same name), `optional` may be. `one_of`: at least one of these groups must be complete (text
    generation scores perplexity on `text`, exact match on `prompt` + `answer`, or both)."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()

    @property
    def roles(self) -> tuple[str, ...]:
        return self.required + self.optional


EVAL_COLUMNS: dict[EvalTask, EvalColumns] = {
    EvalTask.TEXT_CLASSIFICATION: EvalColumns(("text", "label"), ("text_pair",)),
    EvalTask.TOKEN_CLASSIFICATION: EvalColumns(("tokens", "tags")),
    EvalTask.QUESTION_ANSWERING: EvalColumns(("question", "context", "answers")),
    EvalTask.SENTENCE_SIMILARITY: EvalColumns(("sentence1", "sentence2", "score")),
    EvalTask.RETRIEVAL: EvalColumns(("query", "document")),
    EvalTask.SUMMARIZATION: EvalColumns(("text", "summary")),
    EvalTask.TRANSLATION: EvalColumns(("source", "target")),
    EvalTask.TEXT_GENERATION: EvalColumns((), ("text", "prompt", "answer"), one_of=(("text",), ("prompt", "answer"))),
}


class Variant(StrEnum):
    """A cheaper form of a candidate model, evaluated as its own row: `original` (as published), `int8` (PyTorch
    dynamic int8 quantisation of the linear layers), `onnx` (an ONNX Runtime export, fp32) and `onnx-int8` (that
    export with int8 weights)."""

    ORIGINAL = "original"
    INT8 = "int8"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"

    @classmethod
    def parse(cls, value: object) -> Variant:
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise BadRequest(f"Invalid variant {str(value)[:100]!r}: use one of {_choices(cls)}.")


# Governance (issue 10) -------------------------------------------------------------------------------------------

class Outcome(StrEnum):
    """What a policy rule does with what it found, mildest first: `max()` over findings' severities (`SEVERITY`)
    gives the outcome of a whole change."""

    ALLOW = "allow"  # recorded, nothing held
    APPROVAL = "approval"  # lands only through a pull request someone else approves
    QUARANTINE = "quarantine"  # lands, but the file is not served until released (file rules only)
    DENY = "deny"  # refused


SEVERITY = {Outcome.ALLOW: 0, Outcome.APPROVAL: 1, Outcome.QUARANTINE: 2, Outcome.DENY: 3}


class Stage(StrEnum):
    """A model's lifecycle stage. A new repo is a draft; promotions move it forward (each needs approval);
    deprecated and withdrawn end it (withdrawn: its files are no longer served)."""

    DRAFT = "draft"
    VALIDATED = "validated"
    APPROVED = "approved"
    PRODUCTION = "production"
    DEPRECATED = "deprecated"
    WITHDRAWN = "withdrawn"


# the tag only an approved promotion to production moves (refs/tags/production)
PRODUCTION_TAG = "production"


class RiskTier(StrEnum):
    """A use case's risk, as the EU AI Act sorts them."""

    MINIMAL = "minimal"
    LIMITED = "limited"
    HIGH = "high"
    UNACCEPTABLE = "unacceptable"


class UseCaseStatus(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    RETIRED = "retired"


class Scanner(StrEnum):
    """The file scanners (python -m inhouse.scanners runs them, isolated from the server)."""

    PICKLE = "pickle"  # code that loading would run: default-deny allowlist of globals
    PERSONAL_DATA = "personal_data"  # e-mails, phones, IBANs, cards, national ids in CSV / JSON Lines / parquet
    SECRETS = "secrets"  # keys and tokens in text files
