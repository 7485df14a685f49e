"""Pareto fronts: per axis, joint, ties, lower-is-better metrics, exclusions; checked against the O(n²) definition."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from inhouse.errors import BadRequest
from inhouse.services.evaluations.candidates import Candidate, Interval
from inhouse.services.evaluations.pareto import AXES, JOINT_AXES, axis_value, dominates, pareto_front, pareto_fronts

MakeCandidate = Callable[..., Candidate]


def labels(cands: list[Candidate]) -> list[str]:
    return [c.label for c in cands]


def test_front_against_latency(make_candidate: MakeCandidate) -> None:
    cands = [
        make_candidate("large", 0.95, latency=40.0),
        make_candidate("base", 0.93, latency=12.0),
        make_candidate("slow-and-worse", 0.90, latency=50.0),  # dominated by base and large
        make_candidate("small", 0.85, latency=3.0),
        make_candidate("small-but-slower", 0.85, latency=4.0),  # same quality as small, slower: dominated
        make_candidate("tiny", 0.60, latency=1.0),
    ]
    front = pareto_front(cands, ("latency_p50_ms",))
    assert labels(front) == ["tiny", "small", "base", "large"]  # cheapest first
    assert dominates(cands[1], cands[2], ("latency_p50_ms",))
    assert not dominates(cands[0], cands[1], ("latency_p50_ms",))


def test_equal_candidates_are_both_on_the_front(make_candidate: MakeCandidate) -> None:
    a = make_candidate("a", 0.9, latency=5.0)
    b = make_candidate("b", 0.9, latency=5.0)
    c = make_candidate("c", 0.9, latency=6.0)
    assert labels(pareto_front([c, b, a], ("latency_p50_ms",))) == ["a", "b"]
    assert not dominates(a, b, ("latency_p50_ms",)) and not dominates(b, a, ("latency_p50_ms",))


def test_joint_front_keeps_what_one_axis_drops(make_candidate: MakeCandidate) -> None:
    cands = [
        make_candidate("fast", 0.9, latency=2.0, memory=900),
        make_candidate("lean", 0.9, latency=8.0, memory=100),  # slower than fast at the same quality, but leaner
        make_candidate("neither", 0.9, latency=9.0, memory=950),
    ]
    assert labels(pareto_front(cands, ("latency_p50_ms",))) == ["fast"]
    assert labels(pareto_front(cands, ("peak_memory_bytes",))) == ["lean"]
    assert labels(pareto_front(cands)) == ["fast", "lean"]  # joint over (quality, latency, memory), latency order
    assert JOINT_AXES == ("latency_p50_ms", "peak_memory_bytes")


def test_lower_is_better_quality(make_candidate: MakeCandidate) -> None:
    def lm(label: str, ppl: float, latency: float) -> Candidate:
        return make_candidate(label, ppl, latency=latency, higher_is_better=False, metric="perplexity")

    cands = [lm("big", 10.0, 50.0), lm("mid", 14.0, 10.0), lm("bad", 20.0, 30.0), lm("small", 25.0, 2.0)]
    assert labels(pareto_front(cands, ("latency_p50_ms",))) == ["small", "mid", "big"]


def test_failed_skipped_and_unmeasured_are_left_off_and_listed(make_candidate: MakeCandidate) -> None:
    cands = [
        make_candidate("ok", 0.9, latency=10.0, cost=1.0),
        make_candidate("no-cost", 0.95, latency=20.0, cost=None),
        make_candidate("crashed", None, latency=None, cost=None, status="failed", error="crashed: RuntimeError"),
        make_candidate("onnx", None, status="skipped", error="ONNX is for encoders"),
        make_candidate("failed-but-cheap", 0.99, latency=0.1, cost=0.0, status="failed", error="boom"),
    ]
    f = pareto_fronts(cands)
    assert labels(f.per_axis["latency_p50_ms"]) == ["ok", "no-cost"]
    assert labels(f.per_axis["cost_per_million_usd"]) == ["ok"]
    assert labels(f.joint) == ["ok", "no-cost"]
    assert labels(f.excluded) == ["crashed", "failed-but-cheap", "onnx"]
    assert labels(f.unmeasured["cost_per_million_usd"]) == ["no-cost"]
    d = f.to_dict()
    assert d["per_axis"]["cost_per_million_usd"] == ["ok"]
    assert d["joint"] == {"axes": ["latency_p50_ms", "peak_memory_bytes"], "labels": ["ok", "no-cost"]}
    assert d["excluded"][0] == {"label": "crashed", "status": "failed", "error": "crashed: RuntimeError"}
    assert d["unmeasured"] == {"cost_per_million_usd": ["no-cost"]}
    assert set(d["per_axis"]) == set(AXES)


def test_no_usable_candidate_gives_empty_fronts(make_candidate: MakeCandidate) -> None:
    f = pareto_fronts([make_candidate("x", None, status="failed", error="e")])
    assert f.joint == [] and all(v == [] for v in f.per_axis.values()) and labels(f.excluded) == ["x"]
    assert pareto_front([]) == []


def test_unknown_axis_and_mixed_metrics_are_refused(make_candidate: MakeCandidate) -> None:
    a = make_candidate("a", 0.9)
    with pytest.raises(BadRequest, match="Unknown cost axis 'speed'"):
        pareto_front([a], ("speed",))
    with pytest.raises(BadRequest, match="at least one cost axis"):
        pareto_front([a], ())
    with pytest.raises(BadRequest, match="different metrics"):
        pareto_front([a, make_candidate("b", 0.9, metric="macro_f1")])
    assert axis_value(make_candidate("n", 0.9, latency=float("nan")), "latency_p50_ms") is None


def _brute_front(cands: list[Candidate], axes: tuple[str, ...]) -> set[str]:
    def point(c: Candidate) -> tuple[float, ...] | None:
        vals = [getattr(c, a) for a in axes]
        if c.status != "ok" or c.quality is None or any(v is None for v in vals):
            return None
        q = c.quality.value if c.higher_is_better else -c.quality.value
        return (q, *(-float(v) for v in vals))

    pts = {c.label: p for c in cands if (p := point(c)) is not None}
    return {
        a for a, p in pts.items()
        if not any(all(x >= y for x, y in zip(q, p, strict=True)) and q != p for b, q in pts.items() if b != a)
    }


@pytest.mark.parametrize("axes", [("latency_p50_ms",), ("peak_memory_bytes",), ("cost_per_million_usd",),
                                  JOINT_AXES, AXES])
def test_matches_the_definition_on_random_tables(axes: tuple[str, ...]) -> None:
    rng = random.Random(",".join(axes))
    for _ in range(150):
        hib = rng.random() < 0.6
        cands = [
            Candidate(label=f"m{i}", model=f"m{i}", revision="r", variant="original",
                      status=rng.choice(["ok"] * 5 + ["failed"]),
                      quality=Interval(v := float(rng.randint(0, 6)), v, v), higher_is_better=hib,
                      latency_p50_ms=rng.choice([None] + [float(x) for x in range(1, 6)]),
                      peak_memory_bytes=rng.randint(1, 5), cost_per_million_usd=float(rng.randint(0, 4)), metric="m")
            for i in range(rng.randint(0, 14))
        ]
        front = pareto_front(cands, axes)
        assert set(labels(front)) == _brute_front(cands, axes)
        firsts = [axis_value(c, axes[0]) or 0.0 for c in front]
        assert firsts == sorted(firsts)
