"""memory: written next; reports "not available yet" until then."""

from bench.core import unavailable

NAME = "memory"
DESCRIPTION = "(being written)"


def run(ctx):
    return [unavailable(NAME, "memory", "", "the scenario itself is being written")]
