"""Nothing is misrecorded (issue "Nothing a worker types is lost…"), under Pilot in the real app
on a real encrypted database: the referral provider saved is the one shown as chosen; keys that
change data ask or can be undone; an unreached attempt is quick to log and never "reached";
automatic follow-ups replace each other; notifications are consistent; intake warns of a
possible duplicate."""

from __future__ import annotations

from sqlmodel import select
from textual.widgets import Input, OptionList, Static

from tests.tui_support import (  # noqa: F401
    FROZEN_NOW,
    make_app,
    screen_text,
    settle,
    wait_armed,
)
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.store.models import Referral
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.forms import ReferralForm
from vipterm.tui.widgets import FormRow

TODAY = FROZEN_NOW.date()


def _first_row(store):
    return caseload_service.caseload(store, today=TODAY, now=FROZEN_NOW)[0]


def _error(screen, field) -> str:
    row = next(r for r in screen.query(FormRow) if r.field_name == field)
    return row.error_text


async def _open(pilot, key, form_class):
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, form_class), type(pilot.app.screen).__name__
    return pilot.app.screen


async def _type_into(pilot, field_id: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#{field_id}", Input)
    field.focus()
    field.value = ""
    if text:
        await pilot.press(*text)
    await pilot.pause()


def _referrals(store, client_id):
    with store.read() as session:
        return session.exec(select(Referral).where(Referral.client_id == client_id)).all()


# --- 1. the referral provider -------------------------------------------------------------------------


async def test_the_provider_saved_is_the_one_shown_chosen_and_a_need_change_clears_it(tui_path, tui_store):
    row = _first_row(tui_store)
    legal = records.search_providers(tui_store, "", need="legal")
    legal = [p for p in legal if p.category == "legal"]
    assert len(legal) >= 2
    before = {r.id for r in _referrals(tui_store, row.client_id)}
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        form = await _open(pilot, "r", ReferralForm)
        await _type_into(pilot, "need_domain", "legal")
        await settle(pilot)
        options = form.query_one("#provider_id", OptionList)
        assert options.highlighted is None, "a freshly listed directory chooses nobody"
        await _type_into(pilot, "provider_search", "")
        await pilot.press("down", "down")  # into the list, then onto the second legal provider
        await settle(pilot)
        assert form.chosen.id == legal[1].id
        assert legal[1].name in str(form.query_one("#provider-chosen", Static).render())

        # Correcting the need to one this provider does not serve clears the choice and says so.
        await _type_into(pilot, "need_domain", "housing")
        await settle(pilot)
        assert form.chosen is None
        assert options.highlighted is None
        assert "does not serve it" in _error(form, "provider_id")
        assert "no provider chosen" in str(form.query_one("#provider-chosen", Static).render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form, "no referral is sent without a provider"
        assert "choose a provider" in _error(form, "provider_id")
        assert {r.id for r in _referrals(tui_store, row.client_id)} == before

        # Back to legal, choose the second one again; a new search keeps the choice.
        await _type_into(pilot, "need_domain", "legal")
        await settle(pilot)
        options.focus()
        await pilot.press("down", "down")
        await settle(pilot)
        assert form.chosen.id == legal[1].id
        assert _error(form, "provider_id") == ""
        await _type_into(pilot, "provider_search", "zzzz")
        await settle(pilot)
        assert options.option_count == 0 and form.chosen.id == legal[1].id
        await _type_into(pilot, "provider_search", "")
        await settle(pilot)
        assert options.highlighted is not None
        assert options.get_option_at_index(options.highlighted).id == legal[1].id
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
    new = [r for r in _referrals(tui_store, row.client_id) if r.id not in before]
    assert len(new) == 1
    assert new[0].provider_id == legal[1].id and new[0].need_domain == "legal" and new[0].status == "sent"


async def test_a_need_change_keeps_a_provider_that_serves_the_new_need(tui_path, tui_store):
    row = _first_row(tui_store)
    shelters = [p for p in records.search_providers(tui_store, "", need="housing") if p.category == "shelter"]
    assert shelters
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        form = await _open(pilot, "r", ReferralForm)
        await _type_into(pilot, "need_domain", "housing")
        await settle(pilot)
        form.query_one("#provider_id", OptionList).focus()
        await pilot.press("down")
        await settle(pilot)
        chosen = form.chosen
        assert chosen is not None and chosen.category in ("shelter", "rental_assistance")
        await _type_into(pilot, "need_domain", "safety")  # relocation: does not serve it
        await settle(pilot)
        assert form.chosen is None
        await _type_into(pilot, "need_domain", "housing")
        await settle(pilot)
        assert form.chosen is None, "a cleared choice does not come back on its own"


# --- 2. no single key changes a record without a way back -------------------------------------------------

from datetime import timedelta  # noqa: E402

from textual.widgets import DataTable  # noqa: E402

from vipterm.store.models import Contact, FollowUp  # noqa: E402
from vipterm.tui.caseload import CaseloadScreen  # noqa: E402
from vipterm.tui.client_file import FollowUpTable  # noqa: E402
from vipterm.tui.field_work import ARM_SECONDS, AttemptModal, FollowUpDoneModal  # noqa: E402
from vipterm.tui.forms import ContactForm  # noqa: E402


def _overdue_row(store):
    row = _first_row(store)
    assert row.next_due is not None and row.next_due < TODAY
    return row


def _open_ids(store, client_id):
    return records.open_follow_ups(store, client_id)


def _contact_rows(store, client_id):
    with store.read() as session:
        return session.exec(select(Contact).where(Contact.client_id == client_id)).all()


async def _armed(pilot):
    await settle(pilot)
    await wait_armed(pilot)


async def test_a_name_typed_on_the_caseload_changes_nothing(tui_path, tui_store, monkeypatch):
    # Typed letters come milliseconds apart; a long arming time keeps the test so on a busy machine.
    monkeypatch.setattr(FollowUpDoneModal, "ARM_SECONDS", 5)
    row = _overdue_row(tui_store)
    before_open = [f.id for f in _open_ids(tui_store, row.client_id)]
    before_contacts = len(_contact_rows(tui_store, row.client_id))
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*"dylan")  # d asks; the letters after it arrive before it is armed
        await settle(pilot)
        assert not isinstance(app.screen, FollowUpDoneModal), "n (no) closed the question"
        assert isinstance(app.screen, CaseloadScreen)
        # A letter that is no caseload key starts the filter instead.
        await pilot.press(*"jose")
        await settle(pilot)
        assert app.screen.query_one("#filter", Input).value == "jose"
    assert [f.id for f in _open_ids(tui_store, row.client_id)] == before_open
    assert len(_contact_rows(tui_store, row.client_id)) == before_contacts


async def test_done_asks_which_follow_up_and_what_happened(tui_path, tui_store):
    row = _overdue_row(tui_store)
    court = records.schedule_follow_up(
        tui_store, row.client_id, TODAY + timedelta(days=2), kind="court_date", note="hearing at 9"
    )
    first = _open_ids(tui_store, row.client_id)[0]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await _armed(pilot)
        modal = app.screen
        assert isinstance(modal, FollowUpDoneModal)
        text = " ".join(
            str(modal.query_one(OptionList).get_option_at_index(i).prompt)
            for i in range(modal.query_one(OptionList).option_count)
        )
        assert "court date" in text and "hearing at 9" in text and "overdue" in text
        await pilot.press("enter")  # Enter is no answer
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert court.id in [f.id for f in _open_ids(tui_store, row.client_id)]
        await pilot.press("d")
        await _armed(pilot)
        await pilot.press("y")  # done without a contact: the earliest one
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    with tui_store.read() as session:
        closed = session.get(FollowUp, first.id)
        still = session.get(FollowUp, court.id)
    assert closed.done_at is not None and closed.closed_as == "no_contact"
    assert still.done_at is None


async def test_done_then_log_closes_it_only_if_the_contact_reached_the_client(tui_path, tui_store):
    row = _overdue_row(tui_store)
    first = _open_ids(tui_store, row.client_id)[0]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await _armed(pilot)
        await pilot.press("l")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ContactForm)
        await _type_into(pilot, "outcome", "no answer")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert first.id in [f.id for f in _open_ids(tui_store, row.client_id)]
        assert any("stays open" in n.message for n in app._notifications)
        await pilot.press("d")
        await _armed(pilot)
        await pilot.press("l")
        await settle(pilot)
        await _type_into(pilot, "outcome", "reached")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with tui_store.read() as session:
        closed = session.get(FollowUp, first.id)
    assert closed.done_at is not None and closed.closed_as == "contact"


