"""The import contracts of pyproject.toml (layering, no ML in the hub, HTTP syntax in web only, web and the CLI
away from storage), checked by import-linter on every run; and proof that each one catches what it forbids."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = "Layers point one way: cli, web -> services -> access -> storage"
NO_ML = "The hub never imports ML libraries (only inhouse.ml may)"
NO_HTTP_BELOW_WEB = "Nothing below web speaks HTTP: no starlette, uvicorn, httptools or httpx"
WEB_NOT_STORAGE = "web does not import storage"
CLI_NOT_STORAGE = "cli imports storage only for the schema commands (inhouse db)"
CONTRACTS = [LAYERS, NO_ML, NO_HTTP_BELOW_WEB, WEB_NOT_STORAGE, CLI_NOT_STORAGE]


def _lint_imports(cwd: Path, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    return subprocess.run([exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True)


def _verdicts(stdout: str) -> dict[str, str]:
    """Contract name -> KEPT | BROKEN, from lint-imports' summary."""
    out = {}
    for line in stdout.splitlines():
        for verdict in ("KEPT", "BROKEN"):
            name, sep, _ = line.partition(f" {verdict}")
            if sep and name in CONTRACTS:
                out[name] = verdict
    return out


def test_import_contracts_hold():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "BROKEN" not in out.stdout
    assert _verdicts(out.stdout) == {name: "KEPT" for name in CONTRACTS}, out.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("services/signing.py", "import starlette.requests", NO_HTTP_BELOW_WEB),
    ("access/identity.py", "from httpx import Headers", NO_HTTP_BELOW_WEB),
    ("storage/db/engine.py", "import uvicorn", NO_HTTP_BELOW_WEB),
    ("errors.py", "import httptools", NO_HTTP_BELOW_WEB),
    ("web/credentials.py", "from inhouse.storage.db.records import RepoRecord", WEB_NOT_STORAGE),
    ("cli/main.py", "from inhouse.storage.db.engine import Database", CLI_NOT_STORAGE),
])
def test_a_forbidden_import_is_caught(tmp_path: Path, module: str, line: str, broken: str) -> None:
    """A copy of the package with one forbidden import added breaks exactly the contract that forbids it."""
    shutil.copytree(ROOT / "src" / "inhouse", tmp_path / "inhouse", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "inhouse" / module
    target.write_text(target.read_text() + f"\n{line}  # added by the test\n")
    out = _lint_imports(tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})  # the copy, not the checkout
    assert out.returncode != 0, out.stdout + out.stderr
    assert _verdicts(out.stdout) == {name: "BROKEN" if name == broken else "KEPT" for name in CONTRACTS}, out.stdout
    assert f"inhouse.{module.removesuffix('.py').replace('/', '.')}" in out.stdout  # the report names the importer


def test_hub_imports_without_ml_libraries():
    code = "import sys, inhouse.app, inhouse.cli.main; bad = {'torch', 'transformers', 'datasets'} & set(sys.modules); print(sorted(bad)); raise SystemExit(1 if bad else 0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
