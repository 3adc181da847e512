"""The entry forms under Pilot: each saves through the real services, and each bad input is shown
beside its field with the form kept open and everything typed still there."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select
from textual.widgets import Input, OptionList, SelectionList

from tests.tui_support import (  # noqa: F401
    FROZEN_NOW,
    make_app,
    screen_text,
    settle,
    wait_armed,
)
from vipterm import domain
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.store.models import (
    Assessment,
    AssessmentItem,
    Client,
    ClientIdentity,
    Contact,
    FollowUp,
    NotificationAttempt,
    Outcome,
    Referral,
    ReferralEvent,
)
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.forms import (
    AssessmentForm,
    ClientForm,
    ContactForm,
    FollowUpForm,
    NotificationForm,
    OutcomeForm,
    ReferralForm,
    ReferralStatusForm,
)
from vipterm.tui.widgets import ConfirmModal, FormRow, NoteArea

TODAY = FROZEN_NOW.date()


def _first_row(store):
    return caseload_service.caseload(store, today=TODAY, now=FROZEN_NOW)[0]


def _contacts(store, client_id):
    with store.read() as session:
        return session.exec(
            select(Contact).where(Contact.client_id == client_id).order_by(Contact.created_at.desc(), Contact.id.desc())
        ).all()


def _error(screen, field) -> str:
    row = next(r for r in screen.query(FormRow) if r.field_name == field)
    return row.error_text


async def _open(pilot, key, form_class):
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, form_class), type(pilot.app.screen).__name__
    return pilot.app.screen


async def _type_into(pilot, field_id: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#{field_id}", (Input, NoteArea))
    field.focus()
    field.value = ""
    await pilot.press(*text) if text else None
    await pilot.pause()


# --- contact ---------------------------------------------------------------------------------------


def _burst(app, keys) -> None:
    """Post keys the way a fast typist's terminal delivers them: all at once, no waits between."""
    from bench.tui_driver import send_key

    for key in keys:
        send_key(app, key)


async def test_keys_typed_right_after_enter_land_in_the_next_field(tui_path, tui_store):
    # "r ⏎ note ctrl+s" in one burst: the note goes to the note, not to the outcome field.
    row = _first_row(tui_store)
    before = len(_contacts(tui_store, row.client_id))
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _open(pilot, "l", ContactForm)
        _burst(app, ["r", "enter", *"fast note, all of it", "ctrl+s"])
        await settle(pilot, rounds=8)
        assert isinstance(app.screen, CaseloadScreen)
    contacts = _contacts(tui_store, row.client_id)
    assert len(contacts) == before + 1
    assert contacts[0].outcome == "reached" and contacts[0].note == "fast note, all of it"


async def test_editing_keys_in_a_burst_act_where_they_were_typed_in_a_form_field(tui_path, tui_store):
    # "voice ctrl+u reacx ⌫ hed": ctrl+u and backspace ran by their bindings, once the key had
    # bubbled up to the app, after the letters typed after them (an empty field, or "reacxhe").
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        outcome = form.query_one("#outcome", Input)
        assert app.focused is outcome
        _burst(app, [*"voice", "ctrl+u", *"reacx", "backspace", *"hed"])
        await settle(pilot)
        assert outcome.value == "reached"
        _burst(app, ["home", "delete", "R", "end", "backspace", "backspace", *"ed"])  # the cursor keys too
        await settle(pilot)
        assert outcome.value == "Reached"
        _burst(app, ["enter", *"note"])  # Enter still hands the rest on to the next field
        await settle(pilot)
        assert outcome.value == "reached" and form.query_one("#note", NoteArea).text == "note"


async def test_editing_keys_in_a_burst_act_where_they_were_typed_in_a_note(tui_path, tui_store):
    # The note (a TextArea) the same: its backspace and ctrl+u ran after the letters typed after them.
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        note = form.query_one("#note", NoteArea)
        _burst(app, ["r", "enter", *"wrong", "ctrl+u", *"called bakc", "backspace", "backspace", *"ck"])
        await settle(pilot)
        assert app.focused is note
        assert note.text == "called back"


