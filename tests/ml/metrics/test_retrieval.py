"""nDCG@k and recall@k by hand."""

from __future__ import annotations

import math

import pytest

from inhouse.ml.metrics import retrieval


def test_by_hand() -> None:
    rankings = [[5, 1, 7], [2, 3], [9, 8]]
    relevant = [{1, 7}, {2}, {3}]
    # q1: hits at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4) = 0.63093 + 0.5 = 1.13093
    #     IDCG (2 relevant) = 1/log2(2) + 1/log2(3) = 1.63093 -> nDCG 0.69343; recall@1 0, recall@10 2/2
    # q2: hit at rank 1: nDCG 1, recall@1 1, recall@10 1
    # q3: no hit: 0, 0, 0
    q1 = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    out = retrieval.score(rankings, relevant, resamples=200, seed=0)
    assert set(out) == {"ndcg_at_10", "recall_at_1", "recall_at_10"}
    assert out["ndcg_at_10"].value == pytest.approx((q1 + 1 + 0) / 3)
    assert out["recall_at_1"].value == pytest.approx(1 / 3)
    assert out["recall_at_10"].value == pytest.approx(2 / 3)
    assert q1 == pytest.approx(0.693426, abs=1e-6)


def test_cutoff() -> None:
    # k = 2 on q1 above: only the hit at rank 2 counts: DCG 1/log2(3) = 0.63093, IDCG 1.63093 -> 0.38685
    # recall@2 = 1/2
    out = retrieval.score([[5, 1, 7]], [{1, 7}], k=2, resamples=10, seed=0)
    assert out["ndcg_at_2"].value == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert out["recall_at_2"].value == pytest.approx(0.5)
    # more relevant documents than k: the ideal ranking fills all k places
    perfect = retrieval.score([[1, 2, 3]], [{1, 2, 3}], k=2, resamples=10, seed=0)
    assert perfect["ndcg_at_2"].value == pytest.approx(1.0)
    assert perfect["recall_at_2"].value == pytest.approx(2 / 3)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="no relevant document"):
        retrieval.score([[1]], [set()], resamples=10, seed=0)
    with pytest.raises(ValueError, match="names a document twice"):
        retrieval.score([[1, 1]], [{1}], resamples=10, seed=0)
    with pytest.raises(ValueError, match="k must be"):
        retrieval.score([[1]], [{1}], k=0, resamples=10, seed=0)
