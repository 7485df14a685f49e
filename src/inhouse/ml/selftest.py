"""The "selftest" worker kind: counts spec.steps steps of spec.step_s seconds, reporting progress, to check the
job system and measure its overhead. It imports no ML library. Test hooks: spec.fail (a clear failure, code
"bad-input"), spec.crash (the process kills itself with that signal number, or exits 3 when true), spec.alloc_bytes
(allocates that much before counting, to meet a memory limit), spec.logs and spec.log_chars (that many log lines
of that length, to meet the log caps)."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

from inhouse.ml.failures import WorkerFailure

if TYPE_CHECKING:
    from inhouse.ml.worker import Emitter


def run(payload: dict[str, Any], emit: Emitter) -> dict[str, Any]:
    spec = payload.get("spec") or {}
    steps = int(spec.get("steps", 3))
    step_s = float(spec.get("step_s", 0.0))
    emit.log("info", f"selftest pid {os.getpid()}")
    emit.progress(0, steps, "starting")
    for i in range(int(spec.get("logs", 0))):
        emit.log("info", f"line {i} " + "x" * int(spec.get("log_chars", 0)))
    hold = bytearray(int(spec["alloc_bytes"])) if spec.get("alloc_bytes") else b""
    if spec.get("fail"):
        raise WorkerFailure("bad-input", str(spec["fail"]))
    crash = spec.get("crash")
    if crash is True:
        os._exit(3)
    if isinstance(crash, int) and crash > 0:
        os.kill(os.getpid(), signal.Signals(crash))
    for i in range(steps):
        time.sleep(step_s)
        emit.progress(i + 1, steps, "counting")
    return {"steps": steps, "pid": os.getpid(), "allocated": len(hold)}