async def test_done_in_the_client_file_closes_the_follow_up_under_the_cursor_only_when_asked(tui_path, tui_store):
    row = _overdue_row(tui_store)
    court = records.schedule_follow_up(tui_store, row.client_id, TODAY + timedelta(days=2), kind="court_date")
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        table = app.screen.query_one(FollowUpTable)
        table.focus()
        keys = [k.value for k in table.rows]
        table.move_cursor(row=keys.index(court.id))
        FollowUpDoneModal.ARM_SECONDS = 5  # the y below comes "too fast" even on a busy machine
        try:
            await pilot.press("d", "y")  # too fast: not an answer
            await settle(pilot)
        finally:
            FollowUpDoneModal.ARM_SECONDS = ARM_SECONDS
        assert court.id in [f.id for f in _open_ids(tui_store, row.client_id)]
        modal = app.screen
        assert isinstance(modal, FollowUpDoneModal)
        options = modal.query_one(OptionList)
        assert options.get_option_at_index(options.highlighted).id == court.id
        await wait_armed(pilot)
        await pilot.press("y")
        await settle(pilot)
    assert court.id not in [f.id for f in _open_ids(tui_store, row.client_id)]


# --- 3. an unreached attempt, quick and never "reached" -----------------------------------------------------


async def test_a_one_key_attempt_is_logged_and_leaves_the_overdue_follow_up(tui_path, tui_store):
    row = _overdue_row(tui_store)
    before_open = [f.id for f in _open_ids(tui_store, row.client_id)]
    before = {c.id for c in _contact_rows(tui_store, row.client_id)}
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await _armed(pilot)
        assert isinstance(app.screen, AttemptModal)
        await pilot.press("m")  # phone -> text
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    new = [c for c in _contact_rows(tui_store, row.client_id) if c.id not in before]
    assert [(c.outcome, c.mode) for c in new] == [("voicemail", "text")]
    assert [f.id for f in _open_ids(tui_store, row.client_id)] == before_open


