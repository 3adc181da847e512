"""The benchmark scenarios, in the order the issue lists them. Each module has NAME, DESCRIPTION and run(ctx)."""

from __future__ import annotations

import importlib

SCENARIO_MODULES = (
    "startup",
    "unlock",
    "filter_keys",
    "contact_save",
    "export",
    "merge",
    "report",
    "memory",
    "import_csv",
    "first_open",
)


def load(module_name: str):
    return importlib.import_module(f"bench.scenarios.{module_name}")


def all_scenarios() -> dict:
    """NAME → module."""
    modules = [load(m) for m in SCENARIO_MODULES]
    return {m.NAME: m for m in modules}
