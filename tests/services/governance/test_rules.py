"""Policy rules over facts: each rule's findings, their outcomes, and the message the client shows."""

from __future__ import annotations

import json
from typing import Any

from inhouse.services.governance.policy_doc import DEFAULT_POLICY, Policy, parse
from inhouse.services.governance.rules import (
    MAX_DESCRIPTION,
    BaseFacts,
    CardFacts,
    ChangeFacts,
    FileFacts,
    Finding,
    ScanResult,
    describe,
    evaluate,
    outcome_of,
)
from inhouse.vocabulary import Outcome, RepoType, Scanner

STRICT = parse("""\
licenses:
  allow: [apache-2.0, mit, llama3, gpl-3.0, other]
  deny: [agpl-3.0, cc-by-nc-4.0]
  unknown: approval
  missing: deny
  derived: deny
pickles:
  outcome: deny
  on_error: quarantine
  extra_safe_globals: [mypkg.layers.Block]
personal_data:
  outcome: approval
  entities: [EMAIL_ADDRESS, IBAN_CODE]
secrets:
  outcome: deny
card:
  outcome: approval
  required:
    - name: intended use
      metadata: [intended_use]
      sections: [Intended uses]
""", org="acme", version=3)


def scan(scanner: Scanner, status: str, findings: dict[str, Any] | None = None,
         error: str | None = None) -> ScanResult:
    return ScanResult(scanner, "1", status, findings or {}, error)


def file(path: str, *results: ScanResult) -> FileFacts:
    return FileFacts(path, f"git:{path}", 10, {r.scanner: r for r in results})


def change(*files: FileFacts, card: CardFacts | None = None, bases: list[BaseFacts] | None = None,
           repo_type: RepoType = RepoType.MODEL, repo_id: str = "acme/model",
           root: tuple[str, ...] = ()) -> ChangeFacts:
    return ChangeFacts(repo_type, repo_id, list(files), card, bases or [], frozenset(root))


def rules_of(findings: list[Finding]) -> list[tuple[str, Outcome, str | None]]:
    return [(f.rule, f.outcome, f.path) for f in findings]


UNSAFE = {"format": "pickle", "imports": ["collections.OrderedDict", "os.system"], "pickles": 1,
          "unsafe": [{"global": "os.system", "member": None, "reason": "runs a shell command"}]}


def test_an_unsafe_pickle_is_found_with_the_globals_it_imports() -> None:
    facts = change(file("pytorch_model.bin", scan(Scanner.PICKLE, "findings", UNSAFE)),
                   file("model.safetensors"))
    [found] = evaluate(STRICT, facts)
    assert (found.rule, found.outcome, found.path) == ("pickle.unsafe", Outcome.DENY, "pytorch_model.bin")
    assert "os.system" in found.message and "safetensors" in found.message
    assert found.details["unsafe"] == UNSAFE["unsafe"]
    # the default policy flags the same file and refuses nothing
    assert rules_of(evaluate(DEFAULT_POLICY, facts)) == [("pickle.unsafe", Outcome.ALLOW, "pytorch_model.bin")]


def test_extra_safe_globals_and_clean_scans_find_nothing() -> None:
    own = {"format": "zip", "imports": [], "pickles": 1, "unsafe": [
        {"global": "mypkg.layers.Block", "member": "archive/data.pkl", "reason": "not in the safe globals"}]}
    assert evaluate(STRICT, change(file("a.pt", scan(Scanner.PICKLE, "findings", own)))) == []
    assert evaluate(STRICT, change(file("b.pt", scan(Scanner.PICKLE, "clean", {"unsafe": []})))) == []
    [found] = evaluate(DEFAULT_POLICY, change(file("a.pt", scan(Scanner.PICKLE, "findings", own))))
    assert "mypkg.layers.Block (in archive/data.pkl)" in found.message


