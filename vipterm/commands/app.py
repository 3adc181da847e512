"""Opening the TUI: bare `vipterm` on the configured database, `vipterm demo` on a throwaway copy
of the synthetic demo database (the database it copies never changes).

Where the demo comes from: in a checkout, the committed `vip.db.example` beside the package; in an
installed vipterm (a wheel, pipx, uv), a database generated on the first `vipterm demo` into the
user cache folder, with the very same recipe (`demo-data --seed 7 --until 2026-11-23
--contact-rate 0.85`, passphrase `vipterm-demo`), so both hold the same people and histories. The
wheel does not carry the 9.9 MB file: an encrypted database does not compress, it would make every
install ~10 MB heavier for a demo most installs never open, and generating it takes a few seconds
once (measured: CHANGELOG.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

from vipterm.commands.common import database_path
from vipterm.errors import DatabaseMissing, FileProblem
from vipterm.paths import demo_cache_folder
from vipterm.progress import NO_PROGRESS, Progress

EXAMPLE_NAME = "vip.db.example"
# The committed example's recipe (README): the generated demo must be the same data.
DEMO_SEED = 7
DEMO_UNTIL = date(2026, 11, 23)
DEMO_CONTACT_RATE = 0.85


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="open the app on a throwaway copy of the synthetic demo database")
    p.add_argument(
        "--example",
        type=Path,
        metavar="PATH",
        help=f"the demo database to copy (default: {EXAMPLE_NAME} in a checkout, else the demo "
        "generated into your cache folder on first use)",
    )
    p.set_defaults(func=cmd_demo)


def example_path() -> Path:
    """`vip.db.example` beside the package's parent folder (the repository, for an editable install)."""
    import vipterm

    return Path(vipterm.__file__).resolve().parent.parent / EXAMPLE_NAME


def cached_demo(progress: Progress = NO_PROGRESS, folder: Path | None = None) -> Path:
    """The generated demo database for this vipterm version, made on first use.

    One file per version (a newer vipterm may write a newer schema); older ones are removed. It is
    written under a temporary name and renamed, so two first runs at once, or one interrupted,
    never leave half a database under the final name.
    """
    import vipterm
    from vipterm.services.demo_data import DemoSize, generate
    from vipterm.tui.app import DEMO_PASSPHRASE  # what the unlock screen tells a demo user

    folder = Path(folder) if folder is not None else demo_cache_folder()
    target = folder / f"demo-{vipterm.__version__}.db"
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".demo-", dir=folder, ignore_cleanup_errors=True) as work:
            made = Path(work) / "demo.db"
            generate(
                made,
                DEMO_PASSPHRASE,
                seed=DEMO_SEED,
                until=DEMO_UNTIL,
                size=DemoSize(contact_rate=DEMO_CONTACT_RATE),
                progress=progress,
            )
            try:
                os.replace(made, target)
            except OSError:
                # Another first run renamed its copy in first and has it open (Windows will not
                # replace an open file): that copy is the same demo.
                if not target.is_file():
                    raise
    except OSError as exc:
        raise FileProblem.of(exc, f"cannot write the demo database into {folder}") from None
    for old in folder.glob("demo-*.db"):
        if old != target:
            try:
                old.unlink(missing_ok=True)
            except OSError:
                pass  # open in another vipterm (Windows): removed by a later run
    return target


def cmd_open(args: argparse.Namespace) -> int:
    path = database_path(args)
    if not path.exists():
        raise DatabaseMissing(
            f"no database at {path}: create one with `vipterm init --db {path}`, or try the app with `vipterm demo`"
        )
    from vipterm.tui.app import run_app

    return run_app(path)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.example:
        source = Path(args.example).expanduser()
        if not source.is_file():
            raise DatabaseMissing(f"no demo database at {source}: give one with --example PATH")
    elif example_path().is_file():
        source = example_path()
    else:
        from vipterm.commands.progress import progress_for

        source = cached_demo(progress_for(args))
    from vipterm.tui.app import run_app

    # The throwaway copy goes when the app closes (Windows may still hold a file for a moment: the
    # temporary folder is then left for the system to clear, never an error at exit).
    with tempfile.TemporaryDirectory(prefix="vipterm-demo-", ignore_cleanup_errors=True) as folder:
        copy = Path(folder) / "demo.db"
        try:
            shutil.copyfile(source, copy)
        except OSError as exc:
            raise FileProblem.of(exc, f"cannot copy the demo database {source}") from None
        return run_app(copy, demo=True)