async def test_log_contact_in_a_handful_of_keys(tui_path, tui_store):
    row = _first_row(tui_store)
    before = len(_contacts(tui_store, row.client_id))
    records_mode = records.last_contact_mode(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.last_mode = records_mode
        form = await _open(pilot, "l", ContactForm)
        assert app.focused.id == "outcome"  # open, say what happened, type, save
        assert form.query_one("#outcome", Input).value == ""  # never a silent "reached"
        assert form.query_one("#mode", Input).value == domain.ContactMode(records_mode).label
        await pilot.press("r", "enter", *"called, court date moved", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    contacts = _contacts(tui_store, row.client_id)
    assert len(contacts) == before + 1
    new = contacts[0]
    assert new.note == "called, court date moved"
    assert new.mode == records_mode and new.outcome == "reached" and new.purpose == "check_in"
    assert new.occurred_at == tui_store.clock.to_utc(FROZEN_NOW)
    assert new.area_command == row.area_command
    with tui_store.read() as session:
        due = session.exec(
            select(FollowUp).where(FollowUp.client_id == row.client_id, FollowUp.due_on == TODAY + timedelta(days=7))
        ).all()
    assert due, "a follow-up a week ahead is scheduled"


async def test_enter_accepts_the_defaults_and_saves_from_the_last_field(tui_path, tui_store):
    row = _first_row(tui_store)
    before = len(_contacts(tui_store, row.client_id))
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await _open(pilot, "l", ContactForm)
        await pilot.press("r", "enter", *"gave a ride to court", "tab")  # enter in the note is a new line
        assert app.focused.id == "next_follow_up"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert len(_contacts(tui_store, row.client_id)) == before + 1


async def test_tab_completes_a_choice(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        await _type_into(pilot, "mode", "vi")
        await pilot.press("tab")
        assert form.query_one("#mode", Input).value == "via family"
        assert app.focused.id == "purpose"
        await _type_into(pilot, "outcome", "no")
        await pilot.press("down")  # arrows step through the choices
        await pilot.press("ctrl+s")
        await settle(pilot)
    new = _contacts(tui_store, row.client_id)[0]
    assert new.mode == "via_family" and new.outcome == "voicemail"


async def test_contact_bad_inputs_are_shown_beside_their_fields_and_nothing_is_lost(tui_path, tui_store):
    row = _first_row(tui_store)
    before = len(_contacts(tui_store, row.client_id))
    cases = [
        ("occurred_at", "2026-02-30 10:00", "not a real date"),
        ("occurred_at", "2099-01-01 10:00", "in the future"),
        ("mode", "bicycle", "is not one of"),
        ("duration_min", "a while", "not a number of minutes"),
        ("duration_min", "2000", "between 0 and 1440"),
        ("next_follow_up", "2026-11-01", "before the contact"),
        ("area_command", "south", "is not one of"),
    ]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        await pilot.press("r", "enter")  # the outcome is chosen, then the note
        await pilot.press(*"kept note")
        for field, bad, message in cases:
            good = form.query_one(f"#{field}", Input).value
            await _type_into(pilot, field, bad)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is form, f"{field}={bad!r} closed the form"
            assert message in _error(form, field), (field, _error(form, field))
            assert app.focused.id == field
            assert form.query_one("#note", NoteArea).value == "kept note"
            assert form.query_one(f"#{field}", Input).value == bad
            form.query_one(f"#{field}", Input).value = good
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert len(_contacts(tui_store, row.client_id)) == before + 1


async def test_escape_asks_before_dropping_a_draft(tui_path, tui_store):
    row = _first_row(tui_store)
    before = len(_contacts(tui_store, row.client_id))
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        await pilot.press("r", "enter")  # the outcome is chosen, then the note
        await pilot.press(*"half a thought")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is form and form.query_one("#note", NoteArea).value == "half a thought"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, CaseloadScreen)
        # An untouched form closes at once.
        await _open(pilot, "l", ContactForm)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CaseloadScreen)
    assert len(_contacts(tui_store, row.client_id)) == before


async def test_a_failing_save_keeps_the_form_and_the_draft(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        await pilot.press("r", "enter")  # the outcome is chosen, then the note
        await pilot.press(*"note that must survive")
        # Another device's change removed the client while the form was open.
        with tui_store.write() as session:
            session.get(Client, row.client_id).deleted_at = tui_store.clock.to_utc(FROZEN_NOW)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert form.query_one("#note", NoteArea).value == "note that must survive"
        assert any("no client with id" in n.message for n in app._notifications)
        assert not form.saving  # a second try is possible


async def test_a_busy_database_gives_a_toast_and_keeps_the_draft(tui_path, tui_store):
    from vipterm.store.engine import connect_raw

    row = _first_row(tui_store)
    before = len(_contacts(tui_store, row.client_id))
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "l", ContactForm)
        await pilot.press("r", "enter")  # the outcome is chosen, then the note
        await pilot.press(*"written while the sync holds the lock")
        blocker = connect_raw(tui_path, tui_store.database.raw)  # another writer holds the lock
        blocker.execute("BEGIN IMMEDIATE")
        try:
            await pilot.press("ctrl+s")
            await settle(pilot, rounds=8)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert app.screen is form
        assert any("busy" in n.message for n in app._notifications)
        assert form.query_one("#note", NoteArea).value == "written while the sync holds the lock"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert len(_contacts(tui_store, row.client_id)) == before + 1


# --- custom notification ---------------------------------------------------------------------------


async def test_custom_notification_with_team_and_messages(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "u", NotificationForm)
        await pilot.press(*"Rosa M")
        await _type_into(pilot, "team-name-1", "Officer Diaz")
        await _type_into(pilot, "attempted_on", "2026-12-25")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "in the future" in _error(form, "attempted_on")
        await _type_into(pilot, "attempted_on", "yesterday")
        # Not found: the default messages are unticked, and a team is refused under its field.
        await _type_into(pilot, "outcome", "not f")
        assert list(form.query_one("#messages", SelectionList).selected) == []
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "only for a delivered notification" in _error(form, "team")
        await _type_into(pilot, "outcome", "delivered")
        assert set(form.query_one("#messages", SelectionList).selected) == {
            "community_cares",
            "offer_of_help",
            "peer_contact",
        }
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    with tui_store.read() as session:
        attempt = session.exec(
            select(NotificationAttempt)
            .where(NotificationAttempt.client_id == row.client_id)
            .order_by(NotificationAttempt.created_at.desc())
        ).first()
        first_follow_up = session.exec(
            select(FollowUp).where(
                FollowUp.client_id == row.client_id, FollowUp.auto.is_(True), FollowUp.done_at.is_(None)
            )
        ).all()
    assert attempt.attempted_on == TODAY - timedelta(days=1)
    assert attempt.outcome == "delivered"
    assert json.loads(attempt.team) == [
        {"name": "Rosa M", "role": "peer_support"},
        {"name": "Officer Diaz", "role": "police"},
    ]
    assert set(attempt.messages.split(",")) == {"community_cares", "offer_of_help", "peer_contact"}
    assert [f.due_on for f in first_follow_up] == [
        TODAY - timedelta(days=1) + timedelta(days=domain.FIRST_FOLLOW_UP_DAYS)
    ]


# --- new client ---------------------------------------------------------------------------------------


async def test_new_client_intake_then_its_file_opens(tui_path, tui_store):
    from datetime import date

    with tui_store.read() as session:  # a birth date and alias nobody has: no duplicate to confirm
        taken = {i.date_of_birth for i in session.exec(select(ClientIdentity))}
    born = next(date(2004, 3, d) for d in range(1, 29) if date(2004, 3, d) not in taken)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "n", ClientForm)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "choose one" in _error(form, "area_command")  # what cannot be read is said first
        await _type_into(pilot, "area_command", "vall")
        assert _error(form, "area_command") == ""  # gone once the value changes
        await pilot.press("tab")
        assert form.query_one("#area_command", Input).value == "Valley"
        await _type_into(pilot, "date_of_birth", "2004-13-01")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "not a real date" in _error(form, "date_of_birth")
        await _type_into(pilot, "date_of_birth", born.isoformat())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "a name or an alias is required" in _error(form, "first_name")  # the service's rule
        await _type_into(pilot, "aka", "Tizoc")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        client_id = app.screen.client_id
        assert "“Tizoc”" in screen_text(app.screen)
    with tui_store.read() as session:
        client = session.get(Client, client_id)
        identity = session.get(ClientIdentity, client_id)
    assert identity.aka == "Tizoc" and client.area_command == "valley"
    # The demo database is the coordinator's: a client added there waits unassigned (`w` assigns).
    assert client.age_group == "18_24" and client.assigned_worker_id is None


