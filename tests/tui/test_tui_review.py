"""Pilot tests of the weekly review screen (`v`) at 80×24, keyboard only: incidents, a new
candidate through the intake's fields and its duplicate question, the plan and the follow-up
worker picked in the same flow (type to filter), an existing client as a candidate, calling off a
plan; a laptop says the review is the coordinator's; a laptop's caseload shows its planned
notification first with an N."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select
from textual.widgets import DataTable, Input

from tests.conftest import PASSPHRASE
from tests.sync_support import enrolled_program, exchange
from tests.tui_support import make_app, screen_text, settle, table_keys, wait_armed, wait_for
from vipterm.domain import Role
from vipterm.services import records, review
from vipterm.services.database import create_store
from vipterm.store.models import Client, PlannedNotification, ReviewIncident, Worker
from vipterm.tui.caseload import CaseloadScreen, CaseloadTable
from vipterm.tui.field_work import DuplicateModal
from vipterm.tui.review_screen import CandidateForm, ClientPicker, IncidentForm, PlanForm, ReviewScreen, WorkerPicker
from vipterm.tui.widgets import ConfirmModal

TODAY = date(2026, 11, 23)


@pytest.fixture
def coord(tmp_path: Path):
    s = create_store(tmp_path / "coord.db", PASSPHRASE, worker_name="Coordinator", role=Role.COORDINATOR)
    with s.write() as session:
        session.add(Worker(id="w-ana", display_name="Ana Ruiz"))
        session.add(Worker(id="w-ben", display_name="Ben Okafor"))
    yield s
    s.close()


async def open_review(pilot, app) -> ReviewScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
    from vipterm.tui.commands import system_commands

    assert "Weekly review" in [c.title for c in system_commands(app, app.screen)]  # the palette has it too
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
    return app.screen


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[("space" if ch == " " else ch) for ch in text])


async def test_a_review_from_the_keyboard(coord):
    app = make_app(coord.path, store=coord)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_review(pilot, app)
        assert "week of 2026-11-23" in screen_text(screen)
        assert "no review of this week yet" in screen_text(screen)

        # ? lists the review's keys, once each, within 80 columns.
        from tests.tui.test_help_keys import _help_rows

        rows = await _help_rows(pilot)
        descriptions = [d for _, d in rows]
        assert len(descriptions) == len(set(descriptions))
        for wanted in (
            "incident",
            "new candidate",
            "existing client",
            "call off",
            "prev week",
            "next week",
            "open the client",
        ):
            assert wanted in descriptions, descriptions
        assert app.screen is screen

        # i: an incident (day, area, source).
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentForm))
        form = app.screen
        form.query_one("#occurred_on", Input).value = "2026-11-21"
        form.query_one("#area_command", Input).focus()
        await type_text(pilot, "valley")
        form.query_one("#source", Input).value = ""
        form.query_one("#source", Input).focus()
        await type_text(pilot, "hosp")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and screen.view is not None)
        assert table_keys(screen.query_one("#review-incidents", DataTable)) == [screen.view.incidents[0].id]
        with coord.read() as s:
            (incident,) = s.exec(select(ReviewIncident)).all()
        assert (incident.occurred_on, incident.area_command, incident.source) == (
            date(2026, 11, 21),
            "valley",
            "hospital",
        )

        # n: a new client as a candidate of that incident; the plan's worker is picked on save.
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateForm))
        form = app.screen
        await type_text(pilot, "Marco")  # first name has the focus
        form.query_one("#last_name", Input).value = "Diaz"
        form.query_one("#planned_on", Input).value = "+2"
        form.query_one("#planned_time", Input).value = "9:30"
        form.query_one("#worker_id", Input).focus()
        await type_text(pilot, "be")
        await pilot.press("enter")  # the last field: save, which asks who follows up
        await wait_for(pilot, lambda: isinstance(app.screen, WorkerPicker) and app.screen.loaded)
        picker = app.screen
        assert [w.name for w in picker.shown] == ["Ben Okafor"]  # typed "be" filters
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ReviewScreen) and screen.view is not None and len(screen.view.candidates) == 1
            ),
        )
        (cand,) = screen.view.candidates
        assert cand.incident_id == incident.id
        assert cand.plan.worker_name == "Ben Okafor" and cand.plan.when == "2026-11-25 09:30"
        assert cand.plan.team_roles == ("peer_support",)  # peer support is ticked by default
        with coord.read() as s:
            assert s.get(Client, cand.client_id).assigned_worker_id == "w-ben"
        text = screen_text(screen)
        assert "Marco Diaz" in text and "planned" in text
        for table in screen.query(DataTable):
            assert table.region.right <= 80

        # The same person again: the intake's duplicate question; n goes back with the form kept.
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateForm))
        form = app.screen
        await type_text(pilot, "Marco")
        form.query_one("#last_name", Input).value = "Diaz"
        form.query_one("#worker_id", Input).focus()
        await type_text(pilot, "ana")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkerPicker) and app.screen.loaded)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DuplicateModal))
        await wait_armed(pilot)  # the question ignores keys typed ahead of it
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form)
        assert form.query_one("#first_name", Input).value == "Marco"
        with coord.read() as s:
            assert len(s.exec(select(Client)).all()) == 1  # nothing created
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))

        # x: call off the plan (asks, default no).
        screen.query_one("#review-candidates", DataTable).focus()
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ReviewScreen) and screen.view.candidates[0].plan.state == "cancelled"
        )
        # [ and ]: the week before has no review; the week after this one is still ahead.
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: screen.week == date(2026, 11, 16))
        assert "no review of this week yet" in screen_text(screen)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: screen.week == TODAY and screen.view is not None)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.week == TODAY
        assert any("still ahead" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen))


async def test_an_existing_client_as_a_candidate_and_a_bad_plan_keeps_the_form(coord):
    existing = records.create_client(
        coord, records.ClientDraft(first_name="Rosa", last_name="Vega", assigned_worker_id="w-ana")
    )
    app = make_app(coord.path, store=coord)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_review(pilot, app)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientPicker) and app.screen.loaded)
        await type_text(pilot, "vega")
        await settle(pilot)
        assert [r.client_id for r in app.screen.shown] == [existing.id]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanForm))
        form = app.screen
        form.query_one("#planned_time", Input).value = "25:99"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form  # refused under its field, before any picker
        assert "HH:MM" in screen_text(form)
        form.query_one("#planned_time", Input).value = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkerPicker) and app.screen.loaded)
        await type_text(pilot, "ben")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ReviewScreen) and screen.view is not None and len(screen.view.candidates) == 1
            ),
        )
        assert screen.view.candidates[0].client_id == existing.id
        with coord.read() as s:
            assert s.get(Client, existing.id).assigned_worker_id == "w-ben"  # reassigned by the plan


async def test_a_laptop_says_the_review_is_the_coordinators(store):
    app = make_app(store.path, store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        from vipterm.tui.commands import system_commands

        # The palette offers what `v` does here: say where the review is kept.
        assert "Weekly review" in [c.title for c in system_commands(app, app.screen)]
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert any("coordinator's database" in str(n.message) for n in app._notifications)


async def test_the_laptop_caseload_leads_with_the_planned_notification(tmp_path):
    coord, (ana,) = enrolled_program(tmp_path, "coord.db", ("ana.db", "Ana"))
    try:
        own = records.create_client(ana, records.ClientDraft(first_name="Due", last_name="Today"))
        records.schedule_follow_up(ana, own.id, TODAY)
        rv = review.open_review(coord)
        planned = review.add_candidate(
            coord,
            review.CandidateDraft(
                review_id=rv.id,
                client=records.ClientDraft(first_name="Luis", last_name="Ortega"),
                plan=review.PlanDraft(
                    planned_on=TODAY,
                    worker_id=ana.worker_id,
                    team_roles=["police", "peer_support"],
                    planned_time="16:00",
                ),
            ),
        )
        exchange(coord, [ana], tmp_path / "round")
        app = make_app(ana.path, store=ana)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
            screen = app.screen
            table = screen.query_one(CaseloadTable)
            assert table_keys(table) == [planned.client_id, own.id]
            assert str(table.get_row_at(0)[0]) == "N"
            table.move_cursor(row=0)
            await settle(pilot)
            assert "notification planned 2026-11-23 16:00 · home" in screen_text(screen)
            await pilot.press("enter")  # the client file says it too
            await wait_for(pilot, lambda: "notification planned: 2026-11-23 16:00 · home" in screen_text(app.screen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen)
            # u records the attempt; the plan leaves the top.
            records.record_notification(
                ana, records.NotificationDraft(client_id=planned.client_id, attempted_on=TODAY, outcome="not_found")
            )
            screen.reload()
            await wait_for(pilot, lambda: screen.loaded and table_keys(screen.query_one(CaseloadTable))[0] == own.id)
        with ana.read() as s:
            assert s.get(PlannedNotification, planned.plan.id).status == "planned"  # never written by the laptop
    finally:
        coord.close()
        ana.close()


async def test_the_review_screen_masks_names_and_clears_them_on_lock(coord):
    from tests.tui_support import unlock

    rv = review.open_review(coord)
    review.add_candidate(
        coord,
        review.CandidateDraft(
            review_id=rv.id,
            client=records.ClientDraft(first_name="Marisol", last_name="Quintana"),
            plan=review.PlanDraft(planned_on=TODAY, worker_id="w-ana", team_roles=["peer_support"]),
        ),
    )
    app = make_app(coord.path, store=coord)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_review(pilot, app)
        await wait_for(pilot, lambda: screen.view is not None)
        assert "Marisol Quintana" in screen_text(screen)
        await pilot.press("f2")  # the privacy mask
        await settle(pilot)
        assert "Marisol" not in screen_text(screen) and "Quintana" not in screen_text(screen)
        await pilot.press("f2")
        await settle(pilot)
        assert "Marisol Quintana" in screen_text(screen)
        app.action_lock()
        await settle(pilot)
        assert "Marisol" not in screen_text(screen) and "Quintana" not in screen_text(screen)
        await unlock(pilot, PASSPHRASE)
        await wait_for(pilot, lambda: app.screen is screen and "Marisol Quintana" in screen_text(screen))
