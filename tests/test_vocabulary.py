"""The typed vocabulary: values are the strings the API, the CLI and the database hold; parse refuses the rest."""

from __future__ import annotations

import json

import pytest

from inhouse.errors import BadRequest
from inhouse.vocabulary import RepoType


def test_repo_types_are_the_hub_strings() -> None:
    assert [t.value for t in RepoType] == ["model", "dataset", "space"]
    assert json.dumps({"type": RepoType.DATASET}) == '{"type": "dataset"}'
    assert f"a {RepoType.SPACE} repo" == "a space repo"
    assert [t.plural for t in RepoType] == ["models", "datasets", "spaces"]
    assert [t.url_prefix for t in RepoType] == ["", "datasets/", "spaces/"]
    assert [RepoType.from_plural(t.plural) for t in RepoType] == list(RepoType)


def test_repo_type_parse() -> None:
    assert RepoType.parse(None) is RepoType.MODEL and RepoType.parse("") is RepoType.MODEL  # as on the Hub
    assert RepoType.parse("dataset") is RepoType.DATASET
    for bad in ("models", "Model", "modle", 5, ["model"], "x" * 10_000):
        with pytest.raises(BadRequest, match="use one of model, dataset, space") as e:
            RepoType.parse(bad)
        assert len(e.value.message) < 200