# --- needs assessment -----------------------------------------------------------------------------------


async def test_needs_assessment_grid_keys_and_previous_levels(tui_path, tui_store):
    rows = caseload_service.caseload(tui_store, today=TODAY, now=FROZEN_NOW)
    row = next(r for r in rows if records.latest_assessment_levels(tui_store, r.client_id))
    previous = records.latest_assessment_levels(tui_store, row.client_id)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        form = await _open(pilot, "a", AssessmentForm)
        grid = form.query_one("#needs-grid")
        assert form.query_one("#kind", Input).value == "90-day"  # there is an earlier one
        for need in domain.NeedDomain:
            level = previous.get(need.value, (None, False))[0]
            shown = str(grid.get_row(need.value)[1])
            assert shown.startswith(str(level) if level is not None else "·")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "the assessment has no levels" in _error(form, "levels")  # the service says so
        assert app.focused is grid
        await pilot.press("3")  # housing: urgent, cursor moves to food
        await pilot.press("up", "p")  # housing is the client's priority
        await pilot.press("down", "1")  # food: low
        await pilot.press("down", "2")  # (the cursor moved on to income) employment: moderate
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
    with tui_store.read() as session:
        latest = session.exec(
            select(Assessment).where(Assessment.client_id == row.client_id).order_by(Assessment.created_at.desc())
        ).first()
        items = {
            i.domain: (i.level, i.client_priority)
            for i in session.exec(select(AssessmentItem).where(AssessmentItem.assessment_id == latest.id))
        }
    assert latest.kind == "ninety_day" and latest.assessed_on == TODAY
    assert items == {"housing": (3, True), "food": (1, False), "employment": (2, False)}


