"""METRICS: every task family of the design, metric names as the score functions produce them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inhouse.ml.metrics import METRICS, classification, generation, primary_for, qa, retrieval, similarity, tokens

FAMILIES = [
    "text-classification",
    "token-classification",
    "question-answering",
    "sentence-similarity",
    "retrieval",
    "summarization",
    "translation",
    "text-generation",
]


def test_every_family_has_a_primary_metric_among_its_metrics() -> None:
    assert sorted(METRICS) == sorted(FAMILIES)
    for family in FAMILIES:
        assert METRICS[family].primary in METRICS[family].higher_is_better
    assert METRICS["text-classification"].primary == "macro_f1"
    assert METRICS["text-generation"].higher_is_better["perplexity"] is False
    lower_is_better = {k for m in METRICS.values() for k, v in m.higher_is_better.items() if not v}
    assert lower_is_better == {"perplexity"}


def test_registry_names_are_what_the_score_functions_return() -> None:
    kw = {"resamples": 5, "seed": 0}
    produced = {
        "text-classification": set(classification.score([0, 1], [0, 1], **kw)),
        "token-classification": set(tokens.score([["B-X"]], [["B-X"]], **kw)),
        "question-answering": set(qa.score(["a"], [["a"]], **kw)),
        "sentence-similarity": set(similarity.score([0.1, 0.2], [1.0, 2.0], **kw)),
        "retrieval": set(retrieval.score([[1]], [{1}], **kw)),
        "summarization": set(generation.score_summaries(["a b"], ["a b"], **kw)),
        "translation": set(generation.score_translations(["a b"], ["a b"], **kw)),
        "text-generation": set(generation.score_exact(["a"], ["a"], **kw))
        | set(generation.score_perplexity([1.0], [1], **kw)),
    }
    for family, names in produced.items():
        assert names == set(METRICS[family].higher_is_better), family


def test_primary_for() -> None:
    assert primary_for("text-generation", {"exact_match", "perplexity"}) == "exact_match"
    assert primary_for("text-generation", {"perplexity"}) == "perplexity"
    assert primary_for("text-classification", ["accuracy"]) == "accuracy"
    with pytest.raises(ValueError, match="unknown task 'vision'"):
        primary_for("vision", {"accuracy"})
    with pytest.raises(ValueError, match="none of the metrics of translation"):
        primary_for("translation", {"rougeL"})


def test_importing_the_package_loads_no_metric_library() -> None:
    code = (
        "import sys, inhouse.ml.metrics; "
        "print(sorted(m for m in ('seqeval', 'sacrebleu', 'rouge_score', 'scipy', 'sklearn', 'nltk', 'torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
