"""A factsheet as a PDF (fpdf2): a title block, a table of facts per section (fact, value, source), then the
Annex IV skeleton on its own pages, MISSING items in bold red.

The built-in PDF fonts (Helvetica) cover Latin-1 only, and fpdf2 ships no Unicode font: text is brought to Latin-1
(accents decomposed where that keeps the letter, anything else as '?'); the JSON and Markdown renderings keep every
character. Values are cut to MAX_CELL_CHARS and the facts to MAX_PDF_FACTS, so that no value or repo makes a
document of unbounded size. fpdf2 is imported on the first PDF (it takes about 0.3 s to import), not with the server.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inhouse.services.governance.annex_iv import AnnexItem
from inhouse.services.governance.factsheets import SECTIONS, Factsheet, iso

if TYPE_CHECKING:
    from fpdf import FPDF

MAX_CELL_CHARS = 700
MAX_PDF_FACTS = 2_000
RED = (176, 0, 32)
GREY = (230, 230, 230)
FONT_SIZE = 7.5  # points
LINE_H = 3.4  # mm
PADDING = 1.0  # mm


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
    if pdf.get_y() + 30 > pdf.page_break_trigger:  # not alone at the foot of a page: with the start of its table
        pdf.add_page()
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(0, size * 0.5, latin1(text, 300), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _notes(pdf: FPDF, notes: list[str]) -> None:
    pdf.set_font("Helvetica", "I", 8)
    for note in notes:
        pdf.multi_cell(0, 4, latin1(note), new_x="LMARGIN", new_y="NEXT")
    if notes:
        pdf.ln(1)


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""  # "" | "B"
    color: tuple[int, int, int] = (0, 0, 0)


class _Table:
    """Rows of wrapped text in bordered columns, the header row repeated on each page. fpdf2's own tables lay out
    every cell through its general line breaker (about 5 ms a row); here words are measured once each and lines
    written with `text` (bench/factsheet.py: a factsheet of 420 facts in 0.4 s instead of 2 s)."""

    def __init__(self, pdf: FPDF, widths: tuple[float, ...], header: tuple[str, ...]):
        self.pdf, self.widths, self.header = pdf, widths, header
        self.measured: dict[tuple[str, str], float] = {}

    def _char(self, c: str, style: str) -> float:
        key = (c, style)
        w = self.measured.get(key)
        if w is None:
            w = self.measured[key] = self.pdf.get_string_width(c)
        return w

    def _width(self, word: str, style: str) -> float:
        """The core fonts have no kerning: a word's width is its characters' (each measured once)."""
        return sum(self._char(c, style) for c in word)

    def _wrap(self, text: str, width: float, style: str) -> list[str]:
        lines: list[str] = []
        line, used = "", 0.0
        space = self._width(" ", style)
        for word in text.split(" "):
            w = self._width(word, style)
            while w > width:  # a word longer than the column: cut it where it fills the line
                cut, filled = 0, 0.0
                for c in word:
                    cw = self._char(c, style)
                    if cut and filled + cw > width:
                        break
                    cut, filled = cut + 1, filled + cw
                if line:
                    lines.append(line)
                lines.append(word[:cut])
                line, used = "", 0.0
                word = word[cut:]
                w = self._width(word, style)
            if line and used + space + w > width:
                lines.append(line)
                line, used = "", 0.0
            line, used = (f"{line} {word}", used + space + w) if line else (word, w)
        lines.append(line)
        return lines

    def _row(self, cells: list[Cell], fill: bool) -> None:
        pdf = self.pdf
        wrapped = []
        for cell, width in zip(cells, self.widths):
            pdf.set_font("Helvetica", cell.style, FONT_SIZE)
            wrapped.append(self._wrap(cell.text, width - 2 * PADDING, cell.style))
        room = pdf.page_break_trigger - pdf.t_margin - LINE_H * 3
        most = max(1, int(room // LINE_H))
        wrapped = [w[:most] for w in wrapped]
        height = max(len(w) for w in wrapped) * LINE_H + 2 * PADDING
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            if not fill:
                self._row([Cell(h, "B") for h in self.header], True)
        x, y = pdf.l_margin, pdf.get_y()
        for cell, width, lines in zip(cells, self.widths, wrapped):
            if fill:
                pdf.set_fill_color(*GREY)
            pdf.rect(x, y, width, height, style="DF" if fill else "D")
            pdf.set_font("Helvetica", cell.style, FONT_SIZE)
            pdf.set_text_color(*cell.color)
            for i, line in enumerate(lines):
                pdf.text(x + PADDING, y + PADDING + (i + 0.78) * LINE_H, line)
            x += width
        pdf.set_text_color(0, 0, 0)
        pdf.set_xy(pdf.l_margin, y + height)

    def write(self, rows: list[list[Cell]]) -> None:
        self.pdf.set_draw_color(90, 90, 90)
        self.pdf.set_line_width(0.2)
        self._row([Cell(h, "B") for h in self.header], True)
        for row in rows:
            self._row(row, False)
        self.pdf.ln(3)


def _facts_table(pdf: FPDF, rows: list[tuple[str, str, str]]) -> None:
    _Table(pdf, (45, 90, 45), ("Fact", "Value", "Source")).write(
        [[Cell(latin1(name, 200)), Cell(latin1(value)), Cell(latin1(source, 200))] for name, value, source in rows])


def render(sheet: Factsheet, annex: list[AnnexItem]) -> bytes:
    from fpdf import FPDF

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
    section = 0
    rows: list[AnnexItem] = []
    for item in [*annex, None]:
        if item is None or item.section != section:
            if rows:
                _Table(pdf, (45, 95, 40), ("Item", "Content", "Sources")).write([
                    [Cell(latin1(r.item, 200)), Cell(latin1(r.missing), "B", RED), Cell("")] if r.missing is not None
                    else [Cell(latin1(r.item, 200)), Cell(latin1(r.value)), Cell(latin1("; ".join(r.sources), 300))]
                    for r in rows])
            if item is None:
                break
            section, rows = item.section, []
            _heading(pdf, f"{item.section}. {item.section_title}", 11)
        rows.append(item)
    return bytes(pdf.output())
