"""Policy documents: what a valid one becomes, and every kind of mistake named by its line and column."""

from __future__ import annotations

import pytest

from inhouse.errors import BadRequest
from inhouse.services.governance.policy_doc import (
    DEFAULT_DOCUMENT,
    DEFAULT_POLICY,
    MAX_DOCUMENT_BYTES,
    CardRules,
    LicenseRules,
    LifecycleRules,
    PersonalDataRules,
    PickleRules,
    RequiredField,
    SecretRules,
    parse,
)
from inhouse.vocabulary import Outcome, RepoType, Role

FULL = """\
licenses:
  allow: [apache-2.0, mit, llama3.1]
  deny: [gpl-3.0, AGPL-3.0]
  denied: deny
  unknown: approval
  missing: deny
  derived: approval
pickles:
  outcome: quarantine
  on_error: deny
  extra_safe_globals: [mypkg.layers.Block]
personal_data:
  outcome: approval
  on_error: quarantine
  entities: [EMAIL_ADDRESS, iban_code]
  repo_types: [dataset, model]
  max_rows: 5_000
secrets:
  outcome: deny
card:
  outcome: approval
  repo_types: [model]
  required:
    - name: intended use
      metadata: [intended_use]
      sections: [Intended uses, Intended use]
    - name: limitations
      sections: Limitations
lifecycle:
  approver_roles: [admin, write]
  approvals: 2
  high_risk_approvals: 3
"""


def test_a_full_document_becomes_its_policy() -> None:
    p = parse(FULL, org="acme", version=4)
    assert p.licenses == LicenseRules(allow=frozenset({"apache-2.0", "mit", "llama3.1"}),
                                      deny=frozenset({"gpl-3.0", "agpl-3.0"}), derived=Outcome.APPROVAL)
    assert p.pickles == PickleRules(Outcome.QUARANTINE, Outcome.DENY, frozenset({"mypkg.layers.Block"}))
    assert p.personal_data == PersonalDataRules(Outcome.APPROVAL, Outcome.QUARANTINE, ("EMAIL_ADDRESS", "IBAN_CODE"),
                                                frozenset({RepoType.DATASET, RepoType.MODEL}), 5000)
    assert p.secrets == SecretRules(Outcome.DENY, Outcome.QUARANTINE)
    assert p.card == CardRules(Outcome.APPROVAL, frozenset({RepoType.MODEL}), (
        RequiredField("intended use", ("intended_use",), ("Intended uses", "Intended use")),
        RequiredField("limitations", (), ("Limitations",))))
    assert p.lifecycle == LifecycleRules((Role.ADMIN, Role.WRITE), 2, 3)
    assert (p.org, p.version, p.warnings) == ("acme", 4, ())
    assert p.source == "the policy of 'acme' (version 4)"
    assert p.to_json()["licenses"]["deny"] == ["agpl-3.0", "gpl-3.0"]


def test_the_default_refuses_nothing_and_flags_pickles() -> None:
    assert parse(DEFAULT_DOCUMENT) == DEFAULT_POLICY
    assert parse("") == DEFAULT_POLICY and parse("# only a comment\n") == DEFAULT_POLICY
    assert DEFAULT_POLICY.pickles == PickleRules(Outcome.ALLOW, Outcome.ALLOW)
    assert (DEFAULT_POLICY.licenses, DEFAULT_POLICY.personal_data, DEFAULT_POLICY.secrets,
            DEFAULT_POLICY.card) == (None, None, None, None)
    assert DEFAULT_POLICY.source == "the default policy"


def test_sections_take_their_defaults_and_can_be_off() -> None:
    p = parse("pickles: {}\nsecrets: {}\npersonal_data: off\ncard: null\nlifecycle: {approvals: 3}\n")
    assert p.pickles == PickleRules(Outcome.DENY, Outcome.QUARANTINE)  # a written section governs pickles
    assert p.secrets == SecretRules()
    assert (p.personal_data, p.card, p.licenses) == (None, None, None)
    assert p.lifecycle.high_risk_approvals == 3  # at least as many as approvals
    assert parse("licenses: {}\n").pickles == DEFAULT_POLICY.pickles  # no pickles section: flagged, allowed