async def test_the_contact_form_has_no_silent_reached(tui_path, tui_store):
    row = _overdue_row(tui_store)
    before = {c.id for c in _contact_rows(tui_store, row.client_id)}
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ContactForm)
        assert form.query_one("#outcome", Input).value == "" and app.focused.id == "outcome"
        form.query_one("#note").focus()
        await pilot.press(*"no answer, left voicemail")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "choose one" in _error(form, "outcome")
        assert {c.id for c in _contact_rows(tui_store, row.client_id)} == before
        form.query_one("#outcome").focus()
        await pilot.press("v", "enter", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    new = [c for c in _contact_rows(tui_store, row.client_id) if c.id not in before]
    assert [(c.outcome, c.note) for c in new] == [("voicemail", "no answer, left voicemail")]
    assert row.next_due in [f.due_on for f in _open_ids(tui_store, row.client_id)]


# --- 4. every open follow-up is listed ------------------------------------------------------------------------


async def test_the_client_file_lists_every_open_follow_up_with_kind_date_and_note(tui_path, tui_store):
    row = _first_row(tui_store)
    records.schedule_follow_up(
        tui_store, row.client_id, TODAY + timedelta(days=2), kind="court_date", note="hearing at 9"
    )
    records.log_contact(
        tui_store,
        records.ContactDraft(client_id=row.client_id, outcome="reached", next_follow_up=TODAY + timedelta(days=7)),
    )
    records.log_contact(
        tui_store,
        records.ContactDraft(client_id=row.client_id, outcome="reached", next_follow_up=TODAY + timedelta(days=8)),
    )
    expected = _open_ids(tui_store, row.client_id)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        table = app.screen.query_one(FollowUpTable)
        shown = [" ".join(str(c) for c in table.get_row(key)) for key in table.rows]
    assert [k for k in (f.id for f in expected)] == [k.value for k in table.rows]
    assert any("court date" in s and "hearing at 9" in s and str(TODAY + timedelta(days=2)) in s for s in shown)
    assert sum("automatic" in s for s in shown) == 1, "the second contact's follow-up replaced the first's"
    assert not any(str(TODAY + timedelta(days=7)) in s for s in shown)


# --- 5. referral history in the order it happened -------------------------------------------------------------

from datetime import datetime  # noqa: E402

from vipterm.store.models import ReferralEvent  # noqa: E402
from vipterm.tui.forms import ReferralStatusForm  # noqa: E402


async def test_a_status_set_in_the_form_keeps_its_seconds_and_its_place(tui_path, tui_store, monkeypatch):
    row = _first_row(tui_store)
    provider = records.search_providers(tui_store, "", need="legal")[0]
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T10:12:25-07:00")
    referral = records.create_referral(tui_store, records.ReferralDraft(row.client_id, "legal", provider.id))
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T10:12:40-07:00")  # 15 s later, within the same minute
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#cf-referrals", DataTable)
        table.focus()
        table.move_cursor(row=[k.value for k in table.rows].index(referral.id))
        form = await _open(pilot, "t", ReferralStatusForm)
        await _type_into(pilot, "status", "accepted")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        history = screen.client_file.referrals
        view = next(r for r in history if r.id == referral.id)
        assert [status for _, status, _ in view.history] == ["draft", "sent", "accepted"]
        assert form is not None
    with tui_store.read() as session:
        events = session.exec(select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)).all()
    accepted = next(e for e in events if e.status == "accepted")
    sent = next(e for e in events if e.status == "sent")
    assert accepted.at == datetime(2026, 11, 23, 17, 12, 40) > sent.at == datetime(2026, 11, 23, 17, 12, 25)
    assert (sent.seq, accepted.seq) == (2, 3)


