"""export: written next; reports "not available yet" until then."""

from bench.core import unavailable

NAME = "export"
DESCRIPTION = "(being written)"


def run(ctx):
    return [unavailable(NAME, "export", "", "the scenario itself is being written")]
