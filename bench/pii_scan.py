"""Personal-data scanning throughput: inhouse's scanner (scanners/personal_data.py) against presidio-analyzer run
directly on every cell with the same recognizers, in rows per second, in the same run.

The table: --rows rows (default 50,000) of a person's name, e-mail, IBAN, phone number, an amount and a free-text
note that sometimes holds an e-mail, a phone number or an IBAN, written as CSV. The baseline is what presidio does
for a table without inhouse: every recognizer's analyze() on every non-empty cell (no NLP engine: the pattern
recognizers and phonenumbers, exactly the recognizer objects the scanner uses; a value counts when a result scores
at least personal_data.MIN_SCORE). It runs on --baseline-rows rows drawn at random from the same table (presidio
on all 50,000 rows takes minutes; rows/s is a rate). inhouse's scan runs three ways:
  - as configured by a policy: rows sampled (max_rows, default 10,000), with the confidence it states;
  - without sampling (max_rows >= rows): every row, to show what batching, the per-recognizer cell filter and
    column skipping give alone;
  - once through the scanner process (python -m inhouse.scanners), as the server runs it (process start and
    imports included).

    python bench/pii_scan.py                      # 50,000 rows, the policy's default entities
    python bench/pii_scan.py --rows 5000 --baseline-rows 1000      # smoke
    python bench/pii_scan.py --entities all       # every entity a policy may name (39 recognizers)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inhouse.scanners import personal_data
from inhouse.scanners.personal_data import build_recognizers, scan

POLICY_DEFAULT = ["EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CREDIT_CARD", "US_SSN", "UK_NHS"]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Berners-Lee"]
WORDS = ("the customer asked about the invoice and wants a call back tomorrow morning regarding the refund of "
         "last month order delivery was late package damaged please escalate").split()


def iban(rng: random.Random) -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    return f"DE{98 - int(bban + '131400') % 97:02d}{bban}"


def phone(rng: random.Random) -> str:
    return rng.choice([f"+44 20 7946 {rng.randrange(1000, 9999)}", f"+1 415-555-{rng.randrange(1000, 9999)}",
                       f"+49 30 {rng.randrange(1000000, 9999999)}"])


def note(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randrange(6, 25))]
    r = rng.random()
    if r < 0.05:
        words.insert(rng.randrange(len(words)), f"reach me at {rng.choice(FIRST).lower()}@mail.example.com")
    elif r < 0.10:
        words.insert(rng.randrange(len(words)), f"call {phone(rng)}")
    elif r < 0.12:
        words.insert(rng.randrange(len(words)), f"pay to {iban(rng)}")
    return " ".join(words)


def write_table(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "iban", "phone", "amount", "note"])
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            w.writerow([f"{first} {last}", f"{first}.{last}{i}@mail.example.com".lower(), iban(rng), phone(rng),
                        f"{rng.randrange(1, 100000) / 100:.2f}", note(rng)])


def baseline(path: Path, entities: list[str], sample: int, seed: int) -> tuple[int, float, dict[str, int]]:
    """presidio on every non-empty cell of `sample` random rows: (rows, seconds, values per entity)."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        rows = list(reader)
    rows = random.Random(seed).sample(rows, min(sample, len(rows)))
    recognizers = build_recognizers(entities)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for row in rows:
        for cell in row:
            if not cell:
                continue
            for rec in recognizers:
                if any(r.score >= personal_data.MIN_SCORE for r in rec.analyzer.analyze(cell, [rec.entity], None)):
                    counts[rec.entity] = counts.get(rec.entity, 0) + 1
    return len(rows), time.perf_counter() - started, counts


def timed_scan(path: Path, entities: list[str], max_rows: int) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    out = scan(path, path.name, {"entities": entities, "max_rows": max_rows})
    return time.perf_counter() - started, out.findings


def process_scan(path: Path, entities: list[str], max_rows: int) -> tuple[float, dict[str, object]]:
    request = {"files": [{"id": "1", "path": str(path), "name": path.name, "scanners": ["personal_data"]}],
               "options": {"personal_data": {"entities": entities, "max_rows": max_rows}}}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "inhouse.scanners"], input=json.dumps(request), text=True,
                          capture_output=True, check=True)
    took = time.perf_counter() - started
    line = json.loads(done.stdout.splitlines()[0])
    return took, line["findings"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--baseline-rows", type=int, default=5_000)
    ap.add_argument("--max-rows", type=int, default=10_000, help="the policy's personal_data.max_rows")
    ap.add_argument("--entities", default="policy", help="'policy' (the policy default), 'all', or A,B,C")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    if args.entities == "policy":
        entities = POLICY_DEFAULT
    elif args.entities == "all":
        entities = sorted(personal_data.RECOGNIZERS)
    else:
        entities = args.entities.split(",")

    tmp = Path(tempfile.mkdtemp(prefix="pii-bench-", dir=args.workdir))
    try:
        path = tmp / "customers.csv"
        write_table(path, args.rows, args.seed)
        print(f"table: {args.rows} rows x 6 columns, {path.stat().st_size / 1e6:.1f} MB; "
              f"{len(entities)} entities: {', '.join(entities)}")

        n, took, counts = baseline(path, entities, args.baseline_rows, args.seed)
        base_rate = n / took
        print(f"presidio, every cell, {n} random rows: {took:.2f} s, {base_rate:,.0f} rows/s   "
              f"(values per entity: {counts})")

        took, f = timed_scan(path, entities, args.max_rows)
        rate = args.rows / took
        print(f"inhouse scan, max_rows={args.max_rows}: {took:.2f} s for the {args.rows}-row file, {rate:,.0f} rows/s"
              f" -> ratio {rate / base_rate:.1f}x   sampled={f['sampled']} rows_scanned={f['rows_scanned']}")
        print(f"    confidence: {f['confidence']}")
        print(f"    entities: {f['entities']}")

        took, f = timed_scan(path, entities, max(args.rows, 1))
        rate = args.rows / took
        print(f"inhouse scan, every row (no sampling): {took:.2f} s, {rate:,.0f} rows/s -> ratio "
              f"{rate / base_rate:.1f}x   sampled={f['sampled']} columns_not_scanned={list(f['columns_not_scanned'])}")
        print(f"    entities: {f['entities']}")

        took, f = process_scan(path, entities, args.max_rows)
        rate = args.rows / took
        print(f"scanner process (python -m inhouse.scanners, start and imports included), max_rows={args.max_rows}:"
              f" {took:.2f} s, {rate:,.0f} rows/s -> ratio {rate / base_rate:.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