def test_a_scanner_error_is_a_finding_with_the_on_error_outcome() -> None:
    crashed = scan(Scanner.PICKLE, "error", error="the scanner timed out after 60 s")
    [found] = evaluate(STRICT, change(file("w.ckpt", crashed)))
    assert (found.rule, found.outcome) == ("pickle.scan_error", Outcome.QUARANTINE)
    assert "timed out after 60 s" in found.message and "quarantined" in found.message
    [flagged] = evaluate(DEFAULT_POLICY, change(file("w.ckpt", crashed)))
    assert (flagged.rule, flagged.outcome) == ("pickle.scan_error", Outcome.ALLOW)
    for scanner in (Scanner.PERSONAL_DATA, Scanner.SECRETS):
        [f] = evaluate(STRICT, change(file("d.csv", scan(scanner, "error", error="boom")), repo_type=RepoType.DATASET))
        assert (f.rule, f.outcome) == (f"{scanner.value}.scan_error", Outcome.QUARANTINE)


PII = {"format": "csv", "rows_total": 100, "rows_scanned": 100, "sampled": False, "confidence": "all rows",
       "columns": {"email": {"EMAIL_ADDRESS": 12}, "account": {"IBAN_CODE": 3, "PHONE_NUMBER": 2},
                   "notes": {"PHONE_NUMBER": 5}},
       "entities": {"EMAIL_ADDRESS": 12, "IBAN_CODE": 3, "PHONE_NUMBER": 7}}


def test_personal_data_names_columns_and_counts_of_the_entities_the_policy_names() -> None:
    data = file("train.csv", scan(Scanner.PERSONAL_DATA, "findings", PII))
    [found] = evaluate(STRICT, change(data, repo_type=RepoType.DATASET))
    assert (found.rule, found.outcome, found.path) == ("personal_data.found", Outcome.APPROVAL, "train.csv")
    assert found.details["columns"] == {"email": {"EMAIL_ADDRESS": 12}, "account": {"IBAN_CODE": 3}}
    assert found.details["entities"] == {"EMAIL_ADDRESS": 12, "IBAN_CODE": 3}
    assert "email (12 EMAIL_ADDRESS)" in found.message and "account (3 IBAN_CODE)" in found.message
    assert "notes" not in found.message  # phone numbers: not named by this policy
    # a model repo is outside personal_data.repo_types (dataset by default)
    assert evaluate(STRICT, change(data, repo_type=RepoType.MODEL)) == []
    assert evaluate(DEFAULT_POLICY, change(data, repo_type=RepoType.DATASET)) == []  # not scanned by default


def test_secrets_name_type_and_line_never_the_value() -> None:
    found_secrets = {"secrets": [{"type": "AWS access key", "line": 3}, {"type": "GitHub token", "line": 9}]}
    [found] = evaluate(STRICT, change(file("train.py", scan(Scanner.SECRETS, "findings", found_secrets))))
    assert (found.rule, found.outcome) == ("secrets.found", Outcome.DENY)
    assert "AWS access key on line 3" in found.message and "GitHub token on line 9" in found.message
    assert found.details == found_secrets
    assert evaluate(DEFAULT_POLICY, change(file("train.py", scan(Scanner.SECRETS, "findings", found_secrets)))) == []


def card(license: Any = "apache-2.0", body: str | None = None, headings: tuple[str, ...] = ("Intended uses",),
         **meta: Any) -> CardFacts:
    metadata = {**({"license": license} if license is not None else {}), **meta}
    return CardFacts(metadata, list(headings), body)


