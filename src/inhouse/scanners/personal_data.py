"""Personal data in tables: e-mails, phone numbers, IBANs, cards and national ids in CSV/TSV, JSON Lines / JSON and
parquet files, found by presidio-analyzer's pattern recognizers (offline: no spaCy model, no network), reported as
counts per column, never the values.

Only the scanner process (python -m inhouse.scanners) imports this module: it is the one place that imports
presidio_analyzer and pyarrow (an import-linter contract keeps them out of the server).

What a scan reports (`ScanOutcome.findings`):
    {"format": "csv", "rows_total": 200000 | None, "rows_scanned": 10000, "sampled": True, "confidence": "...",
     "columns": {"email": {"EMAIL_ADDRESS": 9950}}, "entities": {"EMAIL_ADDRESS": 9950},
     "columns_not_scanned": {"amount": "numeric: ..."}, "values_truncated": 0, "rows_unparsed": 0}
Counts are of values (cells) in which an entity was found. A column name that itself holds an entity (a CSV
without a header row) is shown as "column N".

How it is fast (bench/pii_scan.py: rows/s against presidio run on every cell with the same recognizers):
- batching: the cells of a block of rows are joined with a separator no pattern crosses and each recognizer runs
  once per ~32k characters; each match is mapped back to its cell by offset. A match that spans a separator is
  dropped and the cells it touched are re-scanned one by one, so the result is what presidio says cell by cell.
- each recognizer sees only cells that could hold its entity: an e-mail needs "@", the numeric ids a digit.
- rows are sampled (options.max_rows, default 10,000), uniformly at random across the file, with the
  probability of missing a column stated; a numeric or boolean column whose first 200 values hold no entity is not
  scanned further, and parquet's floating-point, boolean and date/time columns not at all (each named, with why).
Every size a file chooses is bounded: a physical line (120,000 characters), a value (10,000 characters scanned),
columns (1,000, the rest scanned together as one), a JSON document (32 MiB)."""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
import tldextract
from presidio_analyzer import RecognizerResult
from presidio_analyzer import predefined_recognizers as presidio
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from inhouse.scanners.base import ScanOutcome

VERSION = "1"

DEFAULT_MAX_ROWS = 10_000
MAX_ROWS_CAP = 1_000_000  # what options.max_rows may ask for at most (the policy's cap is the same)
MIN_SCORE = 0.4  # presidio's score below which a match is not counted (its weak, context-less patterns)
CELL_MAX_CHARS = 10_000  # a longer value is scanned in its first 10,000 characters (and counted as truncated)
LINE_MAX_CHARS = 120_000  # a longer physical line keeps its beginning (below csv's default field limit, 131,072)
MAX_COLUMNS = 1_000  # further columns are scanned together as one
JSON_DOCUMENT_MAX_BYTES = 32 * 1024 * 1024  # a .json file that is one document (not JSON Lines)
PROBE_VALUES = 200  # a numeric column with no entity in its first 200 values is not scanned further
BLOCK_ROWS = 1_000  # rows gathered before the recognizers run over them
BATCH_CHARS = 32_000  # characters per recognizer call (phonenumbers' matcher gives up after 65,535 candidates)
CACHE_VALUES = 100_000  # distinct short values whose entities are remembered (a repeated value is analyzed once)
CACHE_CHARS = 200
SEPARATOR = "\n\x00\n"  # between cells: no pattern's character classes hold NUL
MAX_NAME_CHARS = 100
OVERFLOW_COLUMN = f"(columns after the {MAX_COLUMNS}th)"
UNPARSED_COLUMN = "(rows that could not be parsed)"
VALUE_COLUMN = "(value)"

Requirement = Literal["any", "at", "digit"]

