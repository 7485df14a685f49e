"""The personal-data scanner on real files (CSV, TSV, JSON Lines, JSON, parquet written with pyarrow): columns and
counts right, values never in the findings, sampling stated, hostile files bounded, and the batched scan counting
exactly what presidio finds cell by cell."""

from __future__ import annotations

import csv
import gzip
import json
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inhouse.scanners import personal_data
from inhouse.scanners.personal_data import build_recognizers, found_in, scan
from inhouse.services.governance.policy_doc import KNOWN_ENTITIES

RNG = random.Random(7)


def iban() -> str:
    """A German IBAN with a valid check number (random account)."""
    bban = "".join(RNG.choice("0123456789") for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # D=13, E=14, then "00"
    return f"DE{check:02d}{bban}"


def card() -> str:
    """A 16-digit number passing the Luhn check."""
    digits = [4] + [RNG.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def people(n: int) -> list[dict[str, Any]]:
    """Rows: a name, an e-mail, an IBAN (every other row), an amount (numeric, never an entity), a note."""
    rows = []
    for i in range(n):
        rows.append({
            "name": RNG.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara"]) + " " + RNG.choice(["Smith", "Jones"]),
            "email": f"person{i}@mail.example.com",
            "iban": iban() if i % 2 == 0 else "",
            "amount": RNG.randrange(1, 999),
            "note": RNG.choice(["paid", "pending", "refund requested", "n/a"]),
        })
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)


def assert_no_values(findings: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    dumped = json.dumps(findings)
    for row in rows[:50]:
        assert row["email"] not in dumped and row["email"].split("@")[0] not in dumped
        if row["iban"]:
            assert row["iban"] not in dumped and row["iban"][4:12] not in dumped


def check_people(findings: dict[str, Any], rows: list[dict[str, Any]], fmt: str) -> None:
    n = len(rows)
    assert findings["format"] == fmt
    assert findings["rows_total"] == n and findings["rows_scanned"] == n and findings["sampled"] is False
    assert findings["columns"]["email"] == {"EMAIL_ADDRESS": n}
    assert findings["columns"]["iban"]["IBAN_CODE"] == (n + 1) // 2
    assert "name" not in findings["columns"] and "note" not in findings["columns"]
    assert "amount" not in findings["columns"]
    assert "numeric" in findings["columns_not_scanned"]["amount"]  # skipped after its first 200 values
    assert findings["entities"]["EMAIL_ADDRESS"] == n
    assert findings["confidence"].startswith(f"All {n} rows were scanned.")
    assert_no_values(findings, rows)


def test_csv_columns_and_counts_and_no_values(tmp_path: Path) -> None:
    rows = people(600)
    path = tmp_path / "customers.csv"
    write_csv(path, rows)
    out = scan(path, "data/customers.csv", {})
    assert out.status == "findings"
    check_people(out.findings, rows, "csv")


def test_tsv_and_semicolon_csv_and_gzip(tmp_path: Path) -> None:
    rows = people(300)
    write_csv(tmp_path / "a.tsv", rows, "\t")
    check_people(scan(tmp_path / "a.tsv", "a.tsv", {}).findings, rows, "csv")
    write_csv(tmp_path / "b.csv", rows, ";")
    check_people(scan(tmp_path / "b.csv", "b.csv", {}).findings, rows, "csv")
    with gzip.open(tmp_path / "c.csv.gz", "wt", newline="") as f:
        f.write((tmp_path / "b.csv").read_text())
    check_people(scan(tmp_path / "c.csv.gz", "c.csv.gz", {}).findings, rows, "csv")


def test_delimiter_is_guessed_in_linear_time(tmp_path: Path) -> None:
    """csv.Sniffer takes ~15 s on this 63 KB first line (quadratic regular expressions); the scanner's guess does
    not use it."""
    path = tmp_path / "hostile.csv"
    path.write_text(',"a' * 21_000 + "\n" + "x;dora@mail.example.com\n" * 3)
    out = scan(path, "hostile.csv", {})
    assert out.findings["rows_total"] >= 3
    rows = people(30)
    write_csv(tmp_path / "pipes.csv", rows, "|")
    assert scan(tmp_path / "pipes.csv", "pipes.csv", {}).findings["columns"]["email"] == {"EMAIL_ADDRESS": 30}


def test_json_lines_and_json_array(tmp_path: Path) -> None:
    rows = people(400)
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = scan(path, "train.jsonl", {})
    check_people(out.findings, rows, "jsonl")
    path = tmp_path / "train.json"  # JSON Lines under a .json name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    check_people(scan(path, "train.json", {}).findings, rows, "json")
    path = tmp_path / "array.json"
    path.write_text(json.dumps(rows, indent=1))
    check_people(scan(path, "array.json", {}).findings, rows, "json")
    path = tmp_path / "squad.json"  # an object whose array holds the records
    path.write_text(json.dumps({"version": "1.0", "data": rows}))
    out = scan(path, "squad.json", {})
    assert out.findings["columns"]["data.email"] == {"EMAIL_ADDRESS": 400}


def test_parquet_read_by_row_groups(tmp_path: Path) -> None:
    rows = people(900)
    table = pa.Table.from_pylist(rows).append_column("photo", pa.array([b"\x89PNG" + bytes(20)] * 900))
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(table, path, row_group_size=128)
    out = scan(path, "data/train-00000-of-00001.parquet", {})
    check_people(out.findings, rows, "parquet")
    assert out.findings["columns_not_scanned"]["photo"] == "binary data"


def test_a_parquet_of_numbers_is_skipped_after_its_first_values(tmp_path: Path) -> None:
    path = tmp_path / "metrics.parquet"
    pq.write_table(pa.table({"step": list(range(5000)), "loss": [1 / (i + 1) for i in range(5000)]}), path,
                   row_group_size=500)
    f = scan(path, "metrics.parquet", {}).findings
    assert f["rows_total"] == 5000 and f["rows_scanned"] == 5000 and f["sampled"] is False
    assert f["columns"] == {}
    assert f["columns_not_scanned"]["loss"].startswith("floating-point")
    assert f["columns_not_scanned"]["step"].startswith("numeric or boolean, and none of its first")


def test_large_file_is_sampled_with_stated_confidence(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "contact", "comment"])
        for i in range(200_000):
            w.writerow([i, f"user{i}@corp.example.org" if i % 4 == 0 else "", "ok"])
    out = scan(path, "big.csv", {"max_rows": 2_000, "entities": ["EMAIL_ADDRESS"]})
    f = out.findings
    assert f["sampled"] is True and f["rows_total"] == 200_000 and f["rows_scanned"] == 2_000
    assert f["entities_checked"] == ["EMAIL_ADDRESS"]
    emails = f["columns"]["contact"]["EMAIL_ADDRESS"]
    assert 350 < emails < 650  # a quarter of 2,000 random rows (binomial: ±7 standard deviations)
    assert "2000 of 200000 rows, chosen at random" in f["confidence"]
    assert f"below {0.99 ** 2000:.1e}" in f["confidence"]
    assert "numeric" in f["columns_not_scanned"]["id"]


def test_options_narrow_the_entities_and_refuse_unknown_ones(tmp_path: Path) -> None:
    rows = people(50)
    path = tmp_path / "p.csv"
    write_csv(path, rows)
    out = scan(path, "p.csv", {"entities": ["IBAN_CODE"]})
    assert out.findings["entities"] == {"IBAN_CODE": 25}
    with pytest.raises(ValueError, match="unknown entity 'PASSPORT_OF_MARS'"):
        scan(path, "p.csv", {"entities": ["PASSPORT_OF_MARS"]})
    with pytest.raises(ValueError, match="max_rows"):
        scan(path, "p.csv", {"max_rows": 0})


def test_every_entity_a_policy_accepts_has_a_recognizer() -> None:
    assert set(KNOWN_ENTITIES) <= set(personal_data.RECOGNIZERS)
    assert len(build_recognizers(sorted(personal_data.RECOGNIZERS))) == len(personal_data.RECOGNIZERS)


def test_clean_table_and_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("model,accuracy,passed\n" + "".join(f"m{i},0.{i % 97:02d},true\n" for i in range(300)))
    out = scan(path, "scores.csv", {})
    assert out.status == "clean" and out.findings["entities"] == {} and out.findings["columns"] == {}
    out = scan(path, "weights.bin", {})
    assert out.status == "clean" and out.findings["format"] == "not-a-table"


def test_a_header_that_holds_personal_data_is_not_shown(tmp_path: Path) -> None:
    """A CSV without a header row: its first row's values would be the column names."""
    path = tmp_path / "noheader.csv"
    path.write_text("jane.doe@mail.example.com,paid\n" + "".join(f"p{i}@mail.example.com,paid\n" for i in range(20)))
    out = scan(path, "noheader.csv", {})
    assert out.findings["columns"] == {"column 1": {"EMAIL_ADDRESS": 20}}
    assert "jane" not in json.dumps(out.findings)


def test_a_50_mb_line_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "hostile.csv"
    with path.open("w") as f:
        f.write("id,text\n1,")
        f.write("write to bob@mail.example.com " + "x" * (50 * 1024 * 1024) + "\n")
        f.write("2,alice@mail.example.com\n")
    tracemalloc.start()
    try:
        out = scan(path, "hostile.csv", {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024 * 1024, peak  # the line is 50 MiB; what is held is a line's first 120,000 characters
    assert out.findings["columns"]["text"] == {"EMAIL_ADDRESS": 2}
    assert out.findings["values_truncated"] >= 1
    assert "scanned in their beginning only" in out.findings["confidence"]


def test_many_columns_are_bounded(tmp_path: Path) -> None:
    n = personal_data.MAX_COLUMNS + 500
    path = tmp_path / "wide.jsonl"
    path.write_text("".join(json.dumps({f"c{j}": (f"u{i}@x.example.org" if j == n - 1 else "v")
                                        for j in range(n)}) + "\n" for i in range(3)))
    out = scan(path, "wide.jsonl", {})
    assert out.findings["columns"] == {personal_data.OVERFLOW_COLUMN: {"EMAIL_ADDRESS": 3}}


def test_unparsable_json_lines_are_scanned_as_text(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"a": "x"}\n{"a": "y", broken carol@mail.example.com\n\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    f = scan(path, "broken.jsonl", {}).findings
    assert f["rows_total"] == 4  # lines; the blank one is a row without values
    assert f["rows_unparsed"] == 2  # not JSON; nested deeper than the parser goes (and cut at 120,000 characters)
    assert f["columns"] == {personal_data.UNPARSED_COLUMN: {"EMAIL_ADDRESS": 1}}


def tricky_cells(n: int) -> list[str]:
    """Values where batching could go wrong: entities at a value's very start or end, values that are only digits,
    runs of digits that would join across a separator, spaces, punctuation, every kind of entity."""
    pieces = [
        lambda: f"{RNG.randrange(100, 999)}-{RNG.randrange(10, 99)}-{RNG.randrange(1000, 9999)}",
        lambda: str(RNG.randrange(10**5, 10**13)),
        lambda: iban(), lambda: card(), lambda: f"x{RNG.randrange(99)}@ex.example.com",
        lambda: f"+44 20 7946 {RNG.randrange(1000, 9999)}", lambda: f"({RNG.randrange(200, 999)}) 555-0{RNG.randrange(100, 999)}",
        lambda: "AB 12 34 56 C", lambda: "RSSMRA85T10A562S", lambda: "ABCPE1234F", lambda: "12345678Z",
        lambda: "X1234567L", lambda: "S1234567D", lambda: "943 476 283", lambda: "85010112345",
        lambda: "131052-308T", lambda: "800101-1234567", lambda: "1 1001 00011 11 1", lambda: "192.168.0.1",
        lambda: "2024-05-01", lambda: "https://example.com/a", lambda: " ", lambda: "-", lambda: "a b",
        lambda: "1PFX-C23-RS1", lambda: "ZQJ1234", lambda: "9" * RNG.randrange(1, 20),
    ]
    cells = []
    for _ in range(n):
        k = RNG.randrange(1, 4)
        seps = [" ", "", ",", "\n", "; "]
        cells.append(RNG.choice(seps).join(RNG.choice(pieces)() for _ in range(k)))
    return cells


def test_batched_scan_finds_exactly_what_presidio_finds_cell_by_cell() -> None:
    cells = tricky_cells(400)
    for rec in build_recognizers(sorted(personal_data.RECOGNIZERS)):
        one_by_one = {i for i, c in enumerate(cells) if rec.found(c)}
        assert found_in(rec, cells) == one_by_one, rec.entity


def test_the_scanner_process_scans_a_table(tmp_path: Path) -> None:
    """What the server runs: python -m inhouse.scanners, offline (tldextract's bundled suffix list)."""
    rows = people(60)
    path = tmp_path / "p.csv"
    write_csv(path, rows)
    request = {"files": [{"id": "1", "path": str(path), "name": "p.csv", "scanners": ["personal_data"]}],
               "options": {"personal_data": {"entities": ["EMAIL_ADDRESS", "IBAN_CODE"], "max_rows": 100}}}
    done = subprocess.run([sys.executable, "-m", "inhouse.scanners"], input=json.dumps(request), capture_output=True,
                          text=True, timeout=300, check=True)
    line = json.loads(done.stdout.splitlines()[0])
    assert line["status"] == "findings" and line["version"] == personal_data.VERSION
    assert line["findings"]["columns"] == {"email": {"EMAIL_ADDRESS": 60}, "iban": {"IBAN_CODE": 30}}
    assert done.stderr == ""


def test_a_match_across_the_separator_is_rescanned_cell_by_cell() -> None:
    """presidio's shipped patterns never cross the separator (NUL is in none of their classes), but a pattern with
    DOTALL's '.' does: the cells it spans are analyzed one by one, so the answer is still the cell-by-cell one."""
    from presidio_analyzer import Pattern, PatternRecognizer

    crossing = PatternRecognizer(supported_entity="SPAN", patterns=[Pattern("span", r"ab.{0,8}cd", 0.9)])
    rec = personal_data.Recognizer("SPAN", crossing, "any")
    cells = ["xx ab", "cd yy", "ab cd", "ab", "zz", "cd", "abcd", "q"]
    assert rec.analyze(personal_data.SEPARATOR.join(cells))[0].start == 3  # the first match crosses
    assert found_in(rec, cells) == {i for i, c in enumerate(cells) if rec.found(c)} == {2, 6}
