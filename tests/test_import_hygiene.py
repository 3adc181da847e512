"""The core is importable without the TUI: scripts and the coordinator's batch jobs never load Textual;
and the import contracts (layers, no Textual below the TUI) hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

CORE_MODULES = [
    "vipterm.cli",
    "vipterm.commands.core",
    "vipterm.services.database",
    "vipterm.services.records",
    "vipterm.services.caseload",
    "vipterm.services.demo_data",
    "vipterm.store.models",
    "vipterm.sync.capture",
]


def test_core_imports_without_textual():
    code = (
        "import sys, importlib\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "import vipterm.cli\n"
        "vipterm.cli.build_parser()\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"Textual was imported by the core: {result.stdout.strip()}"


def test_the_import_contracts_hold():
    """pyproject.toml [tool.importlinter], checked by import-linter (a test extra): the layers
    point down (CLI and TUI → services → sync → store → domain) and nothing below the TUI imports
    Textual, counting imports inside functions. See docs/architecture.md."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is missing: pip install -e '.[test]'"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