# --- 6. custom notifications ------------------------------------------------------------------------------

from vipterm.store.models import NotificationAttempt  # noqa: E402
from vipterm.tui.forms import NotificationForm  # noqa: E402
from vipterm.tui.widgets import ConfirmModal  # noqa: E402


def _attempt_count(store, client_id):
    with store.read() as session:
        return len(session.exec(select(NotificationAttempt).where(NotificationAttempt.client_id == client_id)).all())


async def test_a_second_notification_attempt_on_the_same_day_asks_first(tui_path, tui_store):
    row = _first_row(tui_store)
    records.record_notification(tui_store, records.NotificationDraft(row.client_id, TODAY, outcome="not_found"))
    before = _attempt_count(tui_store, row.client_id)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "u", NotificationForm)
        await _type_into(pilot, "outcome", "not found")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "record another" in str(app.screen.query_one("#confirm-question", Static).render())
        await pilot.press("enter")  # the default is no
        await settle(pilot)
        assert app.screen is form and _attempt_count(tui_store, row.client_id) == before
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert not isinstance(app.screen, NotificationForm)
    assert _attempt_count(tui_store, row.client_id) == before + 1


# --- 7. intake warns of a possible duplicate ------------------------------------------------------------------

from vipterm.store.models import ClientIdentity  # noqa: E402
from vipterm.tui.field_work import DuplicateModal  # noqa: E402
from vipterm.tui.forms import ClientForm  # noqa: E402


def _identities(store):
    with store.read() as session:
        return len(session.exec(select(ClientIdentity)).all())


