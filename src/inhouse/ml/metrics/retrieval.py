"""Retrieval with embedding models: nDCG@k and recall@1, recall@k (0..1), bootstrapped over queries.

Binary relevance. For one query with relevant set R and ranking d_1, d_2, ... (document ids, best first):
DCG@k = sum over i <= k of [d_i in R] / log2(i + 1), IDCG@k = the same for an ideal ranking
(min(k, |R|) hits first), nDCG@k = DCG@k / IDCG@k; recall@j = |{d_1..d_j} & R| / |R|. The metrics are
means over queries, so a resample is a weighted mean of the per-query values.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from .bootstrap import Estimate, bootstrap, check_lengths, means


def query_metrics(ranking: Sequence[int], relevant: Collection[int], k: int) -> tuple[float, float, float]:
    """(nDCG@k, recall@1, recall@k) of one query."""
    hits = [doc in relevant for doc in ranking[:k]]
    dcg = sum(1.0 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal, float(sum(hits[:1])) / len(relevant), float(sum(hits)) / len(relevant)


def score(
    rankings: Sequence[Sequence[int]],
    relevant: Sequence[Collection[int]],
    k: int = 10,
    *,
    resamples: int,
    seed: int,
) -> dict[str, Estimate]:
    """ndcg_at_{k}, recall_at_1, recall_at_{k} with 95% intervals; rankings[i] lists doc ids, best first."""
    n = check_lengths("rankings", rankings, "relevant", relevant)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    stats = np.empty((n, 3), dtype=np.float64)
    for i in range(n):
        ranking = list(rankings[i])
        gold = set(relevant[i])
        if not gold:
            raise ValueError(f"query {i} has no relevant document: every query needs at least one")
        if len(set(ranking)) != len(ranking):
            raise ValueError(f"rankings[{i}] names a document twice: a ranking lists distinct document ids")
        stats[i] = query_metrics(ranking, gold, k)
    names = [f"ndcg_at_{k}", "recall_at_1", f"recall_at_{k}"]
    if k == 1:
        names, stats = names[:2], stats[:, :2]
    return bootstrap(n, means(stats), names, resamples=resamples, seed=seed)
