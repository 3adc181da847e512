"""contact save: ctrl+s in the contact form → contact committed and the caseload updated on screen.

After an untimed unlock, for each sample: the cursor goes to a caseload row, `l` opens the contact
form with its defaults (untimed), a note is put in the note field (untimed), then the clock runs
from posting `ctrl+s` until the form has closed, the caseload holds the saved client's row as re-read
from the database (its rows are a new list) and the new frame is painted. Afterwards the contacts are
counted in the file: every save must be there.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from bench import tui_driver
from bench.core import PASSPHRASE, Context, Figure, median, percentile, size_words, unavailable

NAME = "contact_save"
DESCRIPTION = "ctrl+s → contact committed and caseload updated"
TARGET = "p95 ≤ 50 ms"


async def _session(path, saves: int) -> tuple[list[float], int]:
    from textual.widgets import Input, TextArea

    from vipterm.tui.caseload import CaseloadTable
    from vipterm.tui.forms import ContactForm

    app = tui_driver.make_app(path)
    samples: list[float] = []
    async with app.run_test(size=tui_driver.SIZE) as pilot:
        await tui_driver.unlock(pilot, PASSPHRASE)
        screen = tui_driver.caseload_screen(app)
        rows = len(screen.rows)
        for n in range(saves):
            table = screen.query_one(CaseloadTable)
            table.move_cursor(row=(n * 7) % max(1, table.row_count))
            await pilot.press("l")
            await tui_driver.wait_until(lambda: isinstance(app.screen, ContactForm), 30, "the contact form")
            form = app.screen
            await tui_driver.wait_until(lambda: app.focused is not None, 30, "the form's focus")
            form.query_one("#outcome", Input).value = "reached"  # said, never assumed
            form.query_one("#note", TextArea).text = f"benchmark check-in {n}"
            await tui_driver.paint(pilot)
            old_rows = screen.rows  # the re-read row goes into a new list: "updated" = a new list is drawn
            start = time.perf_counter()
            tui_driver.send_key(app, "ctrl+s")
            await tui_driver.wait_until(
                lambda old_rows=old_rows: app.screen is screen and screen.rows is not old_rows,
                30,
                "the caseload after the save",
            )
            tui_driver.paint_now(app)
            samples.append(time.perf_counter() - start)
        await pilot.press("ctrl+q")
    return samples, rows


def _count_contacts(path) -> int:
    from vipterm.services.database import open_store

    store = open_store(path, PASSPHRASE)
    try:
        with store.read() as session:
            return int(session.execute(text("SELECT count(*) FROM contact")).scalar_one())
    finally:
        store.close()


def subject_missing() -> str | None:
    """Why the code this scenario measures cannot run yet, or None."""
    return tui_driver.tui_missing()


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [unavailable(NAME, "ctrl+s → saved and caseload updated (p95)", TARGET, missing)]
    profile = ctx.profile
    path = ctx.datasets().copy(profile.caseload, ctx.work_dir / "contact_save")
    before = _count_contacts(path)
    samples, rows = tui_driver.run_async(_session, path, profile.saves)
    after = _count_contacts(path)
    if after - before != len(samples):
        raise AssertionError(f"{len(samples)} saves but {after - before} new contacts in the file")
    p95 = percentile(samples, 95)
    ms = 1000
    return [
        Figure(
            NAME,
            "ctrl+s → saved and caseload updated (p95)",
            "ms",
            p95 * ms,
            target=TARGET,
            holds=p95 <= 0.050,
            samples=len(samples),
            size=f"{size_words(profile.caseload)}; caseload of {rows:,} rows; the saved client's row re-read after each save",
            note=f"median {median(samples) * ms:.1f} ms, max {max(samples) * ms:.1f} ms; {after - before} contacts committed",
        )
    ]
