"""The monthly report on a hand-built program whose every number is worked out by hand below.

The program is brought in through the spreadsheet import (as a program adopting vipterm would),
into a real encrypted database. The main report is July 2022: the first month of a fiscal year,
so its FYTD column holds July only while its OCT/SEPT-like columns (June, May) belong to the
fiscal year before. June 2022 and September 2022 reports check the other side of the boundary
and the two-months-back age summary.

The people (pseudonyms), in order of their first delivered custom notification:

  G  id 03-01, 18–24, SE. delivered 03-10 (SE). reached 03-20. shelter sent 07-25, accepted 08-05.
  A  id 04-20, 18–24, SE. delivered 05-10 (SE). reached 05-11, 07-15 (Test Worker).
     job training sent 05-12, accepted 05-20, in progress 05-25, completed 06-30. re-arrest 07-15.
  E  id 05-05, unknown, SW. delivered 05-20 in FOOTHILLS. mental health sent 05-25, rejected 06-01;
     shelter sent 07-10 (still open). re-victimization 05-20 (same day: not "after") and 06-10.
  B  id 05-01, 25–29, NE. not found 05-03, delivered 06-15 (NE). reached 06-16.
     food sent 06-20, accepted 07-02. re-arrest 06-15 (same day: not "after").
  F  id 06-30, 18–24, NW. delivered 06-30 (NW). reached 08-02. legal sent 07-01, accepted and in
     progress 07-31 (first service 07-31).
  C  id 06-01, under 18, Valley. delivered 07-05 and 07-20 (Valley). no answer 07-06 (Test Worker),
     reached 07-10 (Second Worker). re-arrest 08-10.
  D  id 07-01, 30+, N/A. refused 07-03.
  H  id 05-01. delivered 05-15 (SE), reached 07-12 — then tombstoned: counted nowhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vipterm.domain import utcnow
from vipterm.services.csv_import import import_csv
from vipterm.services.report import build_report, clients_behind
from vipterm.store.models import Client, Worker

CLIENTS = """client,first_name,last_name,identified_on,age_group,area_command,referral_source
VIP-A01,Test,Alpha,2022-04-20,18-24,Southeast,shooting review
VIP-B02,Test,Bravo,05/01/2022,25–29,northeast,crime data
VIP-C03,Test,Charlie,2022-06-01,under 18,Valley,hospital
VIP-D04,Test,Delta,2022-07-01,30 and over,N/A,community
VIP-E05,Test,Echo,2022-05-05,unknown,southwest,other
VIP-F06,Test,Foxtrot,2022-06-30,18_24,NORTHWEST,self
VIP-G07,Test,Golf,2022-03-01,18-24,southeast,shooting_review
VIP-H08,Test,Hotel,2022-05-01,18-24,southeast,other
"""
NOTIFICATIONS = """client,attempted_on,outcome,area_command,team_roles
VIP-A01,05/10/2022,delivered,Southeast,peer support
VIP-B02,2022-05-03,not found,,
VIP-B02,2022-06-15,Delivered,northeast,peer support
VIP-C03,2022-07-05,delivered,valley,peer support
VIP-C03,7/20/22,delivered,Valley,peer support
VIP-D04,2022-07-03,refused,,
VIP-E05,2022-05-20,delivered,Foothills,peer support
VIP-F06,2022-06-30,delivered,northwest,peer support
VIP-G07,2022-03-10,delivered,southeast,peer support
VIP-H08,2022-05-15,delivered,southeast,peer support
"""
CONTACTS = """client,occurred_at,mode,outcome,worker
VIP-A01,2022-05-11 10:00,phone,reached,
VIP-B02,06/16/2022 3:30 PM,in person,reached,
VIP-C03,2022-07-06 09:00,phone,no answer,
VIP-C03,2022-07-10 14:00,in person,reached,Second Worker
VIP-A01,2022-07-15 11:00,text,reached,Test Worker
VIP-F06,2022-08-02 10:00,phone,reached,
VIP-G07,2022-03-20 16:00,phone,reached,
VIP-H08,2022-07-12 10:00,phone,reached,
"""
REFERRALS = """client,need,provider,category,status,sent_on,accepted_on,first_service_on,status_on,reason
VIP-A01,employment,Workforce Center,job_training,completed,2022-05-12,2022-05-20,2022-05-25,2022-06-30,
VIP-B02,food,Food Pantry,food,accepted,2022-06-20,2022-07-02,,,
VIP-E05,mental_health,Counseling Collective,mental_health,rejected,2022-05-25,,,2022-06-01,no openings
VIP-E05,housing,Westside Shelter,shelter,sent,2022-07-10,,,,
VIP-F06,legal,Legal Aid,legal,in progress,2022-07-01,2022-07-31,2022-07-31,,
VIP-G07,housing,Westside Shelter,,accepted,2022-07-25,2022-08-05,,,
"""
OUTCOMES = """client,kind,occurred_on,source
VIP-A01,re-arrest,2022-07-15,police record
VIP-B02,re_arrest,2022-06-15,police_record
VIP-E05,re-victimization,2022-05-20,hospital
VIP-E05,re-victimization,2022-06-10,hospital
VIP-C03,re-arrest,2022-08-10,court record
"""


@pytest.fixture
def program(store, tmp_path: Path):
    with store.write() as session:
        session.add(Worker(display_name="Second Worker"))
    for kind, content in (
        ("clients", CLIENTS),
        ("notifications", NOTIFICATIONS),
        ("contacts", CONTACTS),
        ("referrals", REFERRALS),
        ("outcomes", OUTCOMES),
    ):
        path = tmp_path / f"{kind}.csv"
        path.write_text(content, encoding="utf-8")
        result = import_csv(store, kind, path)
        assert result.errors == [], [str(e) for e in result.errors]
        assert result.written == content.count("\n") - 1
    with store.write() as session:
        hotel = session.exec(Client.__table__.select().where(Client.pseudonym == "VIP-H08")).one()
        session.get(Client, hotel.id).deleted_at = utcnow()
    return store


def values(table):
    return {row.key: dict(row.values) for row in table.all_rows()}


def pseudonyms(store, month, table, row, col):
    return sorted(c.pseudonym for c in clients_behind(store, month, table, row, col))


def test_july_report_every_section(program):
    r = build_report(program, "2022-07")
    assert (r.as_of.isoformat(), r.fiscal_year_start.isoformat(), r.age_summary_month.isoformat()) == (
        "2022-07-31",
        "2022-07-01",
        "2022-05-01",
    )

    # 1. Delivered notifications by the attempt's area: JUL, JUN, MAY, FYTD (= July only).
    zero = {"m": 0, "m1": 0, "m2": 0, "fytd": 0}
    assert values(r.notifications_by_area) == {
        "southeast": {**zero, "m2": 1},  # A 05-10 (H is tombstoned, G is in March)
        "northeast": {**zero, "m1": 1},  # B 06-15 (not found 05-03 is not a delivery)
        "northwest": {**zero, "m1": 1},  # F 06-30: last day of the previous fiscal year
        "foothills": {**zero, "m2": 1},  # E, by the attempt's area, not the client's
        "southwest": zero,
        "valley": {"m": 2, "m1": 0, "m2": 0, "fytd": 2},  # C twice in July: notifications, not people
        "na": zero,  # D refused
        "total": {"m": 2, "m1": 2, "m2": 2, "fytd": 2},
    }
    assert [c.label for c in r.notifications_by_area.columns] == ["JUL", "JUN", "MAY", "FYTD"]

    # 2. Running success rate: notified by the end of each month, engaged by then.
    assert [(p.month, p.notified, p.engaged) for p in r.running_success] == [
        ("2022-03", 1, 0),  # G
        ("2022-04", 1, 0),
        ("2022-05", 3, 1),  # + A, E; A accepted 05-20
        ("2022-06", 5, 1),  # + B, F
        ("2022-07", 6, 3),  # + C; B accepted 07-02, F accepted 07-31 (G's 08-05 is after the report)
    ]
    assert r.running_success[-1].rate == pytest.approx(0.5)
    assert r.first_notification_month == "2022-03"

    # 3. Age summary for May (two months back): A (18–24, engaged), E (unknown, rejected only).
    age = values(r.age_summary)
    assert age["18_24"] == {"notified": 1, "engaged": 1, "rate": 1.0}
    assert age["unknown"] == {"notified": 1, "engaged": 0, "rate": 0.0}
    assert age["under_18"] == age["25_29"] == age["30_plus"] == {"notified": 0, "engaged": 0, "rate": None}
    assert age["total"] == {"notified": 2, "engaged": 1, "rate": 0.5}

    # 4. Services connected to, in July and FYTD: B food (07-02), F legal (07-31).
    services = values(r.services)
    connected = {k: v for k, v in services.items() if any(v.values())}
    assert connected == {"food": {"m": 1, "fytd": 1}, "legal": {"m": 1, "fytd": 1}, "total": {"m": 2, "fytd": 2}}

    # 5a. Funnel: identified since the start (7 live) and in the fiscal year (D only).
    assert values(r.funnel) == {
        "identified": {"fytd": 1, "ptd": 7},
        "attempted": {"fytd": 1, "ptd": 7},
        "notified": {"fytd": 0, "ptd": 6},  # D refused
        "engaged": {"fytd": 0, "ptd": 3},  # A, B, F
        "completed": {"fytd": 0, "ptd": 1},  # A
    }

    # 5b. Closed loop: sent since the start A, B, E×2, F, G = 6, known A (completed), E (rejected);
    #     sent in the fiscal year E shelter, F, G = 3, none known yet.
    assert values(r.closed_loop) == {
        "fytd": {"sent": 3, "known": 0, "rate": 0.0},
        "ptd": {"sent": 6, "known": 2, "rate": pytest.approx(1 / 3)},
    }

    # 5c. Days to first reached contact / first service. FYTD cohort: C (contact 07-10: 5 days).
    #     Last 12 months: G, A, E, B, F, C. Contacts: A 1, B 1, C 5, G 10 (F's is in August, E has
    #     none): median 3. Services: A 05-10→05-25 = 15, F 06-30→07-31 = 31: median 23.
    assert values(r.time_to_service) == {
        "fytd": {"notified": 1, "contact_n": 1, "contact_days": 5, "service_n": 0, "service_days": None},
        "last12": {"notified": 6, "contact_n": 4, "contact_days": 3, "service_n": 2, "service_days": 23},
    }

    # 5d. After notification: A re-arrested 07-15; B's same-day arrest and C's August one do not
    #     count; E re-victimized 06-10 (the same-day one does not count on its own).
    assert values(r.after_notification) == {
        "fytd": {
            "notified": 1,
            "re_arrest": 0,
            "re_arrest_rate": 0.0,
            "re_victimization": 0,
            "re_victimization_rate": 0.0,
        },
        "ptd": {
            "notified": 6,
            "re_arrest": 1,
            "re_arrest_rate": pytest.approx(1 / 6),
            "re_victimization": 1,
            "re_victimization_rate": pytest.approx(1 / 6),
        },
    }

    # 5e. Contacts in July by worker (H's contact belongs to a tombstoned client).
    by_name = {row.label: dict(row.values) for row in r.contacts_per_worker.rows}
    assert by_name == {
        "Second Worker": {"contacts": 1, "reached": 1, "clients": 1},
        "Test Worker": {"contacts": 2, "reached": 1, "clients": 2},
    }
    assert dict(r.contacts_per_worker.total.values) == {"contacts": 3, "reached": 2, "clients": 2}


def test_july_drill_down_lists_the_people_counted(program):
    m = "2022-07"
    assert pseudonyms(program, m, "notifications_by_area", "valley", "m") == ["VIP-C03"]
    assert pseudonyms(program, m, "notifications_by_area", "total", "m1") == ["VIP-B02", "VIP-F06"]
    assert pseudonyms(program, m, "running_success_rate", "2022-07", "engaged") == ["VIP-A01", "VIP-B02", "VIP-F06"]
    assert pseudonyms(program, m, "running_success_rate", "2022-06", "notified") == [
        "VIP-A01",
        "VIP-B02",
        "VIP-E05",
        "VIP-F06",
        "VIP-G07",
    ]
    assert pseudonyms(program, m, "age_summary", "total", "notified") == ["VIP-A01", "VIP-E05"]
    assert pseudonyms(program, m, "age_summary", "18_24", "rate") == ["VIP-A01"]
    assert pseudonyms(program, m, "services", "total", "m") == ["VIP-B02", "VIP-F06"]
    assert pseudonyms(program, m, "funnel", "completed", "ptd") == ["VIP-A01"]
    assert pseudonyms(program, m, "closed_loop", "ptd", "known") == ["VIP-A01", "VIP-E05"]
    assert pseudonyms(program, m, "time_to_service", "last12", "service_days") == ["VIP-A01", "VIP-F06"]
    assert pseudonyms(program, m, "after_notification", "ptd", "re_arrest") == ["VIP-A01"]
    drill = clients_behind(program, m, "contacts_per_worker", "total", "clients")
    assert sorted(c.pseudonym for c in drill) == ["VIP-A01", "VIP-C03"]
    assert {c.area_command for c in drill} == {"southeast", "valley"}


def test_june_report_is_the_previous_fiscal_year(program):
    r = build_report(program, "2022-06")
    assert r.fiscal_year_start.isoformat() == "2021-07-01"
    # FYTD July 2021 – June 2022: G (SE), A (SE), E (Foothills), B (NE), F (NW, 06-30).
    fytd = {row.key: row.values["fytd"] for row in r.notifications_by_area.all_rows()}
    assert fytd == {
        "southeast": 2,
        "northeast": 1,
        "northwest": 1,
        "foothills": 1,
        "southwest": 0,
        "valley": 0,
        "na": 0,
        "total": 5,
    }
    assert dict(r.notifications_by_area.total.values) == {"m": 2, "m1": 2, "m2": 0, "fytd": 5}
    # Age summary for April 2022: nobody was first notified in April.
    assert r.age_summary.total.values["notified"] == 0
    # As of 30 June: A's referral is completed (06-30), B's not yet accepted.
    assert r.running_success[-1].notified == 5 and r.running_success[-1].engaged == 1
    assert dict(r.funnel.row("completed").values) == {"fytd": 1, "ptd": 1}


def test_september_report_summarizes_july_by_age(program):
    r = build_report(program, "2022-09")
    assert r.age_summary_month.isoformat() == "2022-07-01"
    assert r.age_summary.title.startswith("July summary")
    age = values(r.age_summary)
    assert age["under_18"] == {"notified": 1, "engaged": 0, "rate": 0.0}  # C, first notified 07-05
    assert age["total"] == {"notified": 1, "engaged": 0, "rate": 0.0}
    # July's notifications are now two months back, and still in the fiscal year.
    assert dict(r.notifications_by_area.row("valley").values) == {"m": 0, "m1": 0, "m2": 2, "fytd": 2}
    # G's shelter referral was accepted 08-05: engaged in August, connected within the FYTD.
    assert [(p.month, p.notified, p.engaged) for p in r.running_success[-2:]] == [("2022-08", 6, 4), ("2022-09", 6, 4)]
    services = {k: v for k, v in values(r.services).items() if any(v.values())}
    assert services == {
        "food": {"m": 0, "fytd": 1},
        "legal": {"m": 0, "fytd": 1},
        "shelter": {"m": 0, "fytd": 1},
        "total": {"m": 0, "fytd": 3},
    }
    # C's August re-arrest now counts, in both windows (C was first notified in July).
    assert dict(r.after_notification.row("fytd").values)["re_arrest"] == 1
    assert dict(r.after_notification.row("ptd").values)["re_arrest"] == 2


def test_report_before_any_notification_is_empty(program):
    r = build_report(program, "2022-01")
    assert r.running_success == ()
    assert r.first_notification_month is None
    assert r.notifications_by_area.total.values == {"m": 0, "m1": 0, "m2": 0, "fytd": 0}
    assert r.funnel.row("identified").values == {"fytd": 0, "ptd": 0}