# Entity -> (presidio's recognizer class, what a value must hold for it to match: "@" for e-mails, a digit for
# the numbers; "any": no shortcut). Every entity the policy document accepts (policy_doc.KNOWN_ENTITIES) is here.
RECOGNIZERS: dict[str, tuple[str, Requirement]] = {
    "EMAIL_ADDRESS": ("EmailRecognizer", "at"),
    "PHONE_NUMBER": ("PhoneRecognizer", "digit"),
    "IBAN_CODE": ("IbanRecognizer", "digit"),
    "CREDIT_CARD": ("CreditCardRecognizer", "digit"),
    "CRYPTO": ("CryptoRecognizer", "any"),
    "IP_ADDRESS": ("IpRecognizer", "any"),
    "URL": ("UrlRecognizer", "any"),
    "DATE_TIME": ("DateRecognizer", "any"),
    "MEDICAL_LICENSE": ("MedicalLicenseRecognizer", "digit"),
    "US_SSN": ("UsSsnRecognizer", "digit"),
    "US_ITIN": ("UsItinRecognizer", "digit"),
    "US_PASSPORT": ("UsPassportRecognizer", "digit"),
    "US_DRIVER_LICENSE": ("UsLicenseRecognizer", "digit"),
    "US_BANK_NUMBER": ("UsBankRecognizer", "digit"),
    "UK_NHS": ("NhsRecognizer", "digit"),
    "UK_NINO": ("UkNinoRecognizer", "digit"),
    "ES_NIF": ("EsNifRecognizer", "digit"),
    "ES_NIE": ("EsNieRecognizer", "digit"),
    "IT_FISCAL_CODE": ("ItFiscalCodeRecognizer", "any"),  # letters may stand for its digits
    "IT_DRIVER_LICENSE": ("ItDriverLicenseRecognizer", "digit"),
    "IT_VAT_CODE": ("ItVatCodeRecognizer", "digit"),
    "IT_PASSPORT": ("ItPassportRecognizer", "digit"),
    "IT_IDENTITY_CARD": ("ItIdentityCardRecognizer", "digit"),
    "PL_PESEL": ("PlPeselRecognizer", "digit"),
    "SG_NRIC_FIN": ("SgFinRecognizer", "digit"),
    "SG_UEN": ("SgUenRecognizer", "digit"),
    "AU_ABN": ("AuAbnRecognizer", "digit"),
    "AU_ACN": ("AuAcnRecognizer", "digit"),
    "AU_TFN": ("AuTfnRecognizer", "digit"),
    "AU_MEDICARE": ("AuMedicareRecognizer", "digit"),
    "IN_PAN": ("InPanRecognizer", "digit"),
    "IN_AADHAAR": ("InAadhaarRecognizer", "digit"),
    "IN_VEHICLE_REGISTRATION": ("InVehicleRegistrationRecognizer", "digit"),
    "IN_VOTER": ("InVoterRecognizer", "digit"),
    "IN_PASSPORT": ("InPassportRecognizer", "digit"),
    "FI_PERSONAL_IDENTITY_CODE": ("FiPersonalIdentityCodeRecognizer", "digit"),
    "KR_RRN": ("KrRrnRecognizer", "digit"),
    "TH_TNIN": ("ThTninRecognizer", "digit"),
    "DE_TAX_ID": ("DeTaxIdRecognizer", "digit"),
}

# When options name no entities: identifiers of people (not dates, URLs or company numbers), and not PL_PESEL,
# whose pattern has no word boundaries: it finds "PESEL numbers" inside any long run of digits (a tenth of the
# values of a float column).
DEFAULT_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CREDIT_CARD", "US_SSN", "US_ITIN", "UK_NHS", "UK_NINO",
    "ES_NIF", "ES_NIE", "IT_FISCAL_CODE", "IN_PAN", "IN_AADHAAR", "AU_TFN", "AU_MEDICARE",
    "FI_PERSONAL_IDENTITY_CODE", "KR_RRN", "TH_TNIN", "SG_NRIC_FIN",
)

_DIGIT = re.compile(r"\d")
_NUMERIC = re.compile(r"\s*[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?\s*|(?i:\s*(?:true|false|nan|inf)\s*)")