# --- referrals ------------------------------------------------------------------------------------------


async def test_referral_search_pick_and_send(tui_path, tui_store):
    row = _first_row(tui_store)
    legal = [p for p in records.search_providers(tui_store, "legal aid")]
    assert legal
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        form = await _open(pilot, "r", ReferralForm)
        await _type_into(pilot, "need_domain", "legal")
        await pilot.press("tab")
        await settle(pilot)
        await _type_into(pilot, "provider_search", "zzzz")
        await settle(pilot)
        assert form.query_one("#provider_id", OptionList).option_count == 0
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "choose a provider" in _error(form, "provider_id")
        await _type_into(pilot, "provider_search", "legal aid")
        await settle(pilot)
        options = form.query_one("#provider_id", OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [p.id for p in legal]
        await pilot.press("down")
        assert app.focused is options
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
    with tui_store.read() as session:
        referral = session.exec(
            select(Referral)
            .where(Referral.client_id == row.client_id)
            .order_by(Referral.created_at.desc(), Referral.id.desc())
        ).first()
    assert referral.provider_id == legal[0].id and referral.need_domain == "legal" and referral.status == "sent"


async def test_referral_status_modal_moves_the_referral_with_a_reason(tui_path, tui_store):
    rows = caseload_service.caseload(tui_store, worker_id=None, today=TODAY, now=FROZEN_NOW)
    row = next(r for r in rows if r.stale_referrals)
    cf = caseload_service.client_file(tui_store, row.client_id, today=TODAY, now=FROZEN_NOW)
    open_values = {s.value for s in domain.OPEN_REFERRAL_STATUSES}
    referral = next(r for r in cf.referrals if r.status in open_values)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        form = await _open(pilot, "t", ReferralStatusForm)
        assert form.referral.id == referral.id  # open referrals are listed first
        allowed = domain.REFERRAL_TRANSITIONS[domain.ReferralStatus(referral.status)]
        assert "allowed: " in screen_text(form)
        await _type_into(pilot, "status", "cancelled")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "say why" in _error(form, "reason")
        await _type_into(pilot, "status", "draft")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "is not one of" in _error(form, "status")
        await _type_into(pilot, "status", "cancelled")
        await _type_into(pilot, "reason", "client moved out of state")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
    assert domain.ReferralStatus.CANCELLED in allowed
    with tui_store.read() as session:
        saved = session.get(Referral, referral.id)
        last_event = session.exec(
            select(ReferralEvent)
            .where(ReferralEvent.referral_id == referral.id)
            .order_by(ReferralEvent.at.desc(), ReferralEvent.id.desc())
        ).first()
    assert saved.status == "cancelled"
    assert last_event.reason == "client moved out of state" and last_event.by_worker == tui_store.worker_id


# --- outcome and follow-up ------------------------------------------------------------------------------


async def test_outcome_entry_and_its_bad_inputs(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "o", OutcomeForm)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "choose one" in _error(form, "kind")
        await _type_into(pilot, "kind", "job")
        await _type_into(pilot, "occurred_on", "+3")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "in the future" in _error(form, "occurred_on")
        await _type_into(pilot, "occurred_on", "-10")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    with tui_store.read() as session:
        outcome = session.exec(
            select(Outcome).where(Outcome.client_id == row.client_id).order_by(Outcome.created_at.desc())
        ).first()
    assert outcome.kind == "job" and outcome.occurred_on == TODAY - timedelta(days=10) and outcome.source == "worker"


async def test_follow_up_entry_and_a_past_date(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "f", FollowUpForm)
        await _type_into(pilot, "due_on", "2026-11-01")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "in the past" in _error(form, "due_on")
        await _type_into(pilot, "due_on", "+3")
        await _type_into(pilot, "kind", "court")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    with tui_store.read() as session:
        made = session.exec(
            select(FollowUp).where(FollowUp.client_id == row.client_id, FollowUp.due_on == TODAY + timedelta(days=3))
        ).all()
    assert [f.kind for f in made] == ["court_date"]


async def test_follow_up_done_from_the_client_file(tui_path, tui_store):
    row = _first_row(tui_store)
    cf = caseload_service.client_file(tui_store, row.client_id, today=TODAY, now=FROZEN_NOW)
    first_due = cf.next_follow_up
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await wait_armed(pilot)
        await pilot.press("y")  # done without a contact
        await settle(pilot)
        assert "done without a contact" in " ".join(n.message for n in app._notifications)
    with tui_store.read() as session:
        assert session.get(FollowUp, first_due.id).done_at is not None
