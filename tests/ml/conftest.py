"""Fixtures for the worker-side (inhouse.ml) tests: the real clients pointed at the live server, and an emitter
that records what a worker kind reports."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.compat.conftest import hub_endpoint  # noqa: F401 - re-exported fixture: HF_ENDPOINT & co. -> the server


@dataclass
class Recorder:
    """Stands in for inhouse.ml.worker.Emitter: keeps every progress and log event."""

    progress_events: list[tuple[int, int, str]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)

    def progress(self, done: int, total: int, stage: str = "") -> None:
        self.progress_events.append((done, total, stage))

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
