"""Child process for the first_open benchmark: open each screen twice in a fresh app, time both.

    python -m bench.apps.first_open DB OUT      (passphrase in VIPTERM_BENCH_PASSPHRASE)

A fresh interpreter each time, because what makes a first opening slow (importing the screen's
modules, SQLAlchemy compiling its queries, Textual parsing a new widget's CSS) happens once per
process. The real `VipApp` runs headless under Pilot with the default settings; the passphrase is
submitted on the unlock screen, then the child waits for the caseload, the palette's index and
the app's warm-up after unlock (when the app has one: `VipApp.warmed`), as a worker would look at the caseload
for a moment before opening anything. Then, for each screen: open it (the key a worker presses),
wait until its content is loaded and painted, close it, open it again, and the same once more.

Nothing here imports the bench harness or vipterm's services before the app does, so the child
pays for nothing the app would not. Writes {"warm_s": …, "screens": {name: [first, later]}} as
JSON to OUT.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

SIZE = (100, 30)


def _ready(app, name: str) -> bool:
    """The screen `name` is on top with its content loaded and no worker of its own still running."""
    from textual.command import CommandPalette
    from textual.worker import WorkerState

    screen = app.screen
    kind = type(screen).__name__
    if name == "palette":
        return isinstance(screen, CommandPalette)
    expected = {"assessment form": "AssessmentForm", "client file": "ClientFileScreen", "report": "ReportScreen"}[name]
    if kind != expected:
        return False
    if name == "client file" and getattr(screen, "client_file", None) is None:
        return False
    if name == "report" and getattr(screen, "report", None) is None:
        return False
    pending = (WorkerState.PENDING, WorkerState.RUNNING)
    return not any(w.node is screen and w.state in pending for w in app.workers)


# (name, key on the caseload, key that closes it)
SCREENS = (
    ("assessment form", "a", "escape"),
    ("palette", "ctrl+p", "escape"),
    ("client file", "enter", "escape"),
    ("report", "R", "escape"),
)


async def _drive(pilot, passphrase: str, out_path: str) -> None:
    from textual.widgets import Input

    from bench.tui_driver import caseload_shown, paint, send_key, wait_until

    app = pilot.app
    await wait_until(lambda: isinstance(app.focused, Input), 60, "the unlock screen")
    app.focused.value = passphrase
    unlocked_at = time.perf_counter()
    send_key(app, "enter")
    await wait_until(lambda: caseload_shown(app), 120, "the caseload")
    await paint(pilot)
    await wait_until(lambda: len(app.client_index) > 0, 120, "the palette's index", poll=0.005)
    warmed = getattr(app, "warmed", None)
    if warmed is not None:
        await wait_until(warmed.is_set, 120, "the warm-up after unlock", poll=0.005)
    warm_s = time.perf_counter() - unlocked_at
    caseload = app.screen
    screens: dict[str, list[float]] = {}
    for name, key, close in SCREENS:
        for _ in range(2):
            await pilot._wait_for_screen()
            start = time.perf_counter()
            send_key(app, key)
            # Every 3 ms, not 0.5: the screens load in worker threads, which a faster poll
            # would keep from the interpreter (see bench.tui_driver.UNLOCK_POLL).
            await wait_until(lambda name=name: _ready(app, name), 120, name, poll=0.003)
            await pilot._wait_for_screen()  # its messages (the loaded content) handled
            app.screen._on_timer_update()  # and painted
            screens.setdefault(name, []).append(time.perf_counter() - start)
            await pilot.press(close)
            await wait_until(lambda: app.screen is caseload, 30, f"the caseload after {name}")
            await paint(pilot)
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump({"warm_s": warm_s, "screens": screens}, fh)
    app.exit(0)


async def _main(db: str, out_path: str) -> None:
    from pathlib import Path

    from vipterm.tui.app import VipApp
    from vipterm.tui.config import TuiConfig

    passphrase = os.environ["VIPTERM_BENCH_PASSPHRASE"]
    app = VipApp(Path(db), config=TuiConfig(), idle_lock_seconds=0, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await _drive(pilot, passphrase, out_path)


def main(argv: list[str]) -> int:
    db, out_path = argv
    asyncio.run(_main(db, out_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
