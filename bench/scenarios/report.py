"""report: written next; reports "not available yet" until then."""

from bench.core import unavailable

NAME = "report"
DESCRIPTION = "(being written)"


def run(ctx):
    return [unavailable(NAME, "report", "", "the scenario itself is being written")]
