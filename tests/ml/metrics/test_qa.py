"""SQuAD exact match and F1: the normalisation and the scores by hand."""

from __future__ import annotations

import pytest

from inhouse.ml.metrics import qa


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The  Cat!", "cat"),
        ("an apple, a day", "apple day"),
        ("Theory of a thing", "theory of thing"),  # 'the' only as a whole word
        ("  Paris,\tFrance. ", "paris france"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, normal: str) -> None:
    assert qa.normalize_answer(text) == normal


def test_by_hand() -> None:
    preds = ["the big red dog", "Paris", "", "London"]
    golds = [["red dog"], ["paris", "Paris, France"], [], []]
    # 1: tokens [big, red, dog] vs [red, dog]: common 2, precision 2/3, recall 1, F1 = 2*(2/3)/(5/3) = 0.8; EM 0
    # 2: 'paris' == 'paris': EM 1, F1 1 (best over the gold answers)
    # 3: no gold answer = the answer '': the empty prediction gets EM 1, F1 1
    # 4: no gold answer, a non-empty prediction: 0, 0
    # EM = (0 + 1 + 1 + 0) / 4 = 0.5 ; F1 = (0.8 + 1 + 1 + 0) / 4 = 0.7
    out = qa.score(preds, golds, resamples=200, seed=0)
    assert out["exact_match"].value == pytest.approx(0.5)
    assert out["f1"].value == pytest.approx(0.7)
    assert out["f1"].low <= 0.7 <= out["f1"].high
    assert qa.token_f1("the big red dog", "red dog") == pytest.approx(0.8)
    # [x, b, b] vs [b, b, b]: counts clip, common 2: precision 2/3, recall 2/3, F1 2/3
    assert qa.token_f1("x b b", "b b b") == pytest.approx(2 / 3)
    # 'a' is an article and goes: [b, b] vs [b, b, b]: precision 1, recall 2/3, F1 = 2 * (2/3) / (5/3) = 0.8
    assert qa.token_f1("a b b", "b b b") == pytest.approx(0.8)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="list of answer strings"):
        qa.score(["x"], ["x"], resamples=10, seed=0)
    with pytest.raises(ValueError, match="not a string"):
        qa.score([None], [["x"]], resamples=10, seed=0)  # type: ignore[list-item]