class Analyzer(Protocol):
    """presidio's recognizers as called here: without NLP artifacts (pattern recognizers and phonenumbers)."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any) -> list[RecognizerResult]: ...


@dataclass(frozen=True)
class Recognizer:
    """One presidio recognizer, for one entity, and what a value must hold for it to match."""

    entity: str
    analyzer: Analyzer
    requires: Requirement

    def found(self, text: str) -> bool:
        """Whether presidio finds the entity in `text` (a score of at least MIN_SCORE)."""
        return any(r.score >= MIN_SCORE for r in self.analyze(text))

    def analyze(self, text: str) -> list[RecognizerResult]:
        return list(self.analyzer.analyze(text, [self.entity], None))


def build_recognizers(entities: Sequence[str]) -> list[Recognizer]:
    """presidio's pattern recognizers for `entities`, offline: the e-mail recognizer's domain check reads the public
    suffix list bundled with tldextract (never downloads it)."""
    unknown = [e for e in entities if e not in RECOGNIZERS]
    if unknown:
        raise ValueError(f"unknown entity {unknown[0]!r}: the recognizers find {', '.join(sorted(RECOGNIZERS))}")
    suffixes = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    recognizers = []
    for entity in dict.fromkeys(entities):
        class_name, requires = RECOGNIZERS[entity]
        analyzer = getattr(presidio, class_name)()
        if entity == "EMAIL_ADDRESS":
            # EmailRecognizer.validate_result calls tldextract.extract, whose default extractor fetches the list
            analyzer.validate_result = _offline_domain_check(suffixes)
        recognizers.append(Recognizer(entity, analyzer, requires))
    return recognizers


def _offline_domain_check(suffixes: tldextract.TLDExtract) -> Callable[[str], bool]:
    def validate(text: str) -> bool:
        return suffixes(text).fqdn != ""
    return validate


# ---------------------------------------------------------------------------------------------------------------
# Scanning values: batches of cells, one recognizer call per batch


@dataclass
class _Column:
    name: str
    numeric: bool = True  # every value so far numeric or boolean
    scanned: int = 0  # values scanned
    skipped: str | None = None  # why it is no longer scanned
    counts: dict[str, int] = field(default_factory=dict)


class _Tally:
    """Columns, their counts, and the block of cells waiting for the recognizers."""

    def __init__(self, recognizers: list[Recognizer]) -> None:
        self.recognizers = recognizers
        self.columns: list[_Column] = []
        self.by_name: dict[str, int] = {}
        self.block: list[tuple[int, str]] = []  # (column, text)
        self.block_rows = 0
        self.rows_scanned = 0
        self.truncated = 0
        self.unparsed = 0
        self.cache: dict[str, tuple[str, ...]] = {}

    def column(self, name: str, *, numeric: bool = True) -> int:
        index = self.by_name.get(name)
        if index is not None:
            return index
        if len(self.columns) >= MAX_COLUMNS and name not in (OVERFLOW_COLUMN, UNPARSED_COLUMN):
            return self.column(OVERFLOW_COLUMN, numeric=False)
        index = len(self.columns)
        self.columns.append(_Column(name=name, numeric=numeric))
        self.by_name[name] = index
        return index

    def add_row(self, cells: Sequence[tuple[int, str, bool]]) -> None:
        """One row: (column, text, whether the value is numeric or boolean)."""
        for index, text, numeric in cells:
            col = self.columns[index]
            if col.skipped is not None or not text:
                continue
            if not numeric:
                col.numeric = False
            if len(text) > CELL_MAX_CHARS:
                text = text[:CELL_MAX_CHARS]
                self.truncated += 1
            self.block.append((index, text))
        self.rows_scanned += 1
        self.block_rows += 1
        if self.block_rows >= BLOCK_ROWS:
            self.flush()

    def flush(self) -> None:
        block, self.block, self.block_rows = self.block, [], 0
        if block:
            found = self._entities_of(dict.fromkeys(text for _, text in block))
            for index, text in block:
                col = self.columns[index]
                col.scanned += 1
                for entity in found[text]:
                    col.counts[entity] = col.counts.get(entity, 0) + 1
        for col in self.columns:
            if col.skipped is None and col.numeric and col.scanned >= PROBE_VALUES and not col.counts:
                col.skipped = (f"numeric or boolean, and none of its first {col.scanned} values held an entity: "
                               "not scanned further")

    def _entities_of(self, texts: dict[str, None]) -> dict[str, tuple[str, ...]]:
        """The entities found in each distinct text (a value seen before, up to CACHE_VALUES short ones, is not
        analyzed again: the answer for the same text is the same)."""
        found: dict[str, tuple[str, ...]] = {}
        todo: list[str] = []
        for text in texts:
            cached = self.cache.get(text)
            if cached is None:
                todo.append(text)
            else:
                found[text] = cached
        hits: dict[str, list[str]] = {text: [] for text in todo}
        for rec in self.recognizers:
            if rec.requires == "at":
                cells = [t for t in todo if "@" in t]
            elif rec.requires == "digit":
                cells = [t for t in todo if _DIGIT.search(t)]
            else:
                cells = todo
            start = 0
            while start < len(cells):
                end, size = start, 0
                while end < len(cells) and (end == start or size + len(cells[end]) <= BATCH_CHARS):
                    size += len(cells[end]) + len(SEPARATOR)
                    end += 1
                for i in found_in(rec, cells[start:end]):
                    hits[cells[start + i]].append(rec.entity)
                start = end
        for text, entities in hits.items():
            found[text] = tuple(entities)
            if len(text) <= CACHE_CHARS and len(self.cache) < CACHE_VALUES:
                self.cache[text] = found[text]
        return found


def found_in(rec: Recognizer, texts: Sequence[str]) -> set[int]:
    """Indices of the `texts` in which presidio finds `rec`'s entity, as if each were analyzed on its own, with one
    call for all of them (texts joined by SEPARATOR). A match across a separator is not a match: the texts it
    touches are analyzed one by one."""
    if len(texts) == 1:
        return {0} if rec.found(texts[0]) else set()
    if (isinstance(rec.analyzer, PhoneRecognizer) and rec.analyzer.SCORE >= MIN_SCORE
            and rec.analyzer.leniency is not None):
        return _phones_in(rec, texts)
    starts = _starts(texts)
    hits: set[int] = set()
    again: set[int] = set()
    for r in rec.analyze(SEPARATOR.join(texts)):
        i = bisect.bisect_right(starts, r.start) - 1
        if r.end <= starts[i] + len(texts[i]):
            if r.score >= MIN_SCORE:
                hits.add(i)
        else:
            again.update(range(i, bisect.bisect_right(starts, r.end - 1)))
    for i in again:
        hits.discard(i)
        if rec.found(texts[i]):
            hits.add(i)
    return hits


def _starts(texts: Sequence[str]) -> list[int]:
    starts = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + len(SEPARATOR)
    return starts


def _phones_in(rec: Recognizer, texts: Sequence[str]) -> set[int]:
    """presidio's PhoneRecognizer answers every number phonenumbers' matcher finds in any of its regions (each
    scoring SCORE). Whether a text holds one is the same question asked region by region, and a text found in one
    region needs no other: each region's matcher runs once over the texts not found yet. A match across a
    separator leaves the texts it touches to the recognizer itself, one by one."""
    analyzer = rec.analyzer
    assert isinstance(analyzer, PhoneRecognizer) and analyzer.leniency is not None
    leniency = analyzer.leniency
    hits: set[int] = set()
    again: set[int] = set()
    left = list(range(len(texts)))
    for region in analyzer.supported_regions:
        if not left:
            break
        batch = [texts[i] for i in left]
        starts = _starts(batch)
        for m in phonenumbers.PhoneNumberMatcher(SEPARATOR.join(batch), region, leniency=leniency):
            i = bisect.bisect_right(starts, m.start) - 1
            if m.end <= starts[i] + len(batch[i]):
                hits.add(left[i])
            else:
                again.update(left[j] for j in range(i, bisect.bisect_right(starts, m.end - 1)))
        left = [i for i in left if i not in hits and i not in again]
    for i in again:
        if i not in hits and rec.found(texts[i]):
            hits.add(i)
    return hits


def _names_free_of_entities(tally: _Tally) -> None:
    """Column names are shown; one that holds an entity (the first row of a CSV without a header) is shown as
    "column N" instead."""
    for n, col in enumerate(tally.columns):
        name = col.name
        if name in (OVERFLOW_COLUMN, UNPARSED_COLUMN, VALUE_COLUMN):
            continue
        if any(rec.found(name[:CELL_MAX_CHARS]) for rec in tally.recognizers):
            col.name = f"column {n + 1}"
        elif len(name) > MAX_NAME_CHARS:
            col.name = name[:MAX_NAME_CHARS] + "…"


# ---------------------------------------------------------------------------------------------------------------
# Reading tables: every format gives rows of (column name, value); rows are counted first, then the chosen ones read


Row = list[tuple[str, Any]]


def _text_of(value: Any) -> tuple[str, bool]:
    """The text scanned for a value, and whether the value is numeric or boolean."""
    if isinstance(value, str):
        return value, False
    if isinstance(value, (bool, int, float)):
        return str(value), True
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "", True
    return json.dumps(_without_bytes(value), default=str, ensure_ascii=False), False


def _without_bytes(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _without_bytes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_bytes(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "<binary>"
    return value


def _open_binary(path: Path, name: str) -> gzip.GzipFile | io.BufferedReader:
    return gzip.open(path, "rb") if name.lower().endswith(".gz") else open(path, "rb")


def _open_text(path: Path, name: str, newline: str = "") -> IO[str]:
    """Text as UTF-8 (a BOM dropped, invalid bytes replaced); newline="" for csv, "\n" for JSON Lines (lines end at
    "\n" only, as _count_lines counts them)."""
    return io.TextIOWrapper(_open_binary(path, name), encoding="utf-8-sig", errors="replace", newline=newline)


def _lines(stream: IO[str], tally: _Tally | None = None) -> Iterator[str]:
    """Physical lines, each at most LINE_MAX_CHARS (a longer one keeps its beginning and its end of line; the rest
    is read and dropped in pieces, so memory stays bounded)."""
    while True:
        line = stream.readline(LINE_MAX_CHARS)
        if not line:
            return
        if len(line) >= LINE_MAX_CHARS and not line.endswith(("\n", "\r")):
            while True:
                rest = stream.readline(LINE_MAX_CHARS)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            line += "\n"
            if tally is not None:
                tally.truncated += 1
        yield line


def _csv_rows(path: Path, name: str, tally: _Tally | None) -> Iterator[tuple[list[str], list[str]] | Row]:
    """A CSV's rows after its header (the delimiter guessed among , ; tab |; tab for .tsv); a row csv cannot parse
    (a field longer than its limit) is one row of UNPARSED_COLUMN with no text."""
    lower = name.lower().removesuffix(".gz")
    with _open_text(path, name) as stream:
        lines = _lines(stream, tally)
        head = []
        size = 0
        for line in lines:
            head.append(line)
            size += len(line)
            if size >= 64 * 1024 or len(head) >= 50:
                break
        delimiter = "\t" if lower.endswith(".tsv") else _sniff(head)
        reader = csv.reader(_chain(head, lines), delimiter=delimiter)
        header: list[str] | None = None
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                if header is not None:
                    yield [(UNPARSED_COLUMN, "")]
                continue
            if header is None:
                header = _unique_names(row)
                continue
            yield header, row  # named only if chosen (_csv_row)


def _csv_row(item: tuple[list[str], list[str]] | Row) -> Row:
    if not isinstance(item, tuple):
        return item
    header, row = item
    return [(header[i] if i < len(header) else f"column {i + 1}", v) for i, v in enumerate(row)]


def _chain(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest


def _sniff(lines: list[str]) -> str:
    """The delimiter among , ; tab | that splits the first lines into the same number (> 1) of fields most often
    (csv.Sniffer is not used: its regular expressions take quadratic time on some input, 15 s on 64 KB)."""
    best, best_score = ",", (0.0, 0)
    lines = [line for line in lines if line.strip()]
    for delimiter in ",;\t|":
        counts = Counter(len(row) for row in csv.reader(lines, delimiter=delimiter))
        if not counts:
            continue
        fields, lines_with = counts.most_common(1)[0]
        score = (lines_with / len(lines), fields)
        if fields > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def _unique_names(row: Sequence[str]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(row):
        name = raw.strip() or f"column {i + 1}"
        if name in seen:
            name = f"{name} (column {i + 1})"
        seen.add(name)
        names.append(name)
    return names


def _count_lines(path: Path, name: str) -> int:
    """JSON Lines' rows: its lines (a blank one is a row without values), counted in binary, 1 MiB at a time."""
    n = 0
    last = b"\n"
    with _open_binary(path, name) as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _jsonl_lines(path: Path, name: str, tally: _Tally) -> Iterator[str]:
    with _open_text(path, name, "\n") as stream:
        yield from _lines(stream, tally)


