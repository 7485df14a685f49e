"""`inhouse eval` rendering: the table marks the candidates on the joint Pareto front the API returns."""

from __future__ import annotations

import io
from typing import Any

from inhouse.cli.eval import render


def row(label: str, variant: str, quality: float, p50: float, memory: int) -> dict[str, Any]:
    return {"label": label, "variant": variant, "status": "ok", "error": None, "primaryMetric": "spearman",
            "quality": {"value": quality, "low": quality - 0.05, "high": quality + 0.05},
            "cost": {"latency_p50_ms": p50, "latency_p95_ms": p50 * 1.5, "peak_memory_bytes": memory,
                     "cost_per_million_usd": p50 / 10}}


def test_the_table_marks_the_joint_pareto_front_as_the_api_returns_it() -> None:
    # GET /api/evaluations/{id} answers pareto.joint as {"axes": [...], "labels": [...]} (services/evaluations/pareto.py)
    ev = {"id": 1, "task": "sentence-similarity", "state": "succeeded",
          "dataset": {"repo": "acme/sts", "revision": "abc", "split": "test"},
          "rows": [row("acme/m", "original", 0.85, 30.0, 300_000_000),
                   row("acme/m (onnx-int8)", "onnx-int8", 0.85, 6.0, 100_000_000)],
          "pareto": {"joint": {"axes": ["latency_p50_ms", "peak_memory_bytes"], "labels": ["acme/m (onnx-int8)"]}}}
    out = io.StringIO()
    render(ev, out)
    table = [line for line in out.getvalue().splitlines() if line[1:].startswith("acme/m")]
    marks = {line[1:44].strip(): line[0] for line in table}
    assert marks == {"acme/m (onnx-int8)": "*", "acme/m": " "}, out.getvalue()
