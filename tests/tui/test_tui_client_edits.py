"""The client file's corrections under Pilot at 80×24, on a real encrypted database: `e` edits
the client (a refusal under its field, the draft kept), `C` closes with a reason and reopens
(y/n first)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from textual.widgets import Input, OptionList

from tests.tui_support import make_app, screen_text, settle, wait_armed, wait_for
from vipterm.services import records
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.client_forms import ClientEditForm, CloseReasonModal
from vipterm.tui.widgets import ConfirmModal, FormRow

SIZE = (80, 24)


def _client(store):
    return records.create_client(
        store, records.ClientDraft(first_name="Ana", last_name="Ruiz", phone="505-555-0100", area_command="valley")
    )


def _row(store, client_id):
    with store.read() as s:
        return s.execute(
            text(
                "SELECT i.first_name, i.phone, i.date_of_birth, c.area_command, c.risk_flags, c.status, c.closed_reason "
                "FROM client c JOIN client_identity i ON i.client_id = c.id WHERE c.id = :c"
            ),
            {"c": client_id},
        ).one()


def _error(screen, field) -> str:
    return next(r for r in screen.query(FormRow) if r.field_name == field).error_text


async def _open_file(pilot, client_id):
    pilot.app.open_client(client_id)
    await settle(pilot)
    assert isinstance(pilot.app.screen, ClientFileScreen)
    return pilot.app.screen


async def test_edit_form_saves_what_changed_and_keeps_the_draft_on_a_refusal(db_path, store):
    client = _client(store)
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _open_file(pilot, client.id)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ClientEditForm)
        assert form.query_one("#first_name", Input).value == "Ana"
        assert form.query_one("#area_command", Input).value == "Valley"
        form.query_one("#phone", Input).value = "505-555-0199"
        form.query_one("#date_of_birth", Input).value = "2030-01-01"  # in the future: refused
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "future" in _error(form, "date_of_birth")
        assert form.query_one("#phone", Input).value == "505-555-0199"  # the draft is kept
        assert _row(store, client.id)[1] == "505-555-0100"  # nothing saved
        form.query_one("#date_of_birth", Input).value = "1998-05-06"
        form.query_one("#area_command", Input).value = "Foothills"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        assert _row(store, client.id)[:4] == ("Ana", "505-555-0199", "1998-05-06", "foothills")
        assert "Foothills" in screen_text(app.screen)  # the file shows the edit at once


async def test_a_refusal_of_the_service_is_shown_under_its_field(db_path, store, monkeypatch):
    client = _client(store)
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _open_file(pilot, client.id)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        form.query_one("#phone", Input).value = "5" * 250  # the form lets it through; the service does not
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "longer than 200" in _error(form, "phone")
        assert _row(store, client.id)[1] == "505-555-0100"


async def test_edit_with_the_mask_on_is_refused(db_path, store):
    client = _client(store)
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _open_file(pilot, client.id)
        app.masked = True
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)


async def test_close_asks_why_then_yes_and_reopen_asks_yes(db_path, store):
    client = _client(store)
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_file(pilot, client.id)
        await pilot.press("C")
        await settle(pilot)
        assert isinstance(app.screen, CloseReasonModal)
        await wait_armed(pilot)
        await pilot.press("2")  # moved away
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # no: nothing changes
        await settle(pilot)
        assert _row(store, client.id)[5] == "identified"
        await pilot.press("C")
        await settle(pilot)
        await wait_armed(pilot)
        options = app.screen.query_one(OptionList)
        options.highlighted = 5  # lost contact
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert _row(store, client.id)[5:] == ("closed", "lost_contact")
        await wait_for(pilot, lambda: "closed: lost contact on 2026-11-23" in screen_text(screen))
        assert app.screen is screen
        await pilot.press("C")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal) and "Reopen" in screen_text(app.screen)
        await pilot.press("y")
        await settle(pilot)
        assert _row(store, client.id)[5:] == ("identified", None)


# --- c and x on the timeline ------------------------------------------------------------------------


async def _timeline_on(pilot, screen, record_id):
    from vipterm.tui.client_file import TimelineTable

    await wait_for(pilot, lambda: screen.query_one(TimelineTable).row_count > 0)
    table = screen.query_one(TimelineTable)
    table.focus()
    keys = [k.value for k in table.rows]
    row = next(n for n, k in enumerate(keys) if k.endswith(record_id))
    table.move_cursor(row=row)
    await pilot.pause()
    return table


async def test_x_voids_the_selected_contact_after_a_reason_and_yes(db_path, store):
    from vipterm.tui.client_forms import VoidReasonForm

    client = _client(store)
    contact = records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="reached", note="met"))
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_file(pilot, client.id)
        await _timeline_on(pilot, screen, contact.id)
        await pilot.press("x")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, VoidReasonForm)
        await pilot.press("ctrl+s")  # no reason: refused under the field
        await settle(pilot)
        assert app.screen is form and "say why" in _error(form, "reason")
        await pilot.press(*"wrong client")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: "[VOIDED]" in screen_text(screen))
        assert "wrong client" in screen_text(screen)
        assert "last contact: never" in screen_text(screen)
        with store.read() as s:
            assert (
                s.execute(
                    text("SELECT count(*) FROM fact_correction WHERE row_id = :r AND replacement_id IS NULL"),
                    {"r": contact.id},
                ).scalar_one()
                == 1
            )
        await pilot.press("x")  # already voided: said, nothing opens
        await settle(pilot)
        assert app.screen is screen


async def test_c_corrects_the_selected_contact_in_its_form(db_path, store):
    client = _client(store)
    contact = records.log_contact(
        store, records.ContactDraft(client_id=client.id, outcome="no_answer", mode="phone", note="rang")
    )
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_file(pilot, client.id)
        await _timeline_on(pilot, screen, contact.id)
        await pilot.press("c")
        await settle(pilot)
        form = app.screen
        assert form.query_one("#outcome", Input).value == "no answer"  # the mistaken fact's values
        assert form.query_one("#mode", Input).value == "phone"
        form.query_one("#outcome", Input).value = "reached"
        await pilot.press("ctrl+s")  # no reason yet
        await settle(pilot)
        assert app.screen is form and "say why" in _error(form, "reason")
        form.query_one("#correction_reason").focus()
        await pilot.press(*"they answered")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        await wait_for(pilot, lambda: "[SUPERSEDED]" in screen_text(screen))
        with store.read() as s:
            rows = s.execute(text("SELECT outcome, note FROM contact ORDER BY created_at, id")).all()
        assert [tuple(r) for r in rows] == [("no_answer", "rang"), ("reached", "rang")]


# --- a follow-up's time of day -----------------------------------------------------------------------


async def test_a_follow_up_gets_a_time_of_day_from_its_form(db_path, store):
    from vipterm.tui.forms import FollowUpForm

    client = _client(store)
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_file(pilot, client.id)
        await pilot.press("f")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FollowUpForm)
        form.query_one("#due_on", Input).value = "2026-11-30"
        form.query_one("#due_time", Input).value = "25:00"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "not a time of day" in _error(form, "due_time")
        form.query_one("#due_time", Input).value = "9"
        form.query_one("#kind", Input).value = "court date"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        await wait_for(pilot, lambda: "2026-11-30 09:00  court date" in screen_text(screen))
        with store.read() as s:
            assert s.execute(text("SELECT due_time FROM follow_up")).scalar_one() == "09:00"


def test_time_of_day_and_reschedule(store):
    import pytest

    from vipterm.errors import ValidationError

    assert [records.time_of_day(t) for t in ("9", "9:00", "0900", "17.30", "", None)] == [
        "09:00",
        "09:00",
        "09:00",
        "17:30",
        None,
        None,
    ]
    for bad in ("24:00", "9:7", "noon", "12:60"):
        with pytest.raises(ValidationError):
            records.time_of_day(bad)
    client = _client(store)
    today = store.clock.today()
    f = records.schedule_follow_up(store, client.id, today, kind="court_date", due_time="9:00")
    moved = records.reschedule_follow_up(store, f.id, date(2026, 12, 1))
    assert (moved.due_on, moved.due_time) == (date(2026, 12, 1), "09:00")  # the time kept
    moved = records.reschedule_follow_up(store, f.id, date(2026, 12, 2), None)
    assert moved.due_time is None
    with pytest.raises(ValidationError, match="past"):
        records.reschedule_follow_up(store, f.id, date(2026, 11, 1))
    records.complete_follow_up(store, f.id)
    with pytest.raises(ValidationError, match="closed already"):
        records.reschedule_follow_up(store, f.id, date(2026, 12, 3))


async def test_h_shows_the_field_history_masked_with_the_mask(db_path, store):
    from vipterm.tui.client_forms import FieldHistoryModal

    client = _client(store)
    records.edit_client(store, client.id, phone="505-555-0142", area_command="foothills")
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _open_file(pilot, client.id)
        await pilot.press("h")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, FieldHistoryModal)
        await wait_for(pilot, lambda: modal.changes is not None)
        shown = screen_text(modal)
        assert "505-555-0142" in shown and "505-555-0100" in shown and "foothills" in shown
        app.masked = True
        await settle(pilot)
        shown = screen_text(modal)
        assert "505-555-0142" not in shown and "foothills" in shown  # program fields are no identity
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
