"""The worker process: `python -m inhouse.ml.worker` runs one task and exits.

It reads the payload (one JSON object, inhouse.jobs.events) from stdin, keeps its original stdout for events and
points file descriptor 1 at stderr (a library's print cannot corrupt the event stream), sets up its environment
(the hub as HF_ENDPOINT with the payload's token, no proxies, a cache folder, thread counts, a memory limit), starts
a watchdog that ends the process when its parent dies, and runs the payload's kind. Kinds are imported only when
asked for, so a selftest worker never imports torch.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from inhouse.jobs import events
from inhouse.ml.failures import WorkerFailure

# kind -> "module:function" taking (payload, emitter) and returning the result
KINDS: dict[str, str] = {
    "selftest": "inhouse.ml.selftest:run",
    "evaluation.candidate": "inhouse.ml.evaluate:run_candidate",
    "variant.save": "inhouse.ml.variants:save_variant",
}
PROGRESS_INTERVAL_S = 0.1  # at most ten progress events a second (the first and the last always go)
WATCHDOG_INTERVAL_S = 0.2
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "RAYON_NUM_THREADS")


class Emitter:
    """Writes events to the worker's event stream (thread-safe). `progress` is thinned to one event per
    PROGRESS_INTERVAL_S, except the first of each stage and the one that completes a stage."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._lock = threading.Lock()
        self._last_progress = 0.0
        self._stage: str | None = None  # the stage of the last progress event sent (None: none sent yet)

    def emit(self, event: dict[str, Any]) -> None:
        line = events.encode(event)
        with self._lock:
            self._out.write(line)
            self._out.flush()

    def progress(self, done: int, total: int, stage: str = "") -> None:
        now = time.monotonic()
        if stage == self._stage and done < total and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._stage = stage
        self._last_progress = now
        self.emit(events.progress(done, total, stage))

    def log(self, level: str, message: str) -> None:
        self.emit(events.log(level, message))


def resolve(kind: str) -> Callable[[dict[str, Any], Emitter], dict[str, Any]]:
    target = KINDS.get(kind)
    if target is None:
        raise WorkerFailure("bad-input", f"This worker knows no job kind '{kind}'; it knows {', '.join(sorted(KINDS))}.")
    module, _, name = target.partition(":")
    fn: Callable[[dict[str, Any], Emitter], dict[str, Any]] = getattr(importlib.import_module(module), name)
    return fn


def configure(payload: dict[str, Any]) -> None:
    """The environment a kind runs in: only the hub, with the payload's token; threads and memory as limited."""
    limits = payload.get("limits") or {}
    threads = int(limits.get("threads") or 0) or (os.cpu_count() or 1)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    # OpenMP threads that spin while waiting steal the cores the timing runs on (on a shared 2-core machine torch's
    # latency came out ten times too slow); an operator's own setting is kept
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    memory = limits.get("memory_bytes")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    if payload.get("endpoint"):
        os.environ["HF_ENDPOINT"] = str(payload["endpoint"]).rstrip("/")
    token = payload.get("token")
    if token:
        os.environ["HF_TOKEN"] = str(token)
    else:
        os.environ.pop("HF_TOKEN", None)
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    # datasets otherwise sends a HEAD request naming the dataset to s3.amazonaws.com on every load_dataset (its
    # download counter): a private dataset's name would leave the company
    os.environ["HF_UPDATE_DOWNLOAD_COUNTS"] = "0"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "0"
    os.environ["HF_HUB_OFFLINE"] = "0"
    os.environ["HF_DATASETS_OFFLINE"] = "0"
    cache = payload.get("cache_dir") or tempfile.mkdtemp(prefix="inhouse-worker-")
    os.environ["HF_HOME"] = str(cache)
    os.environ["HF_DATASETS_CACHE"] = os.path.join(str(cache), "datasets")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(name, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"


def watch_parent(parent: int) -> threading.Thread:
    """A daemon thread that ends this process (and its children, if it leads their group) when its parent is
    gone: a worker outlives neither a killed server nor a cancelled Ray task."""
    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL_S)
            if os.getppid() != parent:
                os._exit(70)

    t = threading.Thread(target=watch, name="inhouse-parent-watchdog", daemon=True)
    t.start()
    return t


def run(payload: dict[str, Any], emitter: Emitter) -> int:
    """Runs one payload, writing its last event; returns the exit status."""
    try:
        configure(payload)
        result = resolve(str(payload.get("kind")))(payload, emitter)
        emitter.emit(events.result(result))
        return 0
    except WorkerFailure as f:
        emitter.emit(events.error(f.code, f.message))
    except MemoryError:
        emitter.emit(events.error(events.ErrorCode.OUT_OF_MEMORY.value,
                                  "The worker ran out of memory: raise INHOUSE_WORKER_MEMORY_BYTES or evaluate fewer "
                                  "examples."))
    except Exception as e:  # noqa: BLE001 - a worker's last line names whatever went wrong
        emitter.emit(events.error(events.ErrorCode.CRASHED.value, f"{type(e).__name__}: {e}"[:4000]))
    return 1


def main() -> int:
    parent = os.getppid()
    events_fd = os.dup(1)
    os.dup2(2, 1)  # print() and libraries now write to stderr
    sys.stdout = sys.stderr
    out = os.fdopen(events_fd, "wb", buffering=0)
    emitter = Emitter(out)
    watch_parent(parent)
    try:
        payload = json.loads(sys.stdin.buffer.read() or b"null")
    except ValueError as e:
        emitter.emit(events.error(events.ErrorCode.BAD_INPUT.value, f"The payload on stdin is not JSON: {e}"))
        return 2
    if not isinstance(payload, dict):
        emitter.emit(events.error(events.ErrorCode.BAD_INPUT.value, "The payload on stdin must be a JSON object."))
        return 2
    return run(payload, emitter)


if __name__ == "__main__":
    sys.exit(main())
