"""vipterm: a keyboard-driven field tool for community violence intervention programs."""

__version__ = "0.1.0"
