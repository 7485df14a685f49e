"""A candidate model, fetched through the hub and loaded with the transformers class its task needs.

`load_model(repo, revision, family, token=...)` asks the hub for the repo at the revision (not-found in the same words
for a missing repo and one the caller cannot read), reads its config and lets the family refuse an architecture that
does not fit the task ("wrong-task", naming the architecture and what the task needs) before any weights are
downloaded, then downloads one snapshot (config, tokenizer files and one format of weights: safetensors when the repo
has them, else PyTorch .bin) and builds the model and tokenizer from that folder with `from_pretrained`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from inhouse.ml.engine import parameter_count
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.tasks.base import LoadedModel, TaskFamily

SIDE_FILES = (".json", ".txt", ".model", ".spm", ".tiktoken", ".jinja")  # config, tokenizer, vocab, generation config


def weight_files(names: list[str]) -> list[str]:
    """The weight files of one format at the repo's top level: every *.safetensors (with its index), else every
    pytorch_model*.bin (with its index)."""
    top = [n for n in names if "/" not in n]
    safetensors = [n for n in top if n.endswith(".safetensors") or n.endswith(".safetensors.index.json")]
    if any(n.endswith(".safetensors") for n in safetensors):
        return sorted(safetensors)
    return sorted(n for n in top if n.startswith("pytorch_model") and (n.endswith(".bin") or n.endswith(".bin.index.json")))


def snapshot_files(names: list[str]) -> list[str]:
    """What an evaluation downloads: the top-level side files (config, tokenizer) and one format of weights."""
    return sorted({n for n in names if "/" not in n and n.endswith(SIDE_FILES)} | set(weight_files(names)))


def _not_found(repo: str, revision: str | None) -> WorkerFailure:
    at = f" at revision {revision}" if revision else ""
    return WorkerFailure("not-found", f"Model {repo}{at} was not found or you cannot read it: check the name, the "
                                      "revision and that the evaluation's owner can read it.")


def fetch_snapshot(repo: str, revision: str | None, *, token: str | None,
                   weights: bool = True) -> tuple[Path, str, list[str]]:
    """(local snapshot folder, commit sha, the repo's file names) of a model repo at `revision`: its side files and,
    when `weights`, one format of weights."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi(token=token if token else False)
    try:
        info = api.model_info(repo, revision=revision, files_metadata=False)
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError):
        raise _not_found(repo, revision) from None
    sha = str(info.sha or revision or "")
    names = [s.rfilename for s in info.siblings or []]
    if "config.json" not in names:
        raise WorkerFailure("bad-input", f"Model {repo} has no config.json at {sha[:12]}, so transformers cannot load "
                                         "it; push the model with save_pretrained or push_to_hub.")
    if not weight_files(names):
        raise WorkerFailure("bad-input", f"Model {repo} has no PyTorch weights (model.safetensors or "
                                         "pytorch_model.bin) at its top level.")
    wanted = snapshot_files(names) if weights else [n for n in snapshot_files(names) if n not in weight_files(names)]
    folder = snapshot_download(repo, revision=sha, allow_patterns=wanted, token=token if token else False)
    return Path(folder), sha, names


def read_config(model_dir: Path) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(model_dir))
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as e:
        raise WorkerFailure("wrong-task", f"transformers cannot read this model's config.json ({e}); an evaluation "
                                          "needs a model of an architecture transformers knows.") from None


def load_model(repo: str, revision: str | None, family: TaskFamily, *, token: str | None) -> LoadedModel:
    """The candidate loaded for `family`: see the module's docstring."""
    folder, sha, names = fetch_snapshot(repo, revision, token=token, weights=False)
    config = read_config(folder)
    try:
        family.check_fit(config)
    except WorkerFailure as f:
        raise WorkerFailure(f.code, f"Model {repo}: {f.message}") from None
    folder, sha, names = fetch_snapshot(repo, sha, token=token)
    model, tokenizer = family.load(folder)
    size = sum(os.path.getsize(folder / n) for n in weight_files(names) if n.endswith((".safetensors", ".bin")))
    return LoadedModel(repo=repo, revision=sha, model_dir=folder, config=config, model=model, tokenizer=tokenizer,
                       parameters=parameter_count(model), size_bytes=size)
