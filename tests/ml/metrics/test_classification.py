"""Accuracy and macro-F1: by hand, against scikit-learn on the full data and on every resample."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from inhouse.ml.metrics import classification

from .conftest import Replay


def test_by_hand() -> None:
    preds = [0, 1, 1, 2, 0]
    refs = [0, 1, 2, 2, 1]
    # correct: ex0, ex1, ex3 -> accuracy 3/5 = 0.6
    # class 0: tp 1 (ex0), fp 1 (ex4 says 0, is 1), fn 0  -> F1 = 2*1 / (2*1 + 1 + 0) = 2/3
    # class 1: tp 1 (ex1), fp 1 (ex2 says 1, is 2), fn 1 (ex4) -> F1 = 2 / (2 + 1 + 1) = 1/2
    # class 2: tp 1 (ex3), fp 0, fn 1 (ex2)              -> F1 = 2 / (2 + 0 + 1) = 2/3
    # macro = (2/3 + 1/2 + 2/3) / 3 = 11/18
    out = classification.score(preds, refs, resamples=200, seed=0)
    assert out["accuracy"].value == pytest.approx(0.6)
    assert out["macro_f1"].value == pytest.approx(11 / 18)
    # label names work the same way
    names = {0: "billing", 1: "bug", 2: "other"}
    out_names = classification.score(
        [names[p] for p in preds], [names[r] for r in refs], resamples=200, seed=0
    )
    assert out_names == out


def test_a_class_only_predicted_counts_with_f1_zero() -> None:
    # refs have classes a, b; the model also says c once: class c has tp 0, fp 1 -> F1 0 and joins the mean.
    # a: tp 2, fp 0, fn 0 -> 1; b: tp 1, fp 0, fn 1 -> 2/3; c: 0 -> macro = (1 + 2/3 + 0) / 3 = 5/9
    out = classification.score(["a", "a", "b", "c"], ["a", "a", "b", "b"], resamples=50, seed=0)
    assert out["macro_f1"].value == pytest.approx(5 / 9)
    assert out["accuracy"].value == pytest.approx(3 / 4)


def test_matches_sklearn_on_the_full_data_and_every_resample(replay: Replay) -> None:
    rng = np.random.default_rng(42)
    refs = rng.choice(5, size=120, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    noise = rng.random(120) < 0.35
    preds = np.where(noise, rng.integers(0, 6, size=120), refs)  # class 5 exists only among predictions
    out = classification.score(list(preds), list(refs), resamples=300, seed=9)
    assert out["accuracy"].value == pytest.approx(accuracy_score(refs, preds))
    assert out["macro_f1"].value == pytest.approx(f1_score(refs, preds, average="macro"))
    # sklearn on each resample (labels = those present in it) gives the same percentile interval
    low, high = replay(120, 300, 9, lambda i: float(f1_score(refs[i], preds[i], average="macro", zero_division=0)))
    assert out["macro_f1"].low == pytest.approx(low)
    assert out["macro_f1"].high == pytest.approx(high)
    low, high = replay(120, 300, 9, lambda i: float(accuracy_score(refs[i], preds[i])))
    assert (out["accuracy"].low, out["accuracy"].high) == pytest.approx((low, high))


def test_majority_class_predictor_has_high_accuracy_but_low_macro_f1() -> None:
    # 90 'other', 10 'urgent'; always 'other': accuracy 0.9; F1(other) = 180/190, F1(urgent) = 0 -> macro 0.4737
    refs = ["other"] * 90 + ["urgent"] * 10
    out = classification.score(["other"] * 100, refs, resamples=100, seed=0)
    assert out["accuracy"].value == pytest.approx(0.9)
    assert out["macro_f1"].value == pytest.approx(180 / 190 / 2)


def test_bad_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="mix class ids"):
        classification.score([0, 1], ["a", "b"], resamples=10, seed=0)
    with pytest.raises(ValueError, match=r"preds\[1\] is 1.0"):
        classification.score([0, 1.0], [0, 1], resamples=10, seed=0)  # type: ignore[list-item]
    # numpy integers are class ids
    out = classification.score(list(np.array([0, 1])), [0, 1], resamples=10, seed=0)
    assert out["accuracy"].value == 1.0
