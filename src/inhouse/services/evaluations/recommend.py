"""The recommendation: the cheapest candidate whose quality is as good as the best's, within a tolerance,
confidence intervals considered; with a paragraph saying why and what it saves.

Definitions (quality compared through `goodness`, so lower-is-better metrics such as perplexity work alike):
* **Usable**: status "ok" with a finite quality value. Failed and skipped candidates never qualify; they are
  listed in `excluded` and named at the end of the paragraph with their errors.
* **Best**: the usable candidate with the best quality point value; ties go to the cheaper (`cost_key`: cost per
  million requests, then latency, then memory, then parameters, then label).
* **Tolerance**: absolute, in the metric's own units (0.01 is one point of accuracy on the 0..1 scale; chrF and
  BLEU are on 0..100, perplexity on its own scale, so pick a tolerance in those units). Default `DEFAULT_TOLERANCE`
  = 0.01, meant for the 0..1 metrics. A relative tolerance is not offered: one definition, stated in the units the
  leaderboard shows.
* **As good as the best** (the candidate *qualifies*): the upper end of its 95% confidence interval reaches the
  tolerance band below the best's point value, i.e. `high >= best.value - tolerance` (for lower-is-better:
  `low <= best.value + tolerance`); a value exactly on the edge qualifies. Reading: the data cannot show that the
  candidate is more than `tolerance` worse than the best. A candidate whose *point* value is already within the
  tolerance always qualifies (its interval contains its point value); one whose point value is outside but whose
  interval reaches the band qualifies too, and then the paragraph says so and that more examples would narrow the
  intervals (`Recommendation.by_interval`). The best always qualifies.
* **Choice**: among qualifying candidates, the cheapest by `cost_key`. A candidate whose cost per million requests
  was not measured sorts after every one whose cost was, so it is chosen only when no qualifying candidate has a
  measured cost (then latency decides, and so on); in practice that means the best, or a tie broken by label.
* When only the best qualifies, it is recommended and the paragraph says no other candidate came within the
  tolerance. When no candidate is usable, `choice` and `best` are None and the paragraph lists the failures.

`savings` is data: for each of latency p50, peak memory, cost per million requests, size on disk and parameters,
the choice's and the best's values, `saved` = best - choice (positive: the choice needs less) and `ratio` =
best / choice (7.2 = the choice needs 7.2 times less); None where a value is missing (or the choice's is 0 for
the ratio).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from inhouse.errors import BadRequest
from inhouse.services.evaluations.candidates import (
    Candidate,
    common_metric,
    cost_key,
    goodness,
    goodness_interval,
    leaderboard,
    usable,
)
from inhouse.services.evaluations.display import (
    bytes_text,
    candidate_quality,
    metric_name,
    ms_text,
    number_text,
    truncate,
    usd_text,
)

__all__ = ["DEFAULT_TOLERANCE", "SAVINGS_FIELDS", "Recommendation", "Saving", "qualifies", "recommend"]

#: Default tolerance, absolute, for metrics on a 0..1 scale: one point.
DEFAULT_TOLERANCE: Final = 0.01
#: The fields `savings` compares between the choice and the best.
SAVINGS_FIELDS: Final = ("latency_p50_ms", "peak_memory_bytes", "cost_per_million_usd", "size_bytes", "parameters")
#: At most this many failed candidates are named in the paragraph (the rest are counted), each error cut to
#: `MAX_ERROR_CHARS`.
MAX_NAMED_FAILURES: Final = 5
MAX_ERROR_CHARS: Final = 160


@dataclass(frozen=True, slots=True)
class Saving:
    """One cost field, choice against best. saved = best - choice; ratio = best / choice."""

    choice: float | None
    best: float | None
    saved: float | None
    ratio: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"choice": self.choice, "best": self.best, "saved": self.saved, "ratio": self.ratio}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """choice: the recommended candidate (None when none is usable); best: the best-quality one; within: the
    qualifying candidates, cheapest first (choice first); reason: the paragraph; savings: field -> Saving;
    by_interval: the choice's point value is outside the tolerance and it qualifies through its interval only;
    excluded: the candidates that are not usable."""

    choice: Candidate | None
    best: Candidate | None
    within: list[Candidate]
    reason: str
    savings: dict[str, Saving]
    tolerance: float
    metric: str | None = None
    higher_is_better: bool | None = None
    by_interval: bool = False
    excluded: list[Candidate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, candidates by label (the labels of `Candidate.to_dict` rows)."""
        return {
            "choice": None if self.choice is None else self.choice.label,
            "best": None if self.best is None else self.best.label,
            "within": [c.label for c in self.within],
            "reason": self.reason,
            "savings": {name: s.to_dict() for name, s in self.savings.items()},
            "tolerance": self.tolerance,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "by_interval": self.by_interval,
            "excluded": [{"label": c.label, "status": c.status, "error": c.error} for c in self.excluded],
        }


