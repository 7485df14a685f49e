"""The "evaluation.candidate" worker kind: one candidate model (and its variants) on one dataset split.

`run_candidate(payload, emit)` loads the split through the hub (inhouse.ml.data), the model at its revision
(inhouse.ml.models; a model unfit for the task is "wrong-task"), then for "original" and each requested variant:
builds it, predicts every example, scores the predictions with bootstrap intervals and measures its cost (peak
memory over build and inference, latency p50/p95 at batch size 1, throughput at the best batch size, cost per
million requests), all on this machine, which the result names. A variant that fails fails only its own row.

Result: {"task", "machine": {...}, "examples": n, "dataset": {"repo", "revision", "config", "split", "rows",
"columns"}, "model": {"repo", "revision", "parameters", "size_bytes"}, "rows": [{"variant", "status" ("ok" | "failed"
| "skipped"), "error", "metrics": {name: {"value", "low", "high"}}, "primary_metric", "higher_is_better", "cost":
{parameters, size_bytes, peak_memory_bytes, latency_p50_ms, latency_p95_ms, throughput_per_s, best_batch_size,
cost_per_million_usd, price_per_hour, threads} | null}]}.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from inhouse.ml.data import load_task_data
from inhouse.ml.engine import Cost, PeakMemory, machine, measure_cost
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import METRICS, primary_for
from inhouse.ml.models import load_model
from inhouse.ml.tasks.base import (FAMILIES, LoadedModel, RunSettings, TaskData, TaskFamily, VariantRun,
                                   VariantSkipped, get_family)

VARIANTS = ("int8", "onnx", "onnx-int8")
DEFAULTS: dict[str, Any] = {"max_examples": 2000, "resamples": 1000, "seed": 0, "price_per_hour": 1.0,
                            "latency_samples": 20, "batch_sizes": [1, 8, 32], "batch_size": 32}
LIMITS = {"max_examples": 1_000_000, "resamples": 10_000, "latency_samples": 1000, "batch_size": 1024}


class Emit(Protocol):
    def progress(self, done: int, total: int, stage: str = "") -> None: ...

    def log(self, level: str, message: str) -> None: ...


def _int(spec: Mapping[str, Any], key: str, low: int = 1) -> int:
    value = spec.get(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, int) or value < low or value > LIMITS.get(key, 1 << 62):
        raise WorkerFailure("bad-input", f"spec.{key} must be a whole number from {low} to "
                                         f"{LIMITS.get(key, 1 << 62)}, got {value!r}.")
    return value


def settings_from(spec: Mapping[str, Any], threads: int, workdir: Path) -> RunSettings:
    price = spec.get("price_per_hour", DEFAULTS["price_per_hour"])
    if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
        raise WorkerFailure("bad-input", f"spec.price_per_hour must be a number ≥ 0, got {price!r}.")
    sizes = spec.get("batch_sizes", DEFAULTS["batch_sizes"])
    if (not isinstance(sizes, list) or not sizes or len(sizes) > 8
            or not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 1024 for b in sizes)):
        raise WorkerFailure("bad-input", f"spec.batch_sizes must list 1 to 8 whole numbers from 1 to 1024, got {sizes!r}.")
    max_new = spec.get("max_new_tokens")
    if max_new is not None and (isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1):
        raise WorkerFailure("bad-input", f"spec.max_new_tokens must be a whole number ≥ 1, got {max_new!r}.")
    return RunSettings(resamples=_int(spec, "resamples"), seed=_int(spec, "seed", 0), batch_sizes=tuple(sizes),
                       latency_samples=_int(spec, "latency_samples"), price_per_hour=float(price), threads=threads,
                       batch_size=_int(spec, "batch_size"), workdir=workdir, max_new_tokens=max_new)


def requested_variants(spec: Mapping[str, Any]) -> list[str]:
    asked = spec.get("variants") or []
    if not isinstance(asked, list) or not all(isinstance(v, str) and v in VARIANTS for v in asked):
        raise WorkerFailure("bad-input", f"spec.variants must be a list drawn from {', '.join(VARIANTS)}, got {asked!r}.")
    return list(dict.fromkeys(asked))


def _row(variant: str, task: str, status: str, error: str | None = None, run: VariantRun | None = None,
         cost: Cost | None = None) -> dict[str, Any]:
    metrics = {name: {"value": e.value, "low": e.low, "high": e.high} for name, e in (run.metrics if run else {}).items()}
    task_metrics = METRICS[task]
    primary = primary_for(task, metrics) if metrics else task_metrics.primary
    return {"variant": variant, "status": status, "error": error, "metrics": metrics, "primary_metric": primary,
            "higher_is_better": bool(task_metrics.higher_is_better.get(primary, True)),
            "cost": dict(cost) if cost is not None else None}


class _Progress:
    """One progress scale for the whole candidate: loading (1 unit), then per variant its predictions (one unit per
    example) and its cost measurement (a quarter as many)."""

    def __init__(self, emit: Emit, examples: int, variants: int):
        self.emit = emit
        self.predict_units = max(1, examples)
        self.per_variant = self.predict_units + max(1, examples // 4)
        self.total = 1 + variants * self.per_variant

    def at(self, done: int, stage: str) -> None:
        self.emit.progress(min(done, self.total), self.total, stage)

    def start(self, index: int) -> int:
        return 1 + index * self.per_variant

    def variant(self, index: int) -> Callable[[int, int, str], None]:
        base = self.start(index)

        def report(done: int, total: int, stage: str) -> None:
            self.at(base + self.predict_units * min(done, total) // max(total, 1), stage)

        return report


def evaluate_variant(family: TaskFamily, task: str, variant: str, data: TaskData, settings: RunSettings,
                     progress: _Progress, index: int, load: Callable[[], LoadedModel] | None,
                     loaded: LoadedModel | None) -> tuple[dict[str, Any], LoadedModel | None]:
    """One row: builds (for "original": loads) and runs the variant inside a memory sampler, then times it."""
    with PeakMemory() as memory:
        if load is not None:
            loaded = load()
        assert loaded is not None
        run = family.run_variant(loaded, variant, data, settings, progress.variant(index))
        progress.at(progress.start(index) + progress.predict_units, f"{variant}: measuring cost")
        timing = measure_cost(run.single, run.batch, batch_sizes=settings.batch_sizes,
                              latency_samples=settings.latency_samples, price_per_hour=settings.price_per_hour)
    cost = Cost(parameters=run.parameters if run.parameters is not None else loaded.parameters,
                size_bytes=run.size_bytes if run.size_bytes is not None else loaded.size_bytes,
                peak_memory_bytes=memory.peak_bytes, latency_p50_ms=timing["latency_p50_ms"],
                latency_p95_ms=timing["latency_p95_ms"], throughput_per_s=timing["throughput_per_s"],
                best_batch_size=timing["best_batch_size"], cost_per_million_usd=timing["cost_per_million_usd"],
                price_per_hour=settings.price_per_hour, threads=settings.threads)
    progress.at(progress.start(index + 1), f"{variant}: done")
    return _row(variant, task, "ok", run=run, cost=cost), loaded


def run_candidate(payload: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """The worker kind "evaluation.candidate"; see the module docstring."""
    spec = payload.get("spec")
    if not isinstance(spec, dict):
        raise WorkerFailure("bad-input", "The payload has no spec object.")
    task = spec.get("task")
    if not isinstance(task, str) or task not in FAMILIES:
        raise WorkerFailure("bad-input", f"Unknown task {str(task)[:100]!r}; use one of {', '.join(FAMILIES)}.")
    dataset, model_spec = spec.get("dataset"), spec.get("model")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("repo"), str):
        raise WorkerFailure("bad-input", "spec.dataset must be an object with a repo.")
    if not isinstance(model_spec, dict) or not isinstance(model_spec.get("repo"), str):
        raise WorkerFailure("bad-input", "spec.model must be an object with a repo.")
    limits = payload.get("limits") or {}
    threads = int(limits.get("threads") or 0) or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    token = payload.get("token") or None
    variants = requested_variants(spec)
    family = get_family(task)

    with tempfile.TemporaryDirectory(prefix="inhouse-eval-") as tmp:
        settings = settings_from(spec, threads, Path(tmp))
        emit.progress(0, 1, "loading the dataset")
        data, facts = load_task_data(dataset, task, token=token, max_examples=_int(spec, "max_examples"),
                                     seed=settings.seed)
        emit.log("info", f"{len(data)} examples of {dataset['repo']} ({facts['rows']} rows in the split)")
        progress = _Progress(emit, len(data), 1 + len(variants))
        progress.at(0, "loading the model")

        def load() -> LoadedModel:
            return load_model(model_spec["repo"], model_spec.get("revision"), family, token=token)

        rows: list[dict[str, Any]] = []
        loaded: LoadedModel | None = None
        try:
            row, loaded = evaluate_variant(family, task, "original", data, settings, progress, 0, load, None)
        except (WorkerFailure, MemoryError):
            raise  # the candidate itself cannot be evaluated (missing, wrong task, bad data, out of memory)
        except ValueError as e:  # the metrics refuse what the data holds
            raise WorkerFailure("bad-input", f"The data cannot be scored: {e}") from None
        rows.append(row)
        assert loaded is not None
        for index, variant in enumerate(variants, start=1):
            try:
                row, _ = evaluate_variant(family, task, variant, data, settings, progress, index, None, loaded)
            except VariantSkipped as e:
                row = _row(variant, task, "skipped", str(e))
            except WorkerFailure as f:
                row = _row(variant, task, "failed", f.message)
            except MemoryError:
                row = _row(variant, task, "failed", "ran out of memory")
            except Exception as e:  # noqa: BLE001 - a failing variant fails only its own row
                row = _row(variant, task, "failed", f"{type(e).__name__}: {e}"[:2000])
            if row["status"] != "ok":
                emit.log("warning", f"variant {variant}: {row['status']}: {row['error']}")
            rows.append(row)
        progress.at(progress.total, "done")

    return {
        "task": task,
        "machine": machine(),
        "examples": len(data),
        "dataset": {"repo": dataset["repo"], "revision": dataset.get("revision"), "config": dataset.get("config"),
                    "split": dataset.get("split") or "train", "rows": facts["rows"], "columns": facts["columns"]},
        "model": {"repo": loaded.repo, "revision": loaded.revision, "parameters": loaded.parameters,
                  "size_bytes": loaded.size_bytes},
        "rows": rows,
    }
