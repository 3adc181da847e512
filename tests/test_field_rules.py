"""The services' rules that keep field work from being misrecorded (issue "Nothing a worker types
is lost…", section "Nothing is misrecorded"), on real encrypted databases with the frozen program
clock: attempts never count as reached nor close a due follow-up, automatic follow-ups replace
each other, a referral's events keep the order they were entered in, custom notifications are
consistent, and intake finds possible duplicates."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from vipterm import domain
from vipterm.errors import NeedsConfirmation, ValidationError
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.store.models import Contact, FollowUp, NotificationAttempt, ReferralEvent


def _client(store, **identity):
    identity = identity or {"aka": "Rule"}
    return records.create_client(store, records.ClientDraft(area_command="valley", confirm_duplicate=True, **identity))


def _open_follow_ups(store, client_id):
    return records.open_follow_ups(store, client_id)


def _contacts(store, client_id):
    with store.read() as session:
        return session.exec(select(Contact).where(Contact.client_id == client_id)).all()


# --- 3. attempts -----------------------------------------------------------------------------------------


def test_a_contact_has_no_silent_outcome(store):
    client = _client(store)
    with pytest.raises(ValidationError) as err:
        records.log_contact(store, records.ContactDraft(client_id=client.id))
    assert err.value.field == "outcome" and "reached" in err.value.message
    assert _contacts(store, client.id) == []


@pytest.mark.parametrize("outcome", [o.value for o in domain.ATTEMPT_OUTCOMES])
def test_an_attempt_is_never_reached_and_leaves_the_due_follow_up_open(store, outcome):
    client = _client(store)
    today = store.clock.today()
    due = records.schedule_follow_up(store, client.id, today, note="call about court")
    contact = records.log_attempt(store, client.id, outcome, note="left a message")
    assert contact.outcome == outcome != "reached"
    still_open = _open_follow_ups(store, client.id)
    assert [f.id for f in still_open] == [due.id], "the due follow-up stays open, nothing added after it"
    # ...and a contact that reached the client closes it.
    records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="reached"))
    with store.read() as session:
        closed = session.get(FollowUp, due.id)
    assert closed.done_at is not None and closed.closed_as == "contact"


def test_an_attempt_with_nothing_open_asks_to_try_again_tomorrow(store):
    client = _client(store)
    records.log_attempt(store, client.id, "voicemail")
    [follow_up] = _open_follow_ups(store, client.id)
    assert follow_up.due_on == store.clock.today() + timedelta(days=1) and follow_up.auto


def test_a_reached_contact_is_not_an_attempt(store):
    client = _client(store)
    with pytest.raises(ValidationError) as err:
        records.log_attempt(store, client.id, "reached")
    assert err.value.field == "outcome"
    assert _contacts(store, client.id) == []


def test_an_unreached_contact_with_a_next_follow_up_does_not_push_the_due_one_later(store):
    client = _client(store)
    today = store.clock.today()
    records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="reached", next_follow_up=today))
    records.log_contact(
        store, records.ContactDraft(client_id=client.id, outcome="no_answer", next_follow_up=today + timedelta(days=7))
    )
    assert [f.due_on for f in _open_follow_ups(store, client.id)] == [today]


def test_the_report_counts_only_reached_contacts_as_reached(store):
    from vipterm.services import report

    client = _client(store)
    for outcome in ("reached", "voicemail", "wrong_number", "no_answer", "refused"):
        records.log_contact(store, records.ContactDraft(client_id=client.id, outcome=outcome))
    result = report.build_report(store, store.clock.today().replace(day=1))
    total = result.contacts_per_worker.row("total").values
    assert (total["contacts"], total["reached"], total["clients"]) == (5, 1, 1)


# --- 4. automatic follow-ups ------------------------------------------------------------------------------


def test_automatic_follow_ups_replace_each_other(store):
    client = _client(store)
    today = store.clock.today()
    manual = records.schedule_follow_up(
        store, client.id, today + timedelta(days=3), kind="court_date", note="hearing 9am"
    )
    for days in (7, 8, 9):
        records.log_contact(
            store,
            records.ContactDraft(client_id=client.id, outcome="reached", next_follow_up=today + timedelta(days=days)),
        )
    still_open = _open_follow_ups(store, client.id)
    assert [(f.kind, f.due_on) for f in still_open] == [
        ("court_date", today + timedelta(days=3)),
        ("contact", today + timedelta(days=9)),
    ]
    with store.read() as session:
        replaced = session.exec(
            select(FollowUp).where(FollowUp.client_id == client.id, FollowUp.closed_as == "replaced")
        ).all()
    assert len(replaced) == 2
    cf = caseload_service.client_file(store, client.id)
    assert [(f.kind, f.note, f.auto) for f in cf.follow_ups] == [
        ("court_date", "hearing 9am", False),
        ("contact", "", True),
    ]
    assert manual.id == still_open[0].id


def test_a_hand_scheduled_contact_follow_up_is_not_replaced(store):
    client = _client(store)
    today = store.clock.today()
    by_hand = records.schedule_follow_up(store, client.id, today + timedelta(days=10), note="after the move")
    records.log_contact(
        store, records.ContactDraft(client_id=client.id, outcome="reached", next_follow_up=today + timedelta(days=7))
    )
    assert by_hand.id in [f.id for f in _open_follow_ups(store, client.id)]


# --- 2. closing a follow-up says how ---------------------------------------------------------------------


def test_completing_a_follow_up_records_how_and_can_be_undone(store):
    client = _client(store)
    today = store.clock.today()
    court = records.schedule_follow_up(store, client.id, today + timedelta(days=2), kind="court_date")
    done = records.complete_follow_up(store, court.id, closed_as="no_contact")
    assert done.closed_as == "no_contact" and _open_follow_ups(store, client.id) == []
    records.reopen_follow_up(store, court.id)
    assert [f.id for f in _open_follow_ups(store, client.id)] == [court.id]


def test_closing_by_a_contact_needs_a_contact_that_reached_the_client(store):
    client = _client(store)
    other = _client(store, aka="Other")
    follow_up = records.schedule_follow_up(store, client.id, store.clock.today())
    attempt = records.log_attempt(store, client.id, "no_answer")
    with pytest.raises(ValidationError):
        records.complete_follow_up(store, follow_up.id, closed_as="contact", contact_id=attempt.id)
    elsewhere = records.log_contact(store, records.ContactDraft(client_id=other.id, outcome="reached"))
    with pytest.raises(ValidationError):
        records.complete_follow_up(store, follow_up.id, closed_as="contact", contact_id=elsewhere.id)
    with pytest.raises(ValidationError):
        records.complete_follow_up(store, follow_up.id, closed_as="replaced")
    assert follow_up.id in [f.id for f in _open_follow_ups(store, client.id)]


# --- 5. referral history order --------------------------------------------------------------------------


def test_referral_events_keep_the_order_entered_with_seconds(store, monkeypatch):
    client = _client(store)
    provider = records.add_provider(store, "Legal Aid", "legal")
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T10:12:25-07:00")
    referral = records.create_referral(store, records.ReferralDraft(client.id, "legal", provider.id))
    # The status form used to pass a time cut to the minute: now such a time is refused...
    with pytest.raises(ValidationError) as err:
        records.set_referral_status(store, referral.id, "accepted", at=datetime(2026, 11, 23, 17, 12, 0))
    assert err.value.field == "at"
    # ...and "now" keeps its seconds.
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T10:12:40-07:00")
    records.set_referral_status(store, referral.id, "accepted")
    records.set_referral_status(store, referral.id, "in_progress")
    with store.read() as session:
        events = session.exec(select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)).all()
    events.sort(key=caseload_service.event_order)
    assert [(e.seq, e.status) for e in events] == [(1, "draft"), (2, "sent"), (3, "accepted"), (4, "in_progress")]
    assert events[2].at == datetime(2026, 11, 23, 17, 12, 40)
    assert all(a.at <= b.at for a, b in zip(events, events[1:]))
    history = caseload_service.client_file(store, client.id).referrals[0].history
    assert [status for _, status, _ in history] == ["draft", "sent", "accepted", "in_progress"]


def test_a_clock_behind_the_last_event_never_puts_an_event_before_it(store, monkeypatch):
    client = _client(store)
    provider = records.add_provider(store, "Shelter", "shelter")
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T10:12:25-07:00")
    referral = records.create_referral(store, records.ReferralDraft(client.id, "housing", provider.id))
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T10:11:00-07:00")  # this laptop is behind
    records.set_referral_status(store, referral.id, "accepted")
    with store.read() as session:
        events = session.exec(select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)).all()
    accepted = next(e for e in events if e.status == "accepted")
    sent = next(e for e in events if e.status == "sent")
    assert accepted.at == sent.at and accepted.seq == sent.seq + 1


def test_migration_numbers_existing_events_in_the_order_they_were_created(tmp_path):
    """Schema 4 orders a version-3 history by creation (UUIDv7 ids), not by the minute-cut times."""
    from vipterm.store.migrations import MIGRATIONS

    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE referral_event (id VARCHAR PRIMARY KEY, referral_id VARCHAR, status VARCHAR,"
        " at DATETIME, deleted_at DATETIME)"
    )
    conn.execute("CREATE TABLE follow_up (id VARCHAR PRIMARY KEY)")
    rows = [
        ("0190-a", "r1", "draft", "2026-11-23 17:12:25"),
        ("0190-b", "r1", "sent", "2026-11-23 17:12:25"),
        ("0190-c", "r1", "accepted", "2026-11-23 17:12:00"),
        ("0190-d", "r2", "draft", "2026-11-23 17:00:00"),
    ]
    conn.executemany("INSERT INTO referral_event (id, referral_id, status, at) VALUES (?, ?, ?, ?)", rows)
    script = next(apply for number, _, apply in MIGRATIONS if number == 4)

    class Conn:  # the migration's apply() takes a SQLAlchemy connection; this one runs the SQL as is
        def exec_driver_sql(self, sql):
            conn.execute(sql)

    script(Conn())
    got = conn.execute("SELECT referral_id, status, seq FROM referral_event ORDER BY referral_id, seq").fetchall()
    assert got == [("r1", "draft", 1), ("r1", "sent", 2), ("r1", "accepted", 3), ("r2", "draft", 1)]


# --- 6. custom notifications ------------------------------------------------------------------------------


def _notification(client, **kw):
    base = dict(client_id=client.id, attempted_on=date(2026, 11, 23))
    base.update(kw)
    return records.NotificationDraft(**base)


def _attempts(store, client_id):
    with store.read() as session:
        return session.exec(select(NotificationAttempt).where(NotificationAttempt.client_id == client_id)).all()


def test_messages_and_team_belong_to_a_delivered_notification_only(store):
    client = _client(store)
    with pytest.raises(ValidationError) as err:
        records.record_notification(
            store,
            _notification(client, outcome="not_found", messages=["community_cares", "offer_of_help", "peer_contact"]),
        )
    assert err.value.field == "messages" and "delivered" in err.value.message
    with pytest.raises(ValidationError) as err:
        records.record_notification(store, _notification(client, outcome="not_found", team=[("Dana", "police")]))
    assert err.value.field == "team"
    with pytest.raises(ValidationError) as err:
        records.record_notification(store, _notification(client, outcome="delivered", messages=["offer_of_help"]))
    assert err.value.field == "team" and "at least one" in err.value.message
    assert _attempts(store, client.id) == []
    records.record_notification(store, _notification(client, outcome="not_found"))
    assert [a.messages for a in _attempts(store, client.id)] == [""]


def test_a_second_attempt_on_the_same_day_is_asked_first(store):
    client = _client(store)
    records.record_notification(store, _notification(client, outcome="not_found"))
    with pytest.raises(NeedsConfirmation) as err:
        records.record_notification(store, _notification(client, outcome="not_found"))
    assert err.value.field == "attempted_on" and "record another" in err.value.message
    assert len(_attempts(store, client.id)) == 1
    records.record_notification(store, _notification(client, outcome="not_found", confirm_same_day=True))
    records.record_notification(store, _notification(client, outcome="not_found", attempted_on=date(2026, 11, 22)))
    assert len(_attempts(store, client.id)) == 3


def test_a_delivered_notification_schedules_the_first_follow_up(store):
    client = _client(store)
    records.record_notification(store, _notification(client, outcome="not_found"))
    assert _open_follow_ups(store, client.id) == []
    records.record_notification(
        store,
        _notification(
            client,
            outcome="delivered",
            team=[("Dana", "peer_support")],
            messages=["offer_of_help"],
            attempted_on=date(2026, 11, 22),
            confirm_same_day=True,
        ),
    )
    [first] = _open_follow_ups(store, client.id)
    assert first.due_on == date(2026, 11, 22) + timedelta(days=domain.FIRST_FOLLOW_UP_DAYS)
    assert first.auto and first.kind == "contact"


# --- 7. possible duplicates ---------------------------------------------------------------------------------


def test_intake_finds_possible_duplicates_by_folded_name_alias_birth_date_or_phone(store):
    jose = _client(
        store,
        first_name="José Ángel",
        last_name="Núñez-Ibáñez",
        aka="Güero",
        date_of_birth=date(2001, 4, 9),
        phone="(505) 555-0142",
    )
    _client(store, first_name="Jose", last_name="Vigil")

    def reasons(**draft):
        found = records.possible_duplicates(store, records.ClientDraft(**draft))
        return {c.client_id: c.reasons for c in found}

    assert reasons(first_name="JOSE ANGEL", last_name="nunez ibanez") == {jose.id: ("name",)}
    assert reasons(aka="guero") == {jose.id: ("alias",)}
    assert reasons(first_name="X", date_of_birth=date(2001, 4, 9)) == {jose.id: ("date of birth",)}
    assert reasons(aka="Y", phone="505.555.0142") == {jose.id: ("phone",)}
    assert reasons(first_name="Jose", last_name="Nunez") == {}  # a first name alone is no match
    with pytest.raises(NeedsConfirmation) as err:
        records.create_client(store, records.ClientDraft(aka="güero"))
    assert [m.client_id for m in err.value.matches] == [jose.id]
    assert "Güero" not in err.value.message  # the message may reach a log: no names in it
    again = records.create_client(store, records.ClientDraft(aka="güero", confirm_duplicate=True))
    assert again.id != jose.id


def test_a_synced_follow_up_closing_and_event_order_pass_the_value_rules():
    from vipterm.sync.validate import check_value

    made = 1_795_000_000_000
    assert check_value("follow_up", "closed_as", "replaced", made) is None
    assert check_value("follow_up", "closed_as", "vanished", made) is not None
    assert check_value("follow_up", "auto", True, made) is None
    assert check_value("referral_event", "seq", 3, made) is None
    assert check_value("referral_event", "seq", "3; DROP", made) is not None