def _jsonl_row(line: str) -> Row:
    """A JSON Lines row: an object's keys are columns; another JSON value is one VALUE_COLUMN value; a line that is
    not JSON (or was cut at LINE_MAX_CHARS) is scanned as text in UNPARSED_COLUMN."""
    if not line.strip():
        return []
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return [(UNPARSED_COLUMN, line.strip())]
    return _record(value)


def _record(value: Any) -> Row:
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return [(VALUE_COLUMN, value)]


def _is_json_lines(path: Path, name: str) -> bool:
    """A .json file is JSON Lines when its first line is a JSON value of its own and more lines follow."""
    with _open_text(path, name, "\n") as stream:
        first = stream.readline(LINE_MAX_CHARS)
        second = stream.readline(LINE_MAX_CHARS)
    if not (first.strip() and second.strip()):
        return False
    try:
        json.loads(first)
    except ValueError:
        return False
    return True


def _json_document_rows(path: Path, name: str, tally: _Tally | None) -> Iterator[Row]:
    """A .json file that is one document of at most JSON_DOCUMENT_MAX_BYTES: an array of records, or an object
    whose arrays of objects are the records (columns "key.field"), its other keys one more record."""
    with _open_text(path, name) as stream:
        text = stream.read(JSON_DOCUMENT_MAX_BYTES + 1)
    if len(text) > JSON_DOCUMENT_MAX_BYTES:
        raise ValueError(f"{name} is one JSON document larger than {JSON_DOCUMENT_MAX_BYTES // (1024 * 1024)} MiB: "
                         "store large tables as JSON Lines or parquet, which are scanned row by row")
    doc = json.loads(text)
    del text
    if isinstance(doc, list):
        for item in doc:
            yield _record(item)
        return
    if not isinstance(doc, dict):
        yield [(VALUE_COLUMN, doc)]
        return
    rest: Row = []
    for key, value in doc.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                yield [(f"{key}.{k}", v) for k, v in item.items()]
        else:
            rest.append((str(key), value))
    if rest:
        yield rest


