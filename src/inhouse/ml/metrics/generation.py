"""Sequence-to-sequence and causal LM metrics: ROUGE, chrF and BLEU, perplexity, exact match.

- ROUGE (rouge_score): per-example F-measure of rouge1, rouge2 and rougeL, Porter-stemmed, averaged over
  examples, as `RougeScorer(...).score` averaged. One change from rouge_score's default tokenizer, which
  keeps only [a-z0-9] and so scores every non-English summary 0: tokens are runs of Unicode letters and
  digits (identical on ASCII text), and only ASCII words are stemmed.
- chrF and BLEU (sacrebleu, default settings: chrF with character order 6, beta 2; BLEU with the 13a
  tokenizer and exponential smoothing) are corpus metrics: sacrebleu's own per-sentence sufficient
  statistics (n-gram matches and totals, lengths) are extracted once, and a resample's score is computed from
  the summed statistics, vectorised here with the formulas of sacrebleu's `_compute_score_from_stats`, so the
  point value equals `sacrebleu.corpus_chrf` / `corpus_bleu` on the same sentences (0..100).
- perplexity = exp(sum of token negative log-likelihoods / number of scored tokens) over the resampled texts.
- exact_match: the generated answer equals the reference after stripping surrounding whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import sacrebleu
from nltk.stem.porter import PorterStemmer
from rouge_score.rouge_scorer import RougeScorer

from .bootstrap import (
    Estimate,
    FloatArray,
    bootstrap,
    check_lengths,
    finite_floats,
    means,
    ratio,
    summed,
)

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_WORD = re.compile(r"[^\W_]+")


class RougeTokenizer:
    """rouge_score's tokenizer (lowercase, alphanumeric runs, Porter stems for words over 3 characters)
    widened to Unicode letters and digits; only ASCII words are stemmed (the Porter stemmer is English)."""

    def __init__(self, use_stemmer: bool = True) -> None:
        self._stemmer = PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        tokens: list[str] = _WORD.findall(text.lower())
        if self._stemmer is not None:
            stem = self._stemmer.stem
            tokens = [str(stem(t)) if len(t) > 3 and t.isascii() else t for t in tokens]
        return [t for t in tokens if t]


def _texts(name: str, values: Sequence[str]) -> list[str]:
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ValueError(f"{name}[{i}] is {v!r}, not a string")
    return list(values)


def score_summaries(
    preds: Sequence[str], refs: Sequence[str], *, resamples: int, seed: int, use_stemmer: bool = True
) -> dict[str, Estimate]:
    """rouge1, rouge2, rougeL (mean per-example F-measure, 0..1) with 95% intervals."""
    n = check_lengths("preds", preds, "refs", refs)
    hyps, targets = _texts("preds", preds), _texts("refs", refs)
    scorer = RougeScorer(list(ROUGE_TYPES), tokenizer=RougeTokenizer(use_stemmer))
    stats = np.empty((n, len(ROUGE_TYPES)), dtype=np.float64)
    for i in range(n):
        result = scorer.score(targets[i], hyps[i])
        stats[i] = [result[t].fmeasure for t in ROUGE_TYPES]
    return bootstrap(n, means(stats), list(ROUGE_TYPES), resamples=resamples, seed=seed)


BLEU_ORDER = 4
CHRF_ORDER = 6
CHRF_BETA = 2


def sentence_statistics(preds: Sequence[str], refs: Sequence[str]) -> tuple[FloatArray, FloatArray]:
    """sacrebleu's per-sentence statistics: chrF (n, 3 x 6: hyp, ref, match counts per character order) and
    BLEU (n, 2 + 2 x 4: hypothesis length, reference length, matches per order, totals per order)."""
    n = check_lengths("preds", preds, "refs", refs)
    hyps, targets = _texts("preds", preds), _texts("refs", refs)
    chrf_metric = sacrebleu.CHRF()
    bleu_metric = sacrebleu.BLEU()
    chrf = np.asarray(chrf_metric._extract_corpus_statistics(hyps, [targets]), dtype=np.float64)
    bleu = np.asarray(bleu_metric._extract_corpus_statistics(hyps, [targets]), dtype=np.float64)
    if chrf.shape != (n, 3 * CHRF_ORDER) or bleu.shape != (n, 2 + 2 * BLEU_ORDER):
        raise RuntimeError(
            f"sacrebleu {sacrebleu.__version__} returned statistics of shapes {chrf.shape} and {bleu.shape}; "
            "this module expects the layout of sacrebleu 2.x"
        )
    return chrf, bleu


def chrf_from_sums(sums: FloatArray) -> FloatArray:
    """(rows, 18) summed chrF statistics -> (rows,) chrF, as sacrebleu's CHRF._compute_f_score (no eps smoothing)."""
    counts = sums.reshape(len(sums), CHRF_ORDER, 3)
    hyp, ref, match = counts[:, :, 0], counts[:, :, 1], counts[:, :, 2]
    effective = (hyp > 0) & (ref > 0)
    orders = effective.sum(axis=1).astype(np.float64)
    precision = ratio(np.where(effective, ratio(match, hyp), 0.0).sum(axis=1), orders)
    recall = ratio(np.where(effective, ratio(match, ref), 0.0).sum(axis=1), orders)
    factor = float(CHRF_BETA**2)
    return 100.0 * ratio((1 + factor) * precision * recall, factor * precision + recall)


