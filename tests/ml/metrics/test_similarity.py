"""Spearman correlation: by hand, against scipy on the full data and on every resample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from inhouse.ml.metrics import similarity

from .conftest import Replay


def test_by_hand() -> None:
    # predicted ranks [1, 3, 2, 4], gold ranks [1, 2, 3, 4]: d = [0, 1, -1, 0], sum d^2 = 2
    # rho = 1 - 6 * 2 / (4 * (16 - 1)) = 1 - 12/60 = 0.8
    out = similarity.score([0.1, 0.4, 0.35, 0.8], [1.0, 2.0, 3.0, 4.0], resamples=200, seed=0)
    assert out["spearman"].value == pytest.approx(0.8)
    assert out["spearman"].low <= 0.8 <= out["spearman"].high


@pytest.mark.parametrize("ties", [True, False])
def test_matches_scipy_on_the_full_data_and_every_resample(replay: Replay, ties: bool) -> None:
    # a resample repeats examples, so its ranks have ties even when the data has none
    rng = np.random.default_rng(5)
    gold = rng.uniform(0, 5, 80)
    pred = gold + rng.normal(0, 1.2, 80)
    if ties:
        gold = np.round(gold * 2) / 2  # half points, as in STS-B
        pred = np.round(pred, 1)
    out = similarity.score(list(pred), list(gold), resamples=300, seed=2)
    assert out["spearman"].value == pytest.approx(spearmanr(pred, gold).statistic)
    low, high = replay(80, 300, 2, lambda i: float(spearmanr(pred[i], gold[i]).statistic))
    assert (out["spearman"].low, out["spearman"].high) == pytest.approx((low, high))


def test_constant_scores() -> None:
    with pytest.raises(ValueError, match="every gold score is the same"):
        similarity.score([0.1, 0.2, 0.3], [1.0, 1.0, 1.0], resamples=10, seed=0)
    assert similarity.score([0.5, 0.5, 0.5], [1.0, 2.0, 3.0], resamples=10, seed=0)["spearman"].value == 0.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"pred_sims\[1\] is nan"):
        similarity.score([0.1, float("nan")], [1.0, 2.0], resamples=10, seed=0)
    with pytest.raises(ValueError, match="at least two pairs"):
        similarity.score([0.1], [1.0], resamples=10, seed=0)
