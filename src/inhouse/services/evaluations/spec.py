"""What an evaluation measures, as a request states it: a task, a dataset repo at a revision (config, split, column
mapping), candidate model repos at revisions, the variants to try, and the knobs of the answer (tolerance, price per
hardware hour, examples, bootstrap resamples).

`parse_request` turns the JSON body of `POST /api/evaluations` (the CLI sends the same body) into an
`EvaluationSpec`, checking every field and every limit before anything is stored or run; `to_json`/`from_json` are the
job row's form of it (revisions resolved to commits by then). Limits are settings (`Settings.eval_*`): a caller
never decides how many candidates, examples or resamples the workers spend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from inhouse.errors import BadRequest
from inhouse.names import check_label, check_revision, split_repo_id
from inhouse.vocabulary import EVAL_COLUMNS, EvalTask, Variant

MAX_COLUMN_NAME = 200
MAX_CONFIG_NAME = 200
MAX_SPLIT_NAME = 200
MAX_PRICE_PER_HOUR = 1_000_000.0
MAX_TOLERANCE = 1_000_000.0
DEFAULT_TOLERANCE = 0.01  # in the primary metric's units (0..1 metrics: one point)
DEFAULT_RESAMPLES = 1000
MAX_NEW_TOKENS = 512  # the most tokens a generative candidate may generate per example
MAX_NOTE = 500


@dataclass(frozen=True)
class Limits:
    """What one evaluation may spend; `Settings.eval_limits()` builds it from INHOUSE_EVAL_* settings."""

    max_candidates: int = 20
    max_examples: int = 20_000
    max_resamples: int = 5_000
    default_price_per_hour: float = 1.0


@dataclass(frozen=True)
class RepoAt:
    """A repo (`ns/name`) at a revision: a branch, tag or commit as asked, a commit once resolved."""

    repo: str
    revision: str = "main"

    def to_json(self) -> dict[str, str]:
        return {"repo": self.repo, "revision": self.revision}


@dataclass(frozen=True)
class DatasetRef:
    repo: str
    revision: str
    split: str
    config: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # role -> dataset column, every role of the task

    def to_json(self) -> dict[str, Any]:
        return {"repo": self.repo, "revision": self.revision, "config": self.config, "split": self.split,
                "columns": dict(self.columns)}


@dataclass(frozen=True)
class EvaluationSpec:
    task: EvalTask
    dataset: DatasetRef
    candidates: tuple[RepoAt, ...]
    variants: tuple[Variant, ...] = ()
    max_examples: int = 2000
    tolerance: float = DEFAULT_TOLERANCE
    price_per_hour: float = 1.0
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    write_results: bool = True
    note: str = ""
    max_new_tokens: int | None = None  # generative tasks: tokens generated per example (None: the worker's default)

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task.value, "dataset": self.dataset.to_json(),
                "candidates": [c.to_json() for c in self.candidates],
                "variants": [v.value for v in self.variants], "maxExamples": self.max_examples,
                "tolerance": self.tolerance, "pricePerHour": self.price_per_hour, "resamples": self.resamples,
                "seed": self.seed, "writeResults": self.write_results, "note": self.note,
                "maxNewTokens": self.max_new_tokens}


def from_json(data: dict[str, Any]) -> EvaluationSpec:
    """The spec a job row holds (written by `to_json`, so trusted to be well formed)."""
    ds = data["dataset"]
    return EvaluationSpec(
        task=EvalTask(data["task"]),
        dataset=DatasetRef(ds["repo"], ds["revision"], ds["split"], ds.get("config"), dict(ds.get("columns") or {})),
        candidates=tuple(RepoAt(c["repo"], c["revision"]) for c in data["candidates"]),
        variants=tuple(Variant(v) for v in data.get("variants", [])), max_examples=int(data["maxExamples"]),
        tolerance=float(data["tolerance"]), price_per_hour=float(data["pricePerHour"]),
        resamples=int(data["resamples"]), seed=int(data["seed"]), write_results=bool(data["writeResults"]),
        note=str(data.get("note", "")), max_new_tokens=data.get("maxNewTokens"),
    )


def _repo_at(value: object, what: str) -> RepoAt:
    """`"ns/name"`, `"ns/name@rev"` or `{"repo": "ns/name", "revision": "rev"}`."""
    repo: object
    revision: object
    if isinstance(value, str):
        repo, _, rev = value.partition("@")
        revision = rev or "main"
    elif isinstance(value, dict):
        repo, revision = value.get("repo"), value.get("revision") or "main"
        unknown = set(value) - {"repo", "revision"}
        if unknown:
            raise BadRequest(f"Unknown field(s) {sorted(unknown)[:5]} in {what}: give 'repo' and 'revision'.")
    else:
        raise BadRequest(f"{what} must be a repo id ('acme/bert', 'acme/bert@v1') or {{\"repo\", \"revision\"}}.")
    if not isinstance(repo, str) or not isinstance(revision, str):
        raise BadRequest(f"{what}: 'repo' and 'revision' must be strings.")
    ns, name = split_repo_id(repo)
    return RepoAt(f"{ns}/{name}", check_revision(revision))


def _name(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or any(ord(c) < 32 for c in value):
        raise BadRequest(f"{what} must be a non-empty name of at most {limit} printable characters.")
    return value


def _number(value: object, what: str, *, low: float, high: float, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not (
            low <= value <= high) or (integer and value != int(value)):
        kind = "an integer" if integer else "a number"
        raise BadRequest(f"'{what}' must be {kind} from {low:g} to {high:g}.")
    return float(value)


def _columns(task: EvalTask, value: object) -> dict[str, str]:
    roles = EVAL_COLUMNS[task]
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BadRequest("'dataset.columns' maps a role of the task to a dataset column, e.g. "
                         '{"text": "body", "label": "queue"}.')
    unknown = [r for r in value if r not in roles.roles]
    if unknown:
        raise BadRequest(f"Unknown column role(s) {sorted(map(str, unknown))[:5]} for {task.value}: its roles are "
                         f"{', '.join(roles.roles)}.")
    mapped = {role: _name(col, f"The column for '{role}'", MAX_COLUMN_NAME) for role, col in value.items()}
    columns = {role: mapped.get(role, role) for role in roles.required}
    columns.update({role: mapped[role] for role in roles.optional if role in mapped})
    if roles.one_of:
        if not any(all(r in mapped for r in group) for group in roles.one_of):
            # nothing said: the defaults of every group are read, and the worker uses the groups the data has
            columns.update({r: r for group in roles.one_of for r in group if r not in mapped})
    return columns


_FIELDS = {"task", "dataset", "candidates", "variants", "maxExamples", "tolerance", "pricePerHour", "resamples",
           "seed", "writeResults", "note", "maxNewTokens"}
_DATASET_FIELDS = {"repo", "revision", "config", "split", "columns"}


def parse_request(body: dict[str, Any], limits: Limits) -> EvaluationSpec:
    """The evaluation a request body asks for; BadRequest naming the field at fault otherwise."""
    unknown = set(body) - _FIELDS
    if unknown:
        raise BadRequest(f"Unknown field(s) {sorted(unknown)[:5]}; an evaluation takes {', '.join(sorted(_FIELDS))}.")
    task = EvalTask.parse(body.get("task"))
    ds = body.get("dataset")
    if not isinstance(ds, dict) or "repo" not in ds:
        raise BadRequest("'dataset' is required: {\"repo\": \"acme/tickets\", \"split\": \"test\", \"revision\"?, "
                         "\"config\"?, \"columns\"?}.")
    extra = set(ds) - _DATASET_FIELDS
    if extra:
        raise BadRequest(f"Unknown field(s) {sorted(extra)[:5]} in 'dataset': give {', '.join(sorted(_DATASET_FIELDS))}.")
    where = _repo_at({"repo": ds.get("repo"), "revision": ds.get("revision")}, "'dataset'")
    config = ds.get("config")
    dataset = DatasetRef(
        where.repo, where.revision, _name(ds.get("split", "test"), "'dataset.split'", MAX_SPLIT_NAME),
        None if config is None else _name(config, "'dataset.config'", MAX_CONFIG_NAME), _columns(task, ds.get("columns")))
    cands = body.get("candidates")
    if not isinstance(cands, list) or not cands:
        raise BadRequest("'candidates' must be a non-empty list of model repos, e.g. [\"acme/bert-small\", "
                         "\"acme/bert-large@v2\"].")
    if len(cands) > limits.max_candidates:
        raise BadRequest(f"At most {limits.max_candidates} candidates per evaluation (INHOUSE_EVAL_MAX_CANDIDATES); "
                         "split the list over several evaluations of the same dataset revision: the leaderboard "
                         "gathers them.")
    candidates = tuple(_repo_at(c, f"candidates[{i}]") for i, c in enumerate(cands))
    if len(set(candidates)) != len(candidates):
        raise BadRequest("A candidate is listed twice; list each model repo and revision once.")
    raw_variants = body.get("variants") or []
    if not isinstance(raw_variants, list) or len(raw_variants) > len(Variant):
        raise BadRequest("'variants' must be a list drawn from int8, onnx, onnx-int8.")
    variants = tuple(dict.fromkeys(Variant.parse(v) for v in raw_variants if v != Variant.ORIGINAL.value))
    if task.generative and any(v in (Variant.ONNX, Variant.ONNX_INT8) for v in variants):
        raise BadRequest(f"ONNX variants are offered for encoder tasks only; for {task.value} ask for int8.")
    max_examples = int(_number(body.get("maxExamples", min(2000, limits.max_examples)), "maxExamples", low=1,
                               high=limits.max_examples, integer=True))
    tolerance = _number(body.get("tolerance", DEFAULT_TOLERANCE), "tolerance", low=0, high=MAX_TOLERANCE)
    price = _number(body.get("pricePerHour", limits.default_price_per_hour), "pricePerHour", low=0,
                    high=MAX_PRICE_PER_HOUR)
    resamples = int(_number(body.get("resamples", min(DEFAULT_RESAMPLES, limits.max_resamples)), "resamples",
                            low=0, high=limits.max_resamples, integer=True))
    seed = int(_number(body.get("seed", 0), "seed", low=0, high=2**31 - 1, integer=True))
    write = body.get("writeResults", True)
    if not isinstance(write, bool):
        raise BadRequest("'writeResults' must be true or false.")
    note = body.get("note", "")
    if not isinstance(note, str):
        raise BadRequest("'note' must be a string.")
    if note:
        check_label(note, "note", max_len=MAX_NOTE)
    max_new_tokens = None
    if body.get("maxNewTokens") is not None:
        if not task.generative:
            raise BadRequest(f"'maxNewTokens' is for generative tasks; {task.value} generates no text.")
        max_new_tokens = int(_number(body["maxNewTokens"], "maxNewTokens", low=1, high=MAX_NEW_TOKENS, integer=True))
    return EvaluationSpec(task, dataset, candidates, variants, max_examples, tolerance, price, resamples, seed,
                          write, note, max_new_tokens)
