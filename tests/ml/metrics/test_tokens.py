"""Entity precision / recall / F1: by hand, against seqeval on the full data and on every resample."""

from __future__ import annotations

import numpy as np
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from inhouse.ml.metrics import tokens

from .conftest import Replay

GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],  # PER(0,1), LOC(3,3)
    ["B-ORG", "O"],  # ORG(0,0)
    ["B-PER", "I-PER"],  # PER(0,1)
]
PRED = [
    ["B-PER", "I-PER", "O", "O"],  # PER(0,1): tp 1, predicted 1, gold 2
    ["B-ORG", "B-MISC"],  # ORG(0,0), MISC(1,1): tp 1, predicted 2, gold 1
    ["B-PER", "O"],  # PER(0,0): wrong boundary, tp 0, predicted 1, gold 1
]


def test_by_hand() -> None:
    # tp = 1 + 1 + 0 = 2, predicted = 1 + 2 + 1 = 4, gold = 2 + 1 + 1 = 4
    # precision = 2/4, recall = 2/4, F1 = 2*2 / (4 + 4) = 0.5
    assert tokens.sentence_counts(PRED, GOLD).tolist() == [[1, 1, 2], [1, 2, 1], [0, 1, 1]]
    out = tokens.score(PRED, GOLD, resamples=100, seed=0)
    assert out["entity_precision"].value == pytest.approx(0.5)
    assert out["entity_recall"].value == pytest.approx(0.5)
    assert out["entity_f1"].value == pytest.approx(0.5)
    assert f1_score(GOLD, PRED) == pytest.approx(0.5)


def test_matches_seqeval_on_the_full_data_and_every_resample(replay: Replay) -> None:
    rng = np.random.default_rng(3)
    types = ["PER", "ORG", "LOC"]
    gold: list[list[str]] = []
    pred: list[list[str]] = []
    for _ in range(60):
        g: list[str] = []
        while len(g) < 8:
            if rng.random() < 0.4:
                t = types[rng.integers(3)]
                g += [f"B-{t}"] + [f"I-{t}"] * int(rng.integers(0, 3))
            else:
                g.append("O")
        g = g[:8]
        p = [("O" if rng.random() < 0.5 else f"B-{types[rng.integers(3)]}") if rng.random() < 0.2 else tag for tag in g]
        gold.append(g)
        pred.append(p)
    out = tokens.score(pred, gold, resamples=200, seed=4)
    assert out["entity_f1"].value == pytest.approx(f1_score(gold, pred))
    assert out["entity_precision"].value == pytest.approx(precision_score(gold, pred))
    assert out["entity_recall"].value == pytest.approx(recall_score(gold, pred))
    low, high = replay(60, 200, 4, lambda i: float(f1_score([gold[j] for j in i], [pred[j] for j in i])))
    assert (out["entity_f1"].low, out["entity_f1"].high) == pytest.approx((low, high))


def test_numpy_sentences_are_lists_of_tags() -> None:
    as_arrays = [np.array(sentence) for sentence in PRED]
    assert tokens.score(as_arrays, GOLD, resamples=20, seed=0) == tokens.score(PRED, GOLD, resamples=20, seed=0)


def test_no_entities_anywhere_scores_zero_as_seqeval_does() -> None:
    out = tokens.score([["O", "O"]], [["O", "O"]], resamples=10, seed=0)
    assert out["entity_f1"].value == 0.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="sentence 0 has 2 predicted tags but 3 gold tags"):
        tokens.score([["O", "O"]], [["O", "O", "O"]], resamples=10, seed=0)
    with pytest.raises(ValueError, match="list of tag strings"):
        tokens.score(["B-PER"], [["B-PER"]], resamples=10, seed=0)
    with pytest.raises(ValueError, match="non-empty strings"):
        tokens.score([["B-PER", ""]], [["B-PER", "O"]], resamples=10, seed=0)
