"""ROUGE, chrF, BLEU, perplexity and exact match: by hand, against rouge_score and sacrebleu's corpus scores on
the full data and on every resample."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from inhouse.ml.metrics import generation

from .conftest import Replay

HYPS = [
    "the cat sat on the mat",
    "a quick brown fox jumps over the dog",
    "hello world",
    "",  # an empty output
    "completely unrelated words here",
    "the weather is nice today in Paris",
    "we ship the order tomorrow morning",
    "invoice 4471 was paid twice",
]
REFS = [
    "a cat sat on a mat",
    "the quick brown fox jumps over the lazy dog",
    "hello there world",
    "nothing came out",
    "the meeting moved to friday",
    "today the weather in Paris is nice",
    "the order ships tomorrow morning",
    "invoice 4471 was paid twice by mistake",
]


def test_rouge_by_hand() -> None:
    # tokens: [the, cat, sat, on, the, mat] vs [a, cat, sat, on, a, mat]
    # rouge1: overlap cat, sat, on, mat = 4 -> P = R = 4/6 -> F 2/3
    # rouge2: bigrams the-cat cat-sat sat-on on-the the-mat vs a-cat cat-sat sat-on on-a a-mat: 2 of 5 -> F 0.4
    # rougeL: LCS cat sat on mat = 4 -> F 2/3
    out = generation.score_summaries(["the cat sat on the mat"], ["a cat sat on a mat"], resamples=20, seed=0)
    assert out["rouge1"].value == pytest.approx(2 / 3)
    assert out["rouge2"].value == pytest.approx(0.4)
    assert out["rougeL"].value == pytest.approx(2 / 3)


def test_rouge_matches_rouge_score_averaged_on_english(replay: Replay) -> None:
    out = generation.score_summaries(HYPS, REFS, resamples=200, seed=1)
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    per_example = [scorer.score(r, h) for h, r in zip(HYPS, REFS, strict=True)]
    for name in ("rouge1", "rouge2", "rougeL"):
        values = np.array([s[name].fmeasure for s in per_example])
        assert out[name].value == pytest.approx(values.mean())
        low, high = replay(len(HYPS), 200, 1, lambda i, v=values: float(v[i].mean()))
        assert (out[name].low, out[name].high) == pytest.approx((low, high))


def test_rouge_tokenizer_keeps_non_english_words() -> None:
    # rouge_score's own tokenizer keeps [a-z0-9] only ('läuft' -> 'l', 'uft'); ours keeps Unicode words:
    # [der, hund, läuft, schnell] vs [der, hund, läuft]: P 3/4, R 1 -> F1 = 2 * 0.75 / 1.75 = 6/7
    out = generation.score_summaries(["Der Hund läuft schnell"], ["der Hund läuft"], resamples=10, seed=0)
    assert out["rouge1"].value == pytest.approx(6 / 7)
    assert generation.RougeTokenizer().tokenize("Straße, running  fast!") == ["straße", "run", "fast"]
    # Japanese without spaces is one token per run of letters, not nothing
    assert generation.RougeTokenizer().tokenize("東京 大阪") == ["東京", "大阪"]


def test_bleu_and_chrf_by_hand() -> None:
    # BLEU 'a b c d' vs 'a b c d e': every n-gram of the hypothesis matches (4/4, 3/3, 2/2, 1/1), so the
    # geometric mean is 1; brevity penalty exp(1 - 5/4) -> BLEU = 100 * exp(-0.25) = 77.8801
    out = generation.score_translations(["a b c d"], ["a b c d e"], resamples=10, seed=0)
    assert out["bleu"].value == pytest.approx(100 * math.exp(-0.25))
    # chrF 'ab' vs 'abc': order 1: hyp 2, ref 3, match 2; order 2: hyp 1 (ab), ref 2 (ab, bc), match 1;
    # order 3: hyp 0 -> not counted. precision = (2/2 + 1/1) / 2 = 1, recall = (2/3 + 1/2) / 2 = 7/12
    # chrF2 = (1 + 4) * 1 * 7/12 / (4 * 1 + 7/12) = 35/55 = 63.636
    out = generation.score_translations(["ab"], ["abc"], resamples=10, seed=0)
    assert out["chrf"].value == pytest.approx(100 * 35 / 55)


def test_bleu_and_chrf_equal_sacrebleu_corpus_scores(replay: Replay) -> None:
    out = generation.score_translations(HYPS, REFS, resamples=150, seed=3)
    assert out["bleu"].value == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, rel=1e-12)
    assert out["chrf"].value == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, rel=1e-12)
    # and every resample is sacrebleu's corpus score of the resampled sentences
    h, r = np.array(HYPS, dtype=object), np.array(REFS, dtype=object)
    low, high = replay(len(HYPS), 150, 3, lambda i: float(sacrebleu.corpus_bleu(list(h[i]), [list(r[i])]).score))
    assert (out["bleu"].low, out["bleu"].high) == pytest.approx((low, high), rel=1e-9)
    low, high = replay(len(HYPS), 150, 3, lambda i: float(sacrebleu.corpus_chrf(list(h[i]), [list(r[i])]).score))
    assert (out["chrf"].low, out["chrf"].high) == pytest.approx((low, high), rel=1e-9)


@pytest.mark.parametrize(
    ("hyps", "refs"),
    [
        (["the cat"], ["the cat sat"]),  # no 3-gram or 4-gram in the hypothesis: BLEU 0
        (["the cat sat on a mat today"], ["the dog sat on the mat today"]),  # smoothing: orders without a match
        ([""], ["something"]),  # empty hypothesis
        (["x y z w"], ["a b c d"]),  # no match at all
        (["one two three four five six"], ["one two three four"]),  # longer than the reference: no penalty
    ],
)
def test_bleu_and_chrf_edge_cases_equal_sacrebleu(hyps: list[str], refs: list[str]) -> None:
    out = generation.score_translations(hyps, refs, resamples=5, seed=0)
    assert out["bleu"].value == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, rel=1e-12, abs=1e-12)
    assert out["chrf"].value == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, rel=1e-12, abs=1e-12)


def test_perplexity_by_hand() -> None:
    # sum nll = 2 + 4 + 3 = 9 over 1 + 3 + 2 = 6 tokens -> exp(9/6) = exp(1.5) = 4.48169
    out = generation.score_perplexity([2.0, 4.0, 3.0], [1, 3, 2], resamples=300, seed=0)["perplexity"]
    assert out.value == pytest.approx(math.exp(1.5))
    # the extremes a resample can reach: all text 1 (exp(2)) ... all text 2 (exp(4/3)) or 3 (exp(1.5))
    assert math.exp(4 / 3) <= out.low <= out.value <= out.high <= math.exp(2.0)


def test_perplexity_bad_input() -> None:
    with pytest.raises(ValueError, match="negative"):
        generation.score_perplexity([-1.0], [2], resamples=10, seed=0)
    with pytest.raises(ValueError, match="whole numbers"):
        generation.score_perplexity([1.0], [1.5], resamples=10, seed=0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no text has a scored token"):
        generation.score_perplexity([0.0, 0.0], [0, 0], resamples=10, seed=0)
    with pytest.raises(ValueError, match="must be a finite number"):
        generation.score_perplexity([float("inf")], [3], resamples=10, seed=0)


def test_exact_match_by_hand() -> None:
    # ' Paris' == 'Paris' after stripping; 'paris' != 'Paris' (case counts); '42\n' == '42' -> 2/3
    out = generation.score_exact([" Paris", "paris", "42\n"], ["Paris", "Paris", "42"], resamples=100, seed=0)
    assert out["exact_match"].value == pytest.approx(2 / 3)


def test_text_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match=r"preds\[0\] is None"):
        generation.score_translations([None], ["x"], resamples=10, seed=0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="empty"):
        generation.score_summaries([], [], resamples=10, seed=0)
