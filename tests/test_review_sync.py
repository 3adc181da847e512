"""Planned notifications reach the laptop: a real coordinator plans a custom notification in its
weekly review; after the next return bundle the follow-up worker's laptop holds the client and
the plan, at the top of its caseload, until the laptop records an attempt. The plan stays the
coordinator's: a laptop that forges or edits one has it held in the quarantine."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select

from tests.sync_support import enrolled_program, exchange
from vipterm.services import caseload as caseload_service
from vipterm.services import records, review
from vipterm.services import sync as sync_service
from vipterm.store.models import Client, PlannedNotification, ReviewCandidate, ReviewIncident

TODAY = date(2026, 11, 23)


def test_a_planned_notification_reaches_the_laptop_and_leaves_its_top_once_attempted(tmp_path):
    coord, (ana, ben) = enrolled_program(tmp_path, "coord.db", ("ana.db", "Ana"), ("ben.db", "Ben"))
    try:
        rv = review.open_review(coord)
        incident = review.add_incident(
            coord, rv.id, review.IncidentDraft(TODAY - timedelta(days=1), "valley", "hospital")
        )
        planned = review.add_candidate(
            coord,
            review.CandidateDraft(
                review_id=rv.id,
                incident_id=incident.id,
                client=records.ClientDraft(first_name="Luis", last_name="Ortega", age_group="18_24"),
                plan=review.PlanDraft(
                    planned_on=TODAY + timedelta(days=1),
                    worker_id=ana.worker_id,
                    team_roles=["peer_support", "community_leader"],
                    planned_time="10:00",
                    setting="hospital",
                ),
            ),
        )
        # Ana already has a client with a follow-up due today (created on her laptop).
        own = records.create_client(ana, records.ClientDraft(first_name="Due", last_name="Today"))
        records.schedule_follow_up(ana, own.id, TODAY)
        exchange(coord, [ana, ben], tmp_path / "round1")

        with ana.read() as s:
            assert s.get(Client, planned.client_id) is not None
            plan = s.get(PlannedNotification, planned.plan.id)
            # The review itself, its incidents and candidacies stay on the coordinator.
            assert s.exec(select(ReviewIncident)).all() == [] and s.exec(select(ReviewCandidate)).all() == []
        assert (plan.planned_on, plan.planned_time, plan.team_roles) == (
            TODAY + timedelta(days=1),
            "10:00",
            "peer_support,community_leader",
        )
        rows = caseload_service.caseload(ana)
        assert [r.client_id for r in rows] == [planned.client_id, own.id]
        assert "community leader" in rows[0].planned
        shown = caseload_service.client_as_dict(caseload_service.client_file(ana, planned.client_id))
        assert shown["planned_notifications"] == ["2026-11-24 10:00 · hospital · peer support worker, community leader"]
        with ben.read() as s:  # not Ben's client: nothing of it on his laptop
            assert s.get(Client, planned.client_id) is None and s.exec(select(PlannedNotification)).all() == []

        # Ana's team goes: the attempt takes the plan off the top, here and at the coordinator.
        records.record_notification(
            ana,
            records.NotificationDraft(
                client_id=planned.client_id, attempted_on=TODAY, outcome="delivered", team=[("Ana", "peer_support")]
            ),
        )
        assert caseload_service.caseload(ana)[0].client_id == own.id
        assert caseload_service.client_file(ana, planned.client_id).planned == ()
        assert review.open_plans(ana) == []
        exchange(coord, [ana, ben], tmp_path / "round2")
        (cand,) = review.review_view(coord, rv.id).candidates
        assert cand.plan.state == "attempted"
        assert review.open_plans(coord, worker_id=None) == []
    finally:
        for s in (coord, ana, ben):
            s.close()


def test_a_laptop_cannot_write_the_coordinators_plans(tmp_path):
    coord, (ana,) = enrolled_program(tmp_path, "coord.db", ("ana.db", "Ana"))
    try:
        rv = review.open_review(coord)
        planned = review.add_candidate(
            coord,
            review.CandidateDraft(
                review_id=rv.id,
                client=records.ClientDraft(first_name="Rosa", last_name="Vega"),
                plan=review.PlanDraft(planned_on=TODAY, worker_id=ana.worker_id, team_roles=["police"]),
            ),
        )
        exchange(coord, [ana], tmp_path / "round1")
        # The laptop, as an attacker would: calls off the plan, moves it to another day, and
        # invents a plan of its own for its client.
        with ana.write() as s:
            plan = s.get(PlannedNotification, planned.plan.id)
            plan.status = "cancelled"
            plan.planned_on = TODAY + timedelta(days=9)
            s.add(
                PlannedNotification(
                    client_id=planned.client_id,
                    identified_on=TODAY,
                    planned_on=TODAY,
                    team_roles="police",
                    worker_id=ana.worker_id,
                )
            )
        up = tmp_path / "up"
        up.mkdir()
        sync_service.export(ana, up)
        sync_service.import_bundles(coord, [up], archive_dir=tmp_path / "archive")
        with coord.read() as s:
            plans = s.exec(select(PlannedNotification)).all()
        assert [(p.id, p.status, p.planned_on) for p in plans] == [(planned.plan.id, "planned", TODAY)]
        with coord.database.engine.connect() as conn:
            held = conn.exec_driver_sql(
                "SELECT code, tbl FROM sync_quarantine WHERE status = 'open' ORDER BY tbl"
            ).all()
        assert held and all(code == "scope" and tbl == "planned_notification" for code, tbl in held)
    finally:
        coord.close()
        ana.close()
