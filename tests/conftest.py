"""Shared fixtures: real encrypted databases in temporary folders, never mocks.

Unlocking costs one Argon2id derivation (~0.25 s), so the synthetic demo database is generated
once per session and copied per test.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

# One frozen program clock for the whole suite, and for every vipterm it starts (CLI, tmux):
# 09:00 in Albuquerque on 23 November 2026, the day the demo fixtures end. No test reads the
# machine's date (the suite passes under `faketime` years ahead).
FROZEN_NOW_ISO = "2026-11-23T09:00:00-07:00"
os.environ["VIPTERM_NOW"] = FROZEN_NOW_ISO  # before any session fixture builds a database

from vipterm.services.database import Store, create_store, open_store
from vipterm.services.demo_data import DemoSize, generate

PASSPHRASE = "correct horse battery"
DEMO_PASSPHRASE = "vipterm-demo"
DEMO_UNTIL = date(2026, 11, 23)
REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DB = REPO_ROOT / "vip.db.example"


@pytest.fixture(autouse=True)
def frozen_program_clock(monkeypatch):
    """Each test starts at the frozen moment; a test may move it (monkeypatch restores it)."""
    monkeypatch.setenv("VIPTERM_NOW", FROZEN_NOW_ISO)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vip.db"


@pytest.fixture
def store(db_path: Path):
    """A fresh, empty worker database."""
    s = create_store(db_path, PASSPHRASE, worker_name="Test Worker")
    yield s
    s.close()


@pytest.fixture(scope="session")
def small_demo_template(tmp_path_factory) -> Path:
    """A small synthetic program (3 workers, 60 clients), generated once per test session."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    generate(path, DEMO_PASSPHRASE, seed=11, size=DemoSize(workers=3, clients=60), until=DEMO_UNTIL)
    return path


@pytest.fixture
def demo_path(small_demo_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    shutil.copy(small_demo_template, path)
    return path


@pytest.fixture
def demo_store(demo_path: Path):
    s = open_store(demo_path, DEMO_PASSPHRASE)
    yield s
    s.close()


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A throwaway copy of the committed vip.db.example."""
    path = tmp_path / "example.db"
    shutil.copy(EXAMPLE_DB, path)
    return path
