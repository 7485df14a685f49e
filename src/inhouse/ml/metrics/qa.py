"""Extractive question answering: SQuAD exact match and token F1 (0..1), bootstrapped over questions.

The normalisation is the official SQuAD v1.1/v2.0 evaluation script's: lowercase, drop ASCII punctuation,
drop the articles a/an/the, collapse whitespace. An example scores the best over its gold answers. A
question with no gold answer (SQuAD 2.0's unanswerable) counts as the gold answer "": the empty prediction
scores 1, anything else 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .bootstrap import Estimate, bootstrap, check_lengths, means

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, strip punctuation, drop articles (a, an, the) and collapse whitespace, as SQuAD does."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall over normalised tokens (bag of tokens with counts)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def score(
    pred_texts: Sequence[str], gold_answers: Sequence[Sequence[str]], *, resamples: int, seed: int
) -> dict[str, Estimate]:
    """exact_match and f1 (0..1) with 95% intervals; gold_answers[i] lists the accepted answers of question i."""
    n = check_lengths("pred_texts", pred_texts, "gold_answers", gold_answers)
    stats = np.empty((n, 2), dtype=np.float64)
    for i in range(n):
        pred = pred_texts[i]
        golds = gold_answers[i]
        if not isinstance(pred, str):
            raise ValueError(f"pred_texts[{i}] is {pred!r}, not a string")
        if isinstance(golds, str) or not isinstance(golds, Sequence):
            raise ValueError(f"gold_answers[{i}] is {golds!r}: each item must be a list of answer strings")
        if not all(isinstance(g, str) for g in golds):
            raise ValueError(f"gold_answers[{i}] holds a non-string answer: {list(golds)!r}")
        candidates = list(golds) or [""]
        stats[i] = (max(exact_match(pred, g) for g in candidates), max(token_f1(pred, g) for g in candidates))
    return bootstrap(n, means(stats), ["exact_match", "f1"], resamples=resamples, seed=seed)
