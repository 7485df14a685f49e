"""The job system's overhead: time from submitting a job (its rows written, the dispatcher woken) to the first
progress event of its worker reaching the dispatcher, on the local and the Ray executor, against the time a bare
`python -c "import inhouse.ml.worker"` subprocess takes to start and exit, measured in the same run.

    python bench/jobs_overhead.py [--runs 7] [--no-ray]

Medians of --runs runs each. Ray's first job (which starts Ray's worker processes) is reported apart, not in the
median. The selftest kind imports no ML library, so this is the job system's own cost: the database rows, the
dispatcher's claim, process start-up and the event stream (and for Ray, its task scheduling and streaming).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from inhouse.jobs import queue  # noqa: E402
from inhouse.jobs.dispatcher import Dispatcher, DispatcherConfig  # noqa: E402
from inhouse.jobs.executors.base import Executor, ExitInfo, Handle  # noqa: E402
from inhouse.jobs.executors.local import LocalExecutor  # noqa: E402
from inhouse.jobs.handlers import builtin_handlers  # noqa: E402
from inhouse.jobs.model import JobState  # noqa: E402
from inhouse.storage.db import users  # noqa: E402
from inhouse.storage.db.engine import Database  # noqa: E402


class Timed:
    """Wraps an executor: notes when each job's first progress event reaches the dispatcher."""

    def __init__(self, inner: Executor):
        self.inner = inner
        self.name = inner.name
        self.first_progress: dict[int, float] = {}
        self.seen = threading.Condition()

    def start(self, payload: dict[str, Any]) -> Handle:
        return _TimedHandle(self, self.inner.start(payload), int(payload["job_id"]))

    def close(self) -> None:
        self.inner.close()


class _TimedHandle:
    def __init__(self, owner: Timed, inner: Handle, job_id: int):
        self.owner, self.inner, self.job_id = owner, inner, job_id

    def events(self) -> Iterator[dict[str, Any]]:
        for event in self.inner.events():
            if event.get("event") == "progress" and self.job_id not in self.owner.first_progress:
                with self.owner.seen:
                    self.owner.first_progress[self.job_id] = time.perf_counter()
                    self.owner.seen.notify_all()
            yield event

    def cancel(self) -> None:
        self.inner.cancel()

    def wait(self) -> ExitInfo:
        return self.inner.wait()


def bare_start_s() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import inhouse.ml.worker"], check=True)
    return time.perf_counter() - t0


def submit_to_first_progress(db: Database, dispatcher: Dispatcher, timed: Timed, owner: int) -> float:
    t0 = time.perf_counter()
    with db.write() as conn:
        job_id = queue.submit(conn, "selftest", owner, {}, [("t", {"steps": 1})]).id
    dispatcher.wake()
    with timed.seen:
        if not timed.seen.wait_for(lambda: job_id in timed.first_progress, timeout=300):
            raise RuntimeError("no progress event within 300 s")
        elapsed = timed.first_progress[job_id] - t0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # let it finish before the next run (one worker at a time)
        with db.read() as conn:
            job = queue.get(conn, job_id)
        if job is not None and job.state.ended:
            assert job.state is JobState.SUCCEEDED, job
            return elapsed
        time.sleep(0.01)
    raise RuntimeError("the job did not end")


def measure(executor: Executor, runs: int, workdir: Path, *, warmups: int) -> tuple[list[float], list[float]]:
    db = Database(f"sqlite:///{workdir / f'{executor.name}.db'}")
    db.create_schema()
    with db.write() as conn:
        owner = users.insert_user(conn, name="bench", fullname="", email=None, kind="user", is_admin=False,
                                  now=time.time()).id
    timed = Timed(executor)
    dispatcher = Dispatcher(db, timed, builtin_handlers(), DispatcherConfig(cache_dir=str(workdir / "cache")))
    dispatcher.start()
    try:
        warm = [submit_to_first_progress(db, dispatcher, timed, owner) for _ in range(warmups)]
        return warm, [submit_to_first_progress(db, dispatcher, timed, owner) for _ in range(runs)]
    finally:
        dispatcher.stop()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inhouse-bench-jobs-") as tmp:
        work = Path(tmp)
        bare_start_s()  # warm the page cache
        bare = statistics.median(bare_start_s() for _ in range(args.runs))
        print(f"baseline: bare `python -c 'import inhouse.ml.worker'` start+exit  median {bare * 1000:7.1f} ms")
        _, local = measure(LocalExecutor(), args.runs, work, warmups=1)
        loc = statistics.median(local)
        print(f"local executor: submit -> first progress event       median {loc * 1000:7.1f} ms   "
              f"ratio to baseline {loc / bare:.2f}")
        if not args.no_ray:
            import ray

            from inhouse.jobs.executors.ray import RayExecutor

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:
                warm, remote = measure(RayExecutor(), args.runs, work, warmups=1)
            finally:
                ray.shutdown()
            med = statistics.median(remote)
            print(f"ray executor:   submit -> first progress event       median {med * 1000:7.1f} ms   "
                  f"ratio to baseline {med / bare:.2f}   (first job, Ray workers starting: {warm[0] * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
