"""Notes hold what was written: every note field is a multi-line editor, a pasted note keeps every
line, and the service stores it byte for byte (less the blank lines before it and the whitespace
after it)."""

from __future__ import annotations

import pytest
from sqlmodel import select
from textual import events

from tests.tui_support import (  # noqa: F401
    FROZEN_NOW,
    make_app,
    settle,
)
from vipterm.errors import ValidationError
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.store.models import Contact, FollowUp, Outcome
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.forms import ContactForm, FollowUpForm, OutcomeForm
from vipterm.tui.widgets import NoteArea

TODAY = FROZEN_NOW.date()
THREE_LINES = "Met at the park.\n  José says «they're looking for him»\tcall back Friday\nNext: court 12/3"


def _first_row(store):
    return caseload_service.caseload(store, today=TODAY, now=FROZEN_NOW)[0]


def _latest(store, model, client_id):
    with store.read() as session:
        return session.exec(
            select(model).where(model.client_id == client_id).order_by(model.created_at.desc(), model.id.desc())
        ).first()


async def _paste(pilot, text: str) -> None:
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


# --- the service ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, stored",
    [
        ("", ""),
        ("   \n\t \n", ""),  # whitespace only: no note
        ("one line", "one line"),
        ("a\nb\nc", "a\nb\nc"),
        ("\n\n  indented first\n\n  b  \tc \n\n", "  indented first\n\n  b  \tc"),  # inner text untouched
        ("x\r\ny\r\n", "x\r\ny"),  # a CSV cell's line ends are not rewritten
    ],
)
def test_clean_note_keeps_the_inner_text(written, stored):
    assert records.clean_note(written) == stored


def test_a_multi_line_note_is_stored_byte_for_byte(store):
    client = records.create_client(
        store, records.ClientDraft(first_name="Ana", area_command="valley", identified_on=store.clock.today())
    )
    contact = records.log_contact(
        store, records.ContactDraft(client_id=client.id, note=THREE_LINES + "\n", outcome="reached")
    )
    with store.read() as session:
        assert session.get(Contact, contact.id).note == THREE_LINES
    with pytest.raises(ValidationError) as err:
        records.log_contact(
            store,
            records.ContactDraft(client_id=client.id, note="x" * (records.MAX_NOTE_LENGTH + 1), outcome="reached"),
        )
    assert err.value.field == "note"


# --- the forms --------------------------------------------------------------------------------


async def test_a_pasted_three_line_note_is_saved_whole(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ContactForm)
        form.query_one("#outcome").value = "reached"
        form.query_one("#note", NoteArea).focus()
        # A terminal sends a paste's line breaks as carriage returns.
        await _paste(pilot, THREE_LINES.replace("\n", "\r"))
        assert form.query_one("#note", NoteArea).value == THREE_LINES
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    saved = _latest(tui_store, Contact, row.client_id)
    assert saved.note == THREE_LINES
    assert saved.note.splitlines() == THREE_LINES.split("\n") and len(saved.note.splitlines()) == 3


async def test_enter_in_a_note_is_a_new_line_tab_moves_on_ctrl_s_saves(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, OutcomeForm)
        await pilot.press(*"job", "tab")  # completes the choice, moves on
        assert app.focused.id == "occurred_on"
        await pilot.press("tab", "tab")
        assert app.focused.id == "note"
        await pilot.press(*"first line", "enter", *"second line", "enter", "enter", *"fourth")
        assert app.screen is form and app.focused.id == "note"  # enter did not move on or save
        await pilot.press("tab")
        assert app.focused.id != "note"  # the note does not swallow tab
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert _latest(tui_store, Outcome, row.client_id).note == "first line\nsecond line\n\nfourth"


async def test_a_fast_note_then_ctrl_s_keeps_every_character(tui_path, tui_store):
    row = _first_row(tui_store)
    note = "called twice\nno answer at 9, answered at 11"
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        app.screen.query_one("#outcome").value = "reached"
        app.screen.query_one("#note", NoteArea).focus()
        # The keys arrive together, as a fast typist's would; ctrl+s must not jump ahead of them.
        await pilot.press(*["enter" if c == "\n" else c for c in note], "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert _latest(tui_store, Contact, row.client_id).note == note


async def test_a_whitespace_note_is_empty_and_the_follow_up_note_keeps_its_lines(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, FollowUpForm)
        app.screen.query_one("#note", NoteArea).focus()
        await _paste(pilot, "\r\nbring the ID papers\r  and the letter\r\r")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert _latest(tui_store, FollowUp, row.client_id).note == "bring the ID papers\n  and the letter"
        await pilot.press("l")
        await settle(pilot)
        app.screen.query_one("#outcome").value = "reached"
        app.screen.query_one("#note", NoteArea).focus()
        await _paste(pilot, "  \r \t ")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert _latest(tui_store, Contact, row.client_id).note == ""