# ---------------------------------------------------------------------------------------------------------------
# Parquet: rows counted by the file's metadata; row groups without a chosen row are not read; only scanned columns


def _parquet(path: Path, tally: _Tally, chosen: Callable[[int], list[int]]) -> tuple[int, dict[str, str]]:
    pf = pq.ParquetFile(path)
    total = pf.metadata.num_rows
    selected = chosen(total)
    not_scanned: dict[str, str] = {}
    columns: list[tuple[str, int, bool]] = []  # (arrow name, tally column, numeric)
    names = list(pf.schema_arrow.names)
    for f in pf.schema_arrow:
        kind = _arrow_kind(f.type)
        if kind == "binary":
            not_scanned[f.name] = "binary data"
        elif kind == "measure":
            not_scanned[f.name] = "floating-point, boolean or date/time values (not identifiers)"
        elif kind == "null":
            not_scanned[f.name] = "every value is null"
        else:
            columns.append((f.name, tally.column(str(f.name), numeric=kind == "numeric"), kind == "numeric"))
    unique = len(set(names)) == len(names)
    row0 = 0
    pos = 0
    for rg in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(rg).num_rows
        lo = bisect.bisect_left(selected, row0, pos)
        hi = bisect.bisect_left(selected, row0 + n, lo)
        pos = hi
        if lo == hi:
            row0 += n
            continue
        live = [c for c in columns if tally.columns[c[1]].skipped is None]
        if not live:  # every column skipped: the chosen rows left have nothing more to scan
            tally.rows_scanned += len(selected) - lo
            break
        batch0 = row0
        wanted = [c[0] for c in live] if unique else None
        for batch in pf.iter_batches(batch_size=BLOCK_ROWS, row_groups=[rg], columns=wanted, use_threads=False):
            b_lo = bisect.bisect_left(selected, batch0, lo)
            b_hi = bisect.bisect_left(selected, batch0 + batch.num_rows, b_lo)
            if b_lo < b_hi:
                taken = batch.take(pa.array([i - batch0 for i in selected[b_lo:b_hi]], type=pa.int64()))
                values = {name: taken.column(name).to_pylist() for name, _, _ in live}
                for r in range(taken.num_rows):
                    cells = []
                    for name, index, numeric in live:
                        v = values[name][r]
                        if v is not None:
                            text = _text_of(v)[0] if not numeric else str(v)
                            cells.append((index, text, numeric))
                    tally.add_row(cells)
            batch0 += batch.num_rows
        row0 += n
    return total, not_scanned


