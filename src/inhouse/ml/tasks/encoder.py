"""The path every encoder family shares: tokenize once, run a backend in length-sorted buckets, decode, score.

A subclass says which heads fit (`head_suffixes`, `needs`), how to tokenize the data (`prepare`) and how to turn the
backend's per-example outputs into metrics (`score`); `run_variant` does the rest for the original model (a
TorchBackend) and for every variant (inhouse.ml.variants.build_encoder_variant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inhouse.ml.engine import (Array, EncoderBackend, Reduce, TorchBackend, auto_model_class, run_batched)
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import METRICS, Estimate
from inhouse.ml.tasks.base import (LoadedModel, Progress, RunSettings, TaskData, VariantRun, architectures,
                                   describe_architectures)

DEFAULT_MAX_LENGTH = 512
NO_LIMIT = 1_000_000  # transformers' "no limit" model_max_length is 1e30
COST_POOL = 256  # examples the cost callables draw their requests from


@dataclass
class Prepared:
    """A family's tokenized data: `encodings` (input_ids and friends, one list per model input row) and whatever the
    family needs to decode (`extra`)."""

    encodings: Mapping[str, Sequence[Sequence[int]]]
    extra: Any = None


def max_length(loaded: LoadedModel) -> int:
    """Inputs are truncated to the model's limit: the smaller of the tokenizer's model_max_length and the config's
    max_position_embeddings (as a transformers pipeline with truncation=True does for a well-configured model)."""
    limits = []
    for value in (getattr(loaded.tokenizer, "model_max_length", None),
                  getattr(loaded.config, "max_position_embeddings", None)):
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < NO_LIMIT:
            limits.append(int(value))
    return min(limits) if limits else DEFAULT_MAX_LENGTH


def model_inputs_only(enc: Mapping[str, Any]) -> dict[str, Sequence[Sequence[int]]]:
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}


def pad_token(loaded: LoadedModel) -> int:
    for value in (getattr(loaded.tokenizer, "pad_token_id", None), getattr(loaded.config, "pad_token_id", None)):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


class EncoderFamily:
    """Base of the encoder families (see the module docstring)."""

    name: str = ""
    head_suffixes: tuple[str, ...] = ()  # an architecture name ending in one of these fits
    needs: str = ""  # what the task needs, for the wrong-task message
    needs_fast_tokenizer: bool = False

    @property
    def primary(self) -> str:
        return METRICS[self.name].primary

    @property
    def higher_is_better(self) -> Mapping[str, bool]:
        return METRICS[self.name].higher_is_better

    def fits(self, config: Any) -> bool:
        return any(a.endswith(s) for a in architectures(config) for s in self.head_suffixes)

    def check_fit(self, config: Any) -> None:
        if not self.fits(config):
            raise WorkerFailure("wrong-task", f"its architecture is {describe_architectures(config)}, but {self.name} "
                                              f"needs {self.needs}. Choose a model trained for {self.name}.")

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        from transformers import AutoTokenizer

        model = auto_model_class(self.name).from_pretrained(str(model_dir)).eval()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        except (OSError, ValueError) as e:
            raise WorkerFailure("bad-input", f"the model repo has no tokenizer transformers can load ({e}); push the "
                                             "tokenizer with save_pretrained next to the model.") from None
        if self.needs_fast_tokenizer and not getattr(tokenizer, "is_fast", False):
            raise WorkerFailure("bad-input", f"{self.name} needs a fast tokenizer (tokenizer.json) for word and "
                                             "character offsets; push one with the model.")
        return model, tokenizer

    # hooks ---------------------------------------------------------------------------------------------------------
    def reducer(self) -> Reduce | None:
        """What turns a batch's outputs into the ones `score` reads (mean pooling for embeddings); None keeps them."""
        return None

    def prepare(self, loaded: LoadedModel, data: TaskData) -> Prepared:
        raise NotImplementedError

    def score(self, loaded: LoadedModel, data: TaskData, prepared: Prepared, outputs: list[dict[str, Array]],
              settings: RunSettings) -> dict[str, Estimate]:
        raise NotImplementedError

    # the shared path -----------------------------------------------------------------------------------------------
    def backend(self, loaded: LoadedModel, variant: str, settings: RunSettings) -> EncoderBackend:
        if variant == "original":
            return TorchBackend(loaded.model)
        from inhouse.ml.variants import build_encoder_variant

        return build_encoder_variant(variant, loaded.model_dir, self.name, settings.workdir)

    def prepared(self, loaded: LoadedModel, data: TaskData) -> Prepared:
        """prepare(), once per loaded model and data: every variant reads the same tokenization."""
        key = f"prepared:{self.name}:{id(data)}"
        cached = loaded.cache.get(key)
        if not isinstance(cached, Prepared):
            cached = loaded.cache[key] = self.prepare(loaded, data)
        return cached

    def run_variant(self, loaded: LoadedModel, variant: str, data: TaskData, settings: RunSettings,
                    progress: Progress) -> VariantRun:
        prepared = self.prepared(loaded, data)
        backend = self.backend(loaded, variant, settings)
        pad_id = pad_token(loaded)
        outputs = run_batched(backend, prepared.encodings, settings.batch_size, pad_id, reduce=self.reducer(),
                              progress=lambda done, total: progress(done, total, f"{variant}: predicting"))
        metrics = self.score(loaded, data, prepared, outputs, settings)
        single, batch = cost_callables(backend, prepared.encodings, pad_id, self.reducer())
        size = getattr(backend, "size_bytes", None)
        return VariantRun(metrics=metrics, single=single, batch=batch,
                          size_bytes=size if isinstance(size, int) else None)


def cost_callables(backend: EncoderBackend, encodings: Mapping[str, Sequence[Sequence[int]]], pad_id: int,
                   reduce: Reduce | None) -> tuple[Any, Any]:
    """(single, batch) for measure_cost: one request is the example of median length; a batch of n requests takes n
    examples spread evenly over the data (repeated when it has fewer)."""
    ids = encodings["input_ids"]
    count = len(ids)
    by_length = sorted(range(count), key=lambda i: (len(ids[i]), i))
    median = by_length[count // 2]
    step = max(1, count // COST_POOL)
    pool = list(range(0, count, step))[:COST_POOL]

    def subset(rows: Sequence[int]) -> dict[str, list[Sequence[int]]]:
        return {k: [v[r] for r in rows] for k, v in encodings.items()}

    one = subset([median])
    batches: dict[int, dict[str, list[Sequence[int]]]] = {}

    def single() -> object:
        return run_batched(backend, one, 1, pad_id, reduce=reduce)

    def batch(n: int) -> object:
        if n not in batches:
            batches[n] = subset([pool[i % len(pool)] for i in range(n)])
        return run_batched(backend, batches[n], n, pad_id, reduce=reduce, max_tokens=1 << 62)

    return single, batch
