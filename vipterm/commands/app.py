"""Opening the TUI: bare `vipterm` on the configured database, `vipterm demo` on a throwaway copy."""

from __future__ import annotations

import argparse

from vipterm.commands.common import database_path
from vipterm.errors import DatabaseMissing, ExitCode


def register(sub: argparse._SubParsersAction) -> None:
    pass  # `vipterm demo` is added with the TUI


def cmd_open(args: argparse.Namespace) -> int:
    path = database_path(args)
    if not path.exists():
        raise DatabaseMissing(f"no database at {path}: create one with `vipterm init --db {path}`")
    try:
        from vipterm.tui.app import run_app
    except ImportError:
        print("vipterm: the app is not built yet; `vipterm doctor` checks the database meanwhile")
        return int(ExitCode.ERROR)
    return run_app(path)
