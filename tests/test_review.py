"""The weekly review (services/review.py): incidents, candidates (new clients with the intake's
duplicate question, or existing ones), planned notifications that assign the client, their
place at the top of the caseload until an attempt, and the write scope that keeps them the
coordinator's. Real encrypted databases throughout."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from tests.conftest import PASSPHRASE, made_store
from vipterm.domain import Role
from vipterm.errors import NeedsConfirmation, ValidationError
from vipterm.services import caseload as caseload_service
from vipterm.services import records, review
from vipterm.store.models import Client, FollowUp, PlannedNotification, ReviewCandidate, Worker
from vipterm.sync import scope as write_scope
from vipterm.sync import validate

TODAY = date(2026, 11, 23)  # the frozen program day (a Monday)


@pytest.fixture
def coord(tmp_path):
    s = made_store(tmp_path / "coord.db", PASSPHRASE, worker_name="Coordinator", role=Role.COORDINATOR)
    with s.write() as session:
        session.add(Worker(id="w-ana", display_name="Ana Peer"))
        session.add(Worker(id="w-ben", display_name="Ben Peer"))
        session.add(Worker(id="w-gone", display_name="Gone Peer", active=False))
    yield s
    s.close()


def _plan(worker="w-ana", **kw):
    values = dict(
        planned_on=TODAY + timedelta(days=2),
        worker_id=worker,
        team_roles=["peer_support", "police"],
        planned_time="14:30",
        setting="home",
    )
    values.update(kw)
    return review.PlanDraft(**values)


def _new(rv, incident=None, first="Marco", last="Diaz", **kw):
    return review.CandidateDraft(
        review_id=rv.id,
        incident_id=incident,
        client=records.ClientDraft(first_name=first, last_name=last, **kw),
        plan=_plan(),
        risk_flags=["retaliation_risk"],
    )


def test_week_of_is_the_monday():
    assert review.week_of(date(2026, 11, 29)) == date(2026, 11, 23)
    assert review.week_of(date(2026, 11, 23)) == date(2026, 11, 23)


def test_a_review_records_incidents_candidates_and_plans(coord):
    rv = review.open_review(coord)
    assert rv.week_of == TODAY and rv.held_by == coord.worker_id
    assert review.open_review(coord, TODAY + timedelta(days=3)).id == rv.id  # one review a week
    incident = review.add_incident(
        coord, rv.id, review.IncidentDraft(TODAY - timedelta(days=2), "southeast", "shooting_review")
    )
    result = review.add_candidate(coord, _new(rv, incident.id, age_group="18_24"))
    assert result.new_client and result.worker_name == "Ana Peer"
    with coord.read() as s:
        client = s.get(Client, result.client_id)
        plan = s.get(PlannedNotification, result.plan.id)
        cand = s.get(ReviewCandidate, result.candidate.id)
    assert client.assigned_worker_id == "w-ana"  # the follow-up worker's client now
    assert client.identified_on == TODAY and "retaliation_risk" in client.risk_flags.split(",")
    assert (plan.planned_on, plan.planned_time, plan.setting, plan.team_roles) == (
        TODAY + timedelta(days=2),
        "14:30",
        "home",
        "peer_support,police",
    )
    assert (cand.incident_id, cand.plan_id, cand.age_group) == (incident.id, plan.id, "18_24")
    view = review.review_view(coord, rv.id)
    assert [i.id for i in view.incidents] == [incident.id]
    (c,) = view.candidates
    assert c.name == "Marco Diaz" and c.plan.state == "planned" and "police officer" in c.plan.summary


def test_a_new_candidate_who_may_be_an_existing_client_is_asked_about(coord):
    rv = review.open_review(coord)
    first = review.add_candidate(coord, _new(rv))
    again = _new(rv)
    with pytest.raises(NeedsConfirmation) as raised:
        review.add_candidate(coord, again)
    assert [m.client_id for m in raised.value.matches] == [first.client_id]
    with coord.read() as s:
        assert len(s.exec(select(Client)).all()) == 1  # nothing written
    again.client.confirm_duplicate = True
    assert review.add_candidate(coord, again).client_id != first.client_id


def test_an_existing_client_is_assigned_and_an_older_plan_is_replaced(coord):
    rv = review.open_review(coord)
    first = review.add_candidate(coord, _new(rv))
    second = review.add_candidate(
        coord,
        review.CandidateDraft(
            review_id=rv.id, client_id=first.client_id, plan=_plan("w-ben"), risk_flags=["group_involved"]
        ),
    )
    assert not second.new_client
    with coord.read() as s:
        client = s.get(Client, first.client_id)
        old = s.get(PlannedNotification, first.plan.id)
    assert client.assigned_worker_id == "w-ben"
    assert set(client.risk_flags.split(",")) == {"retaliation_risk", "group_involved"}
    assert old.status == "cancelled"
    assert [p.id for p in review.open_plans(coord, worker_id=None)] == [second.plan.id]


@pytest.mark.parametrize(
    "change, field_name",
    [
        (dict(team_roles=[]), "team_roles"),
        (dict(team_roles=["bystander"]), "team_roles"),
        (dict(planned_time="25:00"), "planned_time"),
        (dict(planned_on=None), "planned_on"),
        (dict(planned_on=TODAY - timedelta(days=1)), "planned_on"),
        (dict(planned_on=TODAY + timedelta(days=400)), "planned_on"),
        (dict(worker_id="w-gone"), "worker_id"),
        (dict(worker_id="nobody"), "worker_id"),
        (dict(setting="moon"), "setting"),
    ],
)
def test_a_bad_plan_is_refused_by_field_and_writes_nothing(coord, change, field_name):
    rv = review.open_review(coord)
    draft = _new(rv)
    draft.plan = _plan(**change)
    with pytest.raises(ValidationError) as raised:
        review.add_candidate(coord, draft)
    assert raised.value.field == field_name
    with coord.read() as s:
        assert s.exec(select(Client)).all() == []
        assert s.exec(select(PlannedNotification)).all() == []


def test_the_follow_up_is_a_peer_support_workers_and_their_follow_ups_move_with_the_client(coord):
    rv = review.open_review(coord)
    draft = _new(rv)
    draft.plan = _plan(coord.worker_id)
    with pytest.raises(ValidationError) as raised:
        review.add_candidate(coord, draft)
    assert raised.value.field == "worker_id"
    first = review.add_candidate(coord, _new(rv))
    records.schedule_follow_up(coord, first.client_id, TODAY + timedelta(days=3), owner_id="w-ana")
    review.add_candidate(coord, review.CandidateDraft(review_id=rv.id, client_id=first.client_id, plan=_plan("w-ben")))
    with coord.read() as s:
        owners = {f.owner_id for f in s.exec(select(FollowUp)) if f.done_at is None}
    assert owners == {"w-ben"}
    assert [w.name for w in review.active_workers(coord)] == ["Ana Peer", "Ben Peer"]  # not the coordinator


def test_an_incident_needs_a_day_not_in_the_future(coord):
    rv = review.open_review(coord)
    with pytest.raises(ValidationError) as raised:
        review.add_incident(coord, rv.id, review.IncidentDraft(TODAY + timedelta(days=1)))
    assert raised.value.field == "occurred_on"
    with pytest.raises(ValidationError) as raised:
        review.add_incident(coord, rv.id, review.IncidentDraft(TODAY, source="rumour"))
    assert raised.value.field == "source"


def test_a_laptop_cannot_hold_a_review(store):
    with pytest.raises(review.CoordinatorOnly):
        review.open_review(store)


def test_the_plan_leads_the_caseload_until_an_attempt_is_recorded(coord):
    rv = review.open_review(coord)
    # A client of the coordinator's own with a follow-up due today: normally first.
    urgent = records.create_client(
        coord, records.ClientDraft(first_name="Urgent", last_name="One", assigned_worker_id="w-ana")
    )
    records.schedule_follow_up(coord, urgent.id, TODAY)
    planned = review.add_candidate(coord, _new(rv))
    rows = caseload_service.caseload(coord, worker_id="w-ana")
    assert [r.client_id for r in rows][:2] == [planned.client_id, urgent.id]
    assert rows[0].planned.startswith(f"{(TODAY + timedelta(days=2)).isoformat()} 14:30 · home")
    # An attempt dated before the identification day (an old one) does not count; one since does.
    records.record_notification(
        coord,
        records.NotificationDraft(
            client_id=planned.client_id, attempted_on=TODAY - timedelta(days=1), outcome="not_found"
        ),
    )
    assert caseload_service.caseload(coord, worker_id="w-ana")[0].client_id == planned.client_id
    records.record_notification(
        coord, records.NotificationDraft(client_id=planned.client_id, attempted_on=TODAY, outcome="not_found")
    )
    rows = caseload_service.caseload(coord, worker_id="w-ana")
    assert rows[0].client_id == urgent.id
    assert next(r for r in rows if r.client_id == planned.client_id).planned == ""
    (c,) = review.review_view(coord, rv.id).candidates
    assert c.plan.state == "attempted"
    assert review.open_plans(coord, worker_id=None) == []


def test_the_review_tables_are_the_coordinators_in_the_write_scope():
    worker = write_scope.Scope("dev-1", "w-ana")
    for tbl in ("review", "review_incident", "review_candidate", "planned_notification"):
        assert write_scope.row_problem(worker, tbl, {"client_id": "c", "worker_id": "w-ana"}, "w-ana", True)
        assert write_scope.field_problem(worker, tbl, "status", "cancelled", "w-ana", False, "r")
        assert write_scope.row_problem(write_scope.Scope("dev-0", "w-c", coordinator=True), tbl, {}, None, True) is None


@pytest.mark.parametrize(
    "tbl, col, value",
    [
        ("planned_notification", "team_roles", "peer_support,bystander"),
        ("planned_notification", "planned_time", "9h30"),
        ("planned_notification", "setting", "moon"),
        ("planned_notification", "status", "done"),
        ("review_incident", "source", "rumour"),
        ("review_incident", "area_command", "mars"),
        ("review_candidate", "risk_flags", "bad_flag"),
        ("review_incident", "occurred_on", "2999-01-01"),
    ],
)
def test_the_value_rules_refuse_bad_review_values(tbl, col, value):
    made = 1_795_000_000_000  # late 2026
    assert validate.check_value(tbl, col, value, made) is not None


def test_the_review_command_refuses_on_a_laptop_and_bad_input_writes_nothing(coord, store, monkeypatch, capsys):
    from vipterm.cli import main

    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)
    store.close()
    assert main(["review", "incident", "--db", str(store.path), "--day", "2026-11-20"]) == 2
    assert "coordinator's database" in capsys.readouterr().err
    coord_path = str(coord.path)
    assert (
        main(
            [
                "review",
                "candidate",
                "--db",
                coord_path,
                "--first-name",
                "Nadia",
                "--worker",
                "Ana Peer",
                "--notify-on",
                "2026-11-24",
                "--team",
                "bystander",
            ]
        )
        == 2
    )
    assert "bystander" in capsys.readouterr().err
    assert (
        main(
            [
                "review",
                "candidate",
                "--db",
                coord_path,
                "--first-name",
                "Nadia",
                "--client",
                "VIP-000000",
                "--worker",
                "Ana Peer",
                "--notify-on",
                "2026-11-24",
            ]
        )
        == 2
    )  # new or existing, not both
    with coord.read() as s:
        assert s.exec(select(Client)).all() == []
        assert s.exec(select(PlannedNotification)).all() == []
    assert (
        main(
            [
                "review",
                "candidate",
                "--db",
                coord_path,
                "--first-name",
                "Nadia",
                "--worker",
                "Ana Peer",
                "--notify-on",
                "2026-11-24",
                "--json",
            ]
        )
        == 0
    )
    assert '"new_client": true' in capsys.readouterr().out
