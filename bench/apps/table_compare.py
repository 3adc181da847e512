"""Two widgets for the caseload, measured on the same rows: vipterm's line-API `CaseloadTable` and
`textual-fastdatatable` (the Arrow-backed DataTable harlequin uses).

Not a scenario of `python -m bench`: fastdatatable is not a dependency of vipterm; this compares
the two so the choice is made on numbers (bench/FINDINGS.md). Run:

    python -m bench.apps.table_compare [--python PY] [--profile large]

`--python` is an interpreter that has textual-fastdatatable (and pyarrow) installed, e.g. a
throwaway venv; the line-API widget runs under the same interpreter (it needs only Textual and
Rich, so `vipterm.tui.caseload_table` is imported from this checkout). The rows are the large
profile's caseload (1,445 open clients of 10,000), read once through `services.caseload` and
handed to each child as JSON cells, so both widgets show the same text in the same columns.

Each child is a small app: a filter Input above the table, at the harness's terminal size. Keys are
posted like the filter scenario posts them (`tui_driver.send_key`), and a sample runs from the key
to the frame painted for the new filter text. The same plain substring filter picks the rows for
both, so the difference is the widget's. Then "row update": one row's cells change and it moves to
the top (what a saved contact does), timed to the painted frame, 50 times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = [("", 2), ("id", 10), ("name", 16), ("area", 9), ("status", 10), ("last", 5), ("next", 5), ("refs", 4)]


# --- the parent: rows out of the bench database, one child per widget ------------------------------


def export_rows(profile_name: str, out: Path, keys: int) -> int:
    from bench.core import PASSPHRASE, PROFILES
    from bench.datasets import Datasets
    from bench.scenarios.filter_keys import keystrokes
    from vipterm import domain
    from vipterm.services import caseload as caseload_service
    from vipterm.services.database import open_store
    from vipterm.tui import display

    profile = PROFILES[profile_name]
    with tempfile.TemporaryDirectory() as tmp:
        path = Datasets(ROOT / "bench" / ".cache").copy(profile.caseload, Path(tmp) / "compare")
        store = open_store(path, PASSPHRASE)
        try:
            rows = caseload_service.caseload(store)
            today = store.clock.today()
        finally:
            store.close()
    data = [
        [
            r.client_id,
            r.search_text,
            [
                "!!"
                if r.urgency == caseload_service.OVERDUE
                else "!"
                if r.urgency == caseload_service.DUE_TODAY
                else "",
                r.pseudonym,
                r.name,
                domain.AreaCommand.label_of(r.area_command),
                display.status_label(r.status, short=True),
                display.ago(r.last_contact, today),
                display.due_in(r.next_due, today),
                f"{r.open_referrals}{' !' if r.stale_referrals else ''}",
            ],
        ]
        for r in rows
    ]
    out.write_text(json.dumps({"rows": data, "keys": keystrokes(keys)}))
    return len(rows)


def run_child(python: str, widget: str, data: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [python, "-m", "bench.apps.table_compare", "--child", widget, str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--profile", default="large")
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--child", nargs=2, metavar=("WIDGET", "DATA"))
    args = parser.parse_args()
    if args.child:
        widget, data = args.child
        print(json.dumps(asyncio.run(_child(widget, Path(data)))))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="vipterm-compare-"))
    try:
        data = tmp / "rows.json"
        count = export_rows(args.profile, data, args.keys)
        load = os.getloadavg()
        print(f"{count:,} caseload rows ({args.profile}); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"{'widget':<16} {'filter p95':>11} {'median':>8} {'max':>8} {'update p95':>11} {'median':>8}")
        # Interleaved, twice each (ABAB): the noise of a shared machine falls on both.
        for _ in range(2):
            for widget in ("line-api", "fastdatatable"):
                r = run_child(args.python, widget, data)
                if "error" in r:
                    print(f"{widget:<16} {r['error']}")
                    continue
                print(
                    f"{widget:<16} {r['filter_p95']:>9.1f}ms {r['filter_median']:>6.1f}ms {r['filter_max']:>6.1f}ms "
                    f"{r['update_p95']:>9.1f}ms {r['update_median']:>6.1f}ms"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


# --- the child: one widget under Pilot ---------------------------------------------------------------


def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _matching(rows: list, text: str) -> list:
    words = text.lower().split()
    return [r for r in rows if all(w in r[1] for w in words)]


async def _child(widget: str, data: Path) -> dict:
    from textual.app import App
    from textual.widgets import Input

    from bench import tui_driver

    given = json.loads(data.read_text())  # the filter scenario's keys (bench.core needs vipterm's stack)
    rows = [tuple(r) for r in given["rows"]]
    rendered: list[str] = []

    if widget == "line-api":
        from vipterm.tui.caseload_table import CaseloadTable, Column

        def make():
            table = CaseloadTable(lambda r: r[2], lambda r: r[0], id="table")
            return table

        def setup(table):
            table.set_columns([Column(str(n), label, width) for n, (label, width) in enumerate(COLUMNS)])
            table.set_rows(rows)

        def show(table, matching):
            table.set_rows(matching, cursor=0, top=True)

        def update(table, new_rows, key):
            table.invalidate([key])
            table.set_rows(new_rows)
    else:
        import pyarrow as pa
        from textual.coordinate import Coordinate
        from textual_fastdatatable import ArrowBackend, DataTable

        def backend(matching):
            columns = {label or "u": [r[2][n] for r in matching] for n, (label, _) in enumerate(COLUMNS)}
            return ArrowBackend(pa.table(columns))

        def make():
            return DataTable(
                backend=backend(rows),
                column_labels=[c for c, _ in COLUMNS],
                column_widths=[w for _, w in COLUMNS],
                cursor_type="row",
                zebra_stripes=True,
                show_row_labels=False,
                id="table",
                render_markup=False,
            )

        def setup(table):
            pass

        def show(table, matching):
            # The table cannot be cleared (its clear() says "mount a new one"): a new backend for the
            # matching rows, the caches dropped, the size measured again — the cheapest way to swap.
            table.backend = backend(matching)
            table.backend.render_markup = False
            table._clear_caches()
            table._update_dimensions([])
            table.cursor_coordinate = Coordinate(0, 0)
            table.refresh()

        def update(table, new_rows, key):
            show(table, new_rows)

    class CompareApp(App):
        CSS = "#table { height: 1fr; }"  # as the caseload screen sizes its table

        def compose(self):
            yield Input(id="filter")
            yield make()

        def on_mount(self):
            setup(self.query_one("#table"))

        def on_input_changed(self, event: Input.Changed) -> None:
            show(self.query_one("#table"), _matching(rows, event.value))
            rendered.append(event.value)

    app = CompareApp()
    samples: list[float] = []
    updates: list[float] = []
    async with app.run_test(size=tui_driver.SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#table")
        app.query_one("#filter", Input).focus()
        await tui_driver.paint(pilot)
        text = ""
        for key in given["keys"]:
            text = text[:-1] if key == "backspace" else text + {"space": " ", "minus": "-"}.get(key, key)
            seen = len(rendered)
            start = time.perf_counter()
            tui_driver.send_key(app, key)
            await tui_driver.wait_until(
                lambda seen=seen, text=text: len(rendered) > seen and rendered[-1] == text, 30, repr(text)
            )
            tui_driver.paint_now(app)
            samples.append(time.perf_counter() - start)
        current = list(rows)
        table.focus()
        await tui_driver.paint(pilot)
        for n in range(50):
            index = (n * 7) % len(current)
            old = current[index]
            moved = (old[0], old[1], ["", *old[2][1:5], "0d", "in 2d", old[2][7]])
            current = [moved] + current[:index] + current[index + 1 :]
            start = time.perf_counter()
            update(table, current, moved[0])
            tui_driver.paint_now(app)
            updates.append(time.perf_counter() - start)
            await pilot.pause()
        await pilot.press("ctrl+q")
    ms = 1000
    return {
        "filter_p95": _percentile(samples, 95) * ms,
        "filter_median": _percentile(samples, 50) * ms,
        "filter_max": max(samples) * ms,
        "update_p95": _percentile(updates, 95) * ms,
        "update_median": _percentile(updates, 50) * ms,
    }


if __name__ == "__main__":
    raise SystemExit(main())
