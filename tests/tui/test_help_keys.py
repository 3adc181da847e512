"""Help (`?`) lists vipterm's keys, not Textual's internals, each once, within 80 columns; and the
sync, conflicts and report keys are documented in docs/keys.md. The real app under Pilot."""

from __future__ import annotations

import re

from textual.widgets import DataTable

from tests.conftest import REPO_ROOT
from tests.tui_support import make_app, settle
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.conflicts_screen import ConflictsScreen
from vipterm.tui.help import DOES_WIDTH, KEY_WIDTH, HelpScreen
from vipterm.tui.report_screen import ReportScreen
from vipterm.tui.sync_screen import SyncScreen

TEXTUAL_INTERNALS = (
    "Focus Next",
    "Focus Previous",
    "Page Left",
    "Page Right",
    "Page up",
    "Page down",
    "Cursor up",
    "Cursor down",
    "Copy selected text",
    "Select",
    "Top",
    "Bottom",
    "Home",
    "End",
)

EXPECTED = {
    CaseloadScreen: (
        "filter",
        "log",
        "mine/all",
        "sync",
        "report",
        "lock",
        "mask names",
        "open the client (in the filter: the first match)",
    ),
    ClientFileScreen: ("back", "log", "status", "lock"),
    SyncScreen: ("export", "import", "folder", "refresh", "back"),
    ConflictsScreen: ("keep current", "take other", "edit", "refresh", "back"),
    ReportScreen: ("prev month", "next month", "go to month", "list the clients behind a count", "back"),
}


async def _help_rows(pilot, by_key: bool = True) -> list[tuple[str, str]]:
    app = pilot.app
    if by_key:
        await pilot.press("question_mark")
    else:  # in a form `?` is typed into the field; help is the palette's "Help" there
        app.action_help()
    await settle(pilot)
    assert isinstance(app.screen, HelpScreen)
    table = app.screen.query_one("#help-keys", DataTable)
    rows = [tuple(str(cell) for cell in table.get_row(key)) for key in table.rows]
    box = app.screen.query_one("#help-box").region
    assert box.right <= 80, box  # fits an 80-column terminal
    await pilot.press("escape")
    await settle(pilot)
    return rows


def _check(rows, screen_class) -> None:
    keys = [k for k, _ in rows]
    descriptions = [d for _, d in rows]
    assert len(descriptions) == len(set(descriptions)), descriptions
    singles = [part for k in keys for part in k.split(" / ")]
    assert len(singles) == len(set(singles)), keys  # each key once
    for internal in TEXTUAL_INTERNALS:
        assert internal not in descriptions, (screen_class.__name__, internal)
    for k, d in rows:
        assert len(k) <= KEY_WIDTH and len(d) <= DOES_WIDTH, (k, d)  # nothing cut at the edge
    for wanted in EXPECTED[screen_class]:
        assert wanted in descriptions, (screen_class.__name__, wanted, descriptions)
    assert "palette: find a client, run an action" in descriptions


async def test_help_on_every_screen_lists_vipterms_keys_once_within_80_columns(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        _check(await _help_rows(pilot), CaseloadScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        _check(await _help_rows(pilot), ClientFileScreen)
        await pilot.press("escape")
        await settle(pilot)
        for key, screen_class in (("s", SyncScreen), ("c", ConflictsScreen), ("R", ReportScreen)):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, screen_class)
            _check(await _help_rows(pilot), screen_class)
            await pilot.press("escape")
            await settle(pilot)
        # In a form: the form's keys, and no text-editing internals of the note field.
        await pilot.press("l")
        await settle(pilot)
        rows = await _help_rows(pilot, by_key=False)
        descriptions = [d for _, d in rows]
        assert "save" in descriptions and "back" in descriptions
        assert not any(d.startswith(("Cursor", "Delete", "Select")) for d in descriptions), descriptions


def test_the_sync_conflicts_and_report_keys_are_in_docs_keys_md():
    text = (REPO_ROOT / "docs" / "keys.md").read_text(encoding="utf-8")
    for screen_class, heading in (
        (SyncScreen, "## Sync"),
        (ConflictsScreen, "## Conflict review"),
        (ReportScreen, "## Monthly report"),
    ):
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        for binding in screen_class.BINDINGS:
            assert binding.id, f"{screen_class.__name__} {binding.key}: a binding without an id cannot be rebound"
            assert re.search(rf"`{re.escape(binding.id)}`", section), (screen_class.__name__, binding.id)
            assert binding.description in section or binding.action in section or binding.id in section
