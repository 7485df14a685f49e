"""The typed vocabulary: values are the strings the API, the CLI and the database hold; parse refuses the rest."""

from __future__ import annotations

import json
import re

import pytest

from inhouse.errors import BadRequest
from inhouse.vocabulary import MAX_SCOPES, Permission, RepoType, Role, Scope, ScopeKind, TokenRole


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


def test_roles_rank_by_power_not_by_spelling() -> None:
    assert [r.value for r in Role] == ["read", "contributor", "write", "admin"]
    assert [r.rank for r in Role] == [1, 2, 3, 4]
    assert Role.CONTRIBUTOR.at_least(Role.READ) and not Role.CONTRIBUTOR.at_least(Role.WRITE)
    assert Role.ADMIN.at_least(Role.ADMIN)
    assert "read" > "contributor" and not Role.READ.at_least(Role.CONTRIBUTOR)  # why there is a rank
    assert Role.parse("write") is Role.WRITE
    for bad in ("owner", "Write", None, 3):
        with pytest.raises(BadRequest, match="Invalid role .*: use one of read, contributor, write, admin"):
            Role.parse(bad)


def test_token_roles_are_a_different_word() -> None:
    assert [r.value for r in TokenRole] == ["read", "write", "fine-grained"]
    assert TokenRole.parse("fine-grained") is TokenRole.FINE_GRAINED
    with pytest.raises(BadRequest, match="Invalid token role 'admin': use one of read, write, fine-grained"):
        TokenRole.parse("admin")  # a member role, not a token role


def test_permissions_include_what_they_imply() -> None:
    assert [p.value for p in Permission] == ["repo.content.read", "repo.write", "discussion.write",
                                             "repo.access.write"]
    assert Permission.WRITE.implied == {Permission.WRITE, Permission.READ_CONTENT, Permission.DISCUSS}
    assert Permission.MANAGE_ACCESS.implied == {Permission.MANAGE_ACCESS, Permission.READ_CONTENT}
    assert Permission.READ_CONTENT.implied == {Permission.READ_CONTENT}
    assert Permission.DISCUSS.implied == {Permission.DISCUSS}


def test_a_scope_parses_from_and_writes_back_the_same_json() -> None:
    raw = {"type": "repo", "name": "datasets/acme/data", "permissions": ["repo.write", "repo.content.read",
                                                                          "repo.write"]}
    scope = Scope.parse(raw)
    assert scope == Scope(ScopeKind.REPO, "datasets/acme/data", frozenset({Permission.WRITE, Permission.READ_CONTENT}))
    assert scope.to_json() == {"type": "repo", "name": "datasets/acme/data",
                               "permissions": ["repo.content.read", "repo.write"]}  # sorted, once each
    assert Scope.parse(scope.to_json()) == scope
    assert scope.allows(Permission.DISCUSS) and not scope.allows(Permission.MANAGE_ACCESS)


@pytest.mark.parametrize(("value", "message"), [
    ({"type": "team", "name": "a", "permissions": ["repo.write"]}, "needs a 'type' (repo, org, user)"),
    ({"type": "repo", "permissions": ["repo.write"]}, "needs a 'type'"),
    ({"type": "repo", "name": 5, "permissions": ["repo.write"]}, "needs a 'type'"),
    ({"type": ["repo"], "name": "a", "permissions": ["repo.write"]}, "needs a 'type'"),
    ({"type": "repo", "name": "a", "permissions": []}, "non-empty list"),
    ({"type": "repo", "name": "a", "permissions": "repo.write"}, "non-empty list"),
    ({"type": "repo", "name": "a", "permissions": ["repo.everything"]}, "non-empty list"),
    ({"type": "repo", "name": "a", "permissions": [["repo.write"]]}, "non-empty list"),
    ("repo:a:repo.write", "needs a 'type'"),
])
def test_a_bad_scope_is_a_400_that_says_what_a_scope_is(value: object, message: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(message)):
        Scope.parse(value)


def test_a_scope_list_is_non_empty_and_bounded() -> None:
    one = {"type": "org", "name": "acme", "permissions": ["repo.content.read"]}
    assert Scope.parse_list([one]) == (Scope.parse(one),)
    for empty in (None, [], {}, "x"):
        with pytest.raises(BadRequest, match="needs at least one scope"):
            Scope.parse_list(empty)
    assert len(Scope.parse_list([one] * MAX_SCOPES)) == MAX_SCOPES
    with pytest.raises(BadRequest, match=f"at most {MAX_SCOPES} scopes"):
        Scope.parse_list([one] * (MAX_SCOPES + 1))