async def test_intake_lists_possible_duplicates_and_creates_only_on_y(tui_path, tui_store):
    jose = records.create_client(
        tui_store,
        records.ClientDraft(
            first_name="José Ángel",
            last_name="Núñez-Ibáñez",
            aka="Güero",
            area_command="valley",
            confirm_duplicate=True,
        ),
    )
    before = _identities(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await _open(pilot, "n", ClientForm)
        await _type_into(pilot, "first_name", "JOSE ANGEL")
        await _type_into(pilot, "last_name", "nunez ibanez")
        await _type_into(pilot, "area_command", "Valley")
        await pilot.press("ctrl+s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DuplicateModal)
        modal.ARM_SECONDS = 30  # as if the question had just opened: a y typed now is no answer
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is modal
        modal.ARM_SECONDS = ARM_SECONDS
        options = modal.query_one(OptionList)
        listed = [options.get_option_at_index(i) for i in range(options.option_count)]
        assert [o.id for o in listed] == [jose.id]
        assert jose.pseudonym in str(listed[0].prompt) and "same name" in str(listed[0].prompt)
        assert _identities(tui_store) == before
        await pilot.press("escape")  # back to the form, everything typed still there
        await settle(pilot)
        assert app.screen is form and form.query_one("#last_name", Input).value == "nunez ibanez"
        assert _identities(tui_store) == before
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DuplicateModal)
        await wait_armed(pilot)
        await pilot.press("y")  # one explicit key: create anyway
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen) and app.screen.client_id != jose.id
    assert _identities(tui_store) == before + 1


async def test_the_duplicate_list_respects_the_privacy_mask(tui_path, tui_store):
    records.create_client(
        tui_store,
        records.ClientDraft(first_name="Marisol", last_name="Quintana", area_command="valley", confirm_duplicate=True),
    )
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.masked = True
        await settle(pilot)
        await _open(pilot, "n", ClientForm)
        await _type_into(pilot, "first_name", "marisol")
        await _type_into(pilot, "last_name", "QUINTANA")
        await _type_into(pilot, "area_command", "Valley")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DuplicateModal)
        text = screen_text(app.screen) + " ".join(str(o.prompt) for o in app.screen.query_one(OptionList)._options)
        assert "Quintana" not in text and "M.Q." in text
        app.masked = False  # unmasking while the question is open shows the names
        await settle(pilot)
        shown = " ".join(str(o.prompt) for o in app.screen.query_one(OptionList)._options)
        assert "Marisol Quintana" in shown


# --- 2 (audit). the conflict and sync keys that change records ask first -----------------------------------


async def test_conflict_keys_and_sync_import_ask_before_changing_anything(tmp_path):
    from tests.sync_support import enrolled_program, exchange
    from vipterm.services import sync as sync_service
    from vipterm.tui.conflicts_screen import ConflictsScreen
    from vipterm.tui.sync_screen import SyncScreen

    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w.db", "Worker One"))
    try:
        a = records.create_client(laptop, records.ClientDraft(aka="First", area_command="valley"))
        exchange(coord, [laptop], tmp_path / "r1")
        records.update_client(laptop, a.id, area_command="foothills")
        records.update_client(coord, a.id, area_command="southeast")
        exchange(coord, [laptop], tmp_path / "r2")
        assert len(sync_service.list_conflicts(coord)) == 1

        app = make_app(coord.path, coord)
        screen = ConflictsScreen()
        app.call_later(app.push_screen, screen)
        async with app.run_test(size=(110, 30)) as pilot:
            await settle(pilot)
            for key in ("k", "t"):
                await pilot.press(key)
                await settle(pilot)
                assert isinstance(app.screen, ConfirmModal)
                await pilot.press("n")
                await settle(pilot)
                assert app.screen is screen
            assert len(sync_service.list_conflicts(coord)) == 1, "no answer, no decision"

        records.create_client(laptop, records.ClientDraft(aka="Later", area_command="valley"))
        stick = tmp_path / "stick"
        stick.mkdir()
        sync_service.export(laptop, stick)
        before = len(caseload_service.caseload(coord, worker_id=None))
        app = make_app(coord.path, coord)
        sync = SyncScreen(folder=stick)
        app.call_later(app.push_screen, sync)
        async with app.run_test(size=(110, 30)) as pilot:
            await settle(pilot)
            await pilot.press("i")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("escape")
            await settle(pilot)
        assert len(caseload_service.caseload(coord, worker_id=None)) == before
    finally:
        coord.close()
        laptop.close()
