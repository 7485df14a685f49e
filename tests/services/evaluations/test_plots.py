"""The Pareto picture: PNG and SVG that decode, labels escaped, bounded points, log scale, inverted quality axis."""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from matplotlib.text import Annotation
from PIL import Image

from inhouse.errors import BadRequest
from inhouse.services.evaluations.candidates import Candidate
from inhouse.services.evaluations.pareto import pareto_front
from inhouse.services.evaluations.plots import DPI, FIGSIZE_IN, MAX_LABEL_CHARS, MAX_POINTS, pareto_figure, render_pareto
from inhouse.services.evaluations.recommend import recommend

MakeCandidate = Callable[..., Candidate]
SVG = "{http://www.w3.org/2000/svg}"


def table(make_candidate: MakeCandidate) -> list[Candidate]:
    return [
        make_candidate("acme/bert-large", 0.921, 0.91, 0.93, latency=22.4, memory=1_300_000_000, cost=0.62),
        make_candidate("acme/bert-small (int8)", 0.912, 0.90, 0.93, latency=3.1, memory=180_000_000, cost=0.09),
        make_candidate("acme/bert-small", 0.915, 0.90, 0.93, latency=5.0, memory=400_000_000, cost=0.15),
        make_candidate("acme/bert-tiny", 0.70, 0.66, 0.74, latency=8.0, memory=900_000_000, cost=0.3),
        make_candidate("acme/crashed", None, status="failed", error="crashed"),
    ]


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def annotations(fig: object) -> list[str]:
    ax = fig.axes[0]  # type: ignore[attr-defined]
    return [c.get_text() for c in ax.get_children() if isinstance(c, Annotation)]


@pytest.mark.parametrize("axis", ["latency_p50_ms", "peak_memory_bytes", "cost_per_million_usd"])
def test_png_decodes_to_the_fixed_size(make_candidate: MakeCandidate, axis: str) -> None:
    cands = table(make_candidate)
    png = render_pareto(cands, pareto_front(cands, (axis,)), axis=axis, fmt="png", title="Evaluation 1",
                        choice=recommend(cands).choice)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        assert im.size == (int(FIGSIZE_IN[0] * DPI), int(FIGSIZE_IN[1] * DPI)) == (800, 550)
        # something was drawn: not one flat colour
        assert len(im.convert("L").getcolors(maxcolors=1 << 16) or []) > 10


def test_svg_has_every_label_as_text(make_candidate: MakeCandidate) -> None:
    cands = table(make_candidate)
    svg = render_pareto(cands, pareto_front(cands, ("latency_p50_ms",)), axis="latency_p50_ms", fmt="svg",
                        title="text-classification on acme/tickets", choice=recommend(cands).choice)
    texts = svg_texts(svg)
    for c in cands[:4]:
        assert c.label in texts
    assert "acme/crashed" not in texts
    assert "text-classification on acme/tickets" in texts
    assert "recommended" in texts and "Pareto front" in texts
    assert any("1 failed or skipped" in t for t in texts)
    assert any(t.startswith("accuracy (higher is better)") for t in texts)


def test_svg_escapes_labels_and_keeps_dollars(make_candidate: MakeCandidate) -> None:
    evil = make_candidate("<script>alert(1)</script>", 0.9, latency=2.0)
    dollars = make_candidate("acme/$x$ & co", 0.8, latency=1.0)
    svg = render_pareto([evil, dollars], [evil, dollars], axis="latency_p50_ms", fmt="svg", title="<b>t</b>")
    assert b"<script" not in svg and b"<b>" not in svg
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    root = ET.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] in ("script", "b")]
    texts = svg_texts(svg)
    assert "<script>alert(1)</script>" in texts and "acme/$x$ & co" in texts and "<b>t</b>" in texts


def test_long_labels_are_cut(make_candidate: MakeCandidate) -> None:
    long = make_candidate("acme/" + "a-very-long-model-name-" * 4, 0.9)
    fig = pareto_figure([long], [long], axis="latency_p50_ms", title="t")
    (text,) = annotations(fig)
    assert len(text) == MAX_LABEL_CHARS and text.endswith("…") and long.label.startswith(text[:-1])


