"""export: waits for the sync service (vipterm.services.sync); reports "not available yet" until it lands."""

from __future__ import annotations

import importlib.util

from bench.core import Context, Figure, unavailable

NAME = "export"
DESCRIPTION = "sync export (needs vipterm.services.sync)"


def subject_missing() -> str | None:
    if importlib.util.find_spec("vipterm.services.sync") is None:
        return "the sync service (vipterm.services.sync: export/import of bundles) has not landed"
    return "the sync service landed; this scenario's subject is being wired to it"


def run(ctx: Context) -> list[Figure]:
    return [unavailable(NAME, "export", "", subject_missing() or "")]
