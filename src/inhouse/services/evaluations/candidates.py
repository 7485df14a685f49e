"""Candidates: one evaluated (model, revision, variant) row, as the leaderboard, the Pareto fronts, the
recommendation and the pictures see it.

* `Interval(value, low, high)`: a metric's point value and its 95% bootstrap confidence interval.
* `Candidate`: identity (label, model, revision, variant), outcome (status, error), quality (`Interval` of the
  primary metric, `metric`, `higher_is_better`) and measured cost (latency p50 at batch size 1, peak memory,
  cost per million requests, size on disk, parameters).
* `candidates_from_rows(rows)`: stored result rows -> Candidates.
* `leaderboard(cands)`: best quality first, then the rows that have no quality.

Quality direction. A metric is higher-is-better (accuracy, F1, nDCG...) or lower-is-better (perplexity);
`goodness(c)` is the point value turned so that higher is always better (perplexity negated), and
`goodness_interval(c)` the interval turned the same way. Every comparison in this package goes through them.

Usable candidates. Only a candidate with status "ok" and a finite quality value takes part in rankings, fronts
and recommendations (`usable`); the others (failed, skipped, or "ok" without a value) are listed apart with their
error. A cost field that is missing, not a number, infinite or negative counts as *not measured* (None): such a
candidate is left off the front of that axis and sorts after every measured one when cost decides (`cost_key`).

Pure functions: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from inhouse.errors import BadRequest

__all__ = [
    "OK",
    "Candidate",
    "Interval",
    "candidates_from_rows",
    "common_metric",
    "cost_key",
    "goodness",
    "goodness_interval",
    "leaderboard",
    "usable",
]

OK: Final = "ok"


@dataclass(frozen=True, slots=True)
class Interval:
    """A metric value with its 95% confidence interval (low <= value <= high)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One evaluated (model, revision, variant). `label` is unique among the candidates compared together."""

    label: str
    model: str
    revision: str
    variant: str
    status: str
    quality: Interval | None
    higher_is_better: bool
    latency_p50_ms: float | None = None
    peak_memory_bytes: int | None = None
    cost_per_million_usd: float | None = None
    size_bytes: int | None = None
    parameters: int | None = None
    error: str | None = None
    metric: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "model": self.model,
            "revision": self.revision,
            "variant": self.variant,
            "status": self.status,
            "error": self.error,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "quality": None if self.quality is None else self.quality.to_dict(),
            "latency_p50_ms": self.latency_p50_ms,
            "peak_memory_bytes": self.peak_memory_bytes,
            "cost_per_million_usd": self.cost_per_million_usd,
            "size_bytes": self.size_bytes,
            "parameters": self.parameters,
        }


def usable(c: Candidate) -> bool:
    """True when `c` succeeded and has a finite quality value (it can be ranked)."""
    return c.status == OK and c.quality is not None and math.isfinite(c.quality.value)


def goodness(c: Candidate) -> float:
    """The quality point value turned so that higher is better. Only for usable candidates."""
    assert c.quality is not None
    return c.quality.value if c.higher_is_better else -c.quality.value


def goodness_interval(c: Candidate) -> tuple[float, float]:
    """(low, high) of the quality interval turned so that higher is better; a missing or inverted bound falls
    back to the point value (the interval always contains it)."""
    assert c.quality is not None
    q = c.quality
    low = min(q.low, q.value) if math.isfinite(q.low) else q.value
    high = max(q.high, q.value) if math.isfinite(q.high) else q.value
    return (low, high) if c.higher_is_better else (-high, -low)


def _measured(v: float | int | None) -> tuple[int, float]:
    return (1, 0.0) if v is None or not math.isfinite(v) else (0, float(v))


def cost_key(c: Candidate) -> tuple[tuple[int, float], tuple[int, float], tuple[int, float], tuple[int, float], str]:
    """Sort key, cheapest first: cost per million requests, then latency, then peak memory, then parameters, then
    the label (so the order never depends on the input order). Unmeasured values sort after measured ones."""
    return (
        _measured(c.cost_per_million_usd),
        _measured(c.latency_p50_ms),
        _measured(c.peak_memory_bytes),
        _measured(c.parameters),
        c.label,
    )


def common_metric(cands: Iterable[Candidate]) -> tuple[str, bool] | None:
    """(metric, higher_is_better) shared by the usable candidates; None when there are none. Candidates measured
    on different metrics (or directions) cannot be ranked against each other: BadRequest."""
    seen = sorted({(c.metric, c.higher_is_better) for c in cands if usable(c)})
    if not seen:
        return None
    if len(seen) > 1:
        names = ", ".join(f"{m or '(unnamed)'} ({'higher' if h else 'lower'} is better)" for m, h in seen)
        raise BadRequest(
            f"These results are measured on different metrics: {names}. Compare results of one task and one "
            "primary metric at a time (re-run the older evaluation to get rows on the current metric)."
        )
    return seen[0]


def leaderboard(cands: Iterable[Candidate]) -> list[Candidate]:
    """Usable candidates best quality first (ties: cheapest first, see `cost_key`), then the others by status and
    label."""
    cands = list(cands)
    ranked = sorted((c for c in cands if usable(c)), key=lambda c: (-goodness(c), cost_key(c)))
    rest = sorted((c for c in cands if not usable(c)), key=lambda c: (c.status, c.label))
    return ranked + rest


# ---------------------------------------------------------------------------------------------------- from rows


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _cost(v: object) -> float | None:
    f = _number(v)
    return f if f is not None and f >= 0 else None


def _count(v: object) -> int | None:
    f = _cost(v)
    return None if f is None else int(f)


def _interval(value: float | None, stored: object) -> Interval | None:
    if not isinstance(stored, Mapping):
        stored = {}
    v = value if value is not None else _number(stored.get("value"))
    if v is None:
        return None
    low, high = _number(stored.get("low")), _number(stored.get("high"))
    low = v if low is None else min(low, v)
    high = v if high is None else max(high, v)
    return Interval(v, low, high)


def _base_label(model: str, variant: str) -> str:
    return model if variant in ("", "original") else f"{model} ({variant})"


def _model(row: Mapping[str, Any]) -> str:
    return str(row.get("model") or row.get("model_repo_id") or "")


def candidates_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """Candidates from stored result rows, in the rows' order.

    A row is a mapping with `model` (or `model_repo_id`), `revision` (or `model_revision`), `variant`,
    `status` ("ok" | "failed" | "skipped"), `error`, `quality` (the primary metric's value | None),
    `metrics` ({name: {"value", "low", "high"}}), `primary_metric`, `higher_is_better` and `cost` (the measured
    Cost: latency_p50_ms, peak_memory_bytes, cost_per_million_usd, size_bytes, parameters...).

    The label is "model" for the original and "model (variant)" for a variant; when two rows would share a label
    (one model at two revisions) each gets "@" and the revision's first 7 characters. The quality interval is the
    primary metric's bounds around `quality` (or around the metric's own value when `quality` is absent). A row
    "ok" without a finite quality becomes "failed" ("reported no value for <metric>").
    """
    rows = list(rows)
    labels = [_base_label(_model(r), str(r.get("variant") or "")) for r in rows]
    shared = {label for label in labels if labels.count(label) > 1}
    out: list[Candidate] = []
    for row, label in zip(rows, labels, strict=True):
        model = _model(row)
        revision = str(row.get("revision") or row.get("model_revision") or "")
        metric = str(row.get("primary_metric") or "")
        metrics = row.get("metrics")
        stored = metrics.get(metric) if isinstance(metrics, Mapping) else None
        quality = _interval(_number(row.get("quality")), stored)
        status = str(row.get("status") or "failed")
        error = row.get("error")
        error = None if error is None else str(error)
        if status == OK and quality is None:
            status, error = "failed", f"the evaluation reported no value for {metric or 'its primary metric'}"
        cost = row.get("cost")
        if not isinstance(cost, Mapping):
            cost = {}
        out.append(
            Candidate(
                label=f"{label}@{revision[:7]}" if label in shared and revision else label,
                model=model,
                revision=revision,
                variant=str(row.get("variant") or "original"),
                status=status,
                quality=quality,
                higher_is_better=bool(row.get("higher_is_better", True)),
                latency_p50_ms=_cost(cost.get("latency_p50_ms")),
                peak_memory_bytes=_count(cost.get("peak_memory_bytes")),
                cost_per_million_usd=_cost(cost.get("cost_per_million_usd")),
                size_bytes=_count(cost.get("size_bytes")),
                parameters=_count(cost.get("parameters")),
                error=error,
                metric=metric,
            )
        )
    return out
