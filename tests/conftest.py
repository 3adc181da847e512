"""Shared fixtures: real encrypted databases in temporary folders, never mocks.

Unlocking costs one Argon2id derivation (~0.25 s). A copy of a database file keeps its salt, so it
opens with the key derived for the original: every database the fixtures hand out (an empty
worker's, the small demo, the TUI's worker database, `made_store`'s, and sync_support's
`enrolled_program`) is made once per test process and copied per test, and the copy is opened
with that raw key (`open_store_with_key`, as the benchmarks do); `open_known` reopens a file with
the key derived the first time this process met its salt. Tests about passphrases (a wrong one,
`passwd`, the unlock screen) and every vipterm command a test runs still take the passphrase and
pay the real derivation.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

# One frozen program clock for the whole suite, and for every vipterm it starts (CLI, tmux):
# 09:00 in Albuquerque on 23 November 2026, the day the demo fixtures end. No test reads the
# machine's date (the suite passes under `faketime` years ahead).
FROZEN_NOW_ISO = "2026-11-23T09:00:00-07:00"
os.environ["VIPTERM_NOW"] = FROZEN_NOW_ISO  # before any session fixture builds a database

import textual._wait  # noqa: E402

from vipterm.services.database import Store, create_store, open_store_with_key  # noqa: E402
from vipterm.services.demo_data import DemoSize, generate  # noqa: E402
from vipterm.store import engine  # noqa: E402

# Pilot waits, after every key it sends and at every pause, until the app is idle: it polls the
# process's CPU time every SLEEP_GRANULARITY (1/50 s) and stops at the first poll that finds less
# than 5 % of it used. Typing a note is then at least 40 ms a character, most of it spent after the
# app is already idle. Polling every 1/200 s finds the same idle moment (same 5 % rule) sooner.
# Only the test driver changes; the app runs as it does for a user.
assert hasattr(textual._wait, "SLEEP_GRANULARITY") and hasattr(textual._wait, "SLEEP_IDLE"), "Textual changed"
textual._wait.SLEEP_GRANULARITY = 1 / 200
textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20

PASSPHRASE = "correct horse battery"
DEMO_PASSPHRASE = "vipterm-demo"
DEMO_UNTIL = date(2026, 11, 23)
REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DB = REPO_ROOT / "vip.db.example"


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="write the TUI snapshots (tests/__snapshots__) from this run instead of comparing",
    )


# --- derived keys, once per file salt --------------------------------------------------------------

_KEYS: dict[tuple[str, bytes], engine.RawKey] = {}


def known_key(path: Path, passphrase: str) -> engine.RawKey:
    """The raw key of a database file, derived (real Argon2id) the first time this process meets
    its salt with this passphrase. A wrong passphrase raises WrongPassphrase and is not kept."""
    salt = engine.read_salt(Path(path))
    key = (passphrase, salt)
    if key not in _KEYS:
        raw = engine.key_for_existing(Path(path), passphrase)
        engine.verify_key(Path(path), raw)
        _KEYS[key] = raw
    return _KEYS[key]


def open_known(path: Path, passphrase: str = PASSPHRASE) -> Store:
    """Open a database whose key this process has derived before (a copy, a reopened file) without
    deriving it again. For tests about something else than the passphrase."""
    return open_store_with_key(Path(path), known_key(path, passphrase))


@dataclass(frozen=True)
class Template:
    """A database made once per test process, and its raw key: copies open without a derivation."""

    path: Path
    raw: engine.RawKey

    def copy_to(self, path: Path) -> Path:
        """A byte-for-byte copy (mode 0600 kept) at `path`."""
        path = Path(path)
        shutil.copy(self.path, path)
        return path

    def open(self, path: Path) -> Store:
        return open_store_with_key(Path(path), self.raw)


@contextmanager
def at_the_frozen_moment() -> Iterator[None]:
    """The suite's frozen clock while a database shared by later tests is made, whatever moment the
    test that first asks for it has moved to (the copies must not depend on which test that was)."""
    before = os.environ.get("VIPTERM_NOW")
    os.environ["VIPTERM_NOW"] = FROZEN_NOW_ISO
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VIPTERM_NOW", None)
        else:
            os.environ["VIPTERM_NOW"] = before


_MADE: dict[tuple, Template] = {}


def made_store(path: Path, passphrase: str = PASSPHRASE, **create) -> Store:
    """What `create_store(path, passphrase, **create)` gives, made once per test process for these
    arguments and copied to `path` for each test (so every copy has the same ids), opened with its
    derived key. For a test that needs one new database, not several distinct ones."""
    key = (passphrase, tuple(sorted((name, str(value)) for name, value in create.items())))
    if key not in _MADE:
        origin = Path(tempfile.mkdtemp(prefix="vipterm-test-store-")) / "vip.db"
        atexit.register(shutil.rmtree, origin.parent, True)
        with at_the_frozen_moment():
            _MADE[key] = _template_of(origin, passphrase, create_store(origin, passphrase, **create))
    template = _MADE[key]
    return template.open(template.copy_to(path))


def _template_of(path: Path, passphrase: str, made: Store | None = None) -> Template:
    """Remember a just-made file's key, so that its copies need none: the key of the store that
    made it (`made`, closed here), else one derivation."""
    if made is not None:
        _KEYS[(passphrase, made.database.raw.salt)] = made.database.raw
        made.close()
    template = Template(path, known_key(path, passphrase))
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0, (
        "a template must be checkpointed before it is copied"
    )
    return template


@pytest.fixture(autouse=True)
def frozen_program_clock(monkeypatch):
    """Each test starts at the frozen moment; a test may move it (monkeypatch restores it)."""
    monkeypatch.setenv("VIPTERM_NOW", FROZEN_NOW_ISO)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vip.db"


@pytest.fixture(scope="session")
def empty_template(tmp_path_factory) -> Template:
    """A new, empty worker database ("Test Worker"), made once per test process."""
    path = tmp_path_factory.mktemp("empty") / "vip.db"
    return _template_of(path, PASSPHRASE, create_store(path, PASSPHRASE, worker_name="Test Worker"))


@pytest.fixture
def store(db_path: Path, empty_template: Template):
    """A fresh, empty worker database (a copy of the session's empty one: same ids in every test)."""
    s = empty_template.open(empty_template.copy_to(db_path))
    yield s
    s.close()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Template:
    """A small synthetic program (3 workers, 60 clients), generated once per test process."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    generate(path, DEMO_PASSPHRASE, seed=11, size=DemoSize(workers=3, clients=60), until=DEMO_UNTIL)
    return _template_of(path, DEMO_PASSPHRASE)


@pytest.fixture
def demo_path(small_demo: Template, tmp_path: Path) -> Path:
    return small_demo.copy_to(tmp_path / "demo.db")


@pytest.fixture
def demo_store(demo_path: Path, small_demo: Template):
    s = small_demo.open(demo_path)
    yield s
    s.close()


@pytest.fixture(scope="session")
def tui_program(tmp_path_factory) -> Template:
    """A realistic worker's database for the TUI tests: 6 workers, 1,500 clients (23 open for this
    worker, 207 in all), generated once per test process. Copied per test by `tui_path`."""
    path = tmp_path_factory.mktemp("tui") / "tui.db"
    generate(path, DEMO_PASSPHRASE, seed=11, size=DemoSize(workers=6, clients=1500, contact_rate=0.3), until=DEMO_UNTIL)
    return _template_of(path, DEMO_PASSPHRASE)


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A throwaway copy of the committed vip.db.example."""
    path = tmp_path / "example.db"
    shutil.copy(EXAMPLE_DB, path)
    return path
