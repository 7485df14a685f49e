"""The Pareto front as a picture: quality (y, with its 95% interval) against one cost axis (x), PNG or SVG.

* Every plotted candidate is a labelled point (labels cut to `MAX_LABEL_CHARS`); the front is drawn as a line
  through its points, the recommendation as a star. Up is better: for lower-is-better metrics (perplexity) the
  quality axis is inverted, and the axis title says so. Left is cheaper.
* The cost axis is logarithmic when its values span more than `LOG_SCALE_RATIO` (and all are > 0).
* Bounded cost, whatever the input: a fixed figure size and resolution (`FIGSIZE_IN`, `DPI`: a PNG is always
  800×550 pixels); at most `MAX_POINTS` candidates are drawn: the front first (its best-quality members if it alone
  exceeds the bound), then the recommendation, then the others best quality first; a note on the picture says how
  many were left out. With more than `MAX_LABELLED` points drawn, only the front and the recommendation are
  labelled. The title is cut to `MAX_TITLE_CHARS`.
* Only usable candidates with a measured value on the axis can be drawn; the picture notes how many had none.

Thread safety: figures are built with the object-oriented API (`matplotlib.figure.Figure`), never pyplot's
global figure manager, so concurrent renders share nothing, except matplotlib's process-wide rcParams: SVG text
is written as `<text>` elements (searchable, and labels escaped by matplotlib's XML writer) only while
`svg.fonttype` is "none", so SVG renders set it inside `_RC_LOCK`. Text is never parsed as mathtext (a "$" in a
label stays a "$").
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Final, Literal

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from inhouse.errors import BadRequest
from inhouse.services.evaluations.candidates import Candidate, common_metric, goodness, leaderboard, usable
from inhouse.services.evaluations.display import axis_title, metric_name, truncate
from inhouse.services.evaluations.pareto import AXES, axis_value

__all__ = [
    "DPI",
    "FIGSIZE_IN",
    "LOG_SCALE_RATIO",
    "MAX_LABELLED",
    "MAX_LABEL_CHARS",
    "MAX_POINTS",
    "MAX_TITLE_CHARS",
    "pareto_figure",
    "render_pareto",
]

MAX_POINTS: Final = 200
MAX_LABELLED: Final = 40
MAX_LABEL_CHARS: Final = 32
MAX_TITLE_CHARS: Final = 100
FIGSIZE_IN: Final = (8.0, 5.5)
DPI: Final = 100
LOG_SCALE_RATIO: Final = 20.0

_FORMATS: Final = ("png", "svg")
#: Guards matplotlib's process-wide rcParams while an SVG is written (see the module docstring).
_RC_LOCK: Final = threading.Lock()

_OTHER, _FRONT, _CHOICE = "#8c8c8c", "#1f5fa8", "#d9480f"


def _scale(axis: str, v: float) -> float:
    return v / 1e6 if axis == "peak_memory_bytes" else v


def _select(points: list[Candidate], front: set[str], choice: Candidate | None) -> list[Candidate]:
    """At most MAX_POINTS candidates: the front (best quality first), the choice, then the rest best first."""
    ranked = leaderboard(points)
    on_front = [c for c in ranked if c.label in front]
    rest = [c for c in ranked if c.label not in front]
    if choice is not None and choice in rest:
        rest.remove(choice)
        rest.insert(0, choice)
    return (on_front + rest)[:MAX_POINTS]


def _draw(
    ax: Axes,
    cands: Sequence[Candidate],
    front: Sequence[Candidate],
    axis: str,
    choice: Candidate | None,
) -> list[str]:
    """Draws the points on `ax`; returns the notes to print under the plot."""
    notes: list[str] = []
    plottable = [c for c in cands if usable(c) and axis_value(c, axis) is not None]
    unmeasured = sum(1 for c in cands if usable(c) and axis_value(c, axis) is None)
    not_usable = sum(1 for c in cands if not usable(c))
    front_labels = {c.label for c in front}
    shown = _select(plottable, front_labels, choice)
    if len(shown) < len(plottable):
        notes.append(f"showing {len(shown)} of {len(plottable)} candidates: the front and the best others")
    if unmeasured:
        notes.append(f"{unmeasured} without a measured {axis_title(axis).split(' (')[0]}")
    if not_usable:
        notes.append(f"{not_usable} failed or skipped")
    if not shown:
        ax.text(0.5, 0.5, "No candidate has both a quality value and this cost measured.", ha="center",
                va="center", transform=ax.transAxes, parse_math=False)
        ax.set_xticks([])
        ax.set_yticks([])
        return notes

    def x(c: Candidate) -> float:
        v = axis_value(c, axis)
        assert v is not None
        return _scale(axis, v)

    def y(c: Candidate) -> float:
        assert c.quality is not None
        return c.quality.value

    def yerr(cs: list[Candidate]) -> list[list[float]]:
        lows = [max(y(c) - min(c.quality.low, y(c)), 0.0) if c.quality else 0.0 for c in cs]
        highs = [max(max(c.quality.high, y(c)) - y(c), 0.0) if c.quality else 0.0 for c in cs]
        return [lows, highs]

    others = [c for c in shown if c.label not in front_labels]
    on_front = sorted((c for c in shown if c.label in front_labels), key=lambda c: (x(c), -goodness(c)))
    if others:
        ax.errorbar([x(c) for c in others], [y(c) for c in others], yerr=yerr(others), fmt="o", color=_OTHER,
                    ecolor=_OTHER, elinewidth=0.8, capsize=2, markersize=5, label="other candidates", zorder=2)
    if on_front:
        ax.errorbar([x(c) for c in on_front], [y(c) for c in on_front], yerr=yerr(on_front), fmt="o-",
                    color=_FRONT, ecolor=_FRONT, elinewidth=0.8, capsize=2, markersize=6, linewidth=1.5,
                    label="Pareto front", zorder=3)
    shown_choice = next((c for c in shown if choice is not None and c.label == choice.label), None)
    if shown_choice is not None:
        ax.scatter([x(shown_choice)], [y(shown_choice)], marker="*", s=260, color=_CHOICE, edgecolors="black",
                   linewidths=0.6, label="recommended", zorder=4)

    label_all = len(shown) <= MAX_LABELLED
    for c in shown:
        if label_all or c.label in front_labels or c is shown_choice:
            ax.annotate(truncate(c.label, MAX_LABEL_CHARS), (x(c), y(c)), xytext=(5, 4), textcoords="offset points",
                        fontsize=7, parse_math=False, zorder=5)

    xs = [x(c) for c in shown]
    if min(xs) > 0 and max(xs) / min(xs) > LOG_SCALE_RATIO:
        ax.set_xscale("log")
    ax.margins(x=0.12, y=0.1)
    ax.legend(loc="best", fontsize=8)
    return notes


def pareto_figure(
    cands: Sequence[Candidate],
    front: Sequence[Candidate],
    *,
    axis: str,
    title: str,
    choice: Candidate | None = None,
) -> Figure:
    """The figure `render_pareto` writes (see there), for callers that want to inspect or compose it."""
    if axis not in AXES:
        raise BadRequest(f"Unknown cost axis {axis!r}: use one of {', '.join(AXES)}.")
    shared = common_metric(cands)  # candidates on different metrics cannot share a quality axis
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    notes = _draw(ax, cands, front, axis, choice)
    quality_title = "quality"
    if shared is not None:
        metric, higher_is_better = shared
        quality_title = metric_name(metric) + (" (higher is better)" if higher_is_better else " (lower is better)")
        if not higher_is_better:
            ax.invert_yaxis()
    ax.set_xlabel(axis_title(axis) + (" — " + "; ".join(notes) if notes else ""), fontsize=9, parse_math=False)
    ax.set_ylabel(quality_title + ", 95% interval", fontsize=9, parse_math=False)
    ax.set_title(truncate(title, MAX_TITLE_CHARS), fontsize=11, parse_math=False)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def render_pareto(
    cands: Sequence[Candidate],
    front: Sequence[Candidate],
    *,
    axis: str,
    fmt: Literal["svg", "png"],
    title: str,
    choice: Candidate | None = None,
) -> bytes:
    """The picture of quality against `axis` ("latency_p50_ms" | "peak_memory_bytes" | "cost_per_million_usd")
    for `cands`, with `front` (normally `pareto_front(cands, (axis,))`) drawn as a line and `choice` (the
    recommendation) as a star, as PNG or SVG bytes."""
    if fmt not in _FORMATS:
        raise BadRequest(f"Unknown picture format {fmt!r}: use png or svg.")
    fig = pareto_figure(cands, front, axis=axis, title=title, choice=choice)
    out = io.BytesIO()
    if fmt == "svg":
        with _RC_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "inhouse"}):
            fig.savefig(out, format="svg", dpi=DPI, metadata={"Date": None})
    else:
        fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
