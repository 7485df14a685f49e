"""The evaluation request: every field checked, every limit a setting, defaults filled in."""

from __future__ import annotations

from typing import Any

import pytest

from inhouse.errors import BadRequest
from inhouse.services.evaluations.spec import Limits, from_json, parse_request
from inhouse.vocabulary import EvalTask, Variant

LIMITS = Limits(max_candidates=3, max_examples=500, max_resamples=100, default_price_per_hour=2.5)


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"task": "text-classification",
                         "dataset": {"repo": "acme/tickets", "split": "test", "columns": {"text": "body"}},
                         "candidates": ["acme/small", {"repo": "acme/large", "revision": "v2"}]}
    b.update(over)
    return b


def test_a_request_with_defaults() -> None:
    spec = parse_request(body(), LIMITS)
    assert spec.task is EvalTask.TEXT_CLASSIFICATION
    assert spec.dataset.repo == "acme/tickets" and spec.dataset.revision == "main"
    assert spec.dataset.columns == {"text": "body", "label": "label"}  # unmapped roles read their own name
    assert [(c.repo, c.revision) for c in spec.candidates] == [("acme/small", "main"), ("acme/large", "v2")]
    assert spec.max_examples == 500 and spec.resamples == 100  # capped to the limits when not asked
    assert spec.price_per_hour == 2.5 and spec.variants == ()
    assert from_json(spec.to_json()) == spec


def test_variants_are_parsed_deduplicated_and_original_is_implicit() -> None:
    spec = parse_request(body(variants=["int8", "original", "onnx-int8", "int8"]), LIMITS)
    assert spec.variants == (Variant.INT8, Variant.ONNX_INT8)


def test_text_generation_takes_either_column_group() -> None:
    spec = parse_request(body(task="text-generation", dataset={"repo": "a/b", "split": "test",
                                                               "columns": {"prompt": "q", "answer": "a"}}), LIMITS)
    assert spec.dataset.columns == {"prompt": "q", "answer": "a"}
    spec = parse_request(body(task="text-generation", dataset={"repo": "a/b", "split": "test"}), LIMITS)
    assert spec.dataset.columns == {"text": "text", "prompt": "prompt", "answer": "answer"}


@pytest.mark.parametrize("change, words", [
    ({"task": "poetry"}, "Invalid task"),
    ({"task": None}, "Invalid task"),
    ({"dataset": "acme/tickets"}, "'dataset' is required"),
    ({"dataset": {"repo": "../etc", "split": "test"}}, "Invalid"),
    ({"dataset": {"repo": "acme/t", "split": "x\ny"}}, "split"),
    ({"dataset": {"repo": "acme/t", "split": "test", "columns": {"colour": "c"}}}, "Unknown column role"),
    ({"dataset": {"repo": "acme/t", "split": "test", "columns": {"text": ""}}}, "column for 'text'"),
    ({"dataset": {"repo": "acme/t", "split": "test", "revision": "a\x00b"}}, "revision"),
    ({"dataset": {"repo": "acme/t", "split": "test", "path": "/etc"}}, "Unknown field"),
    ({"candidates": []}, "non-empty list"),
    ({"candidates": "acme/small"}, "non-empty list"),
    ({"candidates": ["a/1", "a/2", "a/3", "a/4"]}, "At most 3 candidates"),
    ({"candidates": ["a/1", "a/1@main"]}, "listed twice"),
    ({"candidates": [{"repo": "a/1", "weights": "x"}]}, "Unknown field"),
    ({"candidates": [7]}, "candidates[0]"),
    ({"variants": ["fp4"]}, "Invalid variant"),
    ({"variants": "int8"}, "must be a list"),
    ({"maxExamples": 501}, "maxExamples"),
    ({"maxExamples": 0}, "maxExamples"),
    ({"maxExamples": 2.5}, "integer"),
    ({"maxExamples": True}, "maxExamples"),
    ({"resamples": 101}, "resamples"),
    ({"tolerance": -0.1}, "tolerance"),
    ({"tolerance": float("nan")}, "tolerance"),
    ({"pricePerHour": float("inf")}, "pricePerHour"),
    ({"writeResults": "yes"}, "writeResults"),
    ({"seed": -1}, "seed"),
    ({"budget": 5}, "Unknown field"),
    ({"maxNewTokens": 8}, "generative tasks"),
])
def test_bad_requests_name_the_field(change: dict[str, Any], words: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_request(body(**change), LIMITS)
    assert words in err.value.message


def test_onnx_is_refused_for_generative_tasks() -> None:
    with pytest.raises(BadRequest, match="encoder tasks only"):
        parse_request(body(task="summarization", variants=["onnx"],
                           dataset={"repo": "a/b", "split": "test"}), LIMITS)


def test_generative_tasks_take_a_bounded_max_new_tokens() -> None:
    gen = {"task": "summarization", "dataset": {"repo": "a/b", "split": "test"}}
    assert parse_request(body(**gen, maxNewTokens=64), LIMITS).max_new_tokens == 64
    assert from_json(parse_request(body(**gen, maxNewTokens=64), LIMITS).to_json()).max_new_tokens == 64
    with pytest.raises(BadRequest, match="maxNewTokens"):
        parse_request(body(**gen, maxNewTokens=513), LIMITS)
