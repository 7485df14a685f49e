"""Percentile bootstrap confidence intervals over examples, computed from precomputed statistics.

Every metric module turns its inputs into per-example numbers once (correct flags, per-sentence n-gram
counts, per-query nDCG, ...) and hands `bootstrap` a *statistic*: a function from an index matrix of shape
(rows, n) - each row one resample of the n examples, drawn with replacement - to the metric values of shape
(rows, m), one column per metric name. The same function applied to the single row `0..n-1` gives the point
value, so the point value is exactly the metric on the full data (not the mean of the resamples), and the
resamples never touch text or a library again.

Most metrics are functions of summed per-example statistics; `summed` builds such a statistic: per resample,
the draw counts of each example (a bincount of the index row) times the (n, k) statistics matrix gives the
(rows, k) sums in one matrix product, and a vectorised `finish` turns sums into metric values.

Cost is bounded: at most MAX_RESAMPLES resamples, at most MAX_DRAWS = examples x resamples index draws in all
(ValueError beyond, so a request cannot buy unbounded CPU), and the index matrix is built in chunks of rows so
one chunk's working memory stays under CHUNK_BYTES.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
Statistic = Callable[[IndexArray], FloatArray]
"""(rows, n) example indices -> (rows, m) metric values, one column per metric name."""

CONFIDENCE = 0.95
MAX_RESAMPLES = 10_000
MAX_DRAWS = 1_000_000_000
"""examples x resamples: about 10-30 s of CPU for a summed statistic at the limit."""
CHUNK_BYTES = 64 * 1024 * 1024
DEFAULT_BYTES_PER_DRAW = 40
"""Working memory per drawn index of a summed statistic: the index, its offset copy, the bincount, the float counts."""


@dataclass(frozen=True)
class Estimate:
    """A metric value on the full data and its 95% percentile-bootstrap confidence interval [low, high]."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def check_resampling(examples: int, *, resamples: int, seed: int) -> None:
    """Refuse a bootstrap that is empty, unseeded or bigger than the limits, saying what to change."""
    if examples < 1:
        raise ValueError("no examples to score: the evaluation needs at least one example")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or not 1 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"resamples must be a whole number from 1 to {MAX_RESAMPLES}, got {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if examples * resamples > MAX_DRAWS:
        raise ValueError(
            f"a bootstrap of {examples} examples x {resamples} resamples is more than the limit of "
            f"{MAX_DRAWS:,} draws: lower resamples or the number of examples"
        )


def check_lengths(name_a: str, a: Sequence[object], name_b: str, b: Sequence[object]) -> int:
    """The common length of two aligned inputs; ValueError when one is empty or they differ."""
    if len(a) == 0 and len(b) == 0:
        raise ValueError(f"{name_a} and {name_b} are empty: the evaluation needs at least one example")
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} items but {name_b} has {len(b)}: they must be aligned one to one")
    return len(a)


def finite_floats(name: str, values: Sequence[float]) -> FloatArray:
    """values as a float64 vector; ValueError naming the first non-number, NaN or infinity."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name}[{i}] is {v!r}, not a number")
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"{name}[{i}] is {f}: every value must be a finite number")
        out[i] = f
    return out


def bootstrap(
    examples: int,
    statistic: Statistic,
    names: Sequence[str],
    *,
    resamples: int,
    seed: int,
    bytes_per_draw: int = DEFAULT_BYTES_PER_DRAW,
) -> dict[str, Estimate]:
    """Point values and 95% percentile intervals of the statistic's columns, named by `names`.

    Deterministic for a seed. Resamples where a column is undefined (NaN, e.g. a rank correlation of a
    resample whose values are all equal) are left out of that column's interval; if every resample is
    undefined the interval collapses to the point value.
    """
    check_resampling(examples, resamples=resamples, seed=seed)
    point = statistic(np.arange(examples, dtype=np.intp)[None, :])
    if point.shape != (1, len(names)):
        raise RuntimeError(f"statistic returned shape {point.shape} for {len(names)} metric names")
    rows_per_chunk = max(1, CHUNK_BYTES // (max(1, bytes_per_draw) * examples))
    rng = np.random.default_rng(seed)
    samples = np.empty((resamples, len(names)), dtype=np.float64)
    done = 0
    while done < resamples:
        rows = min(rows_per_chunk, resamples - done)
        index = rng.integers(0, examples, size=(rows, examples), dtype=np.intp)
        samples[done : done + rows] = statistic(index)
        done += rows
    alpha = (1.0 - CONFIDENCE) / 2.0
    out: dict[str, Estimate] = {}
    for j, name in enumerate(names):
        value = float(point[0, j])
        column = samples[:, j]
        column = column[~np.isnan(column)]
        if column.size == 0:
            out[name] = Estimate(value, value, value)
            continue
        low, high = np.quantile(column, [alpha, 1.0 - alpha])
        out[name] = Estimate(value, float(low), float(high))
    return out


def draw_counts(index: IndexArray, examples: int) -> FloatArray:
    """(rows, n) indices -> (rows, n) how many times each example was drawn in each row."""
    rows = index.shape[0]
    offsets = np.arange(rows, dtype=np.intp)[:, None] * examples
    counts = np.bincount((index + offsets).ravel(), minlength=rows * examples)
    return counts.reshape(rows, examples).astype(np.float64)


def summed(stats: FloatArray, finish: Callable[[FloatArray], FloatArray]) -> Statistic:
    """A statistic from per-example sufficient statistics (n, k): finish((rows, k) sums) -> (rows, m)."""
    examples = stats.shape[0]

    def statistic(index: IndexArray) -> FloatArray:
        if index.shape[0] == 1 and index.shape[1] == examples and np.array_equal(index[0], np.arange(examples)):
            sums = stats.sum(axis=0, keepdims=True)
        else:
            sums = draw_counts(index, examples) @ stats
        return finish(sums)

    return statistic


def means(stats: FloatArray) -> Statistic:
    """A statistic whose metrics are plain means of per-example values (n, m)."""
    examples = stats.shape[0]
    return summed(stats, lambda sums: sums / examples)


def ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """numerator / denominator elementwise, 0 where the denominator is 0 (the convention of sklearn and seqeval)."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)
