"""What every subcommand shares: finding the database, getting the passphrase, printing results.

Command modules import their services inside the command functions, not at module top: building
the parser imports every command module, and the app's start-up should not pay for SQLAlchemy.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from vipterm.errors import DatabaseMissing, NoPassphrase, ValidationError
from vipterm.paths import default_database_path

if TYPE_CHECKING:  # the services (SQLAlchemy, SQLModel) load only when a command runs
    from vipterm.services.database import Store

PASSPHRASE_ENV = "VIPTERM_PASSPHRASE"


def add_db_argument(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """--db and --passphrase-file; on subcommands they default to "not given", so that
    `vipterm --db X report` and `vipterm report --db X` mean the same."""
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--db", type=Path, default=default,
                        help="database file (default: $VIPTERM_DB, else the user data folder)")
    parser.add_argument("--passphrase-file", type=Path, metavar="FILE", default=default,
                        help=f"read the passphrase from FILE (else ${PASSPHRASE_ENV}, else a hidden prompt)")


def database_path(args: argparse.Namespace) -> Path:
    return Path(args.db).expanduser() if getattr(args, "db", None) else default_database_path()


def passphrase_from_file(path, what: str = "passphrase") -> str:
    """A passphrase file's first line (a trailing line break is not part of it)."""
    try:
        return Path(path).read_text("utf-8").rstrip("\r\n")
    except OSError as exc:
        raise NoPassphrase(f"cannot read the {what} file: {exc.strerror}") from None


def given_passphrase(path, env_name: str, option: str, what: str = "passphrase") -> str | None:
    """A passphrase given by its file option, else its environment variable; None when a person
    may be asked at the terminal; NoPassphrase when nobody can be asked."""
    if path:
        return passphrase_from_file(path, what)
    env = os.environ.get(env_name)
    if env:
        return env
    if not sys.stdin.isatty():
        raise NoPassphrase(f"no {what}: give {option} or set {env_name}")
    return None


def read_passphrase(args: argparse.Namespace, prompt: str = "Passphrase: ") -> str:
    """From --passphrase-file, else $VIPTERM_PASSPHRASE, else a hidden prompt on a terminal."""
    given = given_passphrase(getattr(args, "passphrase_file", None), PASSPHRASE_ENV, "--passphrase-file")
    return given if given is not None else getpass.getpass(prompt)


def new_passphrase(args: argparse.Namespace, what: str = "New passphrase") -> str:
    """A new passphrase: from the file or environment as given, or typed twice at a prompt."""
    if getattr(args, "new_passphrase_file", None):
        return passphrase_from_file(args.new_passphrase_file, "new passphrase")
    if getattr(args, "passphrase_file", None) or os.environ.get(PASSPHRASE_ENV):
        return read_passphrase(args)
    if not sys.stdin.isatty():
        raise NoPassphrase(f"no passphrase: give --passphrase-file or set {PASSPHRASE_ENV}")
    first = getpass.getpass(f"{what}: ")
    second = getpass.getpass(f"{what} again: ")
    if first != second:
        raise ValidationError("the two passphrases do not match; nothing was changed", field="passphrase")
    return first


def unlock(args: argparse.Namespace) -> "Store":
    from vipterm.services.database import open_store

    path = database_path(args)
    if not path.exists():
        raise DatabaseMissing(f"no database at {path}: create one with `vipterm init --db {path}`")
    return open_store(path, read_passphrase(args))


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")
