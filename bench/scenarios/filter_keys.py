"""filter: one key typed into the caseload filter at 10,000 clients → table updated on screen.

After an untimed unlock, `/` focuses the filter; then keys are pressed one at a time through
Pilot: words a worker would type (names, an alias, an area, a status, a pseudonym prefix), each
typed letter by letter and erased with backspace, so the table both narrows and widens. Each
sample runs from posting the key event to the painted frame of the table re-rendered for the new
filter text (the screen's row-render method is wrapped to note which text it rendered; nothing
else about the app is touched). Reported as p95 over all keys.
"""

from __future__ import annotations

import time

from bench import tui_driver
from bench.core import PASSPHRASE, Context, Figure, median, percentile, size_words, unavailable

NAME = "filter"
DESCRIPTION = "one key in the caseload filter → table updated (Pilot)"
TARGET = "p95 ≤ 16 ms (one frame)"

WORDS = (
    "garcia",
    "maria",
    "southeast",
    "jos",
    "active",
    "vip-",
    "lucero",
    "valley",
    "chuy",
    "engaged",
    "mar tru",
    "northwest",
    "isa",
    "baca",
    "foothills",
)


def keystrokes(count: int) -> list[str]:
    """`count` keys: words typed then erased, in a fixed order."""
    keys: list[str] = []
    n = 0
    while len(keys) < count:
        word = WORDS[n % len(WORDS)]
        n += 1
        typed = ["space" if ch == " " else ("minus" if ch == "-" else ch) for ch in word]
        keys += typed + ["backspace"] * len(typed)
    return keys[:count]


def _next_text(text: str, key: str) -> str:
    if key == "backspace":
        return text[:-1]
    return text + {"space": " ", "minus": "-"}.get(key, key)


async def _session(path, count: int) -> tuple[list[float], int, list[int]]:
    from textual.widgets import Input

    app = tui_driver.make_app(path)
    samples: list[float] = []
    visible: list[int] = []
    async with app.run_test(size=tui_driver.SIZE) as pilot:
        await tui_driver.unlock(pilot, PASSPHRASE)
        screen = tui_driver.caseload_screen(app)
        field = screen.query_one("#filter", Input)
        rendered: list[str] = []
        render_rows = screen._render_rows

        def noted_render_rows(*args, **kwargs) -> None:
            render_rows(*args, **kwargs)
            rendered.append(field.value)

        screen._render_rows = noted_render_rows
        await pilot.press("slash")
        await tui_driver.paint(pilot)
        text = field.value
        for key in keystrokes(count):
            text = _next_text(text, key)
            seen = len(rendered)
            start = time.perf_counter()
            tui_driver.send_key(app, key)
            await tui_driver.wait_until(
                lambda seen=seen, text=text: len(rendered) > seen and rendered[-1] == text,
                30,
                f"the table filtered by {text!r}",
            )
            tui_driver.paint_now(app)
            samples.append(time.perf_counter() - start)
            visible.append(screen.matching)
        rows = len(screen.rows)
        await pilot.press("escape", "ctrl+q")
    return samples, rows, visible


def subject_missing() -> str | None:
    """Why the code this scenario measures cannot run yet, or None."""
    return tui_driver.tui_missing()


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [unavailable(NAME, "key → table painted (p95)", TARGET, missing)]
    profile = ctx.profile
    path = ctx.datasets().copy(profile.caseload, ctx.work_dir / "filter")
    samples, rows, visible = tui_driver.run_async(_session, path, profile.filter_keys)
    if len(set(visible)) < 2 and rows > 1:
        raise AssertionError("the filter never changed the table: the keys did not reach it")
    p95 = percentile(samples, 95)
    size = f"{size_words(profile.caseload)}; filtering {rows:,} caseload rows"
    ms = 1000
    return [
        Figure(
            NAME,
            "key → table painted (p95)",
            "ms",
            p95 * ms,
            target=TARGET,
            holds=p95 <= 0.016,
            samples=len(samples),
            size=size,
            note=f"median {median(samples) * ms:.1f} ms, max {max(samples) * ms:.1f} ms; "
            f"matches ranged {min(visible):,}–{max(visible):,}",
        )
    ]
