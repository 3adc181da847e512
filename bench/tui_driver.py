"""Driving the real vipterm app under Textual's Pilot for the TUI benchmarks.

The app is `vipterm.tui.app.VipApp` on a copy of a generated database, with the default settings
(not the user's file), no idle lock and no cursor blink (a blinking cursor repaints on its own
and would add frames that are not the ones being measured). Nothing is mocked: the passphrase is
typed into the unlock screen and derived with Argon2id, the caseload comes from the encrypted file.

`paint(app)` forces the frame that a change scheduled, so a figure runs to "on screen", not to
"queued for the next refresh tick".

Timed keys go through `send_key`, not `Pilot.press`: `press` waits until the process's CPU is
idle (sleeping in steps of several milliseconds), which would put Pilot's own waiting into every
sample. `send_key` posts the same `events.Key` that `press` would and returns at once; the
scenario then waits for the specific change it measures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

TUI_MODULE = "vipterm.tui.app"
SIZE = (100, 30)  # columns, rows: a laptop terminal a little bigger than 80x24
UNLOCK_POLL = 0.003  # seconds between looks for the caseload after Enter (see `unlock`)


def tui_missing() -> str | None:
    """Why the app cannot be benchmarked yet, or None when it can."""
    try:
        from vipterm.tui.app import VipApp  # noqa: F401
        from vipterm.tui.caseload import CaseloadScreen  # noqa: F401
        from vipterm.tui.unlock import UnlockScreen  # noqa: F401
    except ImportError as exc:
        return f"the TUI ({TUI_MODULE}) does not import yet: {exc}"
    return None


def make_app(path: Path):
    from vipterm.tui.app import VipApp
    from vipterm.tui.config import TuiConfig

    return VipApp(Path(path), config=TuiConfig(), idle_lock_seconds=0, cursor_blink=False)


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 120.0, what: str = "condition", poll: float = 0.0005
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)


async def paint(pilot) -> None:
    """Let the screen process what is pending, then render the frame now (for untimed steps)."""
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


def paint_now(app) -> None:
    """Render the frame the last change scheduled, now: layout, compositor, the driver's write.

    Used inside timed samples instead of `paint`, whose flush of every widget's queue costs
    Pilot 1–6 ms of its own per call on a loaded machine.
    """
    app.screen._on_timer_update()


def caseload_screen(app):
    from vipterm.tui.caseload import CaseloadScreen

    screen = app.screen
    return screen if isinstance(screen, CaseloadScreen) else None


def caseload_shown(app) -> bool:
    """The caseload is on top, loaded, and its table holds rows."""
    from vipterm.tui.caseload import CaseloadTable

    screen = caseload_screen(app)
    return bool(screen is not None and screen.loaded and screen.query_one(CaseloadTable).row_count > 0)


async def unlock(pilot, passphrase: str) -> dict[str, float]:
    """Submit the passphrase and wait for the caseload; returns the times of each stage (seconds).

    `shown` = the caseload's rows are painted and the app answered one more round trip of its
    message loop (responsive); `index` = the all-clients index (for the palette) is loaded too;
    `shown_cpu` = the CPU time the process (all its threads) spent from submit to shown, which a
    busy machine inflates far less than the wall-clock time.
    """
    from textual.widgets import Input

    app = pilot.app
    await wait_until(lambda: app.focused is not None and isinstance(app.focused, Input), 60, "the unlock screen")
    app.focused.value = passphrase  # typing it key by key is not part of "submitted → shown"
    start, start_cpu = time.perf_counter(), time.process_time()
    send_key(app, "enter")
    # Polled every few milliseconds, not every half: the caseload is read in a worker thread, and
    # a poll that wakes every 0.5 ms takes the interpreter from it so often that the read took
    # three times its CPU time (90 ms of CPU, 300 ms) — the harness's cost, not the app's.
    await wait_until(lambda: caseload_shown(app), 120, "the caseload", poll=UNLOCK_POLL)
    await paint(pilot)
    await pilot._wait_for_screen()  # responsive: the message loop answers again
    shown, shown_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    await wait_until(lambda: len(app.client_index) > 0, 120, "the client index")
    index = time.perf_counter() - start
    return {"shown": shown, "index": index, "shown_cpu": shown_cpu}


def send_key(app, key: str) -> None:
    """Post one key event exactly as `Pilot.press` builds it, without its idle waits."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


def run_async(coro_fn, *args):
    return asyncio.run(coro_fn(*args))
