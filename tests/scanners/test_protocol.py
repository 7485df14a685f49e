"""The scanner process (`python -m inhouse.scanners`), run as the server runs it: one JSON request on stdin, one
JSON line per (file, scanner) on stdout; failures are error lines, never clean ones; limits set from the request;
the registry imports scanners lazily and agrees with each module's VERSION."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inhouse.scanners import MODULES, VERSIONS, load
from inhouse.vocabulary import Scanner


class RunsSystem:
    def __reduce__(self) -> Any:
        return (os.system, ("echo pwned",))


def run_process(request: dict[str, Any], timeout: float = 120) -> tuple[list[dict[str, Any]], int]:
    proc = subprocess.run([sys.executable, "-m", "inhouse.scanners"], input=json.dumps(request).encode(),
                          capture_output=True, timeout=timeout)
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
    return lines, proc.returncode


def test_one_line_per_file_and_scanner(tmp_path: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(RunsSystem(), protocol=4))
    (tmp_path / "clean.pkl").write_bytes(pickle.dumps({"a": [1, 2]}, protocol=2))
    lines, code = run_process({"files": [
        {"id": "a", "path": str(tmp_path / "evil.pkl"), "name": "weights/evil.pkl", "scanners": ["pickle"]},
        {"id": "b", "path": str(tmp_path / "clean.pkl"), "name": "clean.pkl", "scanners": ["pickle"]},
    ], "options": {"pickle": {}}})
    assert code == 0
    by_id = {line["id"]: line for line in lines}
    assert set(by_id) == {"a", "b"} and len(lines) == 2
    assert by_id["a"]["status"] == "findings" and by_id["a"]["scanner"] == "pickle"
    assert by_id["a"]["findings"]["unsafe"][0]["global"] in {"os.system", "posix.system"}
    assert by_id["b"]["status"] == "clean" and by_id["b"]["error"] is None
    for line in lines:
        assert line["version"] == VERSIONS[Scanner.PICKLE]
        assert isinstance(line["duration_s"], float)


def test_options_reach_the_scanner(tmp_path: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(RunsSystem(), protocol=4))
    name = f"{os.system.__module__}.system"
    lines, _ = run_process({"files": [{"id": "a", "path": str(tmp_path / "evil.pkl"), "name": "evil.pkl",
                                       "scanners": ["pickle"]}],
                            "options": {"pickle": {"extra_safe_globals": [name]}}})
    assert lines[0]["status"] == "clean"


def test_a_scanner_that_raises_is_an_error_line_and_the_rest_go_on(tmp_path: Path) -> None:
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps([1]))
    lines, code = run_process({"files": [
        {"id": "gone", "path": str(tmp_path / "absent.pkl"), "name": "absent.pkl", "scanners": ["pickle"]},
        {"id": "odd", "path": str(tmp_path / "ok.pkl"), "name": "ok.pkl", "scanners": ["no-such-scanner"]},
        {"id": "ok", "path": str(tmp_path / "ok.pkl"), "name": "ok.pkl", "scanners": ["pickle"]},
    ]})
    assert code == 0
    by_id = {line["id"]: line for line in lines}
    assert by_id["gone"]["status"] == "error" and "FileNotFoundError" in by_id["gone"]["error"]
    assert by_id["odd"]["status"] == "error" and by_id["odd"]["findings"] == {}
    assert by_id["ok"]["status"] == "clean"


def test_memory_limit_from_the_request_applies(tmp_path: Path) -> None:
    """An address space too small for the personal-data scanner's libraries: no clean line comes back (the import
    fails with MemoryError, reported as an error, or the process dies without a line)."""
    (tmp_path / "t.csv").write_text("email\nalice@example.com\n")
    lines, code = run_process({"files": [{"id": "a", "path": str(tmp_path / "t.csv"), "name": "t.csv",
                                           "scanners": ["personal_data"]}],
                               "limits": {"memory_bytes": 200 * 1024 * 1024, "cpu_s": 60}})
    assert all(line["status"] == "error" for line in lines)
    assert lines or code != 0


def test_versions_agree_with_the_modules() -> None:
    for scanner in Scanner:
        assert load(scanner).VERSION == VERSIONS[scanner], scanner
        assert MODULES[scanner].startswith("inhouse.scanners.")


def test_importing_the_package_imports_no_heavy_parser() -> None:
    """The server imports inhouse.scanners (and the scan service); presidio and pyarrow stay out of its process."""
    code = ("import sys, inhouse.scanners, inhouse.scanners.pickles, inhouse.services.governance.scans\n"
            "print(sorted(m for m in ('presidio_analyzer', 'pyarrow', 'spacy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("bad", [b"", b"{not json"])
def test_a_broken_request_gives_no_line_and_fails(bad: bytes) -> None:
    proc = subprocess.run([sys.executable, "-m", "inhouse.scanners"], input=bad, capture_output=True, timeout=60)
    assert proc.returncode != 0 and proc.stdout == b""
