"""Factsheets (services/governance/factsheets.py, annex_iv.py, factsheet_render.py, factsheet_pdf.py) on SQLite and
PostgreSQL: every fact names a source; who uploaded comes from the audit log, not the git author; a revision picks
that revision's facts; history, files and scans are bounded; Markdown shows users' markup as text; the Annex IV
skeleton fills items from facts and marks the rest MISSING; the PDF keeps to Latin-1."""

from __future__ import annotations

import json
import re

import pytest

from inhouse.access.identity import authenticate
from inhouse.errors import BadRequest
from inhouse.services import repos, users
from inhouse.services.cards import render_card_html
from inhouse.services.commits import AddFile, commit
from inhouse.services.context import Stores
from inhouse.services.governance import annex_iv, factsheet_pdf, factsheet_render, factsheets
from inhouse.services.governance.factsheets import Fact
from inhouse.services.repo_access import RepoName
from inhouse.vocabulary import RepoType, TokenRole

HOSTILE_CARD = """---
license: mit
base_model: alice/base
datasets: [alice/data, nobody/missing]
tags: ["<img src=x onerror=alert(1)>"]
---
# Tuned <script>alert("card")</script>

## Intended uses
Triage of [support tickets](javascript:alert(1)) and <b>nothing</b> else.
![pixel](http://evil.example/p.png) <a href="javascript:alert(2)">x</a>

```
# not a heading (in a code block)
```

## Limitations
| breaks | tables |
"""


def _setup(stores: Stores) -> tuple[object, object]:
    users.create_user(stores, "alice")
    p = authenticate(stores.db, users.create_token(stores, "alice", role=TokenRole.WRITE)[1])
    base = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name="base")
    commit(stores, p, base, revision="main", ops=[AddFile("README.md", b"---\nlicense: apache-2.0\n---\n# base\n")],
           summary="base card")
    repos.create(stores, p, repo_type=RepoType.DATASET, namespace=None, name="data")
    return p, repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name="tuned")


def _facts(sheet: factsheets.Factsheet) -> dict[tuple[str, str], Fact]:
    return {(f.section, f.name): f for f in sheet.facts}


def test_facts_name_their_sources_and_a_revision_picks_its_own(stores: Stores) -> None:
    p, repo = _setup(stores)
    name = RepoName(RepoType.MODEL, "alice", "tuned")
    first = commit(stores, p, repo, revision="main", ops=[AddFile("config.json", b"{}")],  # type: ignore[arg-type]
                   summary="config").oid
    second = commit(stores, p, repo, revision="main",  # type: ignore[arg-type]
                    ops=[AddFile("README.md", HOSTILE_CARD.encode())], summary="card <b>v2</b>").oid

    sheet = factsheets.read(stores, p, name, None, fmt="json")  # type: ignore[arg-type]
    assert sheet.revision == second and sheet.ref == "refs/heads/main"
    assert all(f.source for f in sheet.facts)
    facts = _facts(sheet)
    # who uploaded: the audit log's entry of each commit, with the authenticated user
    up = facts[("uploads", f"commit {second[:12]} uploaded by")]
    assert up.value.startswith("alice (commit API") and re.fullmatch(r"audit #\d+", up.source)  # type: ignore[union-attr]
    assert "README.md" in str(facts[("uploads", f"commit {second[:12]}")].value)
    # lineage: the base found in this hub with its license and revision; a missing dataset said to be missing
    base = facts[("lineage", "base model alice/base in this hub")]
    assert "license apache-2.0" in str(base.value) and base.source == "repo alice/base"
    assert "not a repo of this hub" in str(facts[("lineage", "dataset nobody/missing in this hub")].value)
    assert facts[("lineage", "base model alice/base")].source == f"README.md card of {second[:12]}"
    assert facts[("identity", "card license")].value == "mit"
    assert ("card", "Intended uses") in facts and ("card", "not a heading (in a code block)") not in facts
    assert facts[("lifecycle", "stage")].value.startswith("draft")  # type: ignore[union-attr]
    assert facts[("downloads", "readers")].value.startswith("not attributed")  # type: ignore[union-attr]

    old = factsheets.read(stores, p, name, first[:10], fmt="json")  # type: ignore[arg-type]
    assert old.revision == first and old.ref is None
    old_facts = _facts(old)
    assert ("identity", "card license") not in old_facts and not old.of("lineage")
    assert ("uploads", f"commit {second[:12]}") not in old_facts
    assert ("uploads", f"commit {first[:12]} uploaded by") in old_facts
    assert old_facts[("uploads", "commits up to the revision")].value == "2"  # the repo's first commit and this

    exported = factsheet_render.export(stores, p, name, first, "json")  # type: ignore[arg-type]
    data = json.loads(exported.body)
    assert data["revision"] == first and data["format_version"] == 1
    assert all(set(f) == {"section", "name", "value", "source"} and f["source"] for f in data["facts"])
    assert set(data["sections"]) == {k for k, _ in factsheets.SECTIONS}
    assert [a["section"] for a in data["annex_iv"]] == sorted(a["section"] for a in data["annex_iv"])
    with pytest.raises(BadRequest, match="format=json, md or pdf"):
        factsheet_render.export(stores, p, name, None, "html")  # type: ignore[arg-type]


