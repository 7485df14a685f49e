"""Token classification: entity-level precision, recall and F1 (seqeval's default, micro over entity types).

Entities are read with seqeval's own chunker (`get_entities`, the lenient IOB/IOBES reading that
`seqeval.metrics.f1_score` uses by default). Per sentence: tp = predicted entities (type, start, end) that
are also gold entities, and the counts of predicted and gold entities; a resample sums them, so
precision = tp / predicted, recall = tp / gold, F1 = 2 tp / (predicted + gold), each 0 when its denominator
is 0 (as seqeval reports).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from .bootstrap import Estimate, FloatArray, bootstrap, check_lengths, ratio, summed


def _tags(name: str, i: int, sentence: Sequence[str]) -> list[str]:
    if isinstance(sentence, str) or not isinstance(sentence, (Sequence, np.ndarray)):
        raise ValueError(f"{name}[{i}] is {type(sentence).__name__}: each sentence must be a list of tag strings")
    tags = [str(t) if isinstance(t, np.str_) else t for t in sentence]
    for j, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"{name}[{i}][{j}] is {tag!r}: tags must be non-empty strings like 'B-PER', 'I-PER', 'O'")
    return tags


def sentence_counts(pred_tags: Sequence[Sequence[str]], ref_tags: Sequence[Sequence[str]]) -> FloatArray:
    """(n, 3): per sentence, entities predicted correctly, entities predicted, gold entities."""
    n = check_lengths("pred_tags", pred_tags, "ref_tags", ref_tags)
    stats = np.empty((n, 3), dtype=np.float64)
    for i in range(n):
        pred = _tags("pred_tags", i, pred_tags[i])
        gold = _tags("ref_tags", i, ref_tags[i])
        if len(pred) != len(gold):
            raise ValueError(
                f"sentence {i} has {len(pred)} predicted tags but {len(gold)} gold tags: one tag per token"
            )
        pred_entities = set(get_entities(pred))
        gold_entities = set(get_entities(gold))
        stats[i] = (len(pred_entities & gold_entities), len(pred_entities), len(gold_entities))
    return stats


def _finish(sums: FloatArray) -> FloatArray:
    tp, predicted, gold = sums[:, 0], sums[:, 1], sums[:, 2]
    return np.stack([ratio(2 * tp, predicted + gold), ratio(tp, predicted), ratio(tp, gold)], axis=1)


def score(
    pred_tags: Sequence[Sequence[str]], ref_tags: Sequence[Sequence[str]], *, resamples: int, seed: int
) -> dict[str, Estimate]:
    """entity_f1, entity_precision, entity_recall (0..1) with 95% intervals, resampling sentences."""
    stats = sentence_counts(pred_tags, ref_tags)
    return bootstrap(
        len(stats),
        summed(stats, _finish),
        ["entity_f1", "entity_precision", "entity_recall"],
        resamples=resamples,
        seed=seed,
    )
