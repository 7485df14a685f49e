"""What a task family is: the protocol every family implements, the values the evaluation hands it, and the registry.

A family (text classification, question answering, summarisation, ...) knows which model heads fit it, how to load
them, how to turn a dataset's columns into predictions for one variant of a model, and how to score them. The
evaluation (inhouse.ml.evaluate.run_candidate) does the rest the same way for every family: loading the data and the
model through the hub, the memory sampler around each variant, the cost measurement with the two callables a family
returns, and the result rows.

Encoder families (inhouse.ml.tasks.encoder.EncoderFamily and its subclasses) share one path: tokenize once, run an
`inhouse.ml.engine.EncoderBackend` in length-sorted buckets, decode, score; their variants come from
`inhouse.ml.variants.build_encoder_variant`. Generative families build their own variants in `run_variant`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from inhouse.ml.metrics.bootstrap import Estimate


class VariantSkipped(Exception):
    """Raised by `TaskFamily.run_variant` for a variant the family does not offer (e.g. ONNX for a generative model):
    its row comes back with status "skipped" and this message as the reason."""


@dataclass(frozen=True)
class RunSettings:
    """The evaluation's knobs, from the request's spec and the worker's limits."""

    resamples: int = 1000  # bootstrap resamples for every confidence interval
    seed: int = 0
    batch_sizes: tuple[int, ...] = (1, 8, 32)  # throughput is measured at each; the best one is reported
    latency_samples: int = 20  # single requests timed for p50/p95
    price_per_hour: float = 1.0  # USD per hardware hour, for the cost per million requests
    threads: int = 1
    batch_size: int = 32  # the batch size predictions are made with (encoder families)
    workdir: Path = Path(".")  # scratch space (variant exports)
    max_new_tokens: int | None = None  # generative families: bound on generated tokens (None: the family's default)


@dataclass
class TaskData:
    """The evaluation split after column mapping: `columns[role]` holds one value per example, in dataset order,
    capped to max_examples. `label_names[role]`: the class names of a role whose column is a `ClassLabel` (or a
    sequence of them), so integer labels can be compared with a model's label names."""

    columns: dict[str, list[Any]]
    label_names: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def has(self, role: str) -> bool:
        return role in self.columns


@dataclass
class LoadedModel:
    """A candidate model as loaded in the worker: the snapshot folder it came from (what variants are built from) and
    the objects the family's `load` built from it."""

    repo: str
    revision: str  # the commit sha that was loaded
    model_dir: Path  # the local snapshot folder (config, tokenizer, weights)
    config: Any  # transformers PretrainedConfig
    model: Any  # torch.nn.Module in eval mode
    tokenizer: Any  # a (fast) tokenizer
    parameters: int
    size_bytes: int  # the snapshot's weight files
    cache: dict[str, Any] = field(default_factory=dict)  # what a family computes once for all variants (tokenization)


@dataclass
class VariantRun:
    """What a family returns for one variant: its metrics (each with a bootstrap 95% interval) and two callables the
    evaluation times for cost: `single()` serves one typical request (latency at batch size 1) and `batch(n)` serves
    n requests at once (throughput). `size_bytes` / `parameters`: set when the variant's differ from the original's
    (an ONNX export's file size); None keeps the original's."""

    metrics: dict[str, Estimate]
    single: Callable[[], object]
    batch: Callable[[int], object]
    size_bytes: int | None = None
    parameters: int | None = None
    notes: list[str] = field(default_factory=list)


Progress = Callable[[int, int, str], None]  # (done, total, stage)


def no_progress(done: int, total: int, stage: str) -> None:
    """A Progress that reports nowhere."""


class TaskFamily(Protocol):
    """One evaluation task family. Implementations are module-level objects listed in FAMILIES."""

    name: str  # the API's task value, e.g. "text-classification"
    primary: str  # the metric the leaderboard and the recommendation rank by (a key of run_variant's metrics)
    higher_is_better: Mapping[str, bool]  # for every metric key

    def check_fit(self, config: Any) -> None:
        """Raises WorkerFailure("wrong-task", ...) when a model with this transformers config cannot do the task: the
        message names the model's architecture and what the task needs."""
        ...

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """(model in eval mode, tokenizer) from a local snapshot folder, with the Auto class that fits the task."""
        ...

    def run_variant(self, loaded: LoadedModel, variant: str, data: TaskData, settings: RunSettings,
                    progress: Progress) -> VariantRun:
        """Builds `variant` ("original", "int8", "onnx", "onnx-int8") of the loaded model, predicts every example of
        `data`, scores the predictions and returns them with the two cost callables. Raises VariantSkipped for a
        variant the family does not offer, WorkerFailure("bad-input", ...) for data it cannot use; any other
        exception fails only this variant's row."""
        ...


# task name -> "module:attribute" of its family object, imported on first use (families import torch & co.)
FAMILIES: dict[str, str] = {
    "text-classification": "inhouse.ml.tasks.classification:TEXT_CLASSIFICATION",
    "token-classification": "inhouse.ml.tasks.tokens:TOKEN_CLASSIFICATION",
    "question-answering": "inhouse.ml.tasks.qa:QUESTION_ANSWERING",
    "sentence-similarity": "inhouse.ml.tasks.embeddings:SENTENCE_SIMILARITY",
    "retrieval": "inhouse.ml.tasks.embeddings:RETRIEVAL",
    "summarization": "inhouse.ml.tasks.generative:SUMMARIZATION",
    "translation": "inhouse.ml.tasks.generative:TRANSLATION",
    "text-generation": "inhouse.ml.tasks.generative:TEXT_GENERATION",
}


def get_family(task: str) -> TaskFamily:
    """The family object of a task name (a key of FAMILIES); KeyError for another name."""
    module, attr = FAMILIES[task].split(":")
    family: TaskFamily = getattr(importlib.import_module(module), attr)
    return family


def architectures(config: Any) -> list[str]:
    """The architecture names a transformers config declares (e.g. ["BertForSequenceClassification"]), or its
    model_type when it declares none."""
    names = list(getattr(config, "architectures", None) or [])
    return names or [str(getattr(config, "model_type", "unknown"))]


def describe_architectures(config: Any) -> str:
    return ", ".join(architectures(config))

