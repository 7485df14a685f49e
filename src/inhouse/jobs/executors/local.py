"""The local executor (the default): one worker subprocess per task on this machine, `python -m inhouse.ml.worker`,
in a session (process group) of its own so that a cancel stops it and everything it started."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from inhouse.jobs import events
from inhouse.jobs.executors.base import ExitInfo

KILL_AFTER_S = 1.0  # a cancelled worker gets SIGTERM, then SIGKILL this much later
STDERR_TAIL_LINES = 40  # of a worker that failed, the last lines of its stderr go to the job's log
EXIT_WAIT_S = 30.0  # after its last event a worker has this long to exit before it is killed


def worker_command(python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "inhouse.ml.worker"]


def worker_env() -> dict[str, str]:
    """This process's environment, with this inhouse first on the path (the worker runs the same code)."""
    src = str(Path(__file__).resolve().parents[3])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), "PYTHONUNBUFFERED": "1"}


class LocalHandle:
    """One worker subprocess (see Handle in base.py)."""

    def __init__(self, proc: subprocess.Popen[bytes], *, memory_limited: bool):
        self.proc = proc
        self.memory_limited = memory_limited
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._cancelled = threading.Event()
        assert proc.stderr is not None
        self._stderr_reader = threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True,
                                               name=f"inhouse-worker-stderr-{proc.pid}")
        self._stderr_reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip()[:1000])
        stream.close()

    def events(self) -> Iterator[dict[str, Any]]:
        assert self.proc.stdout is not None
        last: dict[str, Any] | None = None
        for line in self.proc.stdout:
            if not line.strip():
                continue
            event = events.decode(line)
            if events.is_last(event):
                last = event
                break
            yield event
        self.proc.stdout.close()
        info = self.wait(timeout=None if last is None else EXIT_WAIT_S)
        self._stderr_reader.join(timeout=5)
        if last is None or last.get("event") == "error":
            tail = [line for line in self.stderr_tail if line.strip()]
            if tail:
                yield events.log("warning", "the worker's last output:\n" + "\n".join(tail))
        yield last if last is not None else events.died(info.returncode, memory_limited=self.memory_limited)

    def cancel(self) -> None:
        """SIGTERM to the worker's process group now, SIGKILL KILL_AFTER_S later if it is still there."""
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        self._signal(signal.SIGTERM)
        timer = threading.Timer(KILL_AFTER_S, self._kill_if_alive)
        timer.daemon = True
        timer.start()

    def _kill_if_alive(self) -> None:
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout: float | None = None) -> ExitInfo:
        try:
            return ExitInfo(self.proc.wait(timeout))
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            return ExitInfo(self.proc.wait())


class LocalExecutor:
    name = "local"

    def __init__(self, *, python: str | None = None):
        self.python = python or sys.executable

    def start(self, payload: dict[str, Any]) -> LocalHandle:
        return start_worker(payload, python=self.python)

    def close(self) -> None:
        return None


def start_worker(payload: dict[str, Any], *, python: str | None = None) -> LocalHandle:
    """Starts `python -m inhouse.ml.worker` with `payload` on its stdin (also what a Ray task runs on its node)."""
    proc = subprocess.Popen(worker_command(python), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=worker_env(), start_new_session=True, close_fds=True)
    assert proc.stdin is not None
    try:
        proc.stdin.write(events.encode(payload))
        proc.stdin.close()
    except BrokenPipeError:  # it died at once: events() reports how
        pass
    memory = (payload.get("limits") or {}).get("memory_bytes")
    return LocalHandle(proc, memory_limited=bool(memory))
