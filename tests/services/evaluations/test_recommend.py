"""The recommendation against constructed result tables: the manager's paragraph, ties, a tolerance nobody meets,
overlapping intervals, failures, lower-is-better metrics, missing costs."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest

from inhouse.errors import BadRequest
from inhouse.services.evaluations.candidates import Candidate, Interval, candidates_from_rows
from inhouse.services.evaluations.recommend import DEFAULT_TOLERANCE, qualifies, recommend

MakeCandidate = Callable[..., Candidate]


def test_the_paragraph_a_manager_reads(make_candidate: MakeCandidate) -> None:
    large = make_candidate("acme/bert-large", 0.921, 0.91, 0.93, cost=0.62, latency=22.4, memory=1_300_000_000,
                           metric="macro_f1")
    small = make_candidate("acme/bert-small (int8)", 0.912, 0.90, 0.93, cost=0.09, latency=3.1, memory=180_000_000,
                           metric="macro_f1")
    r = recommend([large, small], tolerance=0.01)
    assert r.choice == small and r.best == large and r.within == [small, large]
    assert not r.by_interval
    assert r.reason == (
        "Recommend acme/bert-small (int8): its macro-F1 0.912 [0.900–0.930] is within 0.01 of the best, "
        "acme/bert-large at 0.921 [0.910–0.930]; it answers in 3.1 ms instead of 22.4 ms (7.2× faster), needs "
        "180 MB instead of 1.3 GB and costs $0.09 instead of $0.62 per million requests."
    )
    lat = r.savings["latency_p50_ms"]
    assert (lat.choice, lat.best) == (3.1, 22.4)
    assert lat.saved == pytest.approx(19.3) and lat.ratio == pytest.approx(22.4 / 3.1)
    assert r.savings["cost_per_million_usd"].ratio == pytest.approx(0.62 / 0.09)
    assert r.savings["peak_memory_bytes"].saved == pytest.approx(1_120_000_000)
    d = r.to_dict()
    assert d["choice"] == "acme/bert-small (int8)" and d["best"] == "acme/bert-large"
    assert d["savings"]["latency_p50_ms"]["ratio"] == pytest.approx(22.4 / 3.1)
    assert d["metric"] == "macro_f1" and d["higher_is_better"] is True and d["excluded"] == []


def test_cheapest_of_several_qualifying_and_the_rest_excluded(make_candidate: MakeCandidate) -> None:
    cands = [
        make_candidate("best", 0.95, 0.94, 0.96, cost=1.0),
        make_candidate("close", 0.945, 0.93, 0.955, cost=0.5),
        make_candidate("closer-but-dearer", 0.948, 0.94, 0.956, cost=0.8),
        make_candidate("cheap-but-poor", 0.80, 0.78, 0.82, cost=0.01),
    ]
    r = recommend(cands, tolerance=0.01)
    assert r.choice is not None and r.choice.label == "close"
    assert [c.label for c in r.within] == ["close", "closer-but-dearer", "best"]
    assert "It is the cheapest of the 3 candidates that qualify." in r.reason


def test_tolerance_nobody_meets_recommends_the_best_and_says_so(make_candidate: MakeCandidate) -> None:
    best = make_candidate("big", 0.95, 0.94, 0.96, cost=2.0, latency=50.0)
    cands = [best, make_candidate("small", 0.90, 0.89, 0.935, cost=0.1), make_candidate("tiny", 0.7, 0.6, 0.8, cost=0.01)]
    r = recommend(cands, tolerance=0.01)
    assert r.choice == best and r.best == best and r.within == [best]
    assert r.reason.startswith("Recommend big, the best: its accuracy is 0.950 [0.940–0.960] and no other candidate "
                               "comes within 0.01 of it")
    assert "the next best, small at 0.900 [0.890–0.935], is 0.050 below" in r.reason
    assert "It answers in 50.0 ms, needs 100 MB and costs $2.00 per million requests." in r.reason
    assert all(s.saved == 0 and s.ratio == 1 for s in r.savings.values())
    # a wider tolerance lets the small one in
    assert recommend(cands, tolerance=0.02).choice == cands[1]


def test_best_that_is_also_cheapest(make_candidate: MakeCandidate) -> None:
    best = make_candidate("best", 0.95, cost=0.1)
    r = recommend([best, make_candidate("other", 0.949, cost=0.5)], tolerance=0.01)
    assert r.choice == best
    assert "it is also the cheapest of the 2 candidates within 0.01 of it" in r.reason


def test_overlapping_interval_qualifies_and_the_paragraph_says_why(make_candidate: MakeCandidate) -> None:
    best = make_candidate("best", 0.92, 0.90, 0.94, cost=1.0)
    wide = make_candidate("wide", 0.88, 0.83, 0.915, cost=0.2)  # point 0.04 below, upper bound reaches 0.91
    short = make_candidate("short", 0.88, 0.86, 0.905, cost=0.1)  # upper bound stops below 0.91
    r = recommend([best, wide, short], tolerance=0.01)
    assert r.choice == wide and r.by_interval
    assert short not in r.within
    assert "is 0.040 below the best, best at 0.920 [0.900–0.940], but its 95% interval reaches within 0.01" in r.reason
    assert "cannot be told apart (evaluate more examples to narrow the intervals)" in r.reason
    assert r.to_dict()["by_interval"] is True


def test_value_exactly_on_the_tolerance_edge_qualifies(make_candidate: MakeCandidate) -> None:
    best = make_candidate("best", 0.921, cost=1.0)
    edge = make_candidate("edge", 0.911, cost=0.5)  # 0.921 - 0.01 in floating point is 0.9109999999999999
    below = make_candidate("below", 0.9109, cost=0.4)
    assert qualifies(edge, best, 0.01) and not qualifies(below, best, 0.01)
    r = recommend([best, edge, below], tolerance=0.01)
    assert r.choice == edge and not r.by_interval


def test_ties_in_quality_go_to_the_cheaper_whatever_the_order(make_candidate: MakeCandidate) -> None:
    a = make_candidate("a", 0.9, cost=0.5)
    b = make_candidate("b", 0.9, cost=0.3)
    c = make_candidate("c", 0.8, cost=0.01)
    for perm in itertools.permutations([a, b, c]):
        r = recommend(perm, tolerance=0.0)
        assert r.best == b and r.choice == b and r.within == [b, a]


def test_ties_in_quality_and_cost_are_broken_by_latency_memory_parameters_then_label(
    make_candidate: MakeCandidate,
) -> None:
    rows = [
        make_candidate("z-fast", 0.9, cost=0.5, latency=5.0, memory=100, parameters=10),
        make_candidate("y-lean", 0.9, cost=0.5, latency=5.0, memory=50, parameters=10),
        make_candidate("x-small", 0.9, cost=0.5, latency=5.0, memory=50, parameters=5),
        make_candidate("w-twin", 0.9, cost=0.5, latency=5.0, memory=50, parameters=5),
        make_candidate("a-plain", 0.9, cost=0.5, latency=10.0, memory=100, parameters=10),
    ]
    for seed in range(6):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        r = recommend(shuffled, tolerance=0.0)
        assert [c.label for c in r.within] == ["w-twin", "x-small", "y-lean", "z-fast", "a-plain"]
        assert r.choice is not None and r.choice.label == "w-twin" and r.best == r.choice


def test_a_failed_candidate_is_never_chosen_and_is_named(make_candidate: MakeCandidate) -> None:
    best = make_candidate("big", 0.95, cost=2.0)
    mid = make_candidate("mid", 0.945, cost=0.5)
    failed = make_candidate("tiny", None, cost=None, status="failed", error="out-of-memory: killed by signal 9")
    skipped = make_candidate("big (onnx)", None, status="skipped", error="ONNX export is for encoders only")
    r = recommend([failed, best, skipped, mid], tolerance=0.01)
    assert r.choice == mid
    assert [c.label for c in r.excluded] == ["tiny", "big (onnx)"]
    assert r.reason.endswith(
        " Not compared: tiny failed: out-of-memory: killed by signal 9; big (onnx) skipped: ONNX export is for "
        "encoders only."
    )
    # an "ok" row without a value does not count either
    hollow = make_candidate("hollow", None, cost=0.001)
    assert recommend([best, hollow]).choice == best


def test_lower_is_better_metric(make_candidate: MakeCandidate) -> None:
    def lm(label: str, ppl: float, low: float, high: float, cost: float) -> Candidate:
        return make_candidate(label, ppl, low, high, cost=cost, higher_is_better=False, metric="perplexity")

    best = lm("gpt-large", 12.0, 11.5, 12.5, cost=3.0)
    near = lm("gpt-small", 12.3, 11.9, 12.8, cost=0.4)  # point 0.3 worse, but its low end 11.9 <= 12.0 + 0.5
    far = lm("gpt-tiny", 15.0, 14.2, 15.9, cost=0.05)
    r = recommend([far, near, best], tolerance=0.5)
    assert r.best == best and r.choice == near and not r.by_interval
    assert "its perplexity (lower is better) 12.30 [11.90–12.80] is within 0.5 of the best, gpt-large at 12.00 [11.50–12.50]; it answers as fast (10.0 ms), needs the same 100 MB and costs $0.40 instead of $3.00 per million requests." in r.reason
    r = recommend([far, near, best], tolerance=0.05)  # point 12.3 is outside 12.05, but its low end 11.9 is inside
    assert r.choice == near and r.by_interval
    assert "is 0.30 above the best" in r.reason
    r = recommend([far, best], tolerance=0.5)
    assert r.choice == best and "the next best, gpt-tiny at 15.00 [14.20–15.90], is 3.00 above" in r.reason


def test_all_failed(make_candidate: MakeCandidate) -> None:
    cands = [
        make_candidate("a", None, status="failed", error="not found"),
        make_candidate("b", None, status="failed", error="wrong-task: GPT2LMHeadModel cannot classify text"),
    ]
    r = recommend(cands)
    assert r.choice is None and r.best is None and r.within == [] and r.savings == {}
    assert r.reason.startswith("No recommendation: none of the 2 candidates produced a result. a failed: not found; "
                               "b failed: wrong-task: GPT2LMHeadModel cannot classify text.")
    assert r.to_dict()["choice"] is None
    one = recommend(cands[:1])
    assert one.reason.startswith("No recommendation: the only candidate produced no result. a failed: not found.")
    empty = recommend([])
    assert empty.choice is None and "there are no candidates" in empty.reason


def test_many_failures_are_counted_not_all_named(make_candidate: MakeCandidate) -> None:
    cands = [make_candidate(f"m{i}", None, status="failed", error="x" * 500) for i in range(8)]
    r = recommend(cands)
    assert "and 3 more" in r.reason and "m5" not in r.reason
    assert "x" * 159 + "…" in r.reason and "x" * 161 not in r.reason


def test_single_candidate(make_candidate: MakeCandidate) -> None:
    only = make_candidate("acme/only", 0.8, 0.75, 0.85, cost=0.2, latency=4.0, memory=2_500_000)
    r = recommend([only])
    assert r.choice == only and r.best == only and r.within == [only]
    assert r.reason == (
        "Recommend acme/only: it is the only candidate with a result (accuracy 0.800 [0.750–0.850]), so there is "
        "nothing to compare it with. It answers in 4.0 ms, needs 2.5 MB and costs $0.20 per million requests."
    )


def test_missing_cost_cannot_be_cheapest(make_candidate: MakeCandidate) -> None:
    best = make_candidate("best", 0.95, cost=1.0)
    unpriced = make_candidate("unpriced", 0.95, cost=None, latency=1.0)
    priced = make_candidate("priced", 0.949, cost=0.9, latency=30.0)
    r = recommend([unpriced, best, priced], tolerance=0.01)
    # unpriced ties the best on quality but cannot be the cheaper one: the best is the priced twin
    assert r.best == best
    assert r.choice == priced
    assert r.within[-1] == unpriced
    # when the best's own cost is unknown, a qualifying priced candidate is chosen and the paragraph says so
    r = recommend([make_candidate("best", 0.95, cost=None), priced], tolerance=0.01)
    assert r.choice == priced
    assert "cost per million requests was not measured for the best" in r.reason
    assert r.savings["cost_per_million_usd"].saved is None and r.savings["cost_per_million_usd"].ratio is None
    # nobody priced: latency decides
    r = recommend([make_candidate("slow", 0.955, cost=None, latency=9.0), make_candidate("fast", 0.95, cost=None,
                                                                                       latency=3.0)])
    assert r.choice is not None and r.choice.label == "fast"
    assert "cost per million requests was not measured for either" in r.reason
    r = recommend([make_candidate("only", 0.9, cost=None, latency=None, memory=5_000_000)])
    assert r.reason.endswith("It needs 5.0 MB. Its latency and cost per million requests were not measured.")
    r = recommend([make_candidate("only", 0.9, cost=None, latency=None, memory=None)])
    assert r.reason.endswith("nothing to compare it with. Its latency, peak memory and cost per million requests "
                             "were not measured.")


def test_nan_costs_from_stored_rows_count_as_unmeasured() -> None:
    def row(model: str, q: float, cost: object) -> dict[str, object]:
        return {"model": model, "revision": "a" * 40, "variant": "original", "status": "ok", "error": None,
                "quality": q, "metrics": {"accuracy": {"value": q, "low": q - 0.01, "high": q + 0.01}},
                "primary_metric": "accuracy", "higher_is_better": True,
                "cost": {"cost_per_million_usd": cost, "latency_p50_ms": float("nan")}}

    cands = candidates_from_rows([row("a/nan", 0.9, float("nan")), row("a/inf", 0.9, float("inf")),
                                  row("a/priced", 0.9, 0.5)])
    assert [c.cost_per_million_usd for c in cands] == [None, None, 0.5]
    r = recommend(cands)
    assert r.choice is not None and r.choice.label == "a/priced"
    assert "nan" not in r.reason.lower() and "inf " not in r.reason


def test_bad_tolerance_and_mixed_metrics_are_refused(make_candidate: MakeCandidate) -> None:
    a = make_candidate("a", 0.9)
    for bad in (-0.01, math.nan, math.inf):
        with pytest.raises(BadRequest, match="tolerance must be a number >= 0"):
            recommend([a], tolerance=bad)
    with pytest.raises(BadRequest, match="different metrics: accuracy .higher is better., perplexity"):
        recommend([a, make_candidate("b", 12.0, metric="perplexity", higher_is_better=False)])
    assert DEFAULT_TOLERANCE == recommend([a]).tolerance == 0.01


def test_random_tables_follow_the_written_rules() -> None:
    """Against the definitions, written here independently: every qualifying candidate's interval reaches the band,
    every other's does not, and nothing qualifying is cheaper than the choice."""
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 9)
        hib = rng.random() < 0.7
        cands = []
        for i in range(n):
            v = round(rng.uniform(0.5, 0.95), 2)
            w = rng.choice([0.0, 0.01, 0.03])
            cost = rng.choice([None, round(rng.uniform(0.01, 1), 2), 0.5])
            cands.append(Candidate(label=f"m{i}", model=f"m{i}", revision="r", variant="original",
                                   status=rng.choice(["ok", "ok", "ok", "failed"]), quality=Interval(v, v - w, v + w),
                                   higher_is_better=hib, cost_per_million_usd=cost, latency_p50_ms=float(rng.randint(1, 4)),
                                   metric="m"))
        tol = rng.choice([0.0, 0.01, 0.05])
        r = recommend(cands, tolerance=tol)
        ok = [c for c in cands if c.status == "ok"]
        if not ok:
            assert r.choice is None
            continue
        sign = 1 if hib else -1
        assert r.best is not None and r.choice is not None and r.choice in r.within
        best_v = sign * r.best.quality.value  # type: ignore[union-attr]
        assert all(best_v >= sign * c.quality.value for c in ok)  # type: ignore[union-attr]
        for c in ok:
            q = c.quality
            assert q is not None
            reach = q.high if hib else -q.low
            assert (c in r.within) == (reach >= best_v - tol - 1e-9), (c, r.best, tol)
        for c in r.within:
            if r.choice.cost_per_million_usd is None:
                assert c.cost_per_million_usd is None
            elif c.cost_per_million_usd is not None:
                assert c.cost_per_million_usd >= r.choice.cost_per_million_usd
