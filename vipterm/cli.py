"""The `vipterm` command: bare, it opens the TUI; subcommands serve scripts and coordinators.

Every failure a user can cause ends in one line on stderr and a documented exit code (see
`vipterm.errors.ExitCode` and README.md); no traceback reaches the user, and no message carries
a person's name. Textual is imported only when the TUI is opened.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from vipterm.errors import ExitCode, VipError

# Subcommand modules, each with register(subparsers).
COMMAND_MODULES = [
    "vipterm.commands.core",
    "vipterm.commands.app",
    "vipterm.commands.sync",
    "vipterm.commands.report",
    "vipterm.commands.tasks",
    "vipterm.commands.workers",
    "vipterm.commands.review",
    "vipterm.commands.recovery",
    "vipterm.commands.audit",
]


def build_parser() -> argparse.ArgumentParser:
    from vipterm.commands.common import add_db_argument

    parser = argparse.ArgumentParser(
        prog="vipterm",
        description="Field tool for violence intervention programs. Without a command, opens the app.",
    )
    add_db_argument(parser, top_level=True)
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or notes on stderr; errors are still printed")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        func = getattr(args, "func", None)
        if func is None:
            from vipterm.commands.app import cmd_open

            func = cmd_open
        return int(func(args) or 0)
    except VipError as exc:
        print(f"vipterm: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("vipterm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return int(ExitCode.OK)
    except Exception as exc:
        # SQLAlchemy is matched by name: importing it here would slow every start-up.
        if type(exc).__name__ == "OperationalError" and any(w in str(exc) for w in ("locked", "busy")):
            print("vipterm: the database is busy (another vipterm is writing to it); try again", file=sys.stderr)
            return int(ExitCode.ERROR)
        if type(exc).__name__ in ("DatabaseError", "OperationalError") and any(
                w in str(exc) for w in ("malformed", "not a database", "disk image")):
            # SQLCipher refuses a page whose authentication fails: the file was damaged after it opened.
            print("vipterm: the database file is damaged (part of it cannot be read); nothing was changed. "
                  "See docs/recovery.md: a damaged database file", file=sys.stderr)
            return int(ExitCode.CHECK_FAILED)
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    """The last line of defence: no traceback and no data (it could name a client), a way to learn more."""
    if os.environ.get("VIPTERM_DEBUG"):
        raise exc
    print(
        f"vipterm: internal error ({type(exc).__name__}); nothing more was changed. "
        "Run again with VIPTERM_DEBUG=1 to see the details.",
        file=sys.stderr,
    )
    return int(ExitCode.ERROR)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
