"""What a repo looks like at a revision: the view `model_info` / `dataset_info` and listings are built from."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.services import cards
from inhouse.services import downloads, repo_access, safetensors
from inhouse.services.context import Stores
from inhouse.services.evaluations.eval_results import eval_results_of
from inhouse.services.files import FileEntry, describe
from inhouse.services.governance import security as scan_security
from inhouse.services.governance.security import SecurityStatus
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import resolve
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.trees import find_entry, walk
from inhouse.vocabulary import RepoType

MAX_CONFIG_BYTES = 1 << 20  # a config.json or tokenizer_config.json larger than this is not summarised
# What `config` shows of a model's config.json, and of its tokenizer_config.json (as the Hub's model info does)
CONFIG_KEYS = ("architectures", "model_type", "auto_map", "quantization_config", "task_specific_params")
TOKENIZER_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token", "mask_token",
                  "chat_template", "use_default_system_prompt")


@dataclass(frozen=True)
class RepoView:
    repo: RepoRecord
    sha: str | None
    files: list[FileEntry] | None
    card_data: dict[str, Any] | None
    tags: list[str]
    pipeline_tag: str | None
    library_name: str | None
    used_storage: int | None = None
    eval_results: list[dict[str, Any]] | None = None  # `expand=evalResults` only
    config: dict[str, Any] | None = None  # a model's config.json summary (`read` only, not listings)
    safetensors: dict[str, Any] | None = None  # a model's parameter counts (`read` only, not listings)
    security: SecurityStatus | None = None  # what the scans said of the files (`read` with `security` only)


def view_from_record(repo: RepoRecord) -> RepoView:
    """The cheap view listings use: what the row already holds about the default branch."""
    return RepoView(repo, repo.head_sha, None, repo.card_data, repo.tags, repo.pipeline_tag, repo.library_name)


def view_at(stores: Stores, repo: RepoRecord, revision: str | None, *, with_files: bool) -> RepoView:
    with stores.db.read() as conn:
        res = resolve(conn, repo, revision)
        root = stores.objects.commit(conn, res.commit).tree
        files = None
        if with_files:
            items = [(p, e) for p, e in walk(stores.objects, conn, root) if not e.is_tree]
            files = describe(conn, items)
        if res.commit == repo.head_sha:
            card, tags, pipe, lib = repo.card_data, repo.tags, repo.pipeline_tag, repo.library_name
        else:
            card, tags, pipe, lib = None, [], None, None
            readme = find_entry(stores.objects, conn, root, "README.md")
            if readme is not None and not readme.is_tree:
                _, body = stores.objects.get(conn, readme.sha)
                if LfsPointer.parse(body) is None:
                    meta, _, _ = cards.split_front_matter(body.decode("utf-8", "replace"))
                    f = cards.card_facts(meta, repo.type)
                    card, tags, pipe, lib = f.card_data, f.tags, f.pipeline_tag, f.library_name
        config = _model_config(stores, conn, root) if repo.type is RepoType.MODEL else None
    used = sum(e.size for e in files) if files is not None else None
    return RepoView(repo, res.commit, files, card, tags, pipe, lib, used, config=config)


def _json_file(stores: Stores, conn: Connection, root: str, path: str) -> dict[str, Any] | None:
    """A small top-level JSON object file of the tree (not a large file), or None when absent or not one."""
    entry = find_entry(stores.objects, conn, root, path)
    if entry is None or entry.is_tree:
        return None
    _, body = stores.objects.get(conn, entry.sha)
    if len(body) > MAX_CONFIG_BYTES or LfsPointer.parse(body) is not None:
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _model_config(stores: Stores, conn: Connection, root: str) -> dict[str, Any] | None:
    """`config` of model info: what config.json says of the architecture (and tokenizer_config.json of the
    tokenizer's special tokens and chat template), as the Hub shows it; None without a readable config.json."""
    raw = _json_file(stores, conn, root, "config.json")
    if raw is None:
        return None
    config = {k: raw[k] for k in CONFIG_KEYS if k in raw}
    tokenizer = _json_file(stores, conn, root, "tokenizer_config.json")
    if tokenizer is not None:
        config["tokenizer_config"] = {k: tokenizer[k] for k in TOKENIZER_KEYS if k in tokenizer}
    return config


def read(stores: Stores, principal: Principal, name: RepoName, revision: str | None, *, with_files: bool,
         eval_results: bool = False, security: bool = False) -> RepoView:
    """`model_info` / `dataset_info`: the repo at a revision (the default branch when None), for a caller who may
    see it; audited as repo.info on a private or gated repo. `eval_results`: with the entries of its
    `.eval_results/*.yaml` at that revision, each marked verified or not (services/evaluations/eval_results.py)."""
    downloads.settle(stores)  # the counts this server holds in memory, before the repo's row is read
    repo = repo_access.load(stores, principal, name)
    repo_access.audit_read(stores, principal, repo, "repo.info", revision=revision)
    repo = replace(repo, recent_downloads=downloads.recent(stores, [repo.id]).get(repo.id, 0))
    view = view_at(stores, repo, revision, with_files=with_files)
    if repo.type is RepoType.MODEL and view.sha is not None:
        view = replace(view, safetensors=safetensors.parameters(stores, repo, view.sha))
    if eval_results and view.sha is not None:
        view = replace(view, eval_results=eval_results_of(stores, repo, view.sha))
    if security and view.files is not None:
        view = replace(view, security=scan_security.security_status(
            stores, repo, [(e.path, e.oid, e.lfs.oid if e.lfs else None) for e in view.files]))
    return view
