"""The executor port: where a task's worker runs. `start(payload)` starts one worker and returns its Handle, whose
`events()` yields the worker's events (inhouse.jobs.events) ending with exactly one last event (a result or an
error; a synthetic error when the worker died without one), `cancel()` stops it (idempotent, returns at once) and
`wait()` waits for it to end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ExitInfo:
    """How a worker ended: its exit status (negative: the signal that killed it; None: unknown, e.g. on a Ray
    node that went away)."""

    returncode: int | None


class Handle(Protocol):
    def events(self) -> Iterator[dict[str, Any]]: ...

    def cancel(self) -> None: ...

    def wait(self) -> ExitInfo: ...


class Executor(Protocol):
    name: str

    def start(self, payload: dict[str, Any]) -> Handle: ...

    def close(self) -> None: ...