def test_markdown_shows_markup_from_users_as_text(stores: Stores) -> None:
    p, repo = _setup(stores)
    commit(stores, p, repo, revision="main", ops=[AddFile("README.md", HOSTILE_CARD.encode())],  # type: ignore[arg-type]
           summary="[click](javascript:alert(3)) <script>x</script>")
    md = factsheet_render.export(stores, p, RepoName(RepoType.MODEL, "alice", "tuned"), None,  # type: ignore[arg-type]
                                 "md").body.decode()
    assert "<script>" not in md and "<img" not in md and "<b>" not in md and "<a " not in md
    assert "&lt;script&gt;" in md
    html = render_card_html(md)  # the hub's own Markdown renderer, as a viewer would show the file
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert 'href="' not in html and 'src="' not in html  # as text only: href=&quot;…
    assert not re.search(r"<a\s", html), "no value became a link"
    assert "Intended uses" in html and "MISSING:" in html
    # every row of the facts tables has exactly three cells: a '|' in a value does not break the table
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 4, line


@pytest.mark.parametrize("text,shown", [
    ("<script>alert(1)</script>", "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"),
    ("[a](javascript:x)", "\\[a\\]\\(javascript:x\\)"),
    ("# heading", "\\# heading"),
    ("1. item", "1\\. item"),
    ("a|b\nc", "a\\|b c"),
    ("see https://x.example or bob@x.example", "see https:&#47;&#47;x.example or bob&#64;x.example"),
])
def test_escape(text: str, shown: str) -> None:
    assert factsheet_render.escape(text) == shown


def test_history_files_and_scans_are_bounded(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    p, repo = _setup(stores)
    for i in range(5):
        commit(stores, p, repo, revision="main",  # type: ignore[arg-type]
               ops=[AddFile(f"f{i}.txt", b"x" * i), AddFile(f"g{i}.txt", b"y")], summary=f"c{i}")
    monkeypatch.setattr(factsheets, "MAX_COMMITS", 3)
    monkeypatch.setattr(factsheets, "MAX_COMMITS_WITH_FILES", 1)
    monkeypatch.setattr(factsheets, "MAX_FILES_PER_COMMIT", 1)
    monkeypatch.setattr(factsheets, "MAX_FILES", 4)
    sheet = factsheets.read(stores, p, RepoName(RepoType.MODEL, "alice", "tuned"), None, fmt="json")  # type: ignore[arg-type]
    commits = [f for f in sheet.of("uploads") if re.fullmatch(r"commit [0-9a-f]{12}", f.name)]
    assert len(commits) == 3
    assert str(commits[0].value).endswith("files: f4.txt and more")
    assert "files:" not in str(commits[1].value)
    assert sheet.of("uploads")[0].value == "6"  # counted past those listed
    assert any("newest 3 of 6 commits" in n for n in sheet.notes["uploads"])
    unscanned = _facts(sheet)[("scans", "files without a scan result")]
    assert str(unscanned.value).startswith("4: ")  # only MAX_FILES files were looked up
    assert _facts(sheet)[("scans", "files in the revision")].value == 11  # .gitattributes and ten files


def test_annex_iv_fills_items_from_facts_and_marks_the_rest_missing() -> None:
    facts = [
        Fact("use_cases", "acme/triage", "Ticket triage; purpose: route tickets; risk tier high", "use case acme/triage"),
        Fact("card", "Limitations", "English only.", "README.md card of abc"),
        Fact("evaluations", "acme/tickets text-classification/accuracy", "0.91 (verified)", ".eval_results/a.yaml"),
        Fact("identity", "card standards", "ISO/IEC 42001", "README.md card of abc"),
    ]
    items = annex_iv.build(facts)
    by = {i.item: i for i in items}
    assert {i.section for i in items} == set(range(1, 10))
    assert by["Intended purpose"].value and "route tickets" in by["Intended purpose"].value
    assert by["Intended purpose"].sources == ("use case acme/triage",) and by["Intended purpose"].missing is None
    assert "English only" in str(by["Capabilities and limitations in performance"].value)
    assert by["Validation and testing: metrics, test logs, accuracy"].sources == (".eval_results/a.yaml",)
    assert "ISO/IEC 42001" in str(by["Harmonised standards applied"].value)
    declaration = by["EU declaration of conformity"]
    assert declaration.value is None and declaration.missing is not None
    assert declaration.missing.startswith("MISSING: ") and "Declaration of conformity" in declaration.missing
    assert by["Post-market monitoring plan"].missing


def test_pdf_text_is_latin1() -> None:
    assert factsheet_pdf.latin1("naïve café") == "naïve café"
    assert factsheet_pdf.latin1("Zürich – ŁódŹ ✓ 模型\n") == "Zürich - ?ódZ ? ?? "  # Ł has no Latin-1 base letter; Ź does
    assert factsheet_pdf.latin1("x" * 1000, 10) == "x" * 10 + "..."


def test_a_withdrawn_models_factsheet_names_its_replacement_only_to_those_who_may_see_it(stores: Stores) -> None:
    from inhouse.storage.db import lifecycle as lifecycle_store

    alice, repo = _setup(stores)
    hidden = repos.create(stores, alice, repo_type=RepoType.MODEL, namespace=None, name="successor",  # type: ignore[arg-type]
                          private=True)
    users.create_user(stores, "bob")
    bob = authenticate(stores.db, users.create_token(stores, "bob", role=TokenRole.READ)[1])
    with stores.db.write() as conn:
        lifecycle_store.set_stage(conn, repo.id, stage="withdrawn", revision=None,  # type: ignore[attr-defined]
                                  replacement=hidden.repo_id, request_id=None, by=None, now=1.0)
    name = RepoName(RepoType.MODEL, "alice", "tuned")
    for reader, named in ((alice, True), (bob, False)):
        facts = _facts(factsheets.read(stores, reader, name, None, fmt="json"))  # type: ignore[arg-type]
        assert facts[("lifecycle", "stage")].value.startswith("withdrawn")  # type: ignore[union-attr]
        assert (("lifecycle", "replacement") in facts) is named
        if named:
            assert facts[("lifecycle", "replacement")].value == "alice/successor"
