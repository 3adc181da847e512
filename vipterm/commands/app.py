"""Opening the TUI: bare `vipterm` on the configured database, `vipterm demo` on a throwaway copy
of the committed synthetic database `vip.db.example` (the committed file never changes)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from vipterm.commands.common import database_path
from vipterm.errors import DatabaseMissing

EXAMPLE_NAME = "vip.db.example"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="open the app on a throwaway copy of the synthetic demo database")
    p.add_argument("--example", type=Path, metavar="PATH",
                   help=f"the demo database to copy (default: {EXAMPLE_NAME} beside the vipterm package)")
    p.set_defaults(func=cmd_demo)


def example_path() -> Path:
    """`vip.db.example` beside the package's parent folder (the repository, for an editable install)."""
    import vipterm

    return Path(vipterm.__file__).resolve().parent.parent / EXAMPLE_NAME


def cmd_open(args: argparse.Namespace) -> int:
    path = database_path(args)
    if not path.exists():
        raise DatabaseMissing(f"no database at {path}: create one with `vipterm init --db {path}`, "
                              "or try the app with `vipterm demo`")
    from vipterm.tui.app import run_app

    return run_app(path)


def cmd_demo(args: argparse.Namespace) -> int:
    source = Path(args.example).expanduser() if args.example else example_path()
    if not source.is_file():
        raise DatabaseMissing(f"no demo database at {source}: give one with --example PATH")
    from vipterm.tui.app import run_app

    with tempfile.TemporaryDirectory(prefix="vipterm-demo-") as folder:
        copy = Path(folder) / "demo.db"
        shutil.copyfile(source, copy)
        return run_app(copy, demo=True)
