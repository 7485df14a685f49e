"""The worker protocol, shared by the hub (executors, dispatcher) and the workers (inhouse.ml.worker). Pure: no
third-party import, so both sides can use it.

A worker is `python -m inhouse.ml.worker`. It reads one JSON object, the payload, from stdin:

    {"kind": str, "job_id": int, "task_id": int, "endpoint": "http://127.0.0.1:PORT", "token": str | None,
     "spec": {...kind-specific...}, "limits": {"memory_bytes": int | None, "threads": int}, "cache_dir": str | None}

and writes events, one JSON object per line, on its original stdout (library prints go to stderr):

    {"event": "progress", "done": int, "total": int, "stage": str}
    {"event": "log", "level": "info" | "warning" | "error", "message": str}
    {"event": "result", "result": {...}}               the last line on success
    {"event": "error", "code": str, "message": str}    the last line on a clear failure

A process that ends without a last line gets a synthetic error from its executor (`died`).
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_EVENT_BYTES = 16 * 1024 * 1024  # a longer line is not an event (a result is a few KB)


class ErrorCode(StrEnum):
    BAD_INPUT = "bad-input"  # the dataset, a column or the spec does not fit
    WRONG_TASK = "wrong-task"  # the model's architecture does not fit the task
    NOT_FOUND = "not-found"  # the repo is missing or not readable (same words for both)
    OUT_OF_MEMORY = "out-of-memory"
    CRASHED = "crashed"  # anything else: the exception's type and text
    CANCELLED = "cancelled"  # set by the dispatcher, never by a worker


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Failure:
    """Why a task failed: one of ErrorCode's values and a message for the person who asked."""

    code: str
    message: str


def payload(*, kind: str, job_id: int, task_id: int, endpoint: str, token: str | None, spec: dict[str, Any],
            memory_bytes: int | None, threads: int, cache_dir: str | None) -> dict[str, Any]:
    return {"kind": kind, "job_id": job_id, "task_id": task_id, "endpoint": endpoint, "token": token, "spec": spec,
            "limits": {"memory_bytes": memory_bytes, "threads": threads}, "cache_dir": cache_dir}


def progress(done: int, total: int, stage: str = "") -> dict[str, Any]:
    return {"event": "progress", "done": int(done), "total": int(total), "stage": stage}


def log(level: str, message: str) -> dict[str, Any]:
    return {"event": "log", "level": Level(level).value, "message": message}


def result(value: dict[str, Any]) -> dict[str, Any]:
    return {"event": "result", "result": value}


def error(code: str, message: str) -> dict[str, Any]:
    return {"event": "error", "code": code, "message": message}


def encode(event: dict[str, Any]) -> bytes:
    """One event as the line a worker writes."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def decode(line: bytes | str) -> dict[str, Any]:
    """One line a worker wrote, as a well-formed event. Anything else (a stray print, a cut line) comes back as a
    warning log event quoting it, so a confused worker shows up in the job's log instead of crashing the reader."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return log("warning", f"worker wrote a line that is not an event: {text[:500]}")
    if not isinstance(obj, dict):
        return log("warning", f"worker wrote a line that is not an event: {text[:500]}")
    kind = obj.get("event")
    try:
        if kind == "progress":
            return progress(int(obj["done"]), int(obj["total"]), str(obj.get("stage", "")))
        if kind == "log":
            level = str(obj.get("level", "info"))
            return log(level if level in set(Level) else "info", str(obj.get("message", "")))
        if kind == "result" and isinstance(obj.get("result"), dict):
            return result(obj["result"])
        if kind == "error":
            return error(str(obj.get("code") or ErrorCode.CRASHED.value), str(obj.get("message", "")))
    except (KeyError, TypeError, ValueError):
        pass
    return log("warning", f"worker wrote a line that is not an event: {text[:500]}")


def is_last(event: dict[str, Any]) -> bool:
    """A result or an error: the worker's last line."""
    return event.get("event") in ("result", "error")


def died(returncode: int | None, *, memory_limited: bool) -> dict[str, Any]:
    """The synthetic error of a worker that ended without a last line. A negative `returncode` is the signal
    that ended it (subprocess's convention); a kill (SIGKILL) counts as out of memory when a memory limit was set
    (the kernel's OOM killer and cgroup limits kill so)."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if -returncode == signal.SIGKILL and memory_limited:
            return error(ErrorCode.OUT_OF_MEMORY.value, f"The worker was killed ({name}), most likely for using more "
                         "memory than it may: raise INHOUSE_WORKER_MEMORY_BYTES or evaluate fewer examples.")
        return error(ErrorCode.CRASHED.value, f"The worker was killed by {name} before it finished.")
    return error(ErrorCode.CRASHED.value, f"The worker exited with status {returncode} without a result; see the "
                 "job's log.")
