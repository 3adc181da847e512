"""Pastes land once and where they were meant, in a burst too (`tui.key_order`): a form field's
paste, a paste right after Enter in a form, a paste right after `/` on the caseload.

Key bursts on the caseload and the unlock field are tested in test_tui_caseload.py and
test_tui_unlock_lock.py; Enter then typing in a form in test_tui_forms.py.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from tests.tui_support import make_app, settle
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.forms import ContactForm


def _send(app, *items) -> None:
    """Post keys and pastes all at once, in order, before the app handles the first."""
    from bench.tui_driver import send_key

    for item in items:
        if isinstance(item, events.Paste):
            item.set_sender(app)
            app._driver.send_message(item)
        else:
            send_key(app, item)


async def test_a_paste_into_a_form_field_lands_once(tui_path, tui_store):
    # Textual calls every class's paste handler; the field's own called Input's as well: twice.
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ContactForm)
        when = form.query_one("#occurred_at", Input)
        when.focus()
        await pilot.pause()
        when.value = ""
        _send(app, events.Paste("2026-11-20 10:30"), "enter", events.Paste("phone"))
        await settle(pilot)
        assert when.value == "2026-11-20 10:30"
        assert form.query_one("#mode", Input).value == "phone"  # after Enter: the next field's


async def test_a_paste_right_after_slash_goes_to_the_filter_once(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CaseloadScreen)
        _send(app, "slash", events.Paste("sam"))
        await settle(pilot, rounds=8)
        assert app.screen is screen
        assert screen.query_one("#filter", Input).value == "sam"