def _arrow_kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return _arrow_kind(t.value_type)
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t):
        return "measure"  # not scanned: its digits are a quantity, not an identifier
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        return "numeric"  # may hold a phone or an id number: probed, then skipped if nothing is found
    return "text"


# ---------------------------------------------------------------------------------------------------------------
# The scan


FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
           ".parquet": "parquet"}


def format_of(name: str) -> str | None:
    """The table format a file name says (a .gz suffix on a text format is read through gzip); None: not a table."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
        if lower.endswith(".parquet"):
            return None
    for suffix, fmt in FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return None


def scan(path: Path, name: str, options: dict[str, Any]) -> ScanOutcome:
    """Counts of the entities (options.entities, default DEFAULT_ENTITIES) per column of the table at `path`, over
    at most options.max_rows rows (default 10,000; at most 1,000,000) chosen at random when there are more."""
    entities = options.get("entities") or DEFAULT_ENTITIES
    if not isinstance(entities, (list, tuple)) or not all(isinstance(e, str) for e in entities):
        raise ValueError("options.entities must be a list of entity names")
    max_rows = options.get("max_rows", DEFAULT_MAX_ROWS)
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
        raise ValueError("options.max_rows must be a positive integer")
    max_rows = min(max_rows, MAX_ROWS_CAP)
    fmt = format_of(name)
    if fmt is None:
        return ScanOutcome("clean", {"format": "not-a-table", "rows_total": None, "rows_scanned": 0,
                                     "sampled": False, "columns": {}, "entities": {},
                                     "confidence": "Not scanned: only CSV, TSV, JSON Lines, JSON and parquet files "
                                                   "are read for personal data."})
    tally = _Tally(build_recognizers([e.upper() for e in entities]))
    rng = random.SystemRandom()  # a file cannot know which rows will be read

    def chosen(total: int) -> list[int]:
        if total <= max_rows:
            return list(range(total))
        return sorted(rng.sample(range(total), max_rows))

    not_scanned: dict[str, str] = {}
    if fmt == "parquet":
        total, not_scanned = _parquet(path, tally, chosen)
    elif fmt == "jsonl" or (fmt == "json" and _is_json_lines(path, name)):
        total = _count_lines(path, name)  # rows are counted fast, and only the chosen ones parsed
        _read_rows(_jsonl_lines(path, name, tally), _jsonl_row, chosen(total), tally)
    elif fmt == "csv":
        total = sum(1 for _ in _csv_rows(path, name, None))
        _read_rows(_csv_rows(path, name, tally), _csv_row, chosen(total), tally)
    else:
        total = sum(1 for _ in _json_document_rows(path, name, None))
        _read_rows(_json_document_rows(path, name, tally), _same, chosen(total), tally)
    tally.flush()
    _names_free_of_entities(tally)
    return _outcome(fmt, tally, total, not_scanned)


def _same(row: Row) -> Row:
    return row


def _read_rows(items: Iterator[Any], parse: Callable[[Any], Row], selected: list[int], tally: _Tally) -> None:
    """The rows at the `selected` indices (sorted) of `items`, parsed, into the tally."""
    if not selected:
        return
    want = 0
    for n, item in enumerate(items):
        if n != selected[want]:
            continue
        cells = []
        for column, value in parse(item):
            if value is None:
                continue
            if column == UNPARSED_COLUMN:
                tally.unparsed += 1
            text, numeric = _text_of(value)
            if isinstance(value, str) and _NUMERIC.fullmatch(value[:100]):
                numeric = True
            index = tally.by_name.get(column)
            cells.append((tally.column(column, numeric=numeric) if index is None else index, text, numeric))
        tally.add_row(cells)
        want += 1
        if want == len(selected):
            return


def _outcome(fmt: str, tally: _Tally, total: int, not_scanned: dict[str, str]) -> ScanOutcome:
    columns: dict[str, dict[str, int]] = {}
    entities: dict[str, int] = {}
    for col in tally.columns:
        if col.skipped is not None:
            not_scanned[col.name] = col.skipped
        if col.counts:
            columns[col.name] = dict(sorted(col.counts.items()))
            for entity, count in col.counts.items():
                entities[entity] = entities.get(entity, 0) + count
    sampled = tally.rows_scanned < total
    findings: dict[str, Any] = {
        "format": fmt,
        "rows_total": total,
        "rows_scanned": tally.rows_scanned,
        "sampled": sampled,
        "confidence": confidence(total, tally.rows_scanned, skipped=len(not_scanned), truncated=tally.truncated,
                                 unparsed=tally.unparsed),
        "columns": columns,
        "entities": dict(sorted(entities.items())),
        "entities_checked": [r.entity for r in tally.recognizers],
        "columns_not_scanned": dict(list(not_scanned.items())[:MAX_COLUMNS]),
        "values_truncated": tally.truncated,
        "rows_unparsed": tally.unparsed,
    }
    return ScanOutcome("findings" if entities else "clean", findings)


def confidence(total: int, scanned: int, *, skipped: int = 0, truncated: int = 0, unparsed: int = 0) -> str:
    """What the counts mean: all rows or a random sample, with the chance that a sample misses a column in which
    a share p of the values hold an entity (at most (1 - p) ** n for n rows drawn without replacement)."""
    if scanned >= total:
        parts = [f"All {total} rows were scanned."]
    else:
        parts = [f"{scanned} of {total} rows, chosen at random across the file, were scanned: a column in which at "
                 f"least 1% of the values hold an entity is missed with probability below {0.99 ** scanned:.1e}, "
                 f"one in which at least 0.1% do, below {0.999 ** scanned:.1e}."]
    if skipped:
        parts.append(f"{skipped} column(s) were not scanned or not scanned to the end (columns_not_scanned says "
                     "why).")
    if truncated:
        parts.append(f"{truncated} value(s) or line(s) longer than the limits ({CELL_MAX_CHARS} characters a value, "
                     f"{LINE_MAX_CHARS} a line) were scanned in their beginning only.")
    if unparsed:
        parts.append(f"{unparsed} row(s) could not be parsed; their text was scanned as one column.")
    return " ".join(parts)
