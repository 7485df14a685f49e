"""The evaluation split, loaded through the hub with `datasets.load_dataset` and mapped to a task's column roles.

`load_task_data(dataset_spec, task, token=..., max_examples=..., seed=...)` returns a TaskData whose columns are keyed
by role (text, label, tokens, ...). Failures the person who asked can fix are WorkerFailure("bad-input") naming what
the dataset has (its columns, splits or configurations); a dataset that is missing or unreadable is "not-found",
in the same words for both.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from inhouse.ml.failures import WorkerFailure
from inhouse.ml.tasks.base import TaskData
from inhouse.vocabulary import EVAL_COLUMNS, EvalTask


def column_mapping(task: str, columns: Mapping[str, str] | None, available: list[str]) -> dict[str, str]:
    """role -> dataset column for `task`: the request's mapping over the default (each role reads the column of its
    own name). Every required role must find its column, an optional one is used when present; a column named
    explicitly must exist. Raises bad-input naming the dataset's columns."""
    spec = EVAL_COLUMNS[EvalTask(task)]
    asked = dict(columns or {})
    unknown = sorted(set(asked) - set(spec.roles))
    if unknown:
        raise WorkerFailure("bad-input", f"{task} has no column role {', '.join(map(repr, unknown))}; its roles are "
                                         f"{', '.join(spec.roles)}.")
    listing = ", ".join(available)
    mapping: dict[str, str] = {}
    for role in spec.roles:
        column = asked.get(role, role)
        if column in available:
            mapping[role] = column
        elif role in asked or role in spec.required:
            how = f"column '{column}' (mapped to role '{role}')" if role in asked else f"column '{column}'"
            raise WorkerFailure("bad-input", f"The dataset has no {how}; its columns are: {listing}. Map the role to "
                                             f"one of them with columns={{\"{role}\": \"<column>\"}}.")
    if spec.one_of and not any(all(r in mapping for r in group) for group in spec.one_of):
        groups = " or ".join("+".join(g) for g in spec.one_of)
        raise WorkerFailure("bad-input", f"{task} needs the column(s) {groups}; the dataset's columns are: {listing}. "
                                         "Map the roles to columns with columns={...}.")
    return mapping


def sample_indices(total: int, max_examples: int | None, seed: int) -> list[int]:
    """All rows, or max_examples of them drawn without replacement with `seed` (the same rows for every candidate
    and every run with that seed), in dataset order."""
    if not max_examples or max_examples >= total:
        return list(range(total))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(total, size=max_examples, replace=False))


def class_names(feature: Any) -> list[str] | None:
    """The class names of a ClassLabel feature or of a sequence of them, else None."""
    names = getattr(feature, "names", None)
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    inner = getattr(feature, "feature", None)
    if inner is not None and inner is not feature:
        return class_names(inner)
    return None


def _load(repo: str, config: str | None, split: str, revision: str | None, token: str | None) -> Any:
    # datasets ships no type hints: imported as a module object
    datasets = importlib.import_module("datasets")
    # for a dataset at "main", datasets asks the Hub's dataset viewer (https://datasets-server.<endpoint host>) for a
    # Parquet export: inhouse has none, and the lookup of that name must not leave the machine
    datasets.config.USE_PARQUET_EXPORT = False
    not_found: type[Exception] = importlib.import_module("datasets.exceptions").DatasetNotFoundError
    where = f"{repo}" + (f" (configuration {config})" if config else "") + (f" at {revision}" if revision else "")
    try:
        return datasets.load_dataset(repo, config or None, split=split, revision=revision, token=token)
    except not_found:
        raise WorkerFailure("not-found", f"Dataset {where} was not found or you cannot read it: check the name and "
                                         "that the evaluation's owner can read it.") from None
    except FileNotFoundError as e:
        raise WorkerFailure("not-found", f"Dataset {where} was not found or you cannot read it ({e}).") from None
    except ValueError as e:
        text = str(e)
        if "split" in text.lower():
            raise WorkerFailure("bad-input", f"Dataset {where} has no split '{split}': {text[:500]}") from None
        if "config" in text.lower():
            raise WorkerFailure("bad-input", f"Dataset {where} has no such configuration: {text[:500]}") from None
        raise WorkerFailure("bad-input", f"Dataset {where} could not be read: {text[:500]}") from None


def load_task_data(dataset: Mapping[str, Any], task: str, *, token: str | None, max_examples: int | None,
                   seed: int) -> tuple[TaskData, dict[str, Any]]:
    """(TaskData, facts): the split of dataset spec {"repo", "revision", "config", "split", "columns"} mapped to the
    task's roles and capped to max_examples; facts = {"rows": the split's row count, "columns": role -> column}."""
    repo = str(dataset["repo"])
    split = str(dataset.get("split") or "train")
    ds = _load(repo, dataset.get("config"), split, dataset.get("revision"), token)
    available = list(ds.column_names)
    mapping = column_mapping(task, dataset.get("columns"), available)
    total = len(ds)
    if total == 0:
        raise WorkerFailure("bad-input", f"Split '{split}' of dataset {repo} has no rows.")
    indices = sample_indices(total, max_examples, seed)
    picked = ds.select_columns(sorted(set(mapping.values())))
    if len(indices) < total:
        picked = picked.select(indices)
    table = picked.to_dict()
    columns = {role: list(table[column]) for role, column in mapping.items()}
    for role, values in columns.items():
        missing = sum(1 for v in values if v is None)
        if missing:
            raise WorkerFailure("bad-input", f"Column '{mapping[role]}' (role '{role}') is empty in {missing} of "
                                             f"{len(values)} rows; fill it or filter those rows out.")
    label_names = {role: names for role, column in mapping.items()
                   if (names := class_names(ds.features.get(column))) is not None}
    return TaskData(columns=columns, label_names=label_names), {"rows": total, "columns": mapping}
