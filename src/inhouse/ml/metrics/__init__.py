"""Offline evaluation metrics with 95% bootstrap confidence intervals, one module per task family.

Each `score*` function takes predictions and references (aligned lists) plus `resamples` and `seed`, and
returns {metric name: Estimate(value, low, high)}: the value on the full data and a percentile-bootstrap
interval over examples (see bootstrap.py). Bad input (empty, misaligned, NaN, wrong types) raises
ValueError with a message saying what is wrong; the worker reports it as "bad-input".

    classification.score(preds, refs)               accuracy, macro_f1                  (0..1)
    tokens.score(pred_tags, ref_tags)               entity_f1, entity_precision, entity_recall
    qa.score(pred_texts, gold_answers)              exact_match, f1                     (0..1)
    similarity.score(pred_sims, gold)               spearman                            (-1..1)
    retrieval.score(rankings, relevant, k=10)       ndcg_at_10, recall_at_1, recall_at_10
    generation.score_summaries(preds, refs)         rouge1, rouge2, rougeL              (0..1)
    generation.score_translations(preds, refs)      chrf, bleu                          (0..100)
    generation.score_perplexity(nll_sums, counts)   perplexity                          (lower is better)
    generation.score_exact(preds, refs)             exact_match                         (0..1)

Only the modules that need a library import it (tokens: seqeval; generation: sacrebleu, rouge_score, nltk);
importing the package itself loads numpy only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .bootstrap import MAX_RESAMPLES, Estimate

__all__ = ["MAX_RESAMPLES", "METRICS", "Estimate", "TaskMetrics", "primary_for"]


@dataclass(frozen=True)
class TaskMetrics:
    """The metrics a task family reports: `primary` ranks candidates; higher_is_better for every metric,
    in order of preference (primary_for falls back along it when the primary was not measured)."""

    primary: str
    higher_is_better: Mapping[str, bool]


METRICS: Mapping[str, TaskMetrics] = MappingProxyType(
    {
        # macro-F1, not accuracy: business label sets are imbalanced (most tickets are "other"), and a model
        # that always answers the majority class has high accuracy but a macro-F1 that shows it is useless.
        "text-classification": TaskMetrics("macro_f1", MappingProxyType({"macro_f1": True, "accuracy": True})),
        "token-classification": TaskMetrics(
            "entity_f1",
            MappingProxyType({"entity_f1": True, "entity_precision": True, "entity_recall": True}),
        ),
        # token F1 gives partial credit for a span that is nearly right; exact match is all or nothing.
        "question-answering": TaskMetrics("f1", MappingProxyType({"f1": True, "exact_match": True})),
        "sentence-similarity": TaskMetrics("spearman", MappingProxyType({"spearman": True})),
        "retrieval": TaskMetrics(
            "ndcg_at_10", MappingProxyType({"ndcg_at_10": True, "recall_at_10": True, "recall_at_1": True})
        ),
        "summarization": TaskMetrics(
            "rougeL", MappingProxyType({"rougeL": True, "rouge1": True, "rouge2": True})
        ),
        # chrF, not BLEU: steadier at the sentence counts of a company test set and for morphologically rich
        # languages, and it needs no tokenizer choice.
        "translation": TaskMetrics("chrf", MappingProxyType({"chrf": True, "bleu": True})),
        # exact match on prompt/answer pairs measures the task; perplexity (lower is better) is the fallback
        # when the dataset has only text.
        "text-generation": TaskMetrics(
            "exact_match", MappingProxyType({"exact_match": True, "perplexity": False})
        ),
    }
)


def primary_for(task: str, available_metrics: Collection[str]) -> str:
    """The metric that ranks candidates of `task` among those measured: the task's primary if available,
    else the first available in the task's order of preference (text-generation without prompt/answer
    columns: perplexity)."""
    metrics = METRICS.get(task)
    if metrics is None:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(METRICS)}")
    for name in (metrics.primary, *metrics.higher_is_better):
        if name in available_metrics:
            return name
    raise ValueError(
        f"none of the metrics of {task} ({', '.join(metrics.higher_is_better)}) was measured: "
        f"got {', '.join(sorted(available_metrics)) or 'none'}"
    )
