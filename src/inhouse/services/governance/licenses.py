"""The Hub's license ids (https://huggingface.co/docs/hub/repositories-licenses), what kind of license each is, and
what a model derived from a model under it must do.

* `family(license_id)` -> `Family`: permissive, weak or strong copyleft, non-commercial, no-derivatives, a community
  license (Llama, Gemma, Grok), RAIL (responsible-AI licenses with use restrictions), or unspecified.
* `may_relicense(base, derived)` -> None when a model under `base` may be published under `derived`, else why not:
  a derived model cannot relax its base's license. A permissive base lets anything through; any other base needs
  the same id, or one of the few listed upgrades (`UPGRADES`: e.g. lgpl-2.1 -> lgpl-3.0, cc-by-sa-3.0 -> 4.0);
  a RAIL base accepts any RAIL license (each carries the use restrictions on); a no-derivatives base none.
  This is deliberately simpler than a lawyer's reading: what it refuses, a person approves or the policy allows.
* `duties(license_id)` -> the `Duty`s a derived model takes on: Llama's naming ("Llama 3" / "Llama" at the
  beginning of the model's name) and its Notice file, Gemma's notice of its terms, RAIL's copy of the license
  with its use restrictions. CC BY's attribution is met by the card's `base_model`, which names the base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Duty", "DutyKind", "Family", "LICENSE_IDS", "UPGRADES", "duties", "family", "may_relicense"]


class Family(StrEnum):
    PERMISSIVE = "permissive"
    WEAK_COPYLEFT = "weak-copyleft"
    COPYLEFT = "copyleft"
    NON_COMMERCIAL = "non-commercial"
    NO_DERIVATIVES = "no-derivatives"
    COMMUNITY = "community"  # a vendor's model license: Llama, Gemma, Grok
    RAIL = "rail"  # Responsible AI Licenses: use restrictions passed on
    UNSPECIFIED = "unspecified"  # unknown, other, or a bare family name (bsd, cc, gpl …) with no version


_FAMILIES: dict[Family, str] = {
    Family.PERMISSIVE: """
        apache-2.0 mit afl-3.0 artistic-2.0 bsl-1.0 bsd-2-clause bsd-3-clause bsd-3-clause-clear cc0-1.0
        cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 etalab-2.0
        isc postgresql ncsa unlicense zlib pddl odc-by apple-ascl openmdw-1.0 c-uda lppl-1.3c""",
    Family.WEAK_COPYLEFT: """
        lgpl-2.1 lgpl-3.0 lgpl-lr mpl-2.0 epl-1.0 epl-2.0 ms-pl ofl-1.1""",
    Family.COPYLEFT: """
        gpl-2.0 gpl-3.0 agpl-3.0 gfdl eupl-1.1 eupl-1.2 osl-3.0 cc-by-sa-3.0 cc-by-sa-4.0 cdla-sharing-1.0 odbl""",
    Family.NON_COMMERCIAL: """
        cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 h-research
        intel-research fair-noncommercial-research-license deepfloyd-if-license apple-amlr""",
    Family.NO_DERIVATIVES: """
        cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0""",
    Family.COMMUNITY: """
        llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma grok2-community""",
    Family.RAIL: """
        openrail openrail++ bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
        bigcode-openrail-m""",
    Family.UNSPECIFIED: """
        bsd cc gpl lgpl unknown other""",
}

_FAMILY_OF: dict[str, Family] = {lid: fam for fam, ids in _FAMILIES.items() for lid in ids.split()}

#: Every license id the Hub knows.
LICENSE_IDS: frozenset[str] = frozenset(_FAMILY_OF)

#: A base's license -> the other ids a derived model may take instead of the same id (a later version of the same
#: license, or the copyleft license the weak one allows moving to). Kept short on purpose.
UPGRADES: dict[str, frozenset[str]] = {
    "lgpl-2.1": frozenset({"lgpl-3.0", "gpl-2.0", "gpl-3.0"}),
    "lgpl-3.0": frozenset({"gpl-3.0"}),
    "gpl-3.0": frozenset({"agpl-3.0"}),
    "cc-by-sa-3.0": frozenset({"cc-by-sa-4.0"}),
    "cc-by-nc-sa-2.0": frozenset({"cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0"}),
    "cc-by-nc-sa-3.0": frozenset({"cc-by-nc-sa-4.0"}),
    "epl-1.0": frozenset({"epl-2.0"}),
    "eupl-1.1": frozenset({"eupl-1.2"}),
}


def family(license_id: str | None) -> Family:
    """What kind of license `license_id` is (unspecified for None or an id the Hub does not know)."""
    return _FAMILY_OF.get((license_id or "").lower(), Family.UNSPECIFIED)


def may_relicense(base: str, derived: str | None) -> str | None:
    """None when a model derived from one under `base` may be published under `derived`; otherwise what is wrong,
    said so that the user knows which license to write instead."""
    base, derived = base.lower(), (derived or "").lower()
    kind = family(base)
    if kind in (Family.PERMISSIVE, Family.UNSPECIFIED) or derived == base:
        return None
    if kind is Family.NO_DERIVATIVES:
        return f"the base's license {base} allows no derivative works; do not publish this model, or ask the " \
               "base's authors for another license"
    if kind is Family.RAIL and family(derived) is Family.RAIL:
        return None
    if derived in UPGRADES.get(base, frozenset()):
        return None
    also = sorted(UPGRADES.get(base, frozenset()))
    allowed = f"license: {base}" + (f" (or {', '.join(also)})" if also else "") + \
        (" or another RAIL license" if kind is Family.RAIL else "")
    return f"the base's license {base} is {kind.value} and a derived model may not relax it to " \
           f"{derived or 'no license'}; write {allowed} in the card"


class DutyKind(StrEnum):
    NAME_PREFIX = "name-prefix"  # the model's name must begin with `value`
    NOTICE_FILE = "notice-file"  # a top-level file whose name begins with one of `files` must ship
    CARD_TEXT = "card-text"  # the card must say `value`


@dataclass(frozen=True)
class Duty:
    """One thing a derived model must do; `says` is what the license says, for the message."""

    kind: DutyKind
    value: str
    says: str
    files: tuple[str, ...] = ()

    def met(self, *, repo_name: str, root_paths: frozenset[str], card_text: str | None) -> bool:
        """Is the duty met by a model named `repo_name` (the part after the namespace) with these top-level
        files and card text (None: not known, the duty counts as met)?"""
        if self.kind is DutyKind.NAME_PREFIX:
            return _squash(repo_name).startswith(_squash(self.value))
        if self.kind is DutyKind.NOTICE_FILE:
            return any(path.lower().startswith(self.files) for path in root_paths)
        return card_text is None or _squash(self.value) in _squash(card_text)


def _squash(text: str) -> str:
    """Lower case without spaces, dashes, underscores or dots: 'Llama-3_8B' and 'llama 3' compare."""
    return re.sub(r"[\s\-_.]+", "", text.lower())


_NOTICE = ("notice", "license", "licence", "use_policy", "terms")


def _llama(version: str, prefix: str, notice: str, built_with: str | None) -> tuple[Duty, ...]:
    found: tuple[Duty, ...] = (Duty(DutyKind.NAME_PREFIX, prefix,
                  f"the Llama {version} license: include \"{prefix}\" at the beginning of the model's name"),
             Duty(DutyKind.NOTICE_FILE, "NOTICE",
                  f"the Llama {version} license: ship a copy of the license and a NOTICE file saying "
                  f"\"{notice}\"", files=_NOTICE))
    if built_with:
        found += (Duty(DutyKind.CARD_TEXT, built_with,
                       f"the Llama {version} license: display \"{built_with}\" prominently (in the card)"),)
    return found


_LLAMA_NOTICE = "Llama {v} is licensed under the Llama {v} Community License, Copyright © Meta Platforms, Inc. " \
                "All Rights Reserved."

_DUTIES: dict[str, tuple[Duty, ...]] = {
    "llama2": (Duty(DutyKind.NOTICE_FILE, "NOTICE",
                    "the Llama 2 license: ship a NOTICE file saying \"Llama 2 is licensed under the LLAMA 2 "
                    "Community License, Copyright (c) Meta Platforms, Inc. All Rights Reserved.\"",
                    files=_NOTICE),),
    "llama3": _llama("3", "Llama 3", _LLAMA_NOTICE.format(v="3"), "Built with Meta Llama 3"),
    "llama3.1": _llama("3.1", "Llama", _LLAMA_NOTICE.format(v="3.1"), "Built with Llama"),
    "llama3.2": _llama("3.2", "Llama", _LLAMA_NOTICE.format(v="3.2"), "Built with Llama"),
    "llama3.3": _llama("3.3", "Llama", _LLAMA_NOTICE.format(v="3.3"), "Built with Llama"),
    "llama4": _llama("4", "Llama", _LLAMA_NOTICE.format(v="4"), "Built with Llama"),
    "gemma": (Duty(DutyKind.NOTICE_FILE, "NOTICE",
                   "the Gemma Terms of Use: pass the use restrictions on, with a NOTICE file saying \"Gemma is "
                   "provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms\"",
                   files=_NOTICE),),
}
_RAIL_DUTY = (Duty(DutyKind.NOTICE_FILE, "LICENSE",
                   "a RAIL license: give recipients a copy of the license with its use restrictions (a LICENSE "
                   "file)", files=_NOTICE),)


def duties(license_id: str | None) -> tuple[Duty, ...]:
    """What a model derived from one under `license_id` must do (empty for most licenses)."""
    lid = (license_id or "").lower()
    if lid in _DUTIES:
        return _DUTIES[lid]
    return _RAIL_DUTY if family(lid) is Family.RAIL else ()
