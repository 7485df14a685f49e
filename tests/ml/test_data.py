"""Column roles, the deterministic max_examples sample, and the label handling of the encoder families."""

from __future__ import annotations

import numpy as np
import pytest

from inhouse.ml.data import column_mapping, sample_indices
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.tasks.base import TaskData
from inhouse.ml.tasks.classification import references
from inhouse.ml.tasks.qa import best_span
from inhouse.ml.tasks.tokens import reference_tags


def test_roles_default_to_columns_of_their_name_and_optional_ones_join_when_present() -> None:
    assert column_mapping("text-classification", None, ["text", "label", "id"]) == {"text": "text", "label": "label"}
    assert column_mapping("text-classification", {}, ["text", "label", "text_pair"]) == {
        "text": "text", "label": "label", "text_pair": "text_pair"}
    assert column_mapping("text-classification", {"text": "body", "label": "y"}, ["body", "y"]) == {
        "text": "body", "label": "y"}
    assert column_mapping("text-generation", None, ["prompt", "answer"]) == {"prompt": "prompt", "answer": "answer"}


@pytest.mark.parametrize(("task", "columns", "available", "words"), [
    ("text-classification", None, ["sentence", "label"], ["'text'", "sentence, label"]),
    ("text-classification", {"label": "y"}, ["text", "label"], ["'y'", "role 'label'", "text, label"]),
    ("text-classification", {"text_pair": "other"}, ["text", "label"], ["'other'"]),
    ("text-classification", {"question": "q"}, ["text", "label"], ["'question'", "text, label, text_pair"]),
    ("question-answering", None, ["question", "context"], ["'answers'", "question, context"]),
    ("text-generation", None, ["body"], ["text or prompt+answer", "body"]),
])
def test_missing_columns_are_bad_input_naming_what_the_dataset_has(task: str, columns: dict[str, str] | None,
                                                                  available: list[str], words: list[str]) -> None:
    with pytest.raises(WorkerFailure) as caught:
        column_mapping(task, columns, available)
    assert caught.value.code == "bad-input"
    for word in words:
        assert word in caught.value.message, caught.value.message


def test_max_examples_takes_the_same_rows_for_a_seed() -> None:
    assert sample_indices(10, None, 0) == list(range(10)) == sample_indices(10, 50, 0)
    a, b, c = sample_indices(1000, 100, 7), sample_indices(1000, 100, 7), sample_indices(1000, 100, 8)
    assert a == b and a != c
    assert a == sorted(a) and len(set(a)) == 100 and all(0 <= i < 1000 for i in a)


def test_classification_references_by_name_or_by_id() -> None:
    names = ["negative", "positive"]
    assert references(TaskData({"label": ["positive", "negative"]}), "label", names) == (["positive", "negative"], True)
    # ClassLabel ids whose names the model shares are compared by name, even in another order
    data = TaskData({"label": [0, 1]}, label_names={"label": ["positive", "negative"]})
    assert references(data, "label", names) == (["positive", "negative"], True)
    # a model with generic names compares class ids
    assert references(data, "label", ["LABEL_0", "LABEL_1"]) == ([0, 1], False)
    with pytest.raises(WorkerFailure, match="'neutral'.*negative, positive"):
        references(TaskData({"label": ["neutral"]}), "label", names)
    with pytest.raises(WorkerFailure, match=r"class ids \[2\].*2 classes"):
        references(TaskData({"label": [0, 2]}), "label", ["LABEL_0", "LABEL_1"])


def test_token_tags_from_class_label_names_or_strings() -> None:
    data = TaskData({"tokens": [["alice", "lives"], ["rome"]], "tags": [[1, 0], [3]]},
                    label_names={"tags": ["O", "B-PER", "I-PER", "B-LOC"]})
    assert reference_tags(data, ["x"]) == [["B-PER", "O"], ["B-LOC"]]
    with pytest.raises(WorkerFailure, match="2 words but 1 tags"):
        reference_tags(TaskData({"tokens": [["a", "b"]], "tags": [["O"]]}), ["O"])


def test_best_span_stays_in_the_context_and_in_order() -> None:
    sequence_ids = [None, 0, 0, None, 1, 1, 1, 1, None]
    start = np.array([9, 9, 9, 0, 1, 5, 0, 0, 9], dtype=np.float32)
    end = np.array([9, 9, 9, 0, 4, 0, 0, 3, 9], dtype=np.float32)
    # the best start is token 5; the best end before it (token 4) is not allowed, so the end is token 7
    assert best_span(start, end, sequence_ids) == (8.0, 5, 7)
    assert best_span(start, end, [None, 0, 0, None, None, None, None, None, None]) is None
