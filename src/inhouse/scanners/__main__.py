"""The scanner process: `python -m inhouse.scanners`, isolated from the server (services/governance/scans.py).

stdin: one JSON object
    {"files": [{"id": str, "path": "/abs/file", "name": "repo/path.ext", "scanners": ["pickle", ...]}],
     "options": {"pickle": {...}, "personal_data": {...}, "secrets": {...}},
     "limits": {"memory_bytes": int, "cpu_s": int}}          # optional; set on this process before any file is read
stdout: one JSON line per (file, scanner) as it finishes
    {"id", "scanner", "version", "status": "clean"|"findings"|"error", "findings": {...}, "error": str|null,
     "duration_s": float}
A scanner that raises is reported as status "error". The parent kills this process after its wall timeout; the
(file, scanner) pairs it has no line for are errors there ("the scanner crashed" / "timed out")."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from inhouse.scanners import load
from inhouse.vocabulary import Scanner

MAX_ERROR_CHARS = 300
OUT_OF_MEMORY = "the scanner ran out of memory (scan_max_memory_bytes)"


def apply_limits(limits: dict[str, Any]) -> None:
    """Address space and CPU time of this process, set before any file is read (the limits a thread-safe parent
    cannot set with preexec_fn)."""
    memory = int(limits.get("memory_bytes") or 0)
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.get("cpu_s") or 0)
    if cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _out_of_memory(e: BaseException) -> bool:
    """An error that is the address-space limit in disguise: a library (a shared object) that could not be mapped,
    an allocation refused by the system."""
    text = str(e)
    return isinstance(e, (ImportError, OSError)) and (
        "failed to map segment" in text or "Cannot allocate memory" in text or getattr(e, "errno", None) == 12)


def scan_one(path: Path, name: str, scanner_name: str, options: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    version = ""
    try:
        scanner = Scanner(scanner_name)
        module = load(scanner)
        version = module.VERSION
        outcome = module.scan(path, name, options)
        line: dict[str, Any] = {"status": outcome.status, "findings": outcome.findings, "error": None}
    except MemoryError:
        line = {"status": "error", "findings": {}, "error": OUT_OF_MEMORY}
    except Exception as e:  # any failure is an error result, never a clean one
        if _out_of_memory(e):
            return {"scanner": scanner_name, "version": version, "status": "error", "findings": {},
                    "error": OUT_OF_MEMORY, "duration_s": round(time.monotonic() - started, 6)}
        message = f"{type(e).__name__}: {e}"
        if len(message) > MAX_ERROR_CHARS:
            message = message[:MAX_ERROR_CHARS] + "…"
        line = {"status": "error", "findings": {}, "error": f"the scanner failed: {message}"}
    return {"scanner": scanner_name, "version": version, **line,
            "duration_s": round(time.monotonic() - started, 6)}


def run(stdin: TextIO, stdout: TextIO) -> None:
    request = json.load(stdin)
    apply_limits(request.get("limits") or {})
    options = request.get("options") or {}
    for f in request.get("files") or []:
        for scanner_name in f.get("scanners") or []:
            result = scan_one(Path(f["path"]), str(f.get("name") or ""), str(scanner_name),
                              dict(options.get(scanner_name) or {}))
            stdout.write(json.dumps({"id": f["id"], **result}) + "\n")
            stdout.flush()


# Libraries the scanners never use but that spaCy (under presidio-analyzer) imports when they are installed, as
# they are beside inhouse[ml]: without them the personal-data scanner starts in ~1.8 s and 140 MB instead of
# 5-10 s and 450 MB, within the per-scan timeout and memory limit. None in sys.modules makes `import` fail.
NOT_NEEDED = ("torch", "transformers", "tensorflow", "jax", "cupy")


def block_unneeded_imports() -> None:
    modules: dict[str, Any] = sys.modules
    for name in NOT_NEEDED:
        modules.setdefault(name, None)


if __name__ == "__main__":
    block_unneeded_imports()
    run(sys.stdin, sys.stdout)
