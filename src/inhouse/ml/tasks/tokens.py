"""Token classification (named entities): tokens (a list of words) -> one BIO tag per word; entity F1 (seqeval).

Words are tokenized together (is_split_into_words), truncated to the model's limit; a word's tag is the argmax of
its first sub-token's logits, named by config.id2label. Words cut off by truncation are predicted "O".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inhouse.ml.engine import Array
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import Estimate, tokens
from inhouse.ml.tasks.base import LoadedModel, RunSettings, TaskData
from inhouse.ml.tasks.classification import model_labels
from inhouse.ml.tasks.encoder import EncoderFamily, Prepared, max_length, model_inputs_only


def reference_tags(data: TaskData, names: list[str]) -> list[list[str]]:
    """The dataset's tags as names: strings as they are; class ids through the column's ClassLabel names, else
    through the model's label names."""
    table = data.label_names.get("tags") or names
    out: list[list[str]] = []
    for row, (words, tags) in enumerate(zip(data.columns["tokens"], data.columns["tags"], strict=True)):
        if not isinstance(words, list) or not isinstance(tags, list):
            raise WorkerFailure("bad-input", "token-classification needs a list of words (tokens) and a list of tags "
                                             f"per row; row {row} has {type(words).__name__} and {type(tags).__name__}.")
        if len(words) != len(tags):
            raise WorkerFailure("bad-input", f"Row {row} has {len(words)} words but {len(tags)} tags.")
        named: list[str] = []
        for tag in tags:
            if isinstance(tag, str):
                named.append(tag)
            elif isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(table):
                named.append(table[tag])
            else:
                raise WorkerFailure("bad-input", f"Row {row} has tag {tag!r}, which is neither a tag name nor a class "
                                                 f"id of {', '.join(table)}.")
        out.append(named)
    return out


class TokenClassification(EncoderFamily):
    name = "token-classification"
    head_suffixes = ("ForTokenClassification",)
    needs = "a token-classification head (an architecture like BertForTokenClassification)"
    needs_fast_tokenizer = True

    def prepare(self, loaded: LoadedModel, data: TaskData) -> Prepared:
        refs = reference_tags(data, model_labels(loaded.config))
        words = [[str(w) for w in ws] for ws in data.columns["tokens"]]
        enc = loaded.tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length(loaded))
        word_ids = [enc.word_ids(i) for i in range(len(words))]
        return Prepared(model_inputs_only(enc), (refs, word_ids))

    def score(self, loaded: LoadedModel, data: TaskData, prepared: Prepared, outputs: list[dict[str, Array]],
              settings: RunSettings) -> dict[str, Estimate]:
        names = model_labels(loaded.config)
        refs, word_ids = prepared.extra
        preds: list[list[str]] = []
        for ref, ids, out in zip(refs, word_ids, outputs, strict=True):
            classes = np.argmax(out["logits"], axis=-1)
            tags = ["O"] * len(ref)
            seen: set[int] = set()
            for position, word in enumerate(ids):
                if word is not None and word not in seen and word < len(tags):
                    seen.add(word)
                    tags[word] = names[int(classes[position])]
            preds.append(tags)
        return tokens.score(preds, refs, resamples=settings.resamples, seed=settings.seed)


TOKEN_CLASSIFICATION = TokenClassification()
