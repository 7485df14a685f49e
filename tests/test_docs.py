"""Docs are tested artefacts: every setting and every CLI command is documented in the README."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from inhouse.cli.main import build_parser
from inhouse.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_with_its_environment_variable():
    missing = [f"INHOUSE_{name.upper()}" for name in Settings.__dataclass_fields__
               if f"INHOUSE_{name.upper()}" not in README]
    assert not missing, f"settings missing from README.md's settings table: {missing}"


def _commands(parser: argparse.ArgumentParser, prefix: str = "inhouse") -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(f"{prefix} {name}")
                out.extend(_commands(sub, f"{prefix} {name}"))
    return out


def test_every_cli_command_is_documented():
    leaves = [c for c in _commands(build_parser()) if not any(o.startswith(c + " ") for o in _commands(build_parser()))]
    missing = [c for c in leaves if f"`{c}" not in README]
    assert not missing, f"CLI commands missing from README.md: {missing}"


def test_the_source_is_mypy_strict_clean():
    """`mypy` as pyproject.toml configures it: the package, strict, no import left unchecked but lz4 (no hints)."""
    exe = shutil.which("mypy", path=str(Path(sys.executable).parent))
    assert exe, "mypy is a test dependency: pip install -e '.[test]'"
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True and config["files"] == ["src"]
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:]
    ignores = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "src").rglob("*.py"))
               for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if "type: ignore" in line]
    assert ignores == [], f"type the code instead of silencing mypy: {ignores}"


def test_the_readmes_example_policy_is_a_valid_policy_without_warnings():
    from inhouse.services.governance.policy_doc import parse

    section = README[README.index("### Governance"):]
    document = section[section.index("```yaml") + len("```yaml"):]
    policy = parse(document[:document.index("```")])
    assert not policy.warnings
    assert policy.personal_data is not None and policy.secrets is not None and policy.card is not None
    assert policy.lifecycle.high_risk_approvals == 2
