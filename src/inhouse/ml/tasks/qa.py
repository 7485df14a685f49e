"""Extractive question answering: question + context -> an answer span of the context; exact match and F1.

As a transformers question-answering pipeline does: the context is split into overlapping windows that fit the
model next to the question (truncation="only_second" with a stride), and the answer is the span of context tokens
(start ≤ end, at most MAX_ANSWER_TOKENS long) whose start and end logits sum highest over all windows of the example.
"""

from __future__ import annotations

import numpy as np

from inhouse.ml.engine import Array
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import Estimate, qa
from inhouse.ml.tasks.base import LoadedModel, RunSettings, TaskData
from inhouse.ml.tasks.encoder import EncoderFamily, Prepared, max_length, model_inputs_only

MAX_ANSWER_TOKENS = 30
TOP_K = 20  # starts and ends considered per window
DOC_STRIDE = 128


def gold_answers(data: TaskData) -> list[list[str]]:
    out: list[list[str]] = []
    for row, answers in enumerate(data.columns["answers"]):
        texts = answers.get("text") if isinstance(answers, dict) else answers
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise WorkerFailure("bad-input", "question-answering needs answers as {\"text\": [...], \"answer_start\": "
                                             "[...]} (SQuAD format) or a list of answer texts; "
                                             f"row {row} has {str(answers)[:100]!r}.")
        out.append(list(texts))
    return out


def best_span(start: Array, end: Array, sequence_ids: list[int | None]) -> tuple[float, int, int] | None:
    """(score, start token, end token) of the best context span of one window, or None when it has no context."""
    context = np.array([s == 1 for s in sequence_ids[: len(start)]], dtype=bool)
    if not context.any():
        return None
    s = np.where(context, start, -np.inf)
    e = np.where(context, end, -np.inf)
    starts = np.argsort(-s, kind="stable")[:TOP_K]
    ends = np.argsort(-e, kind="stable")[:TOP_K]
    best: tuple[float, int, int] | None = None
    for i in starts:
        if not context[i]:
            continue
        for j in ends:
            if context[j] and i <= j < i + MAX_ANSWER_TOKENS:
                score = float(s[i] + e[j])
                if best is None or score > best[0]:
                    best = (score, int(i), int(j))
    return best


class QuestionAnswering(EncoderFamily):
    name = "question-answering"
    head_suffixes = ("ForQuestionAnswering",)
    needs = "an extractive question-answering head (an architecture like BertForQuestionAnswering)"
    needs_fast_tokenizer = True

    def prepare(self, loaded: LoadedModel, data: TaskData) -> Prepared:
        gold = gold_answers(data)
        questions = [str(q).lstrip() for q in data.columns["question"]]
        contexts = [str(c) for c in data.columns["context"]]
        limit = max_length(loaded)
        try:
            enc = loaded.tokenizer(questions, contexts, truncation="only_second", max_length=limit,
                                   stride=min(DOC_STRIDE, limit // 4), return_overflowing_tokens=True,
                                   return_offsets_mapping=True)
        except Exception as e:  # the tokenizer refuses a question that leaves no room for the context
            raise WorkerFailure("bad-input", f"A question is too long for the model's {limit} tokens: {e}") from None
        features = len(enc["input_ids"])
        windows = {
            "example": list(enc["overflow_to_sample_mapping"]),
            "offsets": list(enc["offset_mapping"]),
            "sequence_ids": [enc.sequence_ids(i) for i in range(features)],
        }
        return Prepared(model_inputs_only(enc), (gold, contexts, windows))

    def score(self, loaded: LoadedModel, data: TaskData, prepared: Prepared, outputs: list[dict[str, Array]],
              settings: RunSettings) -> dict[str, Estimate]:
        gold, contexts, windows = prepared.extra
        best: list[tuple[float, str] | None] = [None] * len(gold)
        for f, out in enumerate(outputs):
            span = best_span(out["start_logits"], out["end_logits"], windows["sequence_ids"][f])
            if span is None:
                continue
            score, i, j = span
            example = windows["example"][f]
            current = best[example]
            if current is None or score > current[0]:
                offsets = windows["offsets"][f]
                best[example] = (score, contexts[example][offsets[i][0]:offsets[j][1]])
        preds = [b[1] if b is not None else "" for b in best]
        return qa.score(preds, gold, resamples=settings.resamples, seed=settings.seed)


QUESTION_ANSWERING = QuestionAnswering()