def test_points_are_bounded_and_the_front_kept(make_candidate: MakeCandidate) -> None:
    n = MAX_POINTS + 60
    cands = [make_candidate(f"m{i:03d}", 0.5 + (i % 50) / 100, latency=1.0 + i, memory=1_000_000 * (1 + i % 7))
             for i in range(n)]
    front = pareto_front(cands, ("latency_p50_ms",))
    fig = pareto_figure(cands, front, axis="latency_p50_ms", title="many")
    ax = fig.axes[0]
    drawn = sum(len(line.get_xdata()) for line in ax.get_lines() if line.get_marker() == "o")
    assert drawn == MAX_POINTS
    # beyond MAX_LABELLED only the front is labelled
    assert sorted(annotations(fig)) == sorted(c.label for c in front)
    assert "showing 200 of 260 candidates" in ax.get_xlabel()
    png = render_pareto(cands, front, axis="latency_p50_ms", fmt="png", title="many")
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (800, 550)


def test_wide_cost_range_uses_a_log_axis(make_candidate: MakeCandidate) -> None:
    narrow = [make_candidate("a", 0.9, latency=10.0), make_candidate("b", 0.8, latency=50.0)]
    wide = [make_candidate("a", 0.9, latency=1000.0), make_candidate("b", 0.8, latency=2.0)]
    zero = [make_candidate("a", 0.9, cost=0.0), make_candidate("b", 0.8, cost=100.0)]
    assert pareto_figure(narrow, narrow, axis="latency_p50_ms", title="").axes[0].get_xscale() == "linear"
    assert pareto_figure(wide, wide, axis="latency_p50_ms", title="").axes[0].get_xscale() == "log"
    assert pareto_figure(zero, zero, axis="cost_per_million_usd", title="").axes[0].get_xscale() == "linear"


def test_lower_is_better_puts_the_best_on_top(make_candidate: MakeCandidate) -> None:
    lm = [make_candidate(n, v, higher_is_better=False, metric="perplexity") for n, v in (("a", 12.0), ("b", 30.0))]
    fig = pareto_figure(lm, lm[:1], axis="latency_p50_ms", title="")
    ax = fig.axes[0]
    assert ax.yaxis_inverted() and ax.get_ylabel().startswith("perplexity (lower is better)")
    hib = [make_candidate("c", 0.9)]
    assert not pareto_figure(hib, hib, axis="latency_p50_ms", title="").axes[0].yaxis_inverted()


def test_nothing_to_draw_still_gives_a_picture(make_candidate: MakeCandidate) -> None:
    cands = [make_candidate("x", None, status="failed", error="e"), make_candidate("y", 0.9, memory=None)]
    svg = render_pareto(cands, [], axis="peak_memory_bytes", fmt="svg", title="empty")
    texts = svg_texts(svg)
    assert "No candidate has both a quality value and this cost measured." in texts
    assert any("1 without a measured peak memory" in t for t in texts)
    png = render_pareto([], [], axis="latency_p50_ms", fmt="png", title="none")
    assert png.startswith(b"\x89PNG")


def test_bad_axis_and_format(make_candidate: MakeCandidate) -> None:
    c = [make_candidate("a", 0.9)]
    with pytest.raises(BadRequest, match="Unknown cost axis"):
        render_pareto(c, c, axis="size_bytes", fmt="png", title="")
    with pytest.raises(BadRequest, match="use png or svg"):
        render_pareto(c, c, axis="latency_p50_ms", fmt="gif", title="")  # type: ignore[arg-type]


def test_concurrent_renders_keep_svg_text(make_candidate: MakeCandidate) -> None:
    cands = table(make_candidate)
    front = pareto_front(cands, ("latency_p50_ms",))
    out: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            out[i] = render_pareto(cands, front, axis="latency_p50_ms", fmt="svg" if i % 2 else "png",
                                   title=f"render {i}")
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, data in out.items():
        if i % 2:
            assert f"render {i}" in svg_texts(data) and "acme/bert-large" in svg_texts(data)
        else:
            assert data.startswith(b"\x89PNG")
    assert len(out) == 4