def test_licenses_denied_not_allowed_unknown_and_missing() -> None:
    assert evaluate(STRICT, change(card=card("apache-2.0"))) == []
    assert rules_of(evaluate(STRICT, change(card=card("agpl-3.0")))) == [
        ("license.denied", Outcome.DENY, "README.md")]
    [not_allowed] = evaluate(STRICT, change(card=card("bsd-3-clause")))
    assert (not_allowed.rule, not_allowed.outcome) == ("license.unknown", Outcome.APPROVAL)
    assert "not among the licenses the policy allows" in not_allowed.message
    [missing] = evaluate(STRICT, change(card=card(None)))
    assert (missing.rule, missing.outcome) == ("license.missing", Outcome.DENY)
    assert "add 'license: <id>'" in missing.message
    open_policy = parse("licenses: {deny: [gpl-3.0]}\n")
    [unknown] = evaluate(open_policy, change(card=card("my-own-license")))
    assert unknown.rule == "license.unknown" and unknown.outcome is Outcome.APPROVAL
    assert unknown.message.startswith("'my-own-license' is not a license id the Hub knows")
    # license: other, named by license_name, is matched by that name too
    named = parse("licenses: {deny: [acme-internal]}\n")
    [denied] = evaluate(named, change(card=card("other", license_name="acme-internal", license_link="LICENSE")))
    assert denied.rule == "license.denied" and "other (acme-internal)" in denied.message
    # license rules look at the card only when README.md changed
    assert evaluate(STRICT, change(file("x.txt"))) == []


def test_a_derived_model_cannot_relax_its_base_license() -> None:
    gpl_base = [BaseFacts("acme/base", True, "gpl-3.0", {"license": "gpl-3.0"})]
    [relaxed] = evaluate(STRICT, change(card=card("mit", base_model="acme/base"), bases=gpl_base))
    assert (relaxed.rule, relaxed.outcome) == ("license.derived", Outcome.DENY)
    assert "derived from acme/base" in relaxed.message and "write license: gpl-3.0" in relaxed.message
    assert evaluate(STRICT, change(card=card("gpl-3.0", base_model="acme/base"), bases=gpl_base)) == []
    mit_base = [BaseFacts("acme/base", True, "mit", {})]
    assert evaluate(STRICT, change(card=card("apache-2.0", base_model="acme/base"), bases=mit_base)) == []


def test_a_base_not_on_this_hub_is_unknown() -> None:
    [missing] = evaluate(STRICT, change(card=card("apache-2.0", base_model="meta-llama/Llama-3-8B"),
                                        bases=[BaseFacts("meta-llama/Llama-3-8B", False)]))
    assert (missing.rule, missing.outcome) == ("license.unknown", Outcome.APPROVAL)
    assert "was not found on this hub" in missing.message and "mirror it here" in missing.message


LLAMA = [BaseFacts("meta-llama/Meta-Llama-3-8B", True, "llama3", {"license": "llama3"})]


def test_a_llama_derived_model_owes_the_naming_and_notice_duties() -> None:
    dropped = change(card=card("llama3", base_model="meta-llama/Meta-Llama-3-8B", body="Built with Meta Llama 3"),
                     bases=LLAMA, repo_id="acme/medical-chat", root=("README.md", "model.safetensors"))
    found = evaluate(STRICT, dropped)
    assert [(f.rule, f.outcome, f.details["duty"]) for f in found] == [
        ("license.duty", Outcome.DENY, "name-prefix"), ("license.duty", Outcome.DENY, "notice-file")]
    assert 'include "Llama 3" at the beginning' in found[0].message and "rename the repo" in found[0].message
    assert "NOTICE" in found[1].message
    kept = change(card=card("llama3", base_model="meta-llama/Meta-Llama-3-8B", body="Built with Meta Llama 3"),
                  bases=LLAMA, repo_id="acme/Llama-3-medical-chat", root=("README.md", "NOTICE", "LICENSE"))
    assert evaluate(STRICT, kept) == []
    no_credit = change(card=card("llama3", base_model="meta-llama/Meta-Llama-3-8B", body="A chat model."),
                       bases=LLAMA, repo_id="acme/Llama-3-chat", root=("NOTICE",))
    assert [f.details["duty"] for f in evaluate(STRICT, no_credit)] == ["card-text"]


def test_a_derived_model_under_a_community_license_owes_its_duties_even_when_its_base_is_elsewhere() -> None:
    facts = change(card=card("llama3", base_model="meta-llama/Meta-Llama-3-8B"),
                   bases=[BaseFacts("meta-llama/Meta-Llama-3-8B", False)], repo_id="acme/chat", root=("NOTICE",))
    assert [(f.rule, f.details.get("duty")) for f in evaluate(STRICT, facts)] == [
        ("license.unknown", None), ("license.duty", "name-prefix")]