def bleu_from_sums(sums: FloatArray) -> FloatArray:
    """(rows, 10) summed BLEU statistics -> (rows,) BLEU, as sacrebleu's BLEU.compute_bleu with its defaults
    (exponential smoothing: the k-th order with no match counts as 1 / (2^k x total))."""
    hyp_len, ref_len = sums[:, 0], sums[:, 1]
    correct, total = sums[:, 2 : 2 + BLEU_ORDER], sums[:, 2 + BLEU_ORDER :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        brevity = np.where(hyp_len < ref_len, np.exp(1.0 - ref_len / np.where(hyp_len > 0, hyp_len, 1.0)), 1.0)
    brevity = np.where(hyp_len > 0, brevity, np.where(ref_len > 0, 0.0, 1.0))
    misses = np.cumsum(correct == 0, axis=1)
    safe_total = np.where(total > 0, total, 1.0)
    precision = np.where(correct > 0, correct / safe_total, 1.0 / (2.0**misses * safe_total))
    geometric = np.exp(np.log(precision).mean(axis=1))
    defined = (total > 0).all(axis=1) & (correct > 0).any(axis=1)
    return np.where(defined, 100.0 * brevity * geometric, 0.0)


def _translation_finish(sums: FloatArray) -> FloatArray:
    return np.stack([chrf_from_sums(sums[:, : 3 * CHRF_ORDER]), bleu_from_sums(sums[:, 3 * CHRF_ORDER :])], axis=1)


def score_translations(preds: Sequence[str], refs: Sequence[str], *, resamples: int, seed: int) -> dict[str, Estimate]:
    """chrf and bleu (corpus scores, 0..100) with 95% intervals, resampling sentences."""
    chrf, bleu = sentence_statistics(preds, refs)
    stats = np.concatenate([chrf, bleu], axis=1)
    return bootstrap(len(stats), summed(stats, _translation_finish), ["chrf", "bleu"], resamples=resamples, seed=seed)


def score_perplexity(
    nll_sums: Sequence[float], token_counts: Sequence[int], *, resamples: int, seed: int
) -> dict[str, Estimate]:
    """perplexity (lower is better) with a 95% interval; nll_sums[i] is the summed negative log-likelihood
    (natural log) of text i's token_counts[i] scored tokens. A resample drawing only texts without scored
    tokens has no perplexity and is left out of the interval."""
    n = check_lengths("nll_sums", nll_sums, "token_counts", token_counts)
    nll = finite_floats("nll_sums", nll_sums)
    tokens = finite_floats("token_counts", token_counts)
    if (nll < 0).any():
        raise ValueError(f"nll_sums[{int(np.argmax(nll < 0))}] is negative: a negative log-likelihood is >= 0")
    if (tokens < 0).any() or (tokens != np.round(tokens)).any():
        raise ValueError("token_counts must be whole numbers >= 0")
    if tokens.sum() == 0:
        raise ValueError("no text has a scored token: perplexity needs texts of at least two tokens")

    def finish(sums: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = np.exp(sums[:, 0] / sums[:, 1])
        return np.where(sums[:, 1] > 0, value, np.nan)[:, None]

    return bootstrap(n, summed(np.stack([nll, tokens], axis=1), finish), ["perplexity"], resamples=resamples, seed=seed)


def score_exact(preds: Sequence[str], refs: Sequence[str], *, resamples: int, seed: int) -> dict[str, Estimate]:
    """exact_match (0..1) with a 95% interval: preds[i].strip() == refs[i].strip()."""
    n = check_lengths("preds", preds, "refs", refs)
    hyps, targets = _texts("preds", preds), _texts("refs", refs)
    stats = np.array([[float(h.strip() == t.strip())] for h, t in zip(hyps, targets, strict=True)])
    return bootstrap(n, means(stats), ["exact_match"], resamples=resamples, seed=seed)
