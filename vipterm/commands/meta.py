"""About vipterm itself: `vipterm help [TOPIC]` (the user guides shipped inside the package) and
`vipterm completion SHELL` (a tab-completion script generated from the parser by shtab).

The guides are the repository's `docs/*.md`, installed with the package as `vipterm/docs/`
(package data), so every `--help` that points at a guide names it as `vipterm help TOPIC`, which
works wherever vipterm is installed; in a checkout they are read from `docs/` itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vipterm.errors import ExitCode, NotFound

COMPLETION_SHELLS = ("bash", "zsh", "tcsh", "fish", "powershell")

# Topic -> one line; the file is docs/TOPIC.md. Spelled out so that `vipterm help` lists them
# without reading files; a test checks that each file exists.
TOPICS = {
    "cli-json": "the --json output: one shape for every command, data on stdout, messages on stderr",
    "metrics": "every number of the monthly report, defined",
    "import-csv": "importing a program's history from spreadsheets: the columns of each kind",
    "recovery": "backups, a lost laptop, a forgotten passphrase, a lost coordinator, a damaged file",
    "sync": "how laptops and the coordinator exchange signed bundles; conflicts and the quarantine",
    "keys": "the app's keys: every binding, and how to rebind them in config.toml",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "help",
        help="read a guide shipped with vipterm (without a topic: the list)",
        description="Print one of the guides installed with vipterm. Without a topic, list them.",
    )
    p.add_argument("topic", nargs="?", metavar="TOPIC", help="one of: " + ", ".join(TOPICS))
    p.add_argument(
        "--path",
        action="store_true",
        help="print where the guide is installed instead of its text (without a topic: the folder of "
        "guides, with the spreadsheet examples in examples/)",
    )
    p.set_defaults(func=cmd_help)

    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, tcsh, fish, powershell)",
        description="Print a tab-completion script for SHELL on stdout. For bash: "
        "`vipterm completion bash > ~/.local/share/bash-completion/completions/vipterm`; "
        "for zsh: `vipterm completion zsh > ~/.zfunc/_vipterm` (with ~/.zfunc in fpath).",
    )
    p.add_argument("shell", choices=COMPLETION_SHELLS, metavar="SHELL", help=", ".join(COMPLETION_SHELLS))
    p.set_defaults(func=cmd_completion)


def guides_folder():
    """Where the guides are: inside the installed package, else the checkout's docs/ folder."""
    from importlib import resources  # here: building the parser stays cheap

    installed = resources.files("vipterm") / "docs"
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "docs"
    if checkout.is_dir():
        return checkout
    from vipterm.errors import VipError

    raise VipError("the guides are not installed with this vipterm (reinstall it from its wheel)")


def guide(topic: str):
    """The guide for `topic`, or NotFound naming the topics there are."""
    name = topic.strip().lower().removesuffix(".md")
    if name not in TOPICS:
        raise NotFound(f"no guide called {topic!r}; there are: {', '.join(TOPICS)}")
    return guides_folder() / f"{name}.md"


def cmd_help(args: argparse.Namespace) -> int:
    if not args.topic and args.path:
        print(guides_folder())
        return ExitCode.OK
    if not args.topic:
        width = max(map(len, TOPICS))
        for name, line in TOPICS.items():
            print(f"{name:<{width}}  {line}")
        print("\nvipterm help TOPIC prints one; vipterm COMMAND --help explains a command.", file=sys.stderr)
        return ExitCode.OK
    found = guide(args.topic)
    if args.path:
        print(found)
        return ExitCode.OK
    sys.stdout.write(found.read_text(encoding="utf-8"))
    return ExitCode.OK


def cmd_completion(args: argparse.Namespace) -> int:
    from vipterm.cli import build_parser

    try:
        import shtab
    except ImportError:  # a dependency; an environment without it still gets a clear message
        from vipterm.errors import VipError

        raise VipError("shell completion needs the shtab package (pip install shtab)") from None
    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return ExitCode.OK
