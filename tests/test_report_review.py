"""The report's weekly review section on a program whose every number is worked out by hand.

October 2026 (the 1st is a Thursday): the weeks with a day in it begin on Mondays Sep 28, Oct 5,
12, 19 and 26. Reviews held through the services, the program clock moved to each day:

  09-29  review of the week of Sep 28: P6 (new). Attempt 10-02. Identified in September: not counted
         here; in September's report it is a candidate not attempted (10-02 is after September)
  10-01  same review: P1 (new), attempt 10-03 (not found): 2 days;
                      P2 (new), no attempt until 10-20: 19 days
  10-14  review of the week of Oct 12: P2 again (existing client): attempt 10-20: 6 days;
                      P4 (new), attempt the same day: 0 days
  10-30  review of the week of Oct 26: P5 (new), attempt 11-02: after the month, not attempted in October

  week            candidates  new  attempted  median days
  Sep 28 (1–4)         2       2       2        10.5  (2, 19)
  Oct 5                0       0       0        —
  Oct 12               2       1       2        3     (6, 0)
  Oct 19               0       0       0        —
  Oct 26 (26–31)       1       1       0        —
  month                5       4       4        4     (0, 2, 6, 19)
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import PASSPHRASE, made_store
from vipterm.domain import Role
from vipterm.services import records, review
from vipterm.services.report import build_report, clients_behind
from vipterm.store.models import Client, Worker


def at(monkeypatch, day: str) -> date:
    monkeypatch.setenv("VIPTERM_NOW", f"{day}T10:00:00-06:00")
    return date.fromisoformat(day)


@pytest.fixture
def program(tmp_path, monkeypatch):
    s = made_store(tmp_path / "coord.db", PASSPHRASE, worker_name="Coordinator", role=Role.COORDINATOR)
    with s.write() as session:
        session.add(Worker(id="w-ana", display_name="Ana"))
    people = {}

    def candidate(tag: str, *, existing: bool = False) -> None:
        rv = review.open_review(s)
        draft = review.CandidateDraft(
            review_id=rv.id,
            plan=review.PlanDraft(planned_on=s.clock.today(), worker_id="w-ana", team_roles=["peer_support"]),
            client_id=people[tag] if existing else None,
            client=None if existing else records.ClientDraft(first_name=f"Person{tag}", last_name=f"Family{tag}"),
        )
        people[tag] = review.add_candidate(s, draft).client_id

    def attempt(tag: str, day: date, outcome: str = "delivered") -> None:
        records.record_notification(
            s,
            records.NotificationDraft(
                client_id=people[tag],
                attempted_on=day,
                outcome=outcome,
                team=[("Ana", "peer_support")] if outcome == "delivered" else [],
            ),
        )

    at(monkeypatch, "2026-09-29")
    candidate("6")
    at(monkeypatch, "2026-10-01")
    candidate("1")
    candidate("2")
    attempt("6", at(monkeypatch, "2026-10-02"))
    attempt("1", at(monkeypatch, "2026-10-03"), "not_found")
    day = at(monkeypatch, "2026-10-14")
    candidate("2", existing=True)
    candidate("4")
    attempt("4", day)
    attempt("2", at(monkeypatch, "2026-10-20"))
    at(monkeypatch, "2026-10-30")
    candidate("5")
    attempt("5", at(monkeypatch, "2026-11-02"))
    at(monkeypatch, "2026-11-23")
    with s.read() as session:
        pseudonyms = {tag: session.get(Client, cid).pseudonym for tag, cid in people.items()}
    yield s, pseudonyms
    s.close()


def test_candidates_per_week_and_days_to_the_first_attempt(program):
    store, _ = program
    table = build_report(store, "2026-10").weekly_review
    got = {
        row.key: (
            row.label,
            row.values["candidates"],
            row.values["new"],
            row.values["attempted"],
            row.values["attempt_days"],
        )
        for row in table.rows
    }
    assert got == {
        "2026-09-28": ("2026-10-01 to 2026-10-04", 2, 2, 2, 10.5),
        "2026-10-05": ("2026-10-05 to 2026-10-11", 0, 0, 0, None),
        "2026-10-12": ("2026-10-12 to 2026-10-18", 2, 1, 2, 3),
        "2026-10-19": ("2026-10-19 to 2026-10-25", 0, 0, 0, None),
        "2026-10-26": ("2026-10-26 to 2026-10-31", 1, 1, 0, None),
    }
    assert table.total.values == {"candidates": 5, "new": 4, "attempted": 4, "attempt_days": 4}
    # September: P6, in the first days of the week of Sep 28; its attempt (10-02) is after the end
    # of September, so not in that report. November: nobody identified.
    september = build_report(store, "2026-09").weekly_review
    assert september.row("2026-09-28").label == "2026-09-28 to 2026-09-30"
    assert september.total.values == {"candidates": 1, "new": 1, "attempted": 0, "attempt_days": None}
    assert build_report(store, "2026-11").weekly_review.total.values["candidates"] == 0


def test_the_drill_down_lists_the_clients_behind_a_count(program):
    store, pseudonyms = program
    behind = clients_behind(store, "2026-10", "weekly_review", "2026-10-12", "attempted")
    assert sorted(c.pseudonym for c in behind) == sorted([pseudonyms["2"], pseudonyms["4"]])
    behind = clients_behind(store, "2026-10", "weekly_review", "total", "attempt_days")
    assert sorted(c.pseudonym for c in behind) == sorted(pseudonyms[t] for t in ("1", "2", "4"))
