"""Child process for the memory benchmark: run an app headless, scroll its table, report peak RSS.

    python -m bench.apps.memory vipterm DB OUT     (passphrase in $BENCH_PASSPHRASE)
    python -m bench.apps.memory bare ROWS OUT

`vipterm`: the real app under Pilot unlocks DB, waits for the caseload and for the all-clients
index (the palette's), then pages the caseload table from top to bottom and back. `bare`: the
Header/DataTable/Footer app holding ROWS caseload-shaped rows, paged the same way. Then the peak
resident set size of the whole process (VmHWM) goes to OUT as JSON. A fresh process each time,
so nothing measured before is counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


async def _page_through(pilot, table) -> int:
    """Page down until the cursor stops moving, then back to the top; returns the pages turned."""
    pages = 0
    table.focus()
    while pages < 5000:
        before = table.cursor_row
        await pilot.press("pagedown")
        pages += 1
        if table.cursor_row == before:
            break
    await pilot.press("ctrl+home")
    return pages


async def _vipterm(db: str) -> dict:
    from bench import tui_driver
    from vipterm.tui.caseload import CaseloadTable

    app = tui_driver.make_app(db)
    async with app.run_test(size=tui_driver.SIZE) as pilot:
        await tui_driver.unlock(pilot, os.environ["BENCH_PASSPHRASE"])
        screen = tui_driver.caseload_screen(app)
        table = screen.query_one(CaseloadTable)
        pages = await _page_through(pilot, table)
        result = {
            "rows": len(screen.rows),
            "table_rows": table.row_count,
            "index": len(app.client_index),
            "pages": pages,
            "peak_mb": peak_rss_mb(),
        }
        await pilot.press("ctrl+q")
    return result


async def _bare(rows: int) -> dict:
    from textual.widgets import DataTable

    from bench.apps.bare import BareApp

    app = BareApp(rows=rows)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(DataTable)
        pages = await _page_through(pilot, table)
        result = {"rows": rows, "table_rows": table.row_count, "pages": pages, "peak_mb": peak_rss_mb()}
        app.exit(0)
    return result


def main(argv: list[str]) -> int:
    which, what, out = argv
    result = asyncio.run(_vipterm(what) if which == "vipterm" else _bare(int(what)))
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