def _slack(best: Candidate, tolerance: float) -> float:
    """Room for floating-point noise, so a value exactly on the tolerance edge qualifies."""
    return 1e-9 * max(1.0, abs(goodness(best)), tolerance)


def qualifies(c: Candidate, best: Candidate, tolerance: float) -> bool:
    """True when usable `c`'s interval reaches within `tolerance` of `best`'s point value (module docstring)."""
    return goodness_interval(c)[1] >= goodness(best) - tolerance - _slack(best, tolerance)


def _value(c: Candidate, name: str) -> float | None:
    v: float | int | None = getattr(c, name)
    return None if v is None or not math.isfinite(v) else float(v)


def _saving(choice: Candidate, best: Candidate, name: str) -> Saving:
    c, b = _value(choice, name), _value(best, name)
    if c is None or b is None:
        return Saving(c, b, None, None)
    return Saving(c, b, b - c, b / c if c > 0 else None)


def recommend(cands: Iterable[Candidate], tolerance: float = DEFAULT_TOLERANCE) -> Recommendation:
    """The recommendation over `cands` (see the module docstring for every rule)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < math.inf:
        raise BadRequest(f"tolerance must be a number >= 0 in the metric's units (e.g. 0.01), not {tolerance!r}.")
    tolerance = float(tolerance)
    cands = list(cands)
    ok = [c for c in cands if usable(c)]
    excluded = [c for c in leaderboard(cands) if not usable(c)]
    shared = common_metric(ok)
    if shared is None:
        return Recommendation(None, None, [], _no_result(cands), {}, tolerance, excluded=excluded)
    metric, higher_is_better = shared
    best = min(ok, key=lambda c: (-goodness(c), cost_key(c)))
    within = sorted((c for c in ok if qualifies(c, best, tolerance)), key=cost_key)
    choice = within[0]
    by_interval = goodness(choice) < goodness(best) - tolerance - _slack(best, tolerance)
    reason = _reason(ok, best, choice, within, tolerance, by_interval) + _not_compared(excluded)
    return Recommendation(
        choice=choice,
        best=best,
        within=within,
        reason=reason,
        savings={name: _saving(choice, best, name) for name in SAVINGS_FIELDS},
        tolerance=tolerance,
        metric=metric,
        higher_is_better=higher_is_better,
        by_interval=by_interval,
        excluded=excluded,
    )


# ------------------------------------------------------------------------------------------------ the paragraph


def _ratio_text(best: float, choice: float, more: str, less: str) -> str:
    if choice <= 0 or best <= 0:
        return more if choice < best else less
    r = best / choice
    return f"{r:.1f}× {more}" if r >= 1 else f"{1 / r:.1f}× {less}"


def _comparisons(choice: Candidate, best: Candidate) -> str:
    """"it answers in 3.1 ms instead of 22.4 ms (7.2× faster), needs 180 MB instead of 1.3 GB and costs $0.09
    instead of $0.62 per million requests"."""
    parts: list[str] = []
    for name, noun in (
        ("latency_p50_ms", "latency"),
        ("peak_memory_bytes", "peak memory"),
        ("cost_per_million_usd", "cost per million requests"),
    ):
        c, b = _value(choice, name), _value(best, name)
        if c is None or b is None:
            whom = "either" if c is None and b is None else "it" if c is None else "the best"
            parts.append(f"its {noun} was not measured" if whom == "it" else f"{noun} was not measured for {whom}")
        elif name == "latency_p50_ms":
            if c == b:
                parts.append(f"it answers as fast ({ms_text(c)})")
            else:
                ratio = _ratio_text(b, c, "faster", "slower")
                parts.append(f"it answers in {ms_text(c)} instead of {ms_text(b)} ({ratio})")
        elif name == "peak_memory_bytes":
            mem = f"needs the same {bytes_text(c)}" if c == b else f"needs {bytes_text(c)} instead of {bytes_text(b)}"
            parts.append(mem)
        elif c == b:
            parts.append(f"costs the same {usd_text(c)} per million requests")
        else:
            parts.append(f"costs {usd_text(c)} instead of {usd_text(b)} per million requests")
    return _and(parts)


