"""A factsheet as JSON and as Markdown.

JSON (format_version 1), a stable shape:
    {"format_version": 1, "repo": "ns/name", "repo_type": "model", "revision": "<commit sha>", "ref": "refs/heads/main"
     | null, "generated_at": "2026-12-01T21:00:00Z",
     "facts": [{"section", "name", "value", "source"}, ...],          # every fact names its source
     "sections": {"identity": {"title", "facts": <count>, "notes": [...]}, ...},   # notes: what was cut or absent
     "annex_iv": [{"section", "sectionTitle", "item", "value", "sources", "missing"}, ...]}

Markdown: a heading per section, a table of facts with their sources, then the Annex IV skeleton. Values come from
users (cards, commit titles, reasons): every value is escaped, so that markup in a card never becomes markup in the
factsheet (no HTML, no links, no images, no table breaks).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from inhouse.access.identity import Principal
from inhouse.errors import BadRequest
from inhouse.names import shown
from inhouse.services.context import Stores
from inhouse.services.governance import annex_iv, factsheet_pdf, factsheets
from inhouse.services.governance.annex_iv import AnnexItem
from inhouse.services.governance.factsheets import SECTIONS, Factsheet, iso
from inhouse.services.repo_access import RepoName

FORMAT_VERSION = 1
FORMATS = {"json": "application/json", "md": "text/markdown; charset=utf-8", "pdf": "application/pdf"}
# CommonMark's backslash escapes cover every ASCII punctuation character; these start inline markup (or end a table
# cell) anywhere, and _BLOCK's start a block at the beginning of a line.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|~])")
_BLOCK = re.compile(r"^(\s*)([#+=-]|\d+(?=[.)]))")
_BREAKS = re.compile(r"[\r\n\t\u2028\u2029\x0b\x0c]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def to_json(sheet: Factsheet, annex: list[AnnexItem]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION, "repo": sheet.repo, "repo_type": sheet.repo_type,
        "revision": sheet.revision, "ref": sheet.ref, "generated_at": iso(sheet.generated_at),
        "facts": [f.to_json() for f in sheet.facts],
        "sections": {key: {"title": title, "facts": len(sheet.of(key)), "notes": sheet.notes.get(key, [])}
                     for key, title in SECTIONS},
        "annex_iv": [a.to_json() for a in annex],
    }


def _unblock(m: re.Match[str]) -> str:
    """'# x' -> '\\# x', '1. x' -> '1\\. x': a leading character that would start a heading, list or quote."""
    lead, mark = m.group(1), m.group(2)
    return lead + (mark + "\\" if mark[0].isdigit() else "\\" + mark)


def escape(value: object) -> str:
    """Text that Markdown (CommonMark and GFM tables) shows as it is: HTML's &, < and > as entities, markup
    characters backslash-escaped, line breaks as spaces, control characters dropped."""
    text = "" if value is None else str(value)
    text = _CONTROLS.sub("", _BREAKS.sub(" ", text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _BLOCK.sub(_unblock, text, count=1)
    # a URL or e-mail address GFM would turn into a link by itself: break its scheme and www. so it stays text
    return text.replace("://", ":&#47;&#47;").replace("www\\.", "www&#46;").replace("@", "&#64;")


def _table(header: tuple[str, str, str], rows: list[tuple[str, str, str]]) -> list[str]:
    out = [f"| {header[0]} | {header[1]} | {header[2]} |", "| --- | --- | --- |"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return out


def to_markdown(sheet: Factsheet, annex: list[AnnexItem]) -> str:
    lines = [f"# Factsheet: {escape(sheet.repo)}", "",
             f"- Revision: `{sheet.revision}`" + (f" ({escape(sheet.ref)})" if sheet.ref else ""),
             f"- Generated: {iso(sheet.generated_at)}",
             "- Every fact names its source. Assembled from what the hub recorded; nothing here was written by hand.",
             ""]
    for key, title in SECTIONS:
        lines += [f"## {title}", ""]
        for note in sheet.notes.get(key, []):
            lines += [f"> {escape(note)}", ""]
        facts = sheet.of(key)
        if not facts:
            lines += ["Not recorded.", ""]
            continue
        lines += _table(("Fact", "Value", "Source"),
                        [(escape(f.name), escape(f.value), escape(f.source)) for f in facts])
        lines.append("")
    lines += ["## EU AI Act Annex IV: technical documentation (skeleton)", "",
              "Filled from the facts above; **MISSING** marks what no fact supplies and where to provide it.", ""]
    section = 0
    for item in annex:
        if item.section != section:
            section = item.section
            lines += ["", f"### {item.section}. {escape(item.section_title)}", ""]
        if item.missing is not None:
            lines += [f"- **{escape(item.item)}**: **{escape(item.missing)}**"]
        else:
            lines += [f"- **{escape(item.item)}**: {escape(item.value)} (sources: "
                      f"{escape('; '.join(item.sources))})"]
    lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class Export:
    body: bytes
    media_type: str
    filename: str  # a download name: <namespace>-<name>-<sha12>-factsheet.<format>


def export(stores: Stores, principal: Principal, name: RepoName, revision: str | None, fmt: str) -> Export:
    """The factsheet of a model revision in `fmt` (json, md or pdf), for a caller who may download from the repo
    (factsheets.read: a private or gated repo's read is audited as factsheet.read)."""
    if fmt not in FORMATS:
        raise BadRequest(f"Unknown factsheet format '{shown(fmt, 20)}': ask for format=json, md or pdf.")
    sheet = factsheets.read(stores, principal, name, revision, fmt=fmt)
    annex = annex_iv.build(sheet.facts)
    if fmt == "json":
        body = json.dumps(to_json(sheet, annex), ensure_ascii=False, indent=1).encode("utf-8", "backslashreplace")
    elif fmt == "md":
        body = to_markdown(sheet, annex).encode("utf-8", "backslashreplace")
    else:
        body = factsheet_pdf.render(sheet, annex)
    filename = f"{sheet.repo.replace('/', '-')}-{sheet.revision[:12]}-factsheet.{fmt}"
    return Export(body, FORMATS[fmt], filename)
