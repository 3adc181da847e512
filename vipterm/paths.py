"""Where vipterm keeps things on this machine. Light on purpose: the CLI imports it at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_database_path() -> Path:
    """`VIPTERM_DB`, else `vipterm.db` in the user's data folder."""
    env = os.environ.get("VIPTERM_DB")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("vipterm", appauthor=False)) / "vipterm.db"


def demo_cache_folder() -> Path:
    """Where an installed vipterm keeps the demo database it generates (the user cache folder)."""
    return Path(platformdirs.user_cache_dir("vipterm", appauthor=False))