def _own_cost(c: Candidate) -> str:
    """" It answers in 3.1 ms, needs 180 MB and costs $0.09 per million requests." (what was measured; what was
    not is said so)."""
    parts: list[str] = []
    missing: list[str] = []
    if (v := _value(c, "latency_p50_ms")) is not None:
        parts.append(f"answers in {ms_text(v)}")
    else:
        missing.append("latency")
    if (v := _value(c, "peak_memory_bytes")) is not None:
        parts.append(f"needs {bytes_text(v)}")
    else:
        missing.append("peak memory")
    if (v := _value(c, "cost_per_million_usd")) is not None:
        parts.append(f"costs {usd_text(v)} per million requests")
    else:
        missing.append("cost per million requests")
    text = " It " + _and(parts) + "." if parts else ""
    if missing:
        text += f" Its {_and(missing)} {'was' if len(missing) == 1 else 'were'} not measured."
    return text


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _gap(c: Candidate, best: Candidate) -> str:
    """"0.030 below the best" / "0.40 above the best (lower is better)"."""
    d = number_text(abs(goodness(best) - goodness(c)), scale=goodness(best))
    return f"{d} below" if c.higher_is_better else f"{d} above"


def _reason(
    ok: list[Candidate],
    best: Candidate,
    choice: Candidate,
    within: list[Candidate],
    tolerance: float,
    by_interval: bool,
) -> str:
    m = metric_name(best.metric)
    direction = "" if best.higher_is_better else " (lower is better)"
    tol = f"{tolerance:g}"
    if len(ok) == 1:
        return (
            f"Recommend {best.label}: it is the only candidate with a result ({m}{direction} "
            f"{candidate_quality(best)}), so there is nothing to compare it with." + _own_cost(best)
        )
    if choice is best:
        if len(within) == 1:
            second = leaderboard(ok)[1]
            text = (
                f"Recommend {best.label}, the best: its {m}{direction} is {candidate_quality(best)} and no other "
                f"candidate comes within {tol} of it, confidence intervals considered (the next best, {second.label}"
                f" at {candidate_quality(second)}, is {_gap(second, best)})."
            )
        else:
            text = (
                f"Recommend {best.label}, the best: its {m}{direction} is {candidate_quality(best)} and it is also "
                f"the cheapest of the {len(within)} candidates within {tol} of it."
            )
        return text + _own_cost(best)
    if by_interval:
        head = (
            f"Recommend {choice.label}: its {m}{direction} {candidate_quality(choice)} is {_gap(choice, best)} "
            f"the best, {best.label} at {candidate_quality(best)}, but its 95% interval reaches within {tol} of it, "
            "so on this data the two cannot be told apart (evaluate more examples to narrow the intervals); "
        )
    else:
        head = (
            f"Recommend {choice.label}: its {m}{direction} {candidate_quality(choice)} is within {tol} of the best, "
            f"{best.label} at {candidate_quality(best)}; "
        )
    text = head + _comparisons(choice, best) + "."
    if len(within) > 2:
        text += f" It is the cheapest of the {len(within)} candidates that qualify."
    return text


def _failure(c: Candidate) -> str:
    return f"{c.label} {c.status}: {truncate(c.error or 'no reason given', MAX_ERROR_CHARS)}"


def _not_compared(excluded: list[Candidate]) -> str:
    if not excluded:
        return ""
    named = "; ".join(_failure(c) for c in excluded[:MAX_NAMED_FAILURES])
    more = len(excluded) - MAX_NAMED_FAILURES
    return f" Not compared: {named}" + (f"; and {more} more." if more > 0 else ".")


def _no_result(cands: list[Candidate]) -> str:
    if not cands:
        return "No recommendation: there are no candidates to compare. Add candidate models and evaluate again."
    failures = "; ".join(_failure(c) for c in leaderboard(cands)[:MAX_NAMED_FAILURES])
    more = len(cands) - MAX_NAMED_FAILURES
    what = (
        "the only candidate produced no result"
        if len(cands) == 1
        else f"none of the {len(cands)} candidates produced a result"
    )
    return (
        f"No recommendation: {what}. {failures}"
        + (f"; and {more} more" if more > 0 else "")
        + ". Fix what the errors name and evaluate again."
    )
