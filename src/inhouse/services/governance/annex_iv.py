"""The EU AI Act's Annex IV (technical documentation of a high-risk AI system, Art. 11) as a skeleton filled from a
factsheet's facts: each item takes the facts that speak to it (card sections by their headings, card metadata,
use cases, lineage, evaluations, scans, policy evaluations, approvals, commits), with their sources, and says
"MISSING: <what to provide and where>" where no fact does. It documents what the hub recorded; it is not a legal
assessment, and an item filled from a card section is only as good as that section.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from inhouse.services.governance.factsheets import Fact

MAX_ITEM_FACTS = 8  # facts quoted per item (the factsheet has them all)
MAX_ITEM_CHARS = 600  # of each fact's value quoted


@dataclass(frozen=True)
class AnnexItem:
    section: int  # 1..9, as Annex IV numbers them
    section_title: str
    item: str
    value: str | None  # what the facts say; None when MISSING
    sources: tuple[str, ...]
    missing: str | None  # "MISSING: …" when nothing supplies the item

    def to_json(self) -> dict[str, object]:
        return {"section": self.section, "sectionTitle": self.section_title, "item": self.item, "value": self.value,
                "sources": list(self.sources), "missing": self.missing}


Pick = Callable[[list[Fact]], list[Fact]]


def card(pattern: str) -> Pick:
    """Card sections whose heading, and card metadata whose key, matches `pattern` (case-insensitive)."""
    rx = re.compile(pattern, re.IGNORECASE)

    def pick(facts: list[Fact]) -> list[Fact]:
        return [f for f in facts if (f.section == "card" and rx.search(f.name) and f.name != "metadata error")
                or (f.section == "identity" and f.name.startswith("card ") and rx.search(f.name[5:]))]
    return pick


def named(section: str, pattern: str = "") -> Pick:
    rx = re.compile(pattern, re.IGNORECASE)

    def pick(facts: list[Fact]) -> list[Fact]:
        return [f for f in facts if f.section == section and rx.search(f.name)]
    return pick


def either(*picks: Pick) -> Pick:
    def pick(facts: list[Fact]) -> list[Fact]:
        out: list[Fact] = []
        for p in picks:
            out += [f for f in p(facts) if f not in out]
        return out
    return pick


@dataclass(frozen=True)
class Spec:
    section: int
    item: str
    pick: Pick
    missing: str  # what to provide and where


TITLES = {
    1: "General description of the AI system",
    2: "Detailed description of the elements of the AI system and of the process for its development",
    3: "Monitoring, functioning and control of the AI system",
    4: "Appropriateness of the performance metrics",
    5: "Risk management system (Article 9)",
    6: "Relevant changes made through the lifecycle",
    7: "Harmonised standards applied",
    8: "EU declaration of conformity",
    9: "Post-market monitoring plan (Article 72)",
}

SPECS: tuple[Spec, ...] = (
    Spec(1, "Intended purpose", either(named("use_cases"), card(r"intended|purpose|^uses$|direct use")),
         "state the intended purpose: a '## Intended uses' section or `intended_use` metadata in the card, or "
         "attach the model to a use case with a purpose (POST /api/orgs/{org}/use-cases/{slug}/models)"),
    Spec(1, "Provider", named("identity", r"^provider|^repo$|card (developed|model_creator|author)"),
         "name the provider (the organisation placing the system on the market) in the card"),
    Spec(1, "Versions", named("identity", r"^revision|^ref$|^created$|^last modified$"),
         "name the version in the card"),
    Spec(1, "Interaction with hardware and software; software versions",
         either(named("identity", r"card (library_name|pipeline_tag|library)"),
                card(r"software|framework|technical spec|compute infra")),
         "state the software it runs with (`library_name` in the card metadata, a '## Software' section)"),
    Spec(1, "Forms in which it is placed on the market", named("scans", r"^files in the revision$"),
         "list the forms in which the system is made available"),
    Spec(1, "Hardware on which it is intended to run", card(r"hardware|compute|infrastructure"),
         "describe the intended hardware: a '## Hardware' or '## Compute infrastructure' section in the card"),
    Spec(1, "Instructions for use", card(r"how to (get started|use)|usage|getting started|instructions"),
         "add instructions for use: a '## How to get started' or '## Usage' section in the card"),
    Spec(2, "Methods and steps of development, incl. pre-trained systems and third-party tools",
         either(named("lineage", r"^base model"), card(r"training (procedure|details)|fine-?tun|methodology")),
         "describe how the model was built: `base_model` in the card metadata and a '## Training procedure' "
         "section"),
    Spec(2, "Design specifications and system architecture",
         card(r"architecture|design|model details|technical spec|objective"),
         "describe the architecture and design choices: a '## Model architecture' section in the card"),
    Spec(2, "Data requirements: training data, provenance, scope",
         either(named("lineage", r"^dataset"), card(r"training data|datasets?$|data sources?|provenance")),
         "describe the training data and its provenance: `datasets` in the card metadata (repos of this hub) and "
         "a '## Training data' section"),
    Spec(2, "Data labelling and cleaning", card(r"label|annotat|clean|preprocess"),
         "describe labelling and cleaning: a '## Preprocessing' or '## Data labelling' section in the card"),
    Spec(2, "Human oversight measures (Article 14)",
         either(named("lifecycle", r"^request"), card(r"oversight|human")),
         "describe the human oversight measures: a '## Human oversight' section in the card; promotions approved "
         "by reviewers (POST /api/models/{id}/promotions) are recorded here"),
    Spec(2, "Pre-determined changes", card(r"pre-?determined|planned changes|change plan"),
         "describe changes planned in advance and how they are assessed: a '## Pre-determined changes' section"),
    Spec(2, "Validation and testing: metrics, test logs, accuracy",
         either(named("evaluations"), card(r"evaluation|testing|results|accuracy")),
         "record evaluation results: .eval_results/*.yaml (an inhouse evaluation writes them signed) or the card's "
         "model-index, and a '## Evaluation' section"),
    Spec(2, "Cybersecurity measures", either(named("scans", r"\]$|^quarantined "), named("policy"),
                                             card(r"security")),
         "scan the files under an organisation policy (commits are evaluated and scanned when they land) and "
         "describe the security measures: a '## Security' section in the card"),
    Spec(3, "Capabilities and limitations in performance", card(r"limitation|capabilit|out-of-scope|out of scope"),
         "describe capabilities and limitations: a '## Limitations' section in the card"),
    Spec(3, "Foreseeable unintended outcomes and sources of risk", card(r"risk|bias|misuse|unintended|harm"),
         "describe foreseeable unintended outcomes and risks: a '## Bias, risks and limitations' section"),
    Spec(3, "Input data specifications", either(named("identity", r"card pipeline_tag"), card(r"input")),
         "specify the input data: `pipeline_tag` in the card metadata and an '## Inputs' section"),
    Spec(4, "Appropriateness of the performance metrics", card(r"metric"),
         "explain why the metrics fit the intended purpose: a '## Metrics' section in the card"),
    Spec(5, "Risk management system",
         either(named("use_cases"), card(r"risk management|risk assessment"), named("policy")),
         "describe the risk management system (Art. 9): attach the model to a use case with a risk tier and add a "
         "'## Risk management' section"),
    Spec(6, "Changes through the lifecycle",
         either(named("uploads", r"^commits up to|^commit [0-9a-f]+$"), named("lifecycle", r"^stage$|^request")),
         "keep the model's history in this hub (commits and promotions are recorded)"),
    Spec(7, "Harmonised standards applied", card(r"standard|conformity assessment"),
         "list the harmonised standards or other specifications applied: `standards` in the card metadata or a "
         "'## Standards' section"),
    Spec(8, "EU declaration of conformity", card(r"declaration of conformity"),
         "attach the EU declaration of conformity (Art. 47): a '## Declaration of conformity' section"),
    Spec(9, "Post-market monitoring plan",
         card(r"monitoring|post-market|post market"),
         "describe the post-market monitoring plan (Art. 72): a '## Post-market monitoring' section in the card "
         "(download counts and audited reads in this factsheet are inputs to it, not the plan)"),
)


def _quote(f: Fact) -> str:
    value = "" if f.value is None else str(f.value)
    if len(value) > MAX_ITEM_CHARS:
        value = value[:MAX_ITEM_CHARS] + "…"
    return f"{f.name}: {value}"


def build(facts: list[Fact]) -> list[AnnexItem]:
    """Every Annex IV item, in order, filled from `facts` or marked MISSING."""
    out: list[AnnexItem] = []
    for spec in SPECS:
        found = spec.pick(facts)
        if found:
            shown = found[:MAX_ITEM_FACTS]
            more = f" (and {len(found) - len(shown)} more facts)" if len(found) > len(shown) else ""
            sources = tuple(dict.fromkeys(f.source for f in shown))
            out.append(AnnexItem(spec.section, TITLES[spec.section], spec.item,
                                 "; ".join(_quote(f) for f in shown) + more, sources, None))
        else:
            out.append(AnnexItem(spec.section, TITLES[spec.section], spec.item, None, (),
                                 f"MISSING: {spec.missing}"))
    return out
