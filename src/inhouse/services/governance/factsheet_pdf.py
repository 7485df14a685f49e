"""A factsheet as a PDF (fpdf2): a title block, a table of facts per section (fact, value, source), then the
Annex IV skeleton on its own pages, MISSING items in bold red.

The built-in PDF fonts (Helvetica) cover Latin-1 only, and fpdf2 ships no Unicode font: text is brought to Latin-1
(accents decomposed where that keeps the letter, anything else as '?'); the JSON and Markdown renderings keep every
character. Values are cut to MAX_CELL_CHARS and the facts to MAX_PDF_FACTS, so that no value or repo makes a
document of unbounded size. fpdf2 is imported on the first PDF (it takes about 0.3 s to import), not with the server.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from inhouse.services.governance.annex_iv import AnnexItem
from inhouse.services.governance.factsheets import SECTIONS, Factsheet, iso

if TYPE_CHECKING:
    from fpdf import FPDF

MAX_CELL_CHARS = 700
MAX_PDF_FACTS = 2_000
RED = (176, 0, 32)
GREY = (230, 230, 230)


def latin1(value: object, limit: int = MAX_CELL_CHARS) -> str:
    """Text the built-in fonts can show: control characters as spaces, accents decomposed, the rest as '?'."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    text = text.replace("\u2026", "...").replace("\u2013", "-").replace("\u2014", "-")
    try:
        return text.encode("latin-1").decode("latin-1")
    except UnicodeEncodeError:
        pass
    out = []
    for c in text:
        if ord(c) < 256:
            out.append(c)
            continue
        base = "".join(d for d in unicodedata.normalize("NFKD", c) if ord(d) < 256 and not unicodedata.combining(d))
        out.append(base or "?")
    return "".join(out)


def _heading(pdf: FPDF, text: str, size: int) -> None:
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(0, size * 0.5, latin1(text, 300), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _notes(pdf: FPDF, notes: list[str]) -> None:
    pdf.set_font("Helvetica", "I", 8)
    for note in notes:
        pdf.multi_cell(0, 4, latin1(note), new_x="LMARGIN", new_y="NEXT")
    if notes:
        pdf.ln(1)


def _facts_table(pdf: FPDF, rows: list[tuple[str, str, str]]) -> None:
    from fpdf.fonts import FontFace

    pdf.set_font("Helvetica", "", 7.5)
    with pdf.table(col_widths=(45, 90, 45), text_align="LEFT", line_height=3.6, padding=1,
                   headings_style=FontFace(emphasis="BOLD", fill_color=GREY)) as table:
        table.row(["Fact", "Value", "Source"])
        for name, value, source in rows:
            table.row([latin1(name, 200), latin1(value), latin1(source, 200)])
    pdf.ln(3)


def render(sheet: Factsheet, annex: list[AnnexItem]) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    pdf.set_title(latin1(f"Factsheet {sheet.repo} {sheet.revision[:12]}", 200))
    pdf.set_creator("inhouse")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    _heading(pdf, f"Factsheet: {sheet.repo}", 16)
    pdf.set_font("Helvetica", "", 9)
    for line in (f"Revision: {sheet.revision}" + (f" ({sheet.ref})" if sheet.ref else ""),
                 f"Generated: {iso(sheet.generated_at)}",
                 "Assembled from what the hub recorded. Every fact names its source."):
        pdf.multi_cell(0, 5, latin1(line, 400), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    budget = MAX_PDF_FACTS
    for key, title in SECTIONS:
        _heading(pdf, title, 12)
        notes = list(sheet.notes.get(key, []))
        facts = sheet.of(key)
        shown = facts[:max(budget, 0)]
        budget -= len(shown)
        if len(shown) < len(facts):
            notes.append(f"{len(facts) - len(shown)} more facts of this section are in the JSON and Markdown "
                         "renderings.")
        _notes(pdf, notes)
        if not facts:
            pdf.set_font("Helvetica", "", 9)
            pdf.multi_cell(0, 5, "Not recorded.", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            continue
        if shown:
            _facts_table(pdf, [(f.name, "" if f.value is None else str(f.value), f.source) for f in shown])

    pdf.add_page()
    _heading(pdf, "EU AI Act Annex IV: technical documentation (skeleton)", 14)
    pdf.set_font("Helvetica", "", 8.5)
    pdf.multi_cell(0, 4.5, "Filled from the facts of this factsheet. MISSING marks what no fact supplies and where "
                           "to provide it.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    missing = FontFace(emphasis="BOLD", color=RED)
    section = 0
    rows: list[AnnexItem] = []
    for item in [*annex, None]:
        if item is None or item.section != section:
            if rows:
                pdf.set_font("Helvetica", "", 7.5)
                with pdf.table(col_widths=(45, 95, 40), text_align="LEFT", line_height=3.6, padding=1,
                               headings_style=FontFace(emphasis="BOLD", fill_color=GREY)) as table:
                    table.row(["Item", "Content", "Sources"])
                    for r in rows:
                        row = table.row()
                        row.cell(latin1(r.item, 200))
                        if r.missing is not None:
                            row.cell(latin1(r.missing), style=missing)
                            row.cell("")
                        else:
                            row.cell(latin1(r.value))
                            row.cell(latin1("; ".join(r.sources), 300))
                pdf.ln(3)
            if item is None:
                break
            section, rows = item.section, []
            _heading(pdf, f"{item.section}. {item.section_title}", 11)
        rows.append(item)
    return bytes(pdf.output())
