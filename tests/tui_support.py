"""Helpers for the TUI tests: the app on a real encrypted database with a frozen clock, and ways
to wait for its thread workers and read what is on screen.

Imported by the TUI tests (tests/tui/ and a few elsewhere); not a test module itself. Their
fixtures are in tests/tui/conftest.py.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerCancelled, WorkerFailed

from vipterm.timekeeping import DEFAULT_TIME_ZONE, FROZEN_NOW_VARIABLE
from vipterm.tui.app import VipApp
from vipterm.tui.caseload_table import CaseloadTable
from vipterm.tui.config import TuiConfig

# The demo fixtures hold data until 2026-11-23; the program clock is frozen on that morning
# (conftest sets VIPTERM_NOW): 09:00 in the program's zone, America/Denver.
FROZEN_NOW = datetime(2026, 11, 23, 9, 0)


def make_app(
    path: Path,
    store=None,
    *,
    config: TuiConfig | None = None,
    idle_lock_seconds: float = 0,
    demo: bool = False,
    now: datetime | None = None,
) -> VipApp:
    if now is not None:
        # Another frozen moment (a wall time in the program zone) for this test only: the
        # conftest's autouse fixture restores VIPTERM_NOW afterwards.
        os.environ[FROZEN_NOW_VARIABLE] = now.replace(tzinfo=ZoneInfo(DEFAULT_TIME_ZONE)).isoformat()
    return VipApp(
        Path(path),
        store=store,
        demo=demo,
        # No backup reminder toast over the screens under test (tests/test_backup.py tests it).
        config=config if config is not None else TuiConfig(backup_reminder_days=0),
        idle_lock_seconds=idle_lock_seconds,
        cursor_blink=False,
    )


async def settle(pilot, rounds: int = 4) -> None:
    """Wait until the workers are done and their messages handled (handlers may start more): up to
    `rounds` rounds, fewer when a round finds every worker already finished."""
    app = pilot.app
    for round_ in range(rounds):
        if round_ and all(worker.is_finished for worker in app.workers):
            break  # the last round's messages started no new work
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass  # the app's handler reports it; the test looks at what the user sees
        except WorkerCancelled:
            pass  # an exclusive worker replaced by a newer one (a reload): the newer one is waited for next round
        await pilot.pause()
    await pilot.pause()


async def wait_for(pilot, predicate, timeout: float = 10.0) -> None:
    """Pause until `predicate()` holds (Argon2id unlocks take a quarter of a second)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)
    await settle(pilot)


async def wait_armed(pilot) -> None:
    """Wait until the question on screen takes answers: an ArmedModal ignores keys for its first
    ARM_SECONDS on screen (keys typed ahead are not answers)."""
    modal = pilot.app.screen
    await wait_for(pilot, lambda: time.monotonic() - modal._opened >= modal.ARM_SECONDS)


async def wait_for_palette_hits(pilot) -> None:
    """Wait until the command palette lists its hits for what was typed, the first highlighted
    (it searches in a worker and fills its list when the search ends)."""
    from textual.command import CommandList, CommandPalette

    def listed() -> bool:
        palette = pilot.app.screen
        if not isinstance(palette, CommandPalette):
            return False
        hits = palette.query_one(CommandList)
        return hits.option_count > 0 and hits.highlighted is not None

    await wait_for(pilot, listed)


async def unlock(pilot, passphrase: str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: bool(app.screen.query("#passphrase")))
    field = app.screen.query_one("#passphrase", Input)
    field.value = passphrase
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.store is not None or "wrong" in screen_text(app.screen) or field.disabled)


def screen_text(screen) -> str:
    """Every piece of text the screen holds: statics, inputs, table cells (for "no names shown")."""
    parts: list[str] = []
    for widget in screen.query(Static):
        parts.append(str(widget.render()))
    for widget in screen.query(Input):
        parts.append(widget.value)
    for table in screen.query(DataTable):
        for row_key in table.rows:
            parts.extend(str(cell) for cell in table.get_row(row_key))
    for caseload in screen.query(CaseloadTable):
        for index in range(caseload.row_count):
            parts.extend(str(cell) for cell in caseload.get_row_at(index))
    return "\n".join(parts)


def table_keys(table: DataTable | CaseloadTable) -> list[str]:
    if isinstance(table, CaseloadTable):
        return table.row_keys()
    return [row_key.value for row_key in table.rows]
