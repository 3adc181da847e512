"""One set of rules: a form only reads its fields (what cannot be read is said at once), every rule
on the values is the service's and its message shows under the field; a message goes as soon as
the field changes; ticks read `[x]` / `[ ]`, not only a colour."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import Input

from tests.tui_support import (  # noqa: F401
    FROZEN_NOW,
    make_app,
    settle,
)
from vipterm.services import records
from vipterm.tui.forms import AssessmentForm, ContactForm, NotificationForm, OutcomeForm
from vipterm.tui.widgets import FormRow, NoteArea, TickList

FORMS_SOURCE = Path(__file__).resolve().parents[2] / "vipterm" / "tui" / "forms.py"


def _error(screen, field) -> str:
    return next(r for r in screen.query(FormRow) if r.field_name == field).error_text


async def _open(pilot, key, form_class):
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, form_class), type(pilot.app.screen).__name__
    return pilot.app.screen


def test_the_forms_hold_no_copy_of_a_service_rule():
    """The rules written twice before (not in the future, due in the past, before the contact,
    required name, a reason for a closed referral, no levels) are raised by the services only."""
    source = FORMS_SOURCE.read_text(encoding="utf-8")
    for message in (
        "in the future",
        "in the past",
        "before the contact",
        "a name or an alias is required",
        "say why the referral",
        "no levels",
        "between 0 and 1440",
    ):
        assert message not in source, message
    assert not re.search(r"(> |< )self\.app\.(today|now)\(\)", source), "a date compared with today in a form"


async def test_service_rules_show_under_their_field_and_go_when_it_changes(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "o", OutcomeForm)
        form.query_one("#kind", Input).value = "job"
        form.query_one("#occurred_on", Input).value = "+3"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert _error(form, "occurred_on") == "the outcome date is in the future"  # from records.record_outcome
        assert app.focused.id == "occurred_on"
        await pilot.press("backspace")
        assert _error(form, "occurred_on") == ""  # changed: the old message goes
        # A parsing error goes the same way.
        form.query_one("#kind", Input).value = "nothing like it"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "is not one of" in _error(form, "kind")
        form.query_one("#kind", Input).value = "job"
        await pilot.pause()
        assert _error(form, "kind") == ""
        # A note longer than the service keeps: shown under the note, gone once it is edited.
        form.query_one("#occurred_on", Input).value = "today"
        form.query_one("#note", NoteArea).value = "x" * (records.MAX_NOTE_LENGTH + 1)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "longer than" in _error(form, "note") and app.focused.id == "note"
        await pilot.press("backspace")
        await pilot.pause()
        assert _error(form, "note") == ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is not form  # saved


async def test_the_contact_rules_come_from_the_service(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        form.query_one("#outcome", Input).value = "reached"
        for field, bad, message in (
            ("occurred_at", "2099-01-01 10:00", "the contact time is in the future"),
            ("next_follow_up", "2026-11-01", "the next follow-up is before the contact"),
            ("duration_min", "25h", "the duration must be between 0 and 1440 minutes"),
        ):
            good = form.query_one(f"#{field}", Input).value
            form.query_one(f"#{field}", Input).value = bad
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert _error(form, field) == message, field
            form.query_one(f"#{field}", Input).value = good
            await pilot.pause()
            assert _error(form, field) == ""


async def test_the_needs_grid_message_goes_with_the_first_level(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "a", AssessmentForm)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert _error(form, "levels") == "the assessment has no levels"
        await pilot.press("2")
        await pilot.pause()
        assert _error(form, "levels") == ""


def _ticks(widget: TickList) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.option_count)]


async def test_ticks_read_x_or_blank_without_colour(tui_path, tui_store):
    app = make_app(
        tui_path,
        tui_store,
    )
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "u", NotificationForm)
        messages = form.query_one("#messages", TickList)
        lines = _ticks(messages)
        assert all(line.startswith(("[x] ", "[ ] ")) for line in lines), lines
        ticked = {line[4:].strip() for line in lines if line.startswith("[x]")}
        assert ticked == {
            messages.get_option_at_index(i).prompt.plain
            for i in range(messages.option_count)
            if messages.get_option_at_index(i).value in messages.selected
        }
        assert ticked and len(ticked) < len(lines)
        messages.focus()
        messages.highlighted = 0
        first = lines[0]
        await pilot.press("space")
        await pilot.pause()
        after = _ticks(messages)[0]
        assert after[4:] == first[4:] and after[:4] != first[:4]  # the tick changed, in text
