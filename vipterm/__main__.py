"""`python -m vipterm` is the `vipterm` command."""

from vipterm.cli import run

run()
