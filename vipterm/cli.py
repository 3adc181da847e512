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
from pathlib import Path

from vipterm.errors import ExitCode, VipError, database_error, os_reason

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
    "vipterm.commands.meta",
]

QUIET_HELP = "no progress bars or notes on stderr; results and errors are still printed"


def version() -> str:
    """The installed distribution's version; the package's own when it is not installed (a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("vipterm")
    except PackageNotFoundError:
        from vipterm import __version__

        return __version__


class _VersionAction(argparse.Action):
    """`--version`: the version is looked up only when asked for (start-up stays cheap)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"vipterm {version()}")
        parser.exit()


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                yield child
                yield from _subparsers(child)


# What shtab completes for an argument that names a file or a folder (its own FILE and DIRECTORY
# values, spelled out so that building the parser does not import it).
_COMPLETE_FILE = {
    "bash": "_shtab_compgen_files",
    "zsh": "_files",
    "tcsh": "f",
    "fish": "(__fish_complete_path (commandline -ct))",
    "powershell": "_shtab_powershell_compgen_files",
}
_COMPLETE_DIR = {
    "bash": "_shtab_compgen_dirs",
    "zsh": "_files -/",
    "tcsh": "d",
    "fish": "(__fish_complete_directories)",
    "powershell": "_shtab_powershell_compgen_dirs",
}


def _finish(parser: argparse.ArgumentParser) -> None:
    """Every command also takes `-q/--quiet` (after the command as before it), and arguments that
    name files complete as files in the shell."""
    for p in [parser, *_subparsers(parser)]:
        if p is not parser and "--quiet" not in p._option_string_actions:
            p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
        for action in p._actions:
            if action.type is Path and not hasattr(action, "complete"):
                wants_dir = action.metavar == "DIR" or action.dest in ("to", "archive")
                action.complete = _COMPLETE_DIR if wants_dir else _COMPLETE_FILE


def build_parser() -> argparse.ArgumentParser:
    from vipterm.commands.common import add_db_argument

    parser = argparse.ArgumentParser(
        prog="vipterm",
        description="Field tool for violence intervention programs. Without a command, opens the app.",
    )
    add_db_argument(parser, top_level=True)
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument("--version", action=_VersionAction, help="print vipterm's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _finish(parser)
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
    except OSError as exc:  # a file or folder no service wrapped (each names its own where it can)
        print(
            f"vipterm: a file or folder could not be used: {os_reason(exc)}; nothing more was changed", file=sys.stderr
        )
        return int(ExitCode.ERROR)
    except Exception as exc:
        typed = database_error(exc)  # what a raw database connection raised (the engine's are typed)
        if typed is not None:
            print(f"vipterm: {typed.message}", file=sys.stderr)
            return int(typed.exit_code)
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
