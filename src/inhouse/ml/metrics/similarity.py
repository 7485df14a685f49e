"""Sentence similarity: Spearman rank correlation of predicted similarities with gold scores.

Not a sum of per-example statistics, so each resample ranks its own pairs: scipy's `rankdata` (average
ranks for ties) along the rows of a chunk of resamples, then a vectorised Pearson correlation of the ranks.
Cost: O(resamples x n log n) for the sorts, against O(resamples x n) for the summed metrics; about 1-2 s for
1,000 resamples of 10,000 pairs on one core. A resample whose drawn values are all equal has no defined
correlation and is left out of the interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from .bootstrap import Estimate, FloatArray, IndexArray, bootstrap, check_lengths, finite_floats


def _rank_correlation(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise Spearman of (rows, n) arrays; NaN for a row where either side is constant."""
    ra = np.asarray(rankdata(a, axis=1), dtype=np.float64)
    rb = np.asarray(rankdata(b, axis=1), dtype=np.float64)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    cov = (ra * rb).sum(axis=1)
    norm = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(norm > 0, cov / np.where(norm > 0, norm, 1.0), np.nan)
    return np.clip(rho, -1.0, 1.0)


def score(pred_sims: Sequence[float], gold: Sequence[float], *, resamples: int, seed: int) -> dict[str, Estimate]:
    """spearman (-1..1) with a 95% interval. Constant gold scores are refused (nothing to rank against);
    constant predictions rank nothing and score 0."""
    n = check_lengths("pred_sims", pred_sims, "gold", gold)
    if n < 2:
        raise ValueError("a rank correlation needs at least two pairs")
    pred = finite_floats("pred_sims", pred_sims)
    ref = finite_floats("gold", gold)
    if np.all(ref == ref[0]):
        raise ValueError("every gold score is the same: Spearman correlation needs gold scores that differ")
    if np.all(pred == pred[0]):
        return {"spearman": Estimate(0.0, 0.0, 0.0)}

    def statistic(index: IndexArray) -> FloatArray:
        return _rank_correlation(pred[index], ref[index])[:, None]

    # rankdata's argsorts and the centred ranks hold several float copies of each chunk.
    return bootstrap(n, statistic, ["spearman"], resamples=resamples, seed=seed, bytes_per_draw=128)
