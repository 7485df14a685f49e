"""The Hub's eval-results format in inhouse: `.eval_results/*.yaml` files in model repos, signed by inhouse.

The format (huggingface_hub's `EvalResultEntry`): each file is a YAML list of entries
`{dataset: {id, task_id, revision?}, value, verifyToken?, date?, source?: {url, name?, user?, org?}, notes?}`.
inhouse reads them for `model_info(expand=["evalResults"])` (`eval_results_of`) and for a dataset's leaderboard
(`leaderboard`), and writes them for its own evaluations (`entries_for_candidate`, `write_eval_results`).

Conventions of the entries inhouse writes:
* `dataset.task_id` is `<task family>/<metric>`, e.g. `text-classification/macro_f1`,
  `retrieval/ndcg_at_10`, `text-generation/perplexity`: one entry per metric of the candidate.
* `value` is rounded to 4 significant digits (0.8734, 23.46, 12.35): more would be noise next to the bootstrap
  interval, which `notes` carries (`config: default; split: test; variant: original; 95% CI [0.8512, 0.8931]`).
* `source` is `{url: /api/evaluations/<id> (or the absolute URL the caller gives), name: "inhouse evaluation
  <id>"}`; `date` is the evaluation's time, ISO 8601 in UTC with a `Z`.
* Leaderboards rank higher values first, except metrics where lower is better (`LOWER_IS_BETTER`: perplexity,
  loss, word and character error rates), matched on the part of `task_id` after its last `/`.

verifyToken: `v1.<base64url payload>.<base64url HMAC-SHA256>`, at most MAX_TOKEN_CHARS characters. The key is
derived from the server's secret (services/signing.py, `secret.key` or INHOUSE_SECRET_KEY) with a purpose label
(`token_key`), so no signature made for another feature (LFS links, Xet tokens, audit checkpoints) verifies here,
and rotating the secret unverifies every result. The payload (JSON) binds: the model repo's numeric id (so a
renamed or moved repo keeps its verified results, while a token copied into another repo does not verify), the
model revision evaluated (it must be a commit of that repo), the dataset id and revision, the task id, the value in
its exact text form (`repr(float(value))`), the date, the source URL and the inhouse evaluation id. An entry is
`verified` only when its token's MAC checks (constant-time) and every bound field equals the entry's own and the
repo it sits in; a hand-written entry, an edited value, a token from another repo or feature: unverified.

Reading is bounded whatever a repo holds: at most MAX_FILES files of at most MAX_FILE_BYTES each and
MAX_TOTAL_BYTES together, at most MAX_ENTRIES_PER_FILE entries each, YAML without anchors or aliases (no
"billion laughs"), nested at most MAX_DEPTH levels, read by libyaml's safe loader with dates kept as text. A file
that breaks a rule, is not UTF-8, not a list of valid entries, or is stored as a large file (LFS/Xet) is reported
as `{"filename", "error"}`, as the Hub does (the client skips it with a warning). Text is returned as data in JSON,
never rendered.

Leaderboards read an index of entries (storage/db/eval_results.py), rows per model repo read from the head of its
default branch. A request first brings at most MAX_REINDEX repos whose head moved since they were read up to date
(typically the few changed since the last request; after a large import, successive requests catch up), then
answers from the index: entries naming the dataset in model repos the caller may see. Only the dataset's current
id matches (`dataset.id` as written at evaluation time; a renamed dataset's old entries keep naming the old id).
A gated model's results are shown like its card metadata: to everyone who may see the repo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import yaml
from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import can_see
from inhouse.config import Settings
from inhouse.errors import BadRequest
from inhouse.services import commits, repo_access
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH, resolve
from inhouse.services.signing import load_or_create_secret
from inhouse.storage.db import eval_results as index_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.trees import find_entry

EVAL_DIR = ".eval_results"
MAX_FILES = 64  # files read per revision (the first, by name)
MAX_FILE_BYTES = 128 * 1024
MAX_TOTAL_BYTES = 1024 * 1024  # of all files of a revision together
MAX_ENTRIES_PER_FILE = 1000
MAX_DEPTH = 8  # list > entry > dataset/source > value is 4
MAX_TOKEN_CHARS = 1024
MAX_NOTES_CHARS = 4000
MAX_URL_CHARS = 2048
MAX_NAME_CHARS = 200
MAX_REINDEX = 500  # stale model repos a leaderboard request reads again before answering
MAX_LEADERBOARD_ENTRIES = 10_000  # index rows one leaderboard reads
LOWER_IS_BETTER = frozenset({"perplexity", "loss", "wer", "cer"})
KEY_LABEL = b"inhouse/eval-results/verifyToken/v1"
TOKEN_VERSION = "v1"
_REGULAR_MODES = ("100644", "100755")
_B64 = re.compile(r"[A-Za-z0-9_-]+")
_DATASET_ID = re.compile(r"(?:[A-Za-z0-9_.\-]{1,96}/)?[A-Za-z0-9_.\-]{1,96}")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")
_SHA = re.compile(r"[0-9a-f]{40}")


# --- YAML, bounded --------------------------------------------------------------------------------------------------

class _Loader(yaml.CSafeLoader):
    """libyaml's safe loader, but dates stay the text they were written as (JSON has no date type)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


