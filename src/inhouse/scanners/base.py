"""What every scanner answers: `ScanOutcome`, and the module shape the scanner process relies on.

A scanner module (`inhouse/scanners/<name>.py`) exposes `VERSION: str` (bumped whenever what it reports for the
same bytes can change: cached results are keyed by it) and `scan(path, name, options) -> ScanOutcome`. Raising
means the scan failed: the scanner process reports it as status "error", never as clean."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

Status = Literal["clean", "findings"]


@dataclass(frozen=True)
class ScanOutcome:
    """What one scanner found in one file. `findings` is JSON-shaped (it is sent over the protocol and stored);
    it describes what was found (kinds, counts, global names, columns), never the scanned values."""

    status: Status
    findings: dict[str, Any] = field(default_factory=dict)


class ScannerModule(Protocol):
    """The shape of a scanner module, as the scanner process loads it by name."""

    VERSION: str

    def scan(self, path: Path, name: str, options: dict[str, Any]) -> ScanOutcome: ...
