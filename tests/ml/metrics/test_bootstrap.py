"""Properties of the percentile bootstrap (bootstrap.py), exercised through accuracy (a mean of 0/1 flags)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inhouse.ml.metrics import bootstrap as bs
from inhouse.ml.metrics import classification, generation


def _flags(correct: int, total: int) -> tuple[list[int], list[int]]:
    """preds/refs where the first `correct` of `total` predictions are right."""
    refs = [1] * total
    preds = [1] * correct + [0] * (total - correct)
    return preds, refs


def test_interval_contains_point_value_which_is_the_full_data_metric() -> None:
    preds, refs = _flags(13, 20)
    acc = classification.score(preds, refs, resamples=2000, seed=1)["accuracy"]
    assert acc.value == 13 / 20  # the metric on all 20 examples, not the mean of the resamples
    assert acc.low < acc.value < acc.high
    assert 0.0 <= acc.low and acc.high <= 1.0


def test_interval_shrinks_with_more_examples() -> None:
    small = classification.score(*_flags(14, 20), resamples=2000, seed=3)["accuracy"]
    large = classification.score(*_flags(14 * 16, 20 * 16), resamples=2000, seed=3)["accuracy"]
    assert small.value == large.value == 0.7
    # width ~ 1/sqrt(n): 16x the examples gives about a quarter of the width
    assert (large.high - large.low) < (small.high - small.low) / 2.5


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    rng = np.random.default_rng(0)
    nll = list(rng.uniform(0.5, 5.0, 50))
    tokens = list(rng.integers(1, 20, 50))
    a = generation.score_perplexity(nll, tokens, resamples=500, seed=7)["perplexity"]
    b = generation.score_perplexity(nll, tokens, resamples=500, seed=7)["perplexity"]
    c = generation.score_perplexity(nll, tokens, resamples=500, seed=8)["perplexity"]
    assert a == b
    assert a.value == c.value
    assert (a.low, a.high) != (c.low, c.high)


def test_always_correct_predictor_has_a_degenerate_interval_at_one() -> None:
    out = classification.score(["a", "b", "c", "a"] * 5, ["a", "b", "c", "a"] * 5, resamples=300, seed=0)
    for name in ("accuracy", "macro_f1"):
        assert out[name].value == out[name].low == out[name].high == 1.0


def test_bernoulli_interval_is_close_to_the_normal_approximation() -> None:
    # 400 examples, 280 correct: p = 0.7, standard error sqrt(0.7 * 0.3 / 400) = 0.022913,
    # normal 95% half width 1.96 * 0.022913 = 0.04491 -> [0.6551, 0.7449].
    acc = classification.score(*_flags(280, 400), resamples=4000, seed=11)["accuracy"]
    half_width = 1.959964 * math.sqrt(0.7 * 0.3 / 400)
    assert (acc.high - acc.low) / 2 == pytest.approx(half_width, rel=0.15)
    assert acc.low == pytest.approx(0.7 - half_width, abs=0.012)
    assert acc.high == pytest.approx(0.7 + half_width, abs=0.012)


def test_chunks_bound_memory_and_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.linspace(0.0, 1.0, 1000)
    chunk_rows: list[int] = []

    def statistic(index: bs.IndexArray) -> bs.FloatArray:
        chunk_rows.append(index.shape[0])
        return values[index].mean(axis=1, keepdims=True)

    whole = bs.bootstrap(1000, statistic, ["mean"], resamples=5000, seed=5)
    # the first call is the point value (one row), then the resamples in chunks
    assert chunk_rows[0] == 1
    assert sum(chunk_rows[1:]) == 5000
    assert len(chunk_rows) > 2
    assert max(chunk_rows[1:]) * 1000 * bs.DEFAULT_BYTES_PER_DRAW <= bs.CHUNK_BYTES
    monkeypatch.setattr(bs, "CHUNK_BYTES", 1)  # one resample per chunk: the same random stream, the same interval
    chunk_rows.clear()
    assert bs.bootstrap(1000, statistic, ["mean"], resamples=5000, seed=5) == whole
    assert max(chunk_rows) == 1


def test_undefined_resamples_are_left_out() -> None:
    # 1 scored token in 2 texts: a resample drawing only the second text has no perplexity
    out = generation.score_perplexity([2.0, 0.0], [1, 0], resamples=400, seed=0)["perplexity"]
    assert out.value == out.low == out.high == pytest.approx(math.exp(2.0))


@pytest.mark.parametrize(
    ("examples", "resamples", "seed", "message"),
    [
        (0, 100, 0, "no examples"),
        (10, 0, 0, "resamples must be"),
        (10, bs.MAX_RESAMPLES + 1, 0, "resamples must be"),
        (10, 100, -1, "seed must be"),
        (200_000, bs.MAX_RESAMPLES, 0, "more than the limit"),
    ],
)
def test_limits_and_bad_parameters_are_refused(examples: int, resamples: int, seed: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bs.check_resampling(examples, resamples=resamples, seed=seed)


def test_bad_inputs_raise_value_errors_that_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="empty"):
        classification.score([], [], resamples=10, seed=0)
    with pytest.raises(ValueError, match="preds has 2 items but refs has 3"):
        classification.score([1, 2], [1, 2, 3], resamples=10, seed=0)
    with pytest.raises(ValueError, match="must be a finite number"):
        bs.finite_floats("scores", [0.5, float("nan")])
    with pytest.raises(ValueError, match="not a number"):
        bs.finite_floats("scores", [0.5, "0.7"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="resamples must be"):
        classification.score([1], [1], resamples=0, seed=0)


def test_estimate_as_dict() -> None:
    assert bs.Estimate(0.5, 0.25, 0.75).as_dict() == {"value": 0.5, "low": 0.25, "high": 0.75}