class _Dumper(yaml.SafeDumper):
    """Writes every value out in full: no anchors or aliases, which the reader refuses."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Invalid(Exception):
    """A file or entry that breaks the format or a bound; its message is shown as the file's `error`."""


def _check_nodes(root: yaml.Node) -> None:
    """Refuses anchors and aliases (a node reached twice) and nesting deeper than MAX_DEPTH, before anything is
    constructed: a few lines of aliases would otherwise expand into gigabytes."""
    seen: set[int] = set()
    queue: deque[tuple[yaml.Node, int]] = deque([(root, 1)])  # breadth first: a repeat is met near the top
    while queue:
        node, depth = queue.popleft()
        if id(node) in seen:
            raise _Invalid("YAML anchors and aliases are not allowed in eval results files: write each value out.")
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise _Invalid(f"The YAML is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                queue.append((k, depth + 1))
                queue.append((v, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            queue.extend((child, depth + 1) for child in node.value)


def _load_yaml(text: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise _Invalid(f"Invalid YAML{where}: {problem}.") from None
    finally:
        loader.dispose()


# --- entries --------------------------------------------------------------------------------------------------------

def _text(d: Mapping[Any, Any], key: str, limit: int, where: str, *, required: bool = False) -> str | None:
    v = d.get(key)
    if v is None:
        if required:
            raise _Invalid(f"{where}: '{key}' is required.")
        return None
    if not isinstance(v, str):
        raise _Invalid(f"{where}: '{key}' must be text, not {type(v).__name__}.")
    if required and not v.strip():
        raise _Invalid(f"{where}: '{key}' is empty.")
    if len(v) > limit:
        raise _Invalid(f"{where}: '{key}' is longer than {limit} characters.")
    return v


def _number(v: Any) -> float | None:
    """The value as a finite number, or None (text, booleans, NaN and infinities are not scores)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int beyond a double
        return None
    return f if math.isfinite(f) else None


def normalize_entry(raw: Any, where: str = "entry") -> dict[str, Any]:
    """The entry with the format's fields only, in the format's order; raises _Invalid naming what is wrong."""
    if not isinstance(raw, dict):
        raise _Invalid(f"{where} must be a mapping (dataset, value, ...), not {type(raw).__name__}.")
    ds = raw.get("dataset")
    if not isinstance(ds, dict):
        raise _Invalid(f"{where}: 'dataset' must be a mapping with 'id' and 'task_id'.")
    dataset_id = _text(ds, "id", 200, where, required=True)
    assert dataset_id is not None
    if not _DATASET_ID.fullmatch(dataset_id) or ".." in dataset_id or "--" in dataset_id:
        raise _Invalid(f"{where}: dataset id '{dataset_id[:100]}' is not a repo id (namespace/name).")
    dataset: dict[str, Any] = {"id": dataset_id,
                               "task_id": _text(ds, "task_id", MAX_NAME_CHARS, where, required=True)}
    revision = _text(ds, "revision", 255, where)
    if revision is not None:
        dataset["revision"] = revision
    value = raw.get("value")
    if _number(value) is None:
        raise _Invalid(f"{where}: 'value' must be a finite number.")
    data: dict[str, Any] = {"dataset": dataset, "value": value}
    for key, limit in (("verifyToken", MAX_TOKEN_CHARS), ("date", 64)):
        v = _text(raw, key, limit, where)
        if v is not None:
            data[key] = v
    src = raw.get("source")
    if src is not None:
        if not isinstance(src, dict):
            raise _Invalid(f"{where}: 'source' must be a mapping with 'url'.")
        source: dict[str, Any] = {"url": _text(src, "url", MAX_URL_CHARS, f"{where} source", required=True)}
        for key in ("name", "user", "org"):
            v = _text(src, key, MAX_NAME_CHARS, f"{where} source")
            if v is not None:
                source[key] = v
        data["source"] = source
    notes = _text(raw, "notes", MAX_NOTES_CHARS, where)
    if notes is not None:
        data["notes"] = notes
    return data


def parse_file(body: bytes) -> list[dict[str, Any]]:
    """The entries of one `.eval_results/*.yaml` file; raises _Invalid (its message says what to fix)."""
    if len(body) > MAX_FILE_BYTES:
        raise _Invalid(f"The file is {len(body)} bytes; eval results files are at most {MAX_FILE_BYTES} bytes.")
    if LfsPointer.parse(body) is not None:
        raise _Invalid("The file is stored as a large file (LFS/Xet): commit eval results as a small YAML text "
                       "file.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid("The file is not UTF-8 text.") from None
    doc = _load_yaml(text)
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise _Invalid(f"The file must be a YAML list of entries, not {type(doc).__name__}.")
    if len(doc) > MAX_ENTRIES_PER_FILE:
        raise _Invalid(f"The file holds {len(doc)} entries; at most {MAX_ENTRIES_PER_FILE} are read.")
    return [normalize_entry(raw, f"entry {i + 1}") for i, raw in enumerate(doc)]


@dataclass(frozen=True)
class EvalFile:
    """One file of `.eval_results/` at a revision: its entries, or why it was not read."""

    path: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def read_files(stores: Stores, conn: Connection, commit: str) -> list[EvalFile]:
    """The `.eval_results/*.yaml` (and `.yml`) files of `commit`, by name, read within the bounds above."""
    root = stores.objects.commit(conn, commit).tree
    folder = find_entry(stores.objects, conn, root, EVAL_DIR)
    if folder is None or not folder.is_tree:
        return []
    names = sorted((e for e in stores.objects.tree(conn, folder.sha)
                    if e.mode in _REGULAR_MODES and e.name.endswith((".yaml", ".yml"))), key=lambda e: e.name)
    out: list[EvalFile] = []
    total = 0
    for e in names[:MAX_FILES]:
        path = f"{EVAL_DIR}/{e.name}"
        size = stores.objects.size(conn, e.sha)
        if size > MAX_FILE_BYTES:
            out.append(EvalFile(path, error=f"The file is {size} bytes; eval results files are at most "
                                            f"{MAX_FILE_BYTES} bytes."))
            continue
        if total + size > MAX_TOTAL_BYTES:
            out.append(EvalFile(path, error=f"Not read: the eval results files of a revision are read up to "
                                            f"{MAX_TOTAL_BYTES} bytes together."))
            continue
        total += size
        try:
            out.append(EvalFile(path, parse_file(stores.objects.get(conn, e.sha)[1])))
        except _Invalid as err:
            out.append(EvalFile(path, error=str(err)))
    if len(names) > MAX_FILES:
        out.append(EvalFile(f"{EVAL_DIR}/", error=f"Only the first {MAX_FILES} of {len(names)} eval results files "
                                                  "(by name) are read."))
    return out


# --- verifyToken ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenKey:
    """The key verifyTokens are signed with (derived from the server's secret for this purpose only)."""

    secret: bytes = field(repr=False)

    def mac(self, signed: bytes) -> bytes:
        return hmac.new(self.secret, signed, hashlib.sha256).digest()


def token_key(settings: Settings) -> TokenKey:
    """The eval-results key of the server `settings` describe: HMAC(server secret, purpose label)."""
    secret = load_or_create_secret(settings.data_dir, settings.secret_key)
    return TokenKey(hmac.new(secret, KEY_LABEL, hashlib.sha256).digest())


@dataclass(frozen=True)
class Claims:
    """What a verifyToken vouches for."""

    model_repo: int  # repos.id: stable across renames and moves
    model_revision: str
    dataset_id: str
    dataset_revision: str
    task_id: str
    value: str  # value_text(value)
    date: str
    source_url: str
    evaluation_id: int

    def to_json(self) -> dict[str, Any]:
        return {"m": self.model_repo, "mr": self.model_revision, "d": self.dataset_id, "dr": self.dataset_revision,
                "t": self.task_id, "v": self.value, "dt": self.date, "s": self.source_url, "e": self.evaluation_id}


def value_text(value: Any) -> str | None:
    """The exact text form a token binds a value by: `repr(float(value))` ('0.8734'); None for a non-number."""
    f = _number(value)
    return None if f is None else repr(f)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if not _B64.fullmatch(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def sign_token(key: TokenKey, claims: Claims) -> str:
    payload = _b64(json.dumps(claims.to_json(), separators=(",", ":"), sort_keys=True).encode())
    signed = f"{TOKEN_VERSION}.{payload}"
    return f"{signed}.{_b64(key.mac(signed.encode()))}"


def read_token(key: TokenKey, token: Any) -> Claims | None:
    """The claims of a token this key signed; None for anything else (the payload is parsed only once its MAC
    checked)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        return None
    mac = _unb64(parts[2])
    if mac is None or not hmac.compare_digest(mac, key.mac(f"{parts[0]}.{parts[1]}".encode())):
        return None
    raw = _unb64(parts[1])
    try:
        d = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(d, dict):
        return None
    ints, texts = ("m", "e"), ("mr", "d", "dr", "t", "v", "dt", "s")
    if not all(isinstance(d.get(k), int) and not isinstance(d.get(k), bool) for k in ints) or \
            not all(isinstance(d.get(k), str) for k in texts):
        return None
    return Claims(model_repo=d["m"], model_revision=d["mr"], dataset_id=d["d"], dataset_revision=d["dr"],
                  task_id=d["t"], value=d["v"], date=d["dt"], source_url=d["s"], evaluation_id=d["e"])


def verify_entry(key: TokenKey, data: Mapping[str, Any], *, repo_pk: int, has_commit: Callable[[str], bool]) -> bool:
    """Is `data` (a normalized entry) vouched for by its own verifyToken, in the repo whose pk is `repo_pk`?
    `has_commit(sha)`: whether that repo holds the commit (the model revision the token names)."""
    claims = read_token(key, data.get("verifyToken"))
    if claims is None:
        return False
    ds = data.get("dataset") or {}
    source = data.get("source") or {}
    return (claims.model_repo == repo_pk and claims.dataset_id == ds.get("id")
            and claims.dataset_revision == ds.get("revision") and claims.task_id == ds.get("task_id")
            and claims.value == value_text(data.get("value")) and claims.date == data.get("date")
            and claims.source_url == source.get("url") and source.get("name") == _source_name(claims.evaluation_id)
            and _SHA.fullmatch(claims.model_revision) is not None and has_commit(claims.model_revision))


def _source_name(evaluation_id: int) -> str:
    return f"inhouse evaluation {evaluation_id}"


# --- writing --------------------------------------------------------------------------------------------------------

def round_value(v: float) -> float:
    """4 significant digits: 0.87345 -> 0.8735, 23.4567 -> 23.46."""
    return float(f"{v:.4g}")


def iso_date(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def entries_for_candidate(stores: Stores, *, evaluation_id: int, task: str, dataset_id: str, dataset_revision: str,
                          config: str | None, split: str, model_repo_pk: int, model_revision: str, variant: str,
                          metrics: Mapping[str, Mapping[str, Any]], evaluated_at: float,
                          source_url: str | None = None) -> list[dict[str, Any]]:
    """The signed entries of one evaluated model: one per metric (`metrics`: name -> {"value", "low", "high"}, as
    the worker's rows give them), task_id `<task>/<metric>`, sorted by metric. A metric without a finite value is
    left out. `model_repo_pk` is the model repo's numeric id (RepoRecord.id), `model_revision` the commit
    evaluated; `source_url` defaults to the evaluation's API path."""
    key = token_key(stores.settings)
    url = source_url or f"/api/evaluations/{evaluation_id}"
    date = iso_date(evaluated_at)
    out: list[dict[str, Any]] = []
    for metric in sorted(metrics):
        m = metrics[metric]
        raw = _number(m.get("value"))
        if raw is None:
            continue
        value = round_value(raw)
        task_id = f"{task}/{metric}"
        low, high = _number(m.get("low")), _number(m.get("high"))
        ci = f"; 95% CI [{round_value(low)}, {round_value(high)}]" if low is not None and high is not None else ""
        claims = Claims(model_repo=model_repo_pk, model_revision=model_revision, dataset_id=dataset_id,
                        dataset_revision=dataset_revision, task_id=task_id, value=repr(value), date=date,
                        source_url=url, evaluation_id=evaluation_id)
        out.append({
            "dataset": {"id": dataset_id, "task_id": task_id, "revision": dataset_revision},
            "value": value,
            "verifyToken": sign_token(key, claims),
            "date": date,
            "source": {"url": url, "name": _source_name(evaluation_id)},
            "notes": f"config: {config or 'default'}; split: {split}; variant: {variant}{ci}",
        })
    return out


def dump_entries(entries: Sequence[Mapping[str, Any]]) -> bytes:
    """The YAML text of a `.eval_results` file holding `entries` (validated: what inhouse writes, it reads)."""
    normalized = []
    for i, e in enumerate(entries):
        try:
            normalized.append(normalize_entry(dict(e), f"entry {i + 1}"))
        except _Invalid as err:
            raise BadRequest(f"Cannot write this eval result: {err}") from None
    body = yaml.dump(normalized, Dumper=_Dumper, sort_keys=False, allow_unicode=True).encode("utf-8")
    if len(body) > MAX_FILE_BYTES:
        raise BadRequest(f"These eval results take {len(body)} bytes; a file holds at most {MAX_FILE_BYTES}: "
                         "write them in several files.")
    return body


def write_eval_results(stores: Stores, principal: Principal, model: RepoName, file_slug: str,
                       entries: Sequence[Mapping[str, Any]]) -> str:
    """Commits `.eval_results/<file_slug>.yaml` holding `entries` to the model's default branch as `principal`,
    through the commit service (its permission check and audit entry apply: a caller who may not write gets its
    usual error). Returns the commit's sha."""
    if not _SLUG.fullmatch(file_slug):
        raise BadRequest(f"Invalid eval results file name '{file_slug[:100]}': use letters, digits, '.', '_' and "
                         "'-' (at most 96), starting with a letter or digit.")
    body = dump_entries(entries)
    target = commits.begin(stores, principal, model, revision=DEFAULT_BRANCH)
    n = len(entries)
    result = commits.commit(stores, principal, target.repo, revision=DEFAULT_BRANCH,
                            ops=[commits.AddFile(f"{EVAL_DIR}/{file_slug}.yaml", body)],
                            summary=f"Eval results: {file_slug}",
                            description=f"{n} result{'s' if n != 1 else ''} written by inhouse.")
    return result.oid


# --- reading --------------------------------------------------------------------------------------------------------

def _commit_checker(conn: Connection, repo_pk: int) -> Callable[[str], bool]:
    memo: dict[str, bool] = {}

    def has(sha: str) -> bool:
        if sha not in memo:
            memo[sha] = repo_store.repo_has_commit(conn, repo_pk, sha)
        return memo[sha]
    return has


def eval_results_of(stores: Stores, repo: RepoRecord, revision: str | None) -> list[dict[str, Any]]:
    """The `evalResults` of `model_info` for a caller already allowed to read `repo`: every entry of the
    revision's `.eval_results/*.yaml` as {"filename", "data", "verified"}, and {"filename", "error"} for a file
    that could not be read."""
    key = token_key(stores.settings)
    items: list[dict[str, Any]] = []
    with stores.db.read() as conn:
        files = read_files(stores, conn, resolve(conn, repo, revision).commit)
        has_commit = _commit_checker(conn, repo.id)
        for f in files:
            if f.error is not None:
                items.append({"filename": f.path, "error": f.error})
            for data in f.entries:
                items.append({"filename": f.path, "data": data,
                              "verified": verify_entry(key, data, repo_pk=repo.id, has_commit=has_commit)})
    return items


# --- leaderboards ---------------------------------------------------------------------------------------------------

def refresh_index(stores: Stores, *, limit: int = MAX_REINDEX) -> int:
    """Reads again at most `limit` model repos whose default branch moved since the index last read them; returns
    how many."""
    with stores.db.read() as conn:
        stale = index_store.stale_repos(conn, limit=limit)
    if not stale:
        return 0
    updates: list[tuple[int, str | None, list[tuple[str, str, str, float, dict[str, Any]]]]] = []
    with stores.db.read() as conn:
        for pk, head in stale:
            rows: list[tuple[str, str, str, float, dict[str, Any]]] = []
            for f in read_files(stores, conn, head) if head else []:
                for d in f.entries:
                    rows.append((f.path, d["dataset"]["id"], d["dataset"]["task_id"], float(d["value"]), d))
            updates.append((pk, head, rows))
    now = time.time()
    with stores.db.write() as conn:
        for pk, head, rows in updates:  # by pk, as the stale repos came: row locks are taken in one order
            index_store.replace_entries(conn, pk, head, rows, now)
    return len(updates)


def lower_is_better(task_id: str) -> bool:
    return task_id.rsplit("/", 1)[-1].strip().lower() in LOWER_IS_BETTER


def _declares_base_model(repo: RepoRecord) -> bool:
    base = (repo.card_data or {}).get("base_model")
    return bool(base)


def _is_external(url: str, settings: Settings) -> bool:
    if url.startswith("/") and not url.startswith("//"):
        return False
    return not (settings.public_url and url.startswith(settings.public_url.rstrip("/") + "/"))


@dataclass(frozen=True)
class _Row:
    repo: RepoRecord
    filename: str
    data: dict[str, Any]
    value: float
    verified: bool


def leaderboard(stores: Stores, principal: Principal, dataset: RepoName, *, base_model_only: bool = True,
                task_id: str | None = None) -> list[dict[str, Any]]:
    """`GET /api/datasets/{ns}/{name}/leaderboard`: for each task id, the model repos the caller may see whose
    default branch's eval results name this dataset, ranked best first (rank from 1; equal values share a rank).
    One row per model and task id: its verified entry with the best value if it has one, else its best entry.
    `base_model_only` (the default, as on the Hub): leave out models whose card declares a `base_model`.
    A dataset the caller may not see is RepoNotFound, as a missing one; its read is audited on a private or gated
    dataset (repo.leaderboard)."""
    ds = repo_access.load(stores, principal, dataset)
    repo_access.audit_read(stores, principal, ds, "repo.leaderboard")
    refresh_index(stores)
    key = token_key(stores.settings)
    with stores.db.read() as conn:
        found = index_store.entries_for_dataset(
            conn, ds.repo_id, visible_to=principal.user_id, is_admin=principal.is_admin,
            org_ids=list(principal.org_roles), group_ids=list(principal.group_roles), limit=MAX_LEADERBOARD_ENTRIES)
        best: dict[tuple[int, str], _Row] = {}
        checkers: dict[int, Callable[[str], bool]] = {}
        for e in found:
            if not can_see(principal, e.repo) or (base_model_only and _declares_base_model(e.repo)):
                continue
            tid = e.data["dataset"]["task_id"]
            if task_id is not None and tid != task_id:
                continue
            has_commit = checkers.setdefault(e.repo.id, _commit_checker(conn, e.repo.id))
            row = _Row(e.repo, e.filename, e.data, float(e.data["value"]),
                       verify_entry(key, e.data, repo_pk=e.repo.id, has_commit=has_commit))
            k = (e.repo.id, tid)
            if k not in best or _better(row, best[k], lower_is_better(tid)):
                best[k] = row
        owners = index_store.owners(conn, sorted({r.repo.namespace for r in best.values()}))
    by_task: dict[str, list[_Row]] = {}
    for (_, tid), row in best.items():
        by_task.setdefault(tid, []).append(row)
    out: list[dict[str, Any]] = []
    for tid in sorted(by_task):
        lower = lower_is_better(tid)
        rows = sorted(by_task[tid], key=lambda r: (r.value if lower else -r.value, not r.verified, r.repo.repo_id))
        rank = 0
        for i, row in enumerate(rows):
            if i == 0 or row.value != rows[i - 1].value:
                rank = i + 1
            out.append(_leaderboard_json(row, rank, tid, owners, stores.settings))
    return out


def _better(a: _Row, b: _Row, lower: bool) -> bool:
    if a.verified != b.verified:
        return a.verified
    return a.value < b.value if lower else a.value > b.value


def _leaderboard_json(row: _Row, rank: int, task_id: str, owners: Mapping[str, tuple[str, str]],
                      settings: Settings) -> dict[str, Any]:
    kind, fullname = owners.get(row.repo.namespace, ("user", ""))
    d: dict[str, Any] = {
        "rank": rank, "modelId": row.repo.repo_id, "value": row.data["value"], "filename": row.filename,
        "verified": row.verified, "taskId": task_id,
        "author": {"type": "org" if kind == "org" else "user", "name": row.repo.namespace, "fullname": fullname},
        "pullRequest": None, "notes": row.data.get("notes"),
    }
    dataset_revision = row.data["dataset"].get("revision")
    if dataset_revision is not None:
        d["datasetRevision"] = dataset_revision
    src = row.data.get("source")
    if src is not None:
        d["source"] = {"url": src["url"], "name": src.get("name"), "isExternal": _is_external(src["url"], settings)}
    return d

