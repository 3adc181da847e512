"""vipterm as users install it: the wheel and sdist that `python -m build` makes from this tree.

- An installed vipterm (no checkout beside it) generates its demo into the user cache on first use:
  the same people and histories as the committed `vip.db.example`.
- The sdist builds the wheel (`python -m build` makes the wheel from the sdist) and carries what the
  tests need: conftest, support modules, snapshots, guides, the example database.
- The wheel, installed with pip into a fresh virtual environment, opens `vipterm demo` in a real
  terminal (tmux).
- Every dependency resolves to binary wheels (no compiler on a worker's laptop) for CPython
  3.11–3.13 on Linux x86_64/aarch64 (glibc 2.28 and newer), macOS 11+ arm64 and x86_64, and
  Windows amd64: pip's own resolver, asked for each target's platform tags.

The build, the fresh environment and the resolution reach PyPI (marked `network`; CI runs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

import vipterm
from tests.conftest import DEMO_PASSPHRASE, EXAMPLE_DB, REPO_ROOT, open_known
from vipterm.commands.app import cached_demo
from vipterm.errors import FileProblem

# --- the generated demo --------------------------------------------------------------------------


def _people(path: Path) -> tuple[list, tuple]:
    store = open_known(path, DEMO_PASSPHRASE)
    try:
        with store.database.session() as session:
            clients = session.execute(
                text("SELECT client_id, first_name, last_name FROM client_identity ORDER BY client_id")
            ).all()
            contacts = tuple(session.execute(text("SELECT count(*), max(id), max(note) FROM contact")).one())
    finally:
        store.close()
    return [tuple(row) for row in clients], contacts


def test_an_installed_vipterm_generates_the_same_demo_once_into_its_cache(tmp_path):
    cache = tmp_path / "cache"
    (cache).mkdir()
    stale = cache / "demo-0.0.1.db"  # left by an older vipterm: a newer one may write a newer schema
    stale.write_bytes(b"old")
    made = cached_demo(folder=cache)
    assert made == cache / f"demo-{vipterm.__version__}.db"
    assert _people(made) == _people(EXAMPLE_DB)
    assert sorted(p.name for p in cache.iterdir()) == [made.name]  # no temporary left, the stale one gone
    stamp = made.stat().st_mtime_ns
    assert cached_demo(folder=cache) == made and made.stat().st_mtime_ns == stamp  # made once


def test_a_cache_folder_that_cannot_be_written_is_a_clear_refusal(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(FileProblem, match="cannot write the demo database into"):
        cached_demo(folder=blocked / "cache")


# --- the built distributions ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def dist(tmp_path_factory) -> dict[str, Path]:
    """`python -m build` of this tree: the sdist, then the wheel built from that sdist. Made once for
    all test processes of this run (xdist's workers share their base folder's parent; the first one
    builds under a lock)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "vipterm-dist"
    shared.mkdir(exist_ok=True)
    lock = open(shared / ".lock", "w")
    try:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # no flock (Windows): each process builds its own
            shared = tmp_path_factory.mktemp("dist")
        found = {kind: sorted(shared.glob(pattern)) for kind, pattern in (("sdist", "*.tar.gz"), ("wheel", "*.whl"))}
        if not (found["sdist"] and found["wheel"]):
            built = subprocess.run(
                [sys.executable, "-m", "build", "--outdir", str(shared), str(REPO_ROOT)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
            found = {
                kind: sorted(shared.glob(pattern)) for kind, pattern in (("sdist", "*.tar.gz"), ("wheel", "*.whl"))
            }
    finally:
        lock.close()
    return {kind: files[-1] for kind, files in found.items()}


@pytest.mark.network
def test_the_sdist_carries_the_tests_and_the_wheel_the_guides_but_not_the_example(dist, tmp_path):
    with tarfile.open(dist["sdist"]) as sdist:
        root = sdist.getnames()[0].split("/")[0]
        names = {name.removeprefix(root + "/") for name in sdist.getnames()}
    for needed in (
        "pyproject.toml",
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "MANIFEST.in",
        "vip.db.example",
        "tests/conftest.py",
        "tests/tui_support.py",
        "tests/sync_support.py",
        "tests/tui/conftest.py",
        "bench/__main__.py",
        "docs/metrics.md",
        "scripts/test.sh",
    ):
        assert needed in names, needed
    tests_here = {
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / "tests").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert tests_here - names == set()  # every test file, snapshot and helper
    assert any(name.endswith(".svg") and "__snapshots__" in name for name in names)
    assert not any("__pycache__" in name or name.startswith("bench/.cache") for name in names)

    with zipfile.ZipFile(dist["wheel"]) as wheel:
        inside = set(wheel.namelist())
        metadata = wheel.read(next(n for n in inside if n.endswith(".dist-info/METADATA"))).decode()
    assert f"Version: {vipterm.__version__}" in metadata
    assert "License-Expression: MIT" in metadata and "Requires-Python: >=3.11" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in inside)
    # What `vipterm help` (guides, example spreadsheets), the TUI and migrations read (vipterm/docs may
    # be a link to docs/: followed).
    data = {
        Path(folder, name).relative_to(REPO_ROOT).as_posix()
        for folder, _, names in os.walk(REPO_ROOT / "vipterm", followlinks=True)
        for name in names
        if name.endswith((".md", ".csv", ".tcss", ".sql"))
    }
    assert {".md", ".csv", ".tcss", ".sql"} <= {Path(n).suffix for n in data}
    assert data - inside == set()
    assert not any(n.startswith("tests/") or n.endswith(".db.example") for n in inside)
    assert dist["wheel"].stat().st_size < 2_000_000  # the demo is generated, not shipped

    # The unpacked sdist runs its own tests (a quick pair; CI runs the whole suite from the tree).
    with tarfile.open(dist["sdist"]) as sdist:
        sdist.extractall(tmp_path, filter="data")
    unpacked = tmp_path / root
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "0",
            "tests/test_minisign_format.py",
            "tests/test_portability.py",
        ],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0 and " passed" in ran.stdout, ran.stdout[-3000:] + ran.stderr[-3000:]
    where = subprocess.run(
        [sys.executable, "-c", "import vipterm; print(vipterm.__file__)"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip().startswith(str(unpacked))  # the sdist's own code, not this checkout


# --- the wheel in a fresh environment ------------------------------------------------------------


@pytest.mark.network
@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_wheel_installs_in_a_fresh_environment_and_the_demo_opens(dist, tmp_path):
    from tests.test_e2e_tmux import Terminal

    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(dist["wheel"])],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    version = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m, vipterm; print(m.version('vipterm'), vipterm.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert version.stdout.split()[0] == vipterm.__version__
    assert str(env_dir) in version.stdout  # the installed copy, not this checkout

    home = tmp_path / "home"
    environment = {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TERM": "xterm-256color",
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "VIPTERM_NOW": os.environ["VIPTERM_NOW"],
    }
    term = Terminal(tmp_path, [str(bin_dir / "vipterm"), "demo"], environment)
    try:
        term.wait_for(f"the passphrase is {DEMO_PASSPHRASE}", timeout=120)  # generated on first use
        term.type(DEMO_PASSPHRASE)
        term.keys("Enter")
        term.wait_for("due today", timeout=60)
        term.keys("C-q")
        term.wait_for("VIPTERM-EXITED-0")
    finally:
        term.close()
    assert [p.name for p in (home / ".cache" / "vipterm").iterdir()] == [f"demo-{vipterm.__version__}.db"]


# --- binary wheels for every platform ------------------------------------------------------------

_MANYLINUX = [f"manylinux_2_{minor}" for minor in range(28, 16, -1)] + ["manylinux2014"]
TARGETS = {
    # pip matches --platform tags exactly, except that a macOS tag also admits older macOS versions.
    "linux-x86_64": [f"{tag}_x86_64" for tag in _MANYLINUX],
    "linux-aarch64": [f"{tag}_aarch64" for tag in _MANYLINUX],
    "macos-arm64": ["macosx_11_0_arm64"],
    "macos-x86_64": ["macosx_11_0_x86_64"],
    "windows-amd64": ["win_amd64"],
}


@pytest.mark.network
@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_every_dependency_has_a_binary_wheel_for_each_platform(dist, tmp_path, python):
    def resolve(target: str) -> list[str]:
        platforms = [arg for tag in TARGETS[target] for arg in ("--platform", tag)]
        resolved = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--quiet",
                "--only-binary=:all:",
                "--python-version",
                python,
                *platforms,
                "--target",
                str(tmp_path / target),
                str(dist["wheel"]),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        return [] if resolved.returncode == 0 else [ln for ln in resolved.stderr.splitlines() if "ERROR" in ln][-3:]

    # The targets side by side: each is mostly waiting on the package index.
    with ThreadPoolExecutor(max_workers=len(TARGETS)) as pool:
        failed = {target: errors for target, errors in zip(TARGETS, pool.map(resolve, TARGETS)) if errors}
    assert failed == {}
