"""Words and numbers for people: metric names, quality values, milliseconds, bytes, dollars, ratios.

Shared by the recommendation's paragraph and the pictures so both say the same thing the same way.
"""

from __future__ import annotations

from typing import Final

from inhouse.services.evaluations.candidates import Candidate, Interval

__all__ = [
    "METRIC_NAMES",
    "axis_title",
    "bytes_text",
    "candidate_quality",
    "metric_name",
    "ms_text",
    "number_text",
    "quality_text",
    "truncate",
    "usd_text",
]

#: How the metrics of each task family are written in prose (keys are the metric names results carry).
METRIC_NAMES: Final[dict[str, str]] = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "entity_f1": "entity F1",
    "entity_precision": "entity precision",
    "entity_recall": "entity recall",
    "exact_match": "exact match",
    "f1": "F1",
    "spearman": "Spearman correlation",
    "ndcg_at_10": "nDCG@10",
    "recall_at_1": "recall@1",
    "recall_at_10": "recall@10",
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "chrf": "chrF",
    "bleu": "BLEU",
    "perplexity": "perplexity",
}

_AXIS_TITLES: Final[dict[str, str]] = {
    "latency_p50_ms": "latency p50 at batch size 1 (ms)",
    "peak_memory_bytes": "peak memory (MB)",
    "cost_per_million_usd": "cost per million requests (USD)",
}


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric.replace("_", " ") or "quality")


def axis_title(axis: str) -> str:
    return _AXIS_TITLES.get(axis, axis)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def number_text(v: float, scale: float | None = None) -> str:
    """A metric value: three decimals below 10, two below 100, one above (0.912, 12.34, 123.4); `scale` (a value
    it is compared with) sets the decimals instead of `v` itself, so a difference reads like the values."""
    a = abs(v if scale is None else scale)
    return f"{v:.3f}" if a < 10 else f"{v:.2f}" if a < 100 else f"{v:.1f}"


def quality_text(q: Interval) -> str:
    """"0.912 [0.900–0.930]": the point value and its 95% interval."""
    return f"{number_text(q.value)} [{number_text(q.low, q.value)}–{number_text(q.high, q.value)}]"


def ms_text(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms"


def bytes_text(n: float) -> str:
    """Decimal units, as disks and cloud prices count: 180 MB, 1.3 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            v = n / size
            return f"{v:.1f} {unit}" if v < 10 else f"{v:.0f} {unit}"
    return f"{n:.0f} bytes"


def usd_text(usd: float) -> str:
    """$0.09, $0.40, $0.0012, $12.50: two significant digits below a dollar (at least cents), cents above."""
    if usd >= 1 or usd == 0:
        return f"${usd:,.2f}"
    text = f"{usd:.2g}"
    if "e" not in text and len(text.partition(".")[2]) < 2:
        text = f"{usd:.2f}"
    return "$" + text


def candidate_quality(c: Candidate) -> str:
    return "no value" if c.quality is None else quality_text(c.quality)
