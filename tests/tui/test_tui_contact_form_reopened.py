"""The contact form is built once and opened again for each contact (`ContactForm.reopen`): a new
form per contact left tens of thousands of objects in reference cycles for Python's full garbage
collections, the slowest contact saves (bench/FINDINGS.md). Opened again it must be as if new:
the client's defaults, no message, nothing of the last contact (not even in undo), a kept draft
put back, Escape without a question when nothing was typed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.tui_support import FROZEN_NOW, make_app, settle, wait_for
from vipterm import domain
from vipterm.services import caseload as caseload_service
from vipterm.services import drafts
from vipterm.tui.caseload import CaseloadScreen, ref_for
from vipterm.tui.forms import ContactForm
from vipterm.tui.widgets import ConfirmModal, FormModal, NoteArea


@pytest.fixture(autouse=True)
def quick_drafts(monkeypatch):
    monkeypatch.setattr(FormModal, "DRAFT_DELAY", 0.05)


async def _open_contact(pilot) -> ContactForm:
    await pilot.press("l")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, ContactForm)
    return form


def _as_new(form: ContactForm, row) -> None:
    """The form shows what a form just built for `row` shows."""
    assert form.ref.client_id == row.client_id
    assert form.snapshot_values() == {
        "occurred_at": FROZEN_NOW.strftime("%Y-%m-%d %H:%M"),
        "mode": domain.ContactMode.label_of(form.app.last_mode, ""),
        "purpose": domain.ContactPurpose.CHECK_IN.label,
        "duration_min": "",
        "area_command": domain.AreaCommand.label_of(row.area_command, ""),
        "outcome": "",
        "note": "",
        "next_follow_up": (FROZEN_NOW.date() + timedelta(days=7)).isoformat(),
    }
    assert form.title_line() in str(form.query_one("#form-title").render())
    assert not any(row.has_error for row in form.rows())
    assert not form.is_dirty() and not form.saving
    assert form.focused is form.query_one("#outcome")


async def test_the_contact_form_opens_again_as_if_new(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        first = app.screen.current_row()
        form = await _open_contact(pilot)
        _as_new(form, first)
        await pilot.press("ctrl+s")  # no outcome: refused, shown under the field
        await settle(pilot)
        assert app.screen is form and form.query_one("#row-outcome").has_error
        form.query_one("#outcome").value = "reached"
        form.query_one("#duration_min").value = "20"
        form.query_one("#note", NoteArea).focus()
        await pilot.press(*"about the first client")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)

        await pilot.press("down")
        second = app.screen.current_row()
        assert second.client_id != first.client_id
        again = await _open_contact(pilot)
        assert again is form  # the same screen, opened again
        _as_new(again, second)
        note = again.query_one("#note", NoteArea)
        note.focus()
        await pilot.press("ctrl+z")  # nothing of the last contact comes back
        await settle(pilot)
        assert note.value == ""
        await pilot.press("escape")  # nothing typed: closes without asking
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    with tui_store.read() as session:
        notes = session.execute(text("SELECT note FROM contact WHERE note LIKE 'about the%'")).scalars().all()
    assert notes == ["about the first client"]


async def test_a_discarded_contact_leaves_nothing_in_the_next_one(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        second = caseload_service.caseload(tui_store, today=FROZEN_NOW.date(), now=FROZEN_NOW)[1]
        form = await _open_contact(pilot)
        form.query_one("#note", NoteArea).focus()
        await pilot.press(*"typed then dropped")
        await wait_for(pilot, lambda: bool(drafts.list_drafts(tui_store)))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        await wait_for(pilot, lambda: not drafts.list_drafts(tui_store))

        # A kept draft (as offered after a crash) comes back in the reopened form, and is kept.
        app.open_form("contact", ref_for(second), draft={"outcome": "no answer", "note": "kept for later"})
        await settle(pilot)
        assert app.screen is form
        assert form.ref.client_id == second.client_id
        assert form.value("note") == "kept for later" and form.value("outcome") == "no answer"
        assert form.is_dirty()
        await wait_for(pilot, lambda: [d.key for d in drafts.list_drafts(tui_store)] == [f"contact:{second.client_id}"])
