"""What every subcommand shares: finding the database, getting the passphrase, printing results.

Command modules import their services inside the command functions, not at module top: building
the parser imports every command module, and the app's start-up should not pay for SQLAlchemy.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from datetime import UTC, date, datetime, tzinfo
from enum import Enum
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from vipterm.errors import DatabaseMissing, NoPassphrase, ValidationError
from vipterm.paths import default_database_path

if TYPE_CHECKING:  # the services (SQLAlchemy, SQLModel) load only when a command runs
    from vipterm.services.database import Store
    from vipterm.timekeeping import ProgramClock

PASSPHRASE_ENV = "VIPTERM_PASSPHRASE"


def add_db_argument(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """--db and --passphrase-file; on subcommands they default to "not given", so that
    `vipterm --db X report` and `vipterm report --db X` mean the same."""
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--db", type=Path, default=default, help="database file (default: $VIPTERM_DB, else the user data folder)"
    )
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        default=default,
        help=f"read the passphrase from FILE (else ${PASSPHRASE_ENV}, else a hidden prompt)",
    )


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


def unlock(args: argparse.Namespace) -> Store:
    from vipterm.services.database import open_store

    path = database_path(args)
    if not path.exists():
        raise DatabaseMissing(f"no database at {path}: create one with `vipterm init --db {path}`")
    return open_store(path, read_passphrase(args))


# The version of the --json shape (docs/cli-json.md): raised when a field changes meaning or goes
# away; adding a field does not raise it.
JSON_VERSION = 1

# A stored time written as text: naive (stored UTC) or with its offset.
_DATETIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _is_time_key(key: str) -> bool:
    return key in ("at", "when") or key.endswith("_at")


def json_time(moment: datetime, zone: tzinfo) -> str:
    """A stored time (naive UTC, or aware) as ISO 8601 with the program zone's offset."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).isoformat(timespec="seconds")


def json_value(value: Any, zone: tzinfo, key: str = "") -> Any:
    """One value in the --json shape: times with an offset, enum members as their machine value,
    days as YYYY-MM-DD, paths as text; dicts and lists converted all the way down."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return json_time(value, zone)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v, zone, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_value(v, zone, key) for v in value]
    if isinstance(value, str):
        # Services hand some times over as text already (stored UTC): a time-named field gets its offset.
        if _is_time_key(key) and _DATETIME_TEXT.match(value):
            return json_time(datetime.fromisoformat(value), zone)  # 3.11 reads a trailing Z too
        return value
    if isinstance(value, PurePath):
        return str(value)
    from dataclasses import asdict, is_dataclass  # here: dataclasses loads inspect, start-up stays cheap

    if is_dataclass(value) and not isinstance(value, type):
        return json_value(asdict(value), zone, key)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def emit_json(data: Any, clock: ProgramClock | None = None, *, key: str | None = None) -> None:
    """Print `data` on stdout in the one --json shape of every command (docs/cli-json.md): an object
    whose first field is `version`; a listing's rows go under `key`. Times carry the program
    zone's offset (from `clock`, the store's; UTC when no database was opened)."""
    zone = clock.zone if clock is not None else UTC
    if key is not None:
        payload: dict[str, Any] = {"version": JSON_VERSION, key: data}
    elif isinstance(data, dict):
        payload = {"version": JSON_VERSION, **{k: v for k, v in data.items() if k != "version"}}
    else:
        raise TypeError("emit_json: a listing needs a key to go under")
    json.dump(json_value(payload, zone), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def note(args: argparse.Namespace | None, message: str) -> None:
    """A message for the person at the terminal (a hint, a reminder, a what-next) on stderr;
    `--quiet` silences it. Results go to stdout and errors are always printed."""
    from vipterm.commands.progress import quiet

    if not quiet(args):
        print(message, file=sys.stderr)


# --- tables ----------------------------------------------------------------------------------

SHORT_ID = 8  # the shortest prefix shown for an id on a terminal (every command accepts 4 or more)


def on_terminal(stream: Any = None) -> bool:
    stream = stream if stream is not None else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def unique_prefixes(ids: list[str], universe: list[str] | None = None, minimum: int = SHORT_ID) -> dict[str, str]:
    """Each id's shortest prefix (at least `minimum` characters) that no other id of `universe`
    (default: `ids`) starts with: what a table shows, and what every command accepts back."""
    others = sorted(set(universe if universe is not None else ids) | set(ids))
    position = {value: i for i, value in enumerate(others)}

    def shared(a: str, b: str) -> int:
        n = 0
        for x, y in zip(a.lower(), b.lower()):
            if x != y:
                break
            n += 1
        return n

    out = {}
    for value in ids:
        i = position[value]
        longest = max((shared(value, others[j]) for j in (i - 1, i + 1) if 0 <= j < len(others)), default=0)
        out[value] = value[: max(minimum, longest + 1)]
    return out


def short_id(value: str | None, prefixes: dict[str, str]) -> str:
    """On a terminal, an id's unique prefix; in a pipe or a file, the whole id."""
    if not value:
        return ""
    return prefixes.get(value, value) if on_terminal() else value


def print_table(headers: list[str], rows: list[list[Any]], *, whole: tuple[str, ...] = ()) -> None:
    """A table of results on stdout. On a terminal: columns without lines between them, long
    values wrapping onto more lines (never cut); the `whole` columns (ids as unique prefixes,
    see `short_id`; pseudonyms, dates) stay on one line. In a pipe or a file: a header line, then one
    tab-separated line per row, every value whole."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if not on_terminal():

        def clean(value: str) -> str:  # a tab or line break inside a value would split its row
            return " ".join(value.split())

        sys.stdout.write("\t".join(headers) + "\n")
        for row in cells:
            sys.stdout.write("\t".join(clean(v) for v in row) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for i, header in enumerate(headers):
        if header in whole:
            table.add_column(header, no_wrap=True, min_width=max([len(header), *(len(row[i]) for row in cells)]))
        else:
            table.add_column(header, overflow="fold")
    for row in cells:
        table.add_row(*(Text(v) for v in row))  # Text: a name with [brackets] is not read as markup
    Console(highlight=False).print(table)
