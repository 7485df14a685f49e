"""The Hub's license ids, their families, what a derived model may be licensed under and what it owes its base."""

from __future__ import annotations

import pytest

from inhouse.services.cards import KNOWN_LICENSES
from inhouse.services.governance.licenses import (
    LICENSE_IDS,
    DutyKind,
    Family,
    duties,
    family,
    may_relicense,
)


def test_the_ids_are_the_hubs_and_each_has_one_family() -> None:
    assert LICENSE_IDS == KNOWN_LICENSES  # the card validator's list: one list of the Hub's ids
    assert {family(lid) for lid in LICENSE_IDS} == set(Family)
    assert family("MIT") is Family.PERMISSIVE and family(None) is Family.UNSPECIFIED
    assert family("made-up") is Family.UNSPECIFIED


@pytest.mark.parametrize("lid,kind", [
    ("apache-2.0", Family.PERMISSIVE), ("cc-by-4.0", Family.PERMISSIVE), ("lgpl-3.0", Family.WEAK_COPYLEFT),
    ("gpl-3.0", Family.COPYLEFT), ("cc-by-sa-4.0", Family.COPYLEFT), ("cc-by-nc-4.0", Family.NON_COMMERCIAL),
    ("cc-by-nd-4.0", Family.NO_DERIVATIVES), ("llama3.1", Family.COMMUNITY), ("gemma", Family.COMMUNITY),
    ("creativeml-openrail-m", Family.RAIL), ("other", Family.UNSPECIFIED),
])
def test_families(lid: str, kind: Family) -> None:
    assert family(lid) is kind


@pytest.mark.parametrize("base,derived,allowed", [
    ("apache-2.0", "mit", True),  # a permissive base lets anything through
    ("mit", None, True),
    ("gpl-3.0", "gpl-3.0", True),
    ("gpl-3.0", "mit", False),  # relaxes copyleft
    ("gpl-3.0", "agpl-3.0", True),  # a listed upgrade
    ("lgpl-2.1", "lgpl-3.0", True),
    ("cc-by-sa-3.0", "cc-by-sa-4.0", True),
    ("cc-by-nc-4.0", "apache-2.0", False),  # drops the non-commercial term
    ("cc-by-nc-4.0", "cc-by-nc-4.0", True),
    ("llama3", "apache-2.0", False),
    ("llama3", "llama3", True),
    ("llama3.1", "llama3", False),  # another community license is not the base's
    ("llama3", None, False),
    ("creativeml-openrail-m", "openrail", True),  # every RAIL license carries the use restrictions on
    ("openrail", "mit", False),
    ("cc-by-nd-4.0", "cc-by-nd-4.0", True),  # same id (the base's authors' business)
    ("cc-by-nd-4.0", "cc-by-4.0", False),
    ("other", "mit", True),  # unknown to us: license.unknown speaks for it, not license.derived
])
def test_may_relicense(base: str, derived: str | None, allowed: bool) -> None:
    why = may_relicense(base, derived)
    assert (why is None) is allowed, why
    if why:
        assert base in why and ("write license:" in why or "no derivative" in why)


def test_llama_duties_say_the_license_terms() -> None:
    kinds = {d.kind: d for d in duties("llama3")}
    assert set(kinds) == {DutyKind.NAME_PREFIX, DutyKind.NOTICE_FILE, DutyKind.CARD_TEXT}
    assert kinds[DutyKind.NAME_PREFIX].value == "Llama 3"
    assert "Llama 3 is licensed under the Llama 3 Community License" in kinds[DutyKind.NOTICE_FILE].says
    assert {d.value for d in duties("llama3.1") if d.kind is DutyKind.NAME_PREFIX} == {"Llama"}
    assert [d.kind for d in duties("llama2")] == [DutyKind.NOTICE_FILE]
    assert [d.kind for d in duties("gemma")] == [DutyKind.NOTICE_FILE]
    assert [d.kind for d in duties("bigscience-openrail-m")] == [DutyKind.NOTICE_FILE]
    assert duties("mit") == () and duties(None) == () and duties("gpl-3.0") == ()


def test_duties_are_met_by_name_files_and_card_text() -> None:
    name, notice, built = (next(d for d in duties("llama3") if d.kind is k)
                           for k in (DutyKind.NAME_PREFIX, DutyKind.NOTICE_FILE, DutyKind.CARD_TEXT))
    files: frozenset[str] = frozenset()
    for repo_name, met in (("Llama-3-8B-medical", True), ("llama3_chat", True), ("Llama 3 tuned", True),
                           ("medical-llama-3", False), ("Llama-2-7b", False)):
        assert name.met(repo_name=repo_name, root_paths=files, card_text=None) is met, repo_name
    assert not notice.met(repo_name="x", root_paths=frozenset({"README.md", "model.safetensors"}), card_text=None)
    assert notice.met(repo_name="x", root_paths=frozenset({"README.md", "NOTICE"}), card_text=None)
    assert notice.met(repo_name="x", root_paths=frozenset({"LICENSE.txt"}), card_text=None)
    assert built.met(repo_name="x", root_paths=files, card_text="Built with Meta Llama 3.")
    assert not built.met(repo_name="x", root_paths=files, card_text="A fine model.")
    assert built.met(repo_name="x", root_paths=files, card_text=None)  # not read: not held against it
