"""The core is importable without the TUI: scripts and the coordinator's batch jobs never load Textual."""

from __future__ import annotations

import subprocess
import sys

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


def test_layers_point_down():
    """store/ and sync/ never import services/ or tui/; services/ never imports tui/."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent / "vipterm"
    forbidden = {"store": ("vipterm.services", "vipterm.tui", "vipterm.sync", "vipterm.commands"),
                 "sync": ("vipterm.services", "vipterm.tui", "vipterm.commands"),
                 "services": ("vipterm.tui", "vipterm.commands", "textual")}
    problems = []
    for layer, names in forbidden.items():
        for path in (root / layer).rglob("*.py"):
            for line in path.read_text().splitlines():
                m = re.match(r"\s*(?:from|import)\s+([\w.]+)", line)
                if m and m.group(1).startswith(names):
                    problems.append(f"{path.relative_to(root)}: {line.strip()}")
    assert problems == []
