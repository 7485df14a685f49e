"""Shared helpers for the metric tests: an independent replay of the bootstrap with a library's own metric."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

Replay = Callable[[int, int, int, Callable[[npt.NDArray[np.intp]], float]], tuple[float, float]]


def _replay(
    examples: int, resamples: int, seed: int, metric: Callable[[npt.NDArray[np.intp]], float]
) -> tuple[float, float]:
    """The 95% percentile interval of `metric` over the resamples bootstrap.py draws for this seed
    (row r of default_rng(seed).integers(0, n, (resamples, n)) is resample r), computed one resample at a
    time by the caller's reference implementation (sklearn, seqeval, sacrebleu, rouge_score, scipy)."""
    index = np.random.default_rng(seed).integers(0, examples, size=(resamples, examples), dtype=np.intp)
    values = np.array([metric(row) for row in index], dtype=np.float64)
    values = values[~np.isnan(values)]
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


@pytest.fixture
def replay() -> Replay:
    return _replay
