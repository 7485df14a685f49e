"""Text classification: text (and optionally text_pair) -> one label; accuracy and macro-F1.

The prediction is the argmax of the logits, as a transformers text-classification pipeline's top label. Labels are
compared as the model names them (config.id2label) when the dataset's labels are names (strings, or a ClassLabel
whose names the model shares), else as class ids.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from inhouse.ml.engine import Array
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import Estimate, classification
from inhouse.ml.tasks.base import LoadedModel, RunSettings, TaskData
from inhouse.ml.tasks.encoder import EncoderFamily, Prepared, max_length, model_inputs_only

GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


def model_labels(config: Any) -> list[str]:
    """The model's label names by class id (config.id2label)."""
    id2label = getattr(config, "id2label", None) or {}
    count = int(getattr(config, "num_labels", len(id2label)) or len(id2label))
    return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(count)]


def references(data: TaskData, role: str, names: list[str]) -> tuple[list[int | str], bool]:
    """(references, by_name): the dataset's labels of `role` as names when they can be compared with the model's
    label names `names`, else as class ids. Raises bad-input for labels the model cannot predict."""
    raw = data.columns[role]
    dataset_names = data.label_names.get(role)
    real_names = [n for n in names if not GENERIC_LABEL.match(n)]
    if all(isinstance(v, str) for v in raw):
        refs: list[int | str] = [str(v) for v in raw]
        unknown = sorted({r for r in refs if r not in names}, key=str)
        if unknown:
            raise WorkerFailure("bad-input", f"The dataset's labels {', '.join(map(repr, map(str, unknown[:10])))} "
                                             f"are not among the model's labels ({', '.join(names)}).")
        return refs, True
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        raise WorkerFailure("bad-input", "The label column must hold class ids (integers) or label names (strings).")
    if dataset_names is not None and real_names and set(dataset_names) <= set(names):
        return [dataset_names[int(v)] for v in raw], True
    out_of_range = sorted({int(v) for v in raw if not 0 <= int(v) < len(names)})
    if out_of_range:
        raise WorkerFailure("bad-input", f"The dataset has class ids {out_of_range[:10]} but the model predicts "
                                         f"{len(names)} classes (0..{len(names) - 1}).")
    return [int(v) for v in raw], False


class TextClassification(EncoderFamily):
    name = "text-classification"
    head_suffixes = ("ForSequenceClassification",)
    needs = "a sequence-classification head (an architecture like BertForSequenceClassification)"

    def check_fit(self, config: Any) -> None:
        super().check_fit(config)
        if int(getattr(config, "num_labels", 0) or 0) < 2:
            raise WorkerFailure("wrong-task", "it has a single output (a regression head), but text-classification "
                                              "needs at least two classes.")

    def prepare(self, loaded: LoadedModel, data: TaskData) -> Prepared:
        texts = [str(t) for t in data.columns["text"]]
        pairs = [str(t) for t in data.columns["text_pair"]] if data.has("text_pair") else None
        refs = references(data, "label", model_labels(loaded.config))  # bad labels fail before the model runs
        enc = loaded.tokenizer(texts, pairs, truncation=True, max_length=max_length(loaded))
        return Prepared(model_inputs_only(enc), refs)

    def score(self, loaded: LoadedModel, data: TaskData, prepared: Prepared, outputs: list[dict[str, Array]],
              settings: RunSettings) -> dict[str, Estimate]:
        names = model_labels(loaded.config)
        refs, by_name = prepared.extra
        ids = [int(np.argmax(o["logits"])) for o in outputs]
        preds: list[int | str] = [names[i] for i in ids] if by_name else list(ids)
        return classification.score(preds, refs, resamples=settings.resamples, seed=settings.seed)


TEXT_CLASSIFICATION = TextClassification()