@pytest.mark.parametrize("document,expected", [
    # YAML syntax
    ("licenses:\n  deny: [gpl-3.0\n  missing: deny\n", "policy line 3, column 10: while parsing a flow sequence"),
    ("pickles:\n outcome: deny\n  on_error: deny\n", "policy line 3, column 11: mapping values are not allowed"),
    ("secrets: {outcome: 'deny}\n", "policy line 2, column 1:"),
    # unknown keys, with the closest valid one
    ("licences:\n  deny: [mit]\n", "policy line 1, column 1: unknown key 'licences' in the policy; did you mean "
                                   "'licenses'?"),
    ("card:\n  required:\n    - name: x\n      metdata: [a]\n",
     "policy line 4, column 7: unknown key 'metdata' in an entry of card.required; did you mean 'metadata'?"),
    ("pickles:\n  zzz: 1\n", "policy line 2, column 3: unknown key 'zzz' in pickles; valid keys are outcome, "
                             "on_error, extra_safe_globals"),
    # wrong types
    ("licenses: [mit]\n", "policy line 1, column 11: licenses must be a mapping, not a list"),
    ("licenses:\n  deny: {gpl: 1}\n", "policy line 2, column 9: licenses.deny must be a list, not a mapping"),
    ("lifecycle:\n  approvals: two\n", "policy line 2, column 14: lifecycle.approvals must be a whole number"),
    ("card:\n  required:\n    - name: 12\n      sections: [x]\n", "policy line 3, column 13: a name must be a "
                                                                  "string, not a number"),
    # values
    ("pickles:\n  outcome: refuse\n", "policy line 2, column 12: unknown outcome 'refuse' for pickles.outcome; "
                                      "use one of allow | approval | quarantine | deny"),
    ("secrets:\n  outcome: denied\n", "did you mean 'deny'?"),
    ("licenses:\n  missing: quarantine\n", "policy line 2, column 12: licenses.missing cannot be 'quarantine'"),
    ("lifecycle:\n  approver_roles: [admin, boss]\n", "policy line 2, column 27: unknown role 'boss'"),
    ("lifecycle:\n  approvals: -1\n", "policy line 2, column 14: lifecycle.approvals is -1, out of range; write a "
                                      "number from 1 to 10"),
    ("lifecycle:\n  approvals: 3\n  high_risk_approvals: 2\n", "policy line 3, column 24: "
                                                              "lifecycle.high_risk_approvals (2) is fewer"),
    ("personal_data:\n  entities: [EMAIL_ADRESS]\n", "policy line 2, column 14: unknown entity 'EMAIL_ADRESS' in "
                                                     "personal_data.entities; did you mean 'EMAIL_ADDRESS'?"),
    ("personal_data:\n  repo_types: [models]\n", "policy line 2, column 16: unknown repo type 'models'"),
    ("personal_data:\n  max_rows: 0\n", "personal_data.max_rows is 0, out of range"),
    ("pickles:\n  extra_safe_globals: [os]\n", "policy line 2, column 24: 'os' is not a global's full name"),
    ("licenses:\n  allow: [mit]\n  deny: [mit]\n", "policy line 3, column 9: mit is both allowed and denied"),
    ("card:\n  required:\n    - name: x\n", "policy line 3, column 7: the required card field 'x' names no "
                                           "metadata key and no section"),
    ("card:\n  required:\n    - metadata: [a]\n", "this required card field has no 'name'"),
    ("pickles: off\n", "policy line 1, column 10: pickles cannot be turned off"),
    ("- licenses\n", "policy line 1, column 1: the policy must be a mapping, not a list"),
    ("just words\n", "the policy must be a mapping"),
    # duplicates, aliases
    ("secrets: {}\nsecrets: {outcome: allow}\n", "policy line 2, column 1: 'secrets' is given twice in the policy "
                                                 "(first on line 1)"),
    ("licenses:\n  deny: &bad [gpl-3.0]\n  allow: *bad\n", "policy line 2, column 9: YAML anchors and aliases"),
])
def test_mistakes_are_named_by_line_and_column(document: str, expected: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(document)
    assert expected in caught.value.message


def test_several_mistakes_are_named_at_once() -> None:
    with pytest.raises(BadRequest) as caught:
        parse("pickles:\n  outcome: nope\nsecrets:\n  on_eror: deny\nlifecycle:\n  approvals: 99\n")
    message = caught.value.message
    for where in ("policy line 2, column 12", "policy line 4, column 3", "policy line 6, column 14"):
        assert where in message
    assert message.index("line 2") < message.index("line 4") < message.index("line 6")


def test_unknown_license_ids_are_accepted_with_a_warning() -> None:
    p = parse("licenses:\n  deny: [gpl-3.0, gpl3, my-company-license]\n")
    assert p.licenses is not None and "gpl3" in p.licenses.deny
    assert p.warnings == (
        "policy line 2, column 19: 'gpl3' is not one of the hub's license ids (did you mean 'gpl'?); it only matches "
        "a card naming it exactly",
        "policy line 2, column 25: 'my-company-license' is not one of the hub's license ids; it only matches a "
        "card naming it exactly")


def test_size_depth_and_alias_bombs_are_bounded() -> None:
    with pytest.raises(BadRequest, match="keep it under"):
        parse("# " + "x" * MAX_DOCUMENT_BYTES + "\n")
    with pytest.raises(BadRequest, match="nested more than"):
        parse("card:\n  required: " + "[" * 50 + "]" * 50 + "\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(BadRequest, match="anchors and aliases"):
        parse(bomb)
    with pytest.raises(BadRequest, match="has 501 entries"):
        parse("licenses:\n  deny: [" + ", ".join(["mit"] * 501) + "]\n")
