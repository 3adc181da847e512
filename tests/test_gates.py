"""The code gates, run by the README's test command with the rest of the suite: ruff's lint and
format check over the repository, and mypy --strict over the core (domain, store, sync, services;
configured in pyproject.toml). The import contracts are checked in test_import_hygiene.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent


def _run(tool: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    path = TOOLS / tool
    assert path.exists(), f"{tool} is missing: pip install -e '.[test]'"
    return subprocess.run([str(path), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "--no-cache", "vipterm", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    result = _run("ruff", "format", "--no-cache", "--check", "vipterm", "tests", "bench")
    assert result.returncode == 0, "run `ruff format vipterm tests bench`:\n" + result.stdout + result.stderr


def test_the_core_type_checks_strictly(tmp_path):
    result = _run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "Success" in result.stdout
