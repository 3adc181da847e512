"""Child process for the startup benchmark: launch an app headless, note when it is interactive, exit.

    python -m bench.apps.launch vipterm DB OUT
    python -m bench.apps.launch bare - OUT

`vipterm` goes through the real entry point (`vipterm.cli.main(["--db", DB])`, as the installed
`vipterm` command does); the only change is that `App.run` is made headless and given an
autopilot. The autopilot waits until the first screen is up with its input focused, paints that
frame, writes `time.monotonic()` (system-wide on Linux, so the parent can subtract its own start
time) to OUT, and exits. Nothing here imports the bench harness, so the child pays for nothing
but the app itself.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time


def _install_autopilot(out_path: str) -> None:
    from textual.app import App

    original_run = App.run

    async def first_screen(pilot) -> None:
        app = pilot.app
        deadline = time.monotonic() + 60
        # Interactive = a screen of its own (not Textual's default) is on top and has focus.
        while app.focused is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the first screen never took focus")
            await asyncio.sleep(0.001)
        await pilot._wait_for_screen()
        app.screen._on_timer_update()  # paint the frame now rather than at the next refresh tick
        ready = time.monotonic()
        with open(out_path, "w", encoding="ascii") as fh:
            fh.write(f"{ready!r} {type(app.screen).__name__} {type(app.focused).__name__}\n")
        app.exit(0)

    def run(self, *args, **kwargs):
        kwargs["headless"] = True
        kwargs["auto_pilot"] = first_screen
        return original_run(self, *args, **kwargs)

    App.run = run


def main(argv: list[str]) -> int:
    which, db, out_path = argv
    _install_autopilot(out_path)
    if which == "vipterm":
        from vipterm import cli

        return cli.main(["--db", db])
    if which == "bare":
        from bench.apps.bare import BareApp

        return int(BareApp().run() or 0)
    raise SystemExit(f"unknown app {which!r}")


if __name__ == "__main__":
    os.environ.setdefault("VIPTERM_CONFIG", os.devnull)  # the user's own settings file must not change the figure
    sys.exit(main(sys.argv[1:]))
