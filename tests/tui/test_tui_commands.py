"""`vipterm` (bare) and `vipterm demo` as commands: what a user is told before any screen opens."""

from __future__ import annotations

import os
import subprocess
import sys

from vipterm.commands.app import example_path


def _run(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIPTERM_CONFIG": str(tmp_path / "none.toml")}
    env.pop("VIPTERM_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "vipterm", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_bare_vipterm_without_a_database_says_how_to_create_one(tmp_path):
    missing = tmp_path / "nothing-here.db"
    result = _run("--db", str(missing), tmp_path=tmp_path)
    assert result.returncode == 4
    assert f"vipterm init --db {missing}" in result.stderr
    assert "vipterm demo" in result.stderr
    assert "Traceback" not in result.stderr
    assert not missing.exists()


def test_demo_with_a_missing_example_is_refused_clearly(tmp_path):
    result = _run("demo", "--example", str(tmp_path / "gone.db"), tmp_path=tmp_path)
    assert result.returncode == 4
    assert "no demo database" in result.stderr and "--example" in result.stderr


def test_the_demo_finds_the_committed_example_beside_the_package():
    from tests.conftest import EXAMPLE_DB

    assert example_path() == EXAMPLE_DB.resolve()


def test_the_cli_core_does_not_import_textual():
    code = (
        "import sys, vipterm.cli; vipterm.cli.build_parser(); "
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
