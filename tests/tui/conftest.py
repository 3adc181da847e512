"""Fixtures for the TUI tests: the realistic worker's database opened with its known key, and
`snap_compare`, which checks a screen against its stored SVG in tests/__snapshots__.

A snapshot is Textual's own SVG export of the app at a terminal size, after `run_before` has driven
it. The stored file is that SVG with Rich's per-export random id taken out, so an unchanged screen
gives the same bytes. A mismatch fails with the difference in the screen's text (or says only the
styling changed) and leaves the new SVG beside the test's temporary files for a look; update the
stored files deliberately with `pytest --snapshot-update tests/tui/test_tui_snapshots.py` and look
at them before committing.
"""

from __future__ import annotations

import difflib
import html
import inspect
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot

from tests.conftest import Template

SNAPSHOTS = Path(__file__).resolve().parent.parent / "__snapshots__"

# --- the worker's database ----------------------------------------------------------------------------


@pytest.fixture
def tui_path(tui_program: Template, tmp_path: Path) -> Path:
    return tui_program.copy_to(tmp_path / "tui.db")


@pytest.fixture
def tui_store(tui_path: Path, tui_program: Template):
    store = tui_program.open(tui_path)
    yield store
    store.close()


# --- snapshots ------------------------------------------------------------------------------------------

_EXPORT_ID = re.compile(r"\bterminal-\d+-([\w-]+)")
_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#terminal-line-(\d+)\)">([^<]*)</text>'
)
_CHAR_WIDTH = 12.2  # Rich's export: 20 px characters at a 0.61 aspect ratio


def normalize_svg(svg: str) -> str:
    """The export without Rich's random per-export id (`terminal-1234-r5` → `terminal-r5`)."""
    return _EXPORT_ID.sub(r"terminal-\1", svg)


def svg_text(svg: str) -> list[str]:
    """The characters on screen, line by line, read back from an exported SVG."""
    lines: dict[int, dict[int, str]] = {}
    for x, line, text in _TEXT.findall(svg):
        row = lines.setdefault(int(line), {})
        column = round(float(x) / _CHAR_WIDTH)
        for offset, char in enumerate(html.unescape(text).replace("\xa0", " ")):
            row[column + offset] = char
    out = []
    for number in range(max(lines, default=-1) + 1):
        row = lines.get(number, {})
        out.append("".join(row.get(c, " ") for c in range(max(row, default=-1) + 1)).rstrip())
    return out


def _screenshot(
    app: App, terminal_size: tuple[int, int], run_before: Callable[[Pilot], Awaitable[None] | None] | None
) -> str:
    """Run the app headless at `terminal_size`, let `run_before` drive it, and export the screen
    once animations are done (the steps pytest-textual-snapshot took, so stored files still match)."""

    async def auto_pilot(pilot: Pilot) -> None:
        if run_before is not None:
            result = run_before(pilot)
            if inspect.isawaitable(result):
                await result
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        pilot.app.exit(pilot.app.export_screenshot(title=pilot.app.title, simplify=True))

    svg = app.run(headless=True, size=terminal_size, auto_pilot=auto_pilot)
    assert isinstance(svg, str), "the app ended before its screenshot was taken"
    return normalize_svg(svg)


def _snapshot_path(request) -> Path:
    module = Path(str(request.node.path)).stem
    name = re.sub(r"[^\w\[\]\-.]", "_", request.node.name)
    return SNAPSHOTS / module / f"{name}.svg"


@pytest.fixture
def snap_compare(request, tmp_path: Path):
    """`snap_compare(app, terminal_size=(80, 24), run_before=None)`: True when the screen matches its
    stored SVG; otherwise fails with what changed. With --snapshot-update, stores it instead."""
    update = request.config.getoption("--snapshot-update")
    stored = _snapshot_path(request)

    def compare(
        app: App,
        terminal_size: tuple[int, int] = (80, 24),
        run_before: Callable[[Pilot], Awaitable[None] | None] | None = None,
    ) -> bool:
        actual = _screenshot(app, terminal_size, run_before)
        if update:
            stored.parent.mkdir(parents=True, exist_ok=True)
            if not stored.exists() or normalize_svg(stored.read_text(encoding="utf-8")) != actual:
                stored.write_text(actual, encoding="utf-8")
            return True
        if not stored.exists():
            pytest.fail(
                f"no snapshot at {stored.relative_to(SNAPSHOTS.parent.parent)}: run with --snapshot-update "
                "and look at the new file",
                pytrace=False,
            )
        expected = normalize_svg(stored.read_text(encoding="utf-8"))
        if actual == expected:
            return True
        kept = tmp_path / stored.name
        kept.write_text(actual, encoding="utf-8")
        diff = "\n".join(difflib.unified_diff(svg_text(expected), svg_text(actual), "stored", "now", lineterm=""))
        change = f"its text:\n{diff}" if diff else "the same text, other colours or styles"
        pytest.fail(f"the screen differs from {stored.name}: {change}\nthe new screenshot: {kept}", pytrace=False)

    return compare
