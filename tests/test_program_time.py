"""The program clock and time zone: days, months, "today" and typed or imported times are the
program's (America/Denver by default), whatever zone or date the machine itself is in.

Real encrypted stores throughout; the clock is moved with VIPTERM_NOW (the suite freezes it in
conftest), never by reading the machine's date.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.conftest import PASSPHRASE, open_known
from tests.sync_support import exchange, new_enrolled_worker
from vipterm.errors import ValidationError
from vipterm.services import caseload as caseload_service
from vipterm.services import csv_import, records, report
from vipterm.services import sync as sync_service
from vipterm.timekeeping import ProgramClock, system_now


def _at(iso: str):
    return lambda: datetime.fromisoformat(iso)


# --- the clock itself ----------------------------------------------------------------------------


def test_vipterm_now_freezes_the_clock_and_needs_an_offset(monkeypatch):
    monkeypatch.setenv("VIPTERM_NOW", "2031-07-01T12:00:00+00:00")
    assert system_now() == datetime(2031, 7, 1, 12, tzinfo=UTC)
    assert ProgramClock("America/Denver").today() == date(2031, 7, 1)
    assert ProgramClock("America/Denver").local_now() == datetime(2031, 7, 1, 6, 0)
    monkeypatch.setenv("VIPTERM_NOW", "2031-07-01T12:00")
    with pytest.raises(ValidationError, match="offset"):
        system_now()


def test_today_is_the_program_day_not_the_utc_day():
    # 22:30 on 30 November in Albuquerque is already 1 December in UTC.
    clock = ProgramClock("America/Denver", _at("2022-12-01T05:30:00+00:00"))
    assert clock.today() == date(2022, 11, 30)
    assert clock.utcnow() == datetime(2022, 12, 1, 5, 30)
    assert clock.to_utc(datetime(2022, 11, 30, 20, 0)) == datetime(2022, 12, 1, 3, 0)
    assert clock.to_local(datetime(2022, 12, 1, 3, 0)) == datetime(2022, 11, 30, 20, 0)
    # an aware time keeps its own offset
    assert clock.to_utc(datetime.fromisoformat("2022-11-30T20:00-05:00")) == datetime(2022, 12, 1, 1, 0)


@pytest.mark.parametrize("day, hours", [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 11, 2), 24)])
def test_daylight_saving_days_are_cut_at_local_midnight(day, hours):
    clock = ProgramClock("America/Denver")
    start, end = clock.day_bounds_utc(day)
    assert end - start == timedelta(hours=hours)
    assert clock.to_local(start) == datetime.combine(day, datetime.min.time())


def test_an_unknown_time_zone_is_refused_with_its_name():
    with pytest.raises(ValidationError, match="Mars/Olympus") as info:
        ProgramClock("Mars/Olympus")
    assert info.value.field == "time_zone"
    with pytest.raises(ValidationError):
        ProgramClock("../../etc/passwd")


# --- the services read it ------------------------------------------------------------------------


def test_caseload_due_today_follows_the_program_day(store, monkeypatch):
    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    records.schedule_follow_up(store, client.id, date(2026, 11, 23))
    # 21:00 on the 23rd in Albuquerque = 04:00 UTC on the 24th: still due today, not overdue.
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-24T04:00:00+00:00")
    [row] = caseload_service.caseload(store)
    assert row.urgency == caseload_service.DUE_TODAY
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-24T07:30:00+00:00")  # 00:30 on the 24th, local
    [row] = caseload_service.caseload(store)
    assert row.urgency == caseload_service.OVERDUE


def test_not_in_the_future_is_the_program_day(store, monkeypatch):
    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-24T04:00:00+00:00")  # the 23rd, 21:00 local
    with pytest.raises(ValidationError) as info:
        records.record_outcome(store, client.id, "job", date(2026, 11, 24))
    assert info.value.field == "occurred_on"
    records.record_outcome(store, client.id, "job", date(2026, 11, 23))
    with pytest.raises(ValidationError) as info:
        records.schedule_follow_up(store, client.id, date(2026, 11, 22))
    assert info.value.field == "due_on"
    records.schedule_follow_up(store, client.id, date(2026, 11, 23))


# --- the report cuts months in the program zone -----------------------------------------------------


def test_a_contact_at_8pm_on_the_last_day_of_a_month_counts_in_that_month(store, monkeypatch):
    monkeypatch.setenv("VIPTERM_NOW", "2023-01-15T12:00:00-07:00")
    client = records.create_client(
        store, records.ClientDraft(first_name="Ana", last_name="Ruiz", identified_on=date(2022, 11, 1))
    )
    late = store.clock.to_utc(datetime(2022, 11, 30, 20, 0))
    assert late == datetime(2022, 12, 1, 3, 0)  # December in UTC
    records.log_contact(store, records.ContactDraft(client.id, occurred_at=late, outcome="reached"))
    early = store.clock.to_utc(datetime(2022, 12, 1, 6, 0))  # 13:00 UTC: December either way
    records.log_contact(store, records.ContactDraft(client.id, occurred_at=early, outcome="reached"))

    def contacts(month):
        table = report.build_report(store, month).table("contacts_per_worker")
        return sum(int(row.values.get("contacts") or 0) for row in table.rows)

    assert contacts("2022-11") == 1
    assert contacts("2022-12") == 1
    assert len(report.clients_behind(store, "2022-11", "contacts_per_worker", "total", "contacts")) == 1


def test_a_referral_accepted_at_night_connects_in_its_local_month(store, monkeypatch):
    monkeypatch.setenv("VIPTERM_NOW", "2022-11-30T19:00:00-07:00")
    client = records.create_client(
        store, records.ClientDraft(first_name="Ana", last_name="Ruiz", identified_on=date(2022, 11, 1))
    )
    records.record_notification(
        store,
        records.NotificationDraft(client.id, date(2022, 11, 2), outcome="delivered", team=[("Rosa", "peer_support")]),
    )
    provider = records.add_provider(store, "Casa Uno", "shelter")
    referral = records.create_referral(store, records.ReferralDraft(client.id, "housing", provider.id))
    monkeypatch.setenv("VIPTERM_NOW", "2022-11-30T20:00:00-07:00")  # 03:00 UTC on 1 December
    records.set_referral_status(store, referral.id, "accepted")
    monkeypatch.setenv("VIPTERM_NOW", "2023-01-15T12:00:00-07:00")
    services = report.build_report(store, "2022-11").table("services")
    assert sum(int(r.values.get("m") or 0) for r in services.rows) == 1
    services_dec = report.build_report(store, "2022-12").table("services")
    assert sum(int(r.values.get("m") or 0) for r in services_dec.rows) == 0


# --- typed and imported times ----------------------------------------------------------------------


def test_imported_times_without_an_offset_are_program_time_and_with_one_keep_it(store, tmp_path):
    client = records.create_client(
        store, records.ClientDraft(first_name="Ana", last_name="Ruiz", identified_on=date(2022, 11, 1))
    )
    sheet = tmp_path / "contacts.csv"
    sheet.write_text(
        "client,occurred_at,mode,purpose,outcome\n"
        f"{client.pseudonym},2022-11-30 20:00,phone,check_in,reached\n"
        f"{client.pseudonym},2022-11-30T20:00-05:00,phone,check_in,reached\n",
        encoding="utf-8",
    )
    result = csv_import.import_csv(store, "contacts", sheet)
    assert result.ok, result.errors
    with store.read() as session:
        stamps = sorted(r[0] for r in session.execute(text("SELECT occurred_at FROM contact")))
    assert [datetime.fromisoformat(s) for s in stamps] == [datetime(2022, 12, 1, 1, 0), datetime(2022, 12, 1, 3, 0)]


# --- the setting: chosen at coordinator init, carried to laptops -----------------------------------


def test_the_coordinators_time_zone_reaches_laptops_in_return_bundles(tmp_path):
    coord, _keys = sync_service.coordinator_init(tmp_path / "c.db", PASSPHRASE, time_zone="America/Chicago")
    laptop = new_enrolled_worker(coord, tmp_path / "w.db", "Worker One")
    try:
        assert coord.time_zone == "America/Chicago"
        assert laptop.time_zone == "America/Denver"  # until it hears from the coordinator
        exchange(coord, [laptop], tmp_path / "round")
        assert laptop.time_zone == "America/Chicago"
        path = laptop.path
    finally:
        coord.close()
        laptop.close()
    with open_known(path, PASSPHRASE) as reopened:  # kept in the database, not just in memory
        assert reopened.clock.time_zone == "America/Chicago"


def test_coordinator_init_refuses_an_unknown_zone_before_writing(tmp_path):
    target = tmp_path / "c.db"
    done = subprocess.run(
        [sys.executable, "-m", "vipterm", "coordinator", "init", "--db", str(target), "--time-zone", "Nowhere/Land"],
        capture_output=True,
        text=True,
        env={"VIPTERM_PASSPHRASE": PASSPHRASE, "PATH": "/usr/bin:/bin", "VIPTERM_NOW": "2026-11-23T09:00:00-07:00"},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Nowhere/Land" in done.stderr and "Traceback" not in done.stderr
    assert not target.exists()


def test_an_existing_store_without_a_zone_setting_opens_in_the_default(db_path, store):
    with store.database.write(capture=False) as session:
        session.execute(text("DELETE FROM meta WHERE key = 'time_zone'"))
    store.close()
    with open_known(db_path, PASSPHRASE) as reopened:
        assert reopened.clock.time_zone == "America/Denver"


@pytest.mark.parametrize(
    "now",
    [
        "2026-03-08T23:30:00-06:00",
        "2026-11-01T23:30:00-07:00",
        "2026-03-08T00:30:00-07:00",
        "2026-11-01T01:30:00-06:00",
    ],
)
def test_a_shift_on_a_daylight_saving_day_keeps_its_day(store, monkeypatch, now):
    monkeypatch.setenv("VIPTERM_NOW", now)
    day = datetime.fromisoformat(now).date()
    assert store.clock.today() == day
    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    records.schedule_follow_up(store, client.id, day)
    contact = records.log_contact(
        store, records.ContactDraft(client.id, outcome="reached", next_follow_up=day + timedelta(days=7))
    )
    assert store.clock.local_day(contact.occurred_at) == day
    [row] = caseload_service.caseload(store)
    assert row.next_due == day + timedelta(days=7)  # today's follow-up closed by the contact
    assert row.urgency == caseload_service.UPCOMING
