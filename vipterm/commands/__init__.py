"""Subcommands of the `vipterm` command line, one module per area; each has `register(subparsers)`."""
