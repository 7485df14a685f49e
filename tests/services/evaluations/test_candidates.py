"""Stored result rows -> Candidates, and the leaderboard order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inhouse.services.evaluations.candidates import Candidate, Interval, candidates_from_rows, leaderboard

MakeCandidate = Callable[..., Candidate]


def row(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "acme/bert-small", "revision": "b" * 40, "variant": "original", "status": "ok", "error": None,
        "quality": 0.91, "primary_metric": "macro_f1", "higher_is_better": True,
        "metrics": {"macro_f1": {"value": 0.91, "low": 0.89, "high": 0.93}, "accuracy": {"value": 0.95}},
        "cost": {"parameters": 4_400_000, "size_bytes": 17_600_000, "peak_memory_bytes": 180_000_000,
                 "latency_p50_ms": 3.1, "latency_p95_ms": 4.0, "throughput_per_s": 900.0, "best_batch_size": 32,
                 "cost_per_million_usd": 0.09},
    }
    return {**base, **over}


def test_a_row_becomes_a_candidate() -> None:
    (c,) = candidates_from_rows([row()])
    assert c == Candidate(
        label="acme/bert-small", model="acme/bert-small", revision="b" * 40, variant="original", status="ok",
        quality=Interval(0.91, 0.89, 0.93), higher_is_better=True, latency_p50_ms=3.1,
        peak_memory_bytes=180_000_000, cost_per_million_usd=0.09, size_bytes=17_600_000, parameters=4_400_000,
        error=None, metric="macro_f1",
    )
    assert c.to_dict()["quality"] == {"value": 0.91, "low": 0.89, "high": 0.93}
    assert c.to_dict()["label"] == "acme/bert-small"


def test_labels_name_the_variant_and_stay_unique() -> None:
    cands = candidates_from_rows([
        row(variant="int8"),
        row(model="acme/bert-large", revision="a" * 40),
        row(model="acme/bert-large", revision="c" * 40),
        row(model_repo_id="acme/other", model=None, model_revision="d" * 40, revision=None, variant="onnx-int8"),
    ])
    assert [c.label for c in cands] == [
        "acme/bert-small (int8)", "acme/bert-large@aaaaaaa", "acme/bert-large@ccccccc", "acme/other (onnx-int8)"
    ]
    assert cands[3].model == "acme/other" and cands[3].revision == "d" * 40


def test_quality_interval_from_the_primary_metric() -> None:
    # quality absent: the metric's own value; bounds missing: the point; inverted bounds widened to contain it
    a, b, c, d = candidates_from_rows([
        row(quality=None),
        row(metrics={"macro_f1": {"value": 0.91}}),
        row(metrics={"macro_f1": {"value": 0.91, "low": 0.95, "high": 0.90}}),
        row(metrics={}, quality=0.5),
    ])
    assert a.quality == Interval(0.91, 0.89, 0.93)
    assert b.quality == Interval(0.91, 0.91, 0.91)
    assert c.quality == Interval(0.91, 0.91, 0.91)
    assert d.quality == Interval(0.5, 0.5, 0.5)


def test_ok_without_a_value_becomes_failed_and_failures_keep_their_error() -> None:
    a, b, c = candidates_from_rows([
        row(quality=None, metrics={}),
        row(quality=float("nan"), metrics={}),
        row(status="failed", error="out-of-memory: killed by signal 9", quality=None, metrics=None, cost=None),
    ])
    assert (a.status, a.error) == ("failed", "the evaluation reported no value for macro_f1")
    assert b.status == "failed"
    assert (c.status, c.error, c.quality, c.latency_p50_ms) == ("failed", "out-of-memory: killed by signal 9",
                                                                None, None)


def test_cost_fields_that_are_not_measurements_become_none() -> None:
    bad: list[object] = [float("nan"), float("inf"), -1.0, "12", True, None]
    cands = candidates_from_rows([row(cost={"latency_p50_ms": v, "peak_memory_bytes": v, "cost_per_million_usd": v,
                                            "size_bytes": v, "parameters": v}) for v in bad])
    for c in cands:
        assert (c.latency_p50_ms, c.peak_memory_bytes, c.cost_per_million_usd, c.size_bytes, c.parameters) == (
            None, None, None, None, None)
    (c,) = candidates_from_rows([row(cost={"peak_memory_bytes": 1.8e8, "cost_per_million_usd": 0})])
    assert c.peak_memory_bytes == 180_000_000 and isinstance(c.peak_memory_bytes, int)
    assert c.cost_per_million_usd == 0.0


def test_leaderboard_best_first_then_the_rest(make_candidate: MakeCandidate) -> None:
    cands = [
        make_candidate("skipped", None, status="skipped", error="ONNX is for encoders"),
        make_candidate("mid", 0.8),
        make_candidate("top-dear", 0.9, cost=2.0),
        make_candidate("top-cheap", 0.9, cost=1.0),
        make_candidate("failed", None, status="failed", error="boom"),
    ]
    assert [c.label for c in leaderboard(cands)] == ["top-cheap", "top-dear", "mid", "failed", "skipped"]
    ppl = [make_candidate(n, v, higher_is_better=False, metric="perplexity") for n, v in (("a", 30.0), ("b", 12.0))]
    assert [c.label for c in leaderboard(ppl)] == ["b", "a"]