def test_required_card_fields_by_metadata_or_heading() -> None:
    assert evaluate(STRICT, change(card=card(headings=("intended  uses:",)))) == []
    assert evaluate(STRICT, change(card=card(headings=(), intended_use="support chat"))) == []
    [missing] = evaluate(STRICT, change(card=card(headings=("Training data",), intended_use="")))
    assert (missing.rule, missing.outcome) == ("card.required_field", Outcome.APPROVAL)
    assert "'intended use'" in missing.message and "metadata key intended_use" in missing.message
    assert "'Intended uses'" in missing.message
    # datasets are outside card.repo_types (model by default)
    assert evaluate(STRICT, change(card=card(headings=()), repo_type=RepoType.DATASET)) == []


def test_outcome_of_is_the_most_severe() -> None:
    def f(outcome: Outcome) -> Finding:
        return Finding("x", outcome, None, "m")
    assert outcome_of([]) is Outcome.ALLOW
    assert outcome_of([f(Outcome.APPROVAL), f(Outcome.ALLOW)]) is Outcome.APPROVAL
    assert outcome_of([f(Outcome.QUARANTINE), f(Outcome.APPROVAL)]) is Outcome.QUARANTINE
    assert outcome_of([f(Outcome.APPROVAL), f(Outcome.DENY), f(Outcome.QUARANTINE)]) is Outcome.DENY


def test_describe_names_each_rule_and_file_most_severe_first_and_stays_short() -> None:
    facts = change(file("pytorch_model.bin", scan(Scanner.PICKLE, "findings", UNSAFE)), card=card("agpl-3.0",
                   headings=()))
    text = describe(evaluate(STRICT, facts), STRICT)
    lines = text.splitlines()
    assert lines[0] == "Refused by the policy of 'acme' (version 3):"
    assert lines[1].startswith("- pickle.unsafe (deny): pytorch_model.bin: loading this pickle would import os.system")
    assert lines[2].startswith("- license.denied (deny): README.md: license agpl-3.0 is denied")
    assert lines[3].startswith("- card.required_field (approval): README.md:")
    many = [Finding("secrets.found", Outcome.DENY, f"f{i}.py", "AWS access key on line 1; remove it " * 5)
            for i in range(500)]
    long = describe(many, STRICT)
    assert len(long) <= MAX_DESCRIPTION
    assert long.splitlines()[-1].startswith("… and ") and "more findings" in long.splitlines()[-1]
    shown = sum(1 for line in long.splitlines() if line.startswith("- "))
    assert f"… and {500 - shown} more findings" in long
    assert describe([Finding("x", Outcome.ALLOW, None, "m")]) == "- x (allow): m"


def test_findings_serialise_to_json() -> None:
    [found] = evaluate(STRICT, change(file("w.bin", scan(Scanner.PICKLE, "findings", UNSAFE))))
    doc = found.to_json()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["rule"] == "pickle.unsafe" and doc["outcome"] == "deny" and doc["path"] == "w.bin"


def test_a_policy_is_a_value() -> None:
    assert isinstance(STRICT, Policy) and STRICT == parse(STRICT_DOC_AGAIN, org="acme", version=3)


STRICT_DOC_AGAIN = "\n".join(line for line in """\
licenses: {allow: [apache-2.0, mit, llama3, gpl-3.0, other], deny: [agpl-3.0, cc-by-nc-4.0], derived: deny}
pickles: {outcome: deny, on_error: quarantine, extra_safe_globals: [mypkg.layers.Block]}
personal_data: {outcome: approval, entities: [EMAIL_ADDRESS, IBAN_CODE]}
secrets: {outcome: deny}
card: {outcome: approval, required: [{name: intended use, metadata: [intended_use], sections: [Intended uses]}]}
""".splitlines())
