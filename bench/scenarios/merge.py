"""merge: written next; reports "not available yet" until then."""

from bench.core import unavailable

NAME = "merge"
DESCRIPTION = "(being written)"


def run(ctx):
    return [unavailable(NAME, "merge", "", "the scenario itself is being written")]
