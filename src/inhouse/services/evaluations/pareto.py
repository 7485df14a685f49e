"""Pareto fronts of quality against cost.

Cost axes (`AXES`): latency p50 at batch size 1 (`latency_p50_ms`), peak memory (`peak_memory_bytes`) and cost
per million requests (`cost_per_million_usd`); on every axis less is better. Quality is compared through
`goodness` (higher is better whatever the metric's direction, so perplexity works the same way).

Definition. Over the axes A, candidate d *dominates* c when d is at least as good in quality and at least as cheap
on every axis of A, and strictly better on at least one of them. The front over A is the set of usable candidates
that no other usable candidate dominates. Consequences:
* two candidates equal in quality and in every cost of A are both on the front (neither dominates the other);
* a candidate with better quality is on the front of every axis set, however expensive (the best is always on it);
* only usable candidates (status "ok" with a quality value) take part; failed and skipped candidates are listed
  in `Fronts.excluded`, and a usable candidate with no measured value on an axis of A is left off that front and
  listed in `Fronts.unmeasured[axis]`.

`pareto_front(cands, axes)` is the front over one set of axes: one axis ("quality against latency"), or several
(the joint front). `pareto_fronts(cands)` gives the front of each axis, the joint front over
(quality, latency, memory) and the exclusions. Fronts are sorted along their first axis, cheapest first.

Cost: O(n log n + n·f) for n candidates and a front of f (each candidate is checked against the front found so
far only: candidates are visited best first, so any dominating candidate was visited before, and transitively a
front member dominates it too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from inhouse.errors import BadRequest
from inhouse.services.evaluations.candidates import Candidate, common_metric, goodness, usable

__all__ = ["AXES", "JOINT_AXES", "Fronts", "axis_value", "dominates", "pareto_front", "pareto_fronts"]

#: The cost axes a front can be drawn against (less is better on each).
AXES: Final = ("latency_p50_ms", "peak_memory_bytes", "cost_per_million_usd")
#: The axes of the joint front (with quality): latency and memory.
JOINT_AXES: Final = ("latency_p50_ms", "peak_memory_bytes")


def axis_value(c: Candidate, axis: str) -> float | None:
    """The candidate's measured value on a cost axis, None when not measured."""
    if axis == "latency_p50_ms":
        v: float | int | None = c.latency_p50_ms
    elif axis == "peak_memory_bytes":
        v = c.peak_memory_bytes
    elif axis == "cost_per_million_usd":
        v = c.cost_per_million_usd
    else:
        raise BadRequest(f"Unknown cost axis {axis!r}: use one of {', '.join(AXES)}.")
    return None if v is None or not math.isfinite(v) else float(v)


def _point(c: Candidate, axes: Sequence[str]) -> tuple[float, ...] | None:
    """(goodness, -cost on each axis): higher is better on every coordinate; None when an axis is unmeasured."""
    costs = [axis_value(c, a) for a in axes]
    if any(v is None for v in costs):
        return None
    return (goodness(c), *(-v for v in costs if v is not None))


def _dominates(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
    return all(a >= b for a, b in zip(p, q, strict=True)) and p != q


def dominates(d: Candidate, c: Candidate, axes: Sequence[str] = JOINT_AXES) -> bool:
    """True when usable `d` dominates usable `c` over quality and `axes` (see the module docstring)."""
    p, q = _point(d, axes), _point(c, axes)
    return p is not None and q is not None and _dominates(p, q)


def pareto_front(cands: Iterable[Candidate], axes: Sequence[str] = JOINT_AXES) -> list[Candidate]:
    """The usable candidates no other dominates over quality and `axes`, sorted along the first axis (cheapest
    first; ties: better quality first, then label)."""
    if not axes:
        raise BadRequest(f"A Pareto front needs at least one cost axis: use one or more of {', '.join(AXES)}.")
    cands = [c for c in cands if usable(c)]
    common_metric(cands)
    points = [(p, c) for c in cands if (p := _point(c, axes)) is not None]
    # best first on every coordinate, lexicographically: a dominating point always comes before what it dominates
    points.sort(key=lambda pc: (tuple(-x for x in pc[0]), pc[1].label))
    front: list[tuple[tuple[float, ...], Candidate]] = []
    for p, c in points:
        if not any(_dominates(f, p) for f, _ in front):
            front.append((p, c))
    front.sort(key=lambda pc: (-pc[0][1], -pc[0][0], pc[1].label))  # first axis cheapest first, then quality
    return [c for _, c in front]


@dataclass(frozen=True, slots=True)
class Fronts:
    """The fronts of one set of candidates.

    per_axis: axis -> front of quality against that axis alone; joint: the front over quality and `joint_axes`;
    excluded: candidates that are not usable (failed, skipped, no quality); unmeasured: axis -> usable candidates
    lacking a value on that axis (so on no front involving it).
    """

    per_axis: dict[str, list[Candidate]]
    joint: list[Candidate]
    joint_axes: tuple[str, ...]
    excluded: list[Candidate]
    unmeasured: dict[str, list[Candidate]]

    def to_dict(self) -> dict[str, Any]:
        """Fronts by candidate label (the labels of `Candidate.to_dict` rows)."""
        return {
            "per_axis": {axis: [c.label for c in front] for axis, front in self.per_axis.items()},
            "joint": {"axes": list(self.joint_axes), "labels": [c.label for c in self.joint]},
            "excluded": [{"label": c.label, "status": c.status, "error": c.error} for c in self.excluded],
            "unmeasured": {axis: [c.label for c in cs] for axis, cs in self.unmeasured.items() if cs},
        }


def pareto_fronts(cands: Iterable[Candidate], joint_axes: Sequence[str] = JOINT_AXES) -> Fronts:
    """The front of quality against each axis of `AXES`, the joint front over `joint_axes`, and the exclusions."""
    cands = list(cands)
    ok = sorted((c for c in cands if usable(c)), key=lambda c: c.label)
    return Fronts(
        per_axis={axis: pareto_front(ok, (axis,)) for axis in AXES},
        joint=pareto_front(ok, tuple(joint_axes)),
        joint_axes=tuple(joint_axes),
        excluded=sorted((c for c in cands if not usable(c)), key=lambda c: (c.status, c.label)),
        unmeasured={axis: [c for c in ok if axis_value(c, axis) is None] for axis in AXES},
    )
