"""Every note is readable: `enter` on a timeline entry of the client file opens it in full (the
whole note wrapped, who recorded it, when in program-local time, its fields), and the notes of
contacts, notifications, outcomes, referrals (with each status change's reason), follow-ups and
assessments are in the client file and in `clients show --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from textual.widgets import DataTable

from tests.conftest import PASSPHRASE
from tests.tui_support import make_app, screen_text, settle
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.tui.client_file import ClientFileScreen, TimelineTable
from vipterm.tui.entry_detail import EntryDetailModal

LONG_NOTE = (
    "Met José at the rec center after school.\n"
    + "He says the people from the east side are looking for his cousin; " * 4
    + "\nNext: call his aunt on Friday, court letter still missing."
)


def _client_with_every_kind_of_note(store):
    today = store.clock.today()
    client = records.create_client(
        store, records.ClientDraft(first_name="José", last_name="Núñez", area_command="valley", identified_on=today)
    )
    records.record_notification(
        store,
        records.NotificationDraft(
            client_id=client.id, attempted_on=today, outcome="not_found", note="nobody home, left a card"
        ),
    )
    records.log_contact(
        store,
        records.ContactDraft(client_id=client.id, outcome="reached", mode="phone", duration_min=25, note=LONG_NOTE),
    )
    records.record_outcome(store, client.id, "job", today - timedelta(days=2), note="started at the warehouse")
    records.schedule_follow_up(
        store, client.id, today + timedelta(days=3), kind="court_date", note="bring the letter\nroom 4B"
    )
    records.record_assessment(
        store,
        records.AssessmentDraft(
            client_id=client.id, levels={"housing": 3}, priorities={"housing"}, note="sleeping in his car"
        ),
    )
    provider = records.add_provider(store, "Legal Aid Society", "legal")
    referral = records.create_referral(
        store,
        records.ReferralDraft(
            client_id=client.id, need_domain="legal", provider_id=provider.id, reason="court on the 12th"
        ),
    )
    records.set_referral_status(store, referral.id, "rejected", "no openings until January")
    return client


def test_every_kind_of_note_is_in_the_client_file_and_its_json(store):
    client = _client_with_every_kind_of_note(store)
    cf = caseload_service.client_file(store, client.id)
    by_kind = {e.kind: e for e in cf.timeline}
    assert by_kind["contact"].note == LONG_NOTE
    assert by_kind["notification"].note == "nobody home, left a card"
    assert by_kind["outcome"].note == "started at the warehouse"
    assert by_kind["follow_up"].note == "bring the letter\nroom 4B"
    assert by_kind["assessment"].note == "sleeping in his car"
    assert by_kind["referral"].note == "court on the 12th"
    assert [text for _, text in by_kind["referral"].texts] == ["court on the 12th", "", "no openings until January"]
    assert {e.recorded_by for e in cf.timeline} == {"Test Worker"}
    assert dict(by_kind["contact"].fields)["minutes"] == "25" and dict(by_kind["contact"].fields)["mode"] == "phone"
    assert by_kind["contact"].timed and not by_kind["outcome"].timed

    data = caseload_service.client_as_dict(cf)
    entries = {e["kind"]: e for e in data["timeline"]}
    assert entries["contact"]["note"] == LONG_NOTE and entries["contact"]["recorded_by"] == "Test Worker"
    assert entries["outcome"]["note"] == "started at the warehouse"
    assert entries["referral"]["history"][-1]["reason"] == "no openings until January"
    assert entries["assessment"]["fields"]["housing"].startswith("3")
    assert [f["note"] for f in data["follow_ups"] if f["kind"] == "court_date"] == ["bring the letter\nroom 4B"]


def test_clients_show_json_prints_every_note(store, db_path):
    client = _client_with_every_kind_of_note(store)
    store.close()
    shown = subprocess.run(
        [sys.executable, "-m", "vipterm", "clients", "show", client.id, "--json", "--db", str(db_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE},
    )
    assert shown.returncode == 0, shown.stderr
    notes = {e["kind"]: e["note"] for e in json.loads(shown.stdout)["timeline"]}
    assert notes["contact"] == LONG_NOTE and notes["referral"] == "court on the 12th"
    assert notes["follow_up"] == "bring the letter\nroom 4B" and notes["assessment"] == "sleeping in his car"


async def _open_entry(pilot, app, kind: str) -> EntryDetailModal:
    screen = app.screen
    assert isinstance(screen, ClientFileScreen)
    table = screen.query_one(TimelineTable)
    table.focus()
    row = next(n for n, e in enumerate(screen.timeline_rows) if e.kind == kind)
    table.move_cursor(row=row)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, EntryDetailModal)
    return app.screen


async def test_enter_on_a_timeline_entry_shows_it_whole(store, db_path):
    client = _client_with_every_kind_of_note(store)
    app = make_app(db_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(client.id)
        await settle(pilot)
        row_text = " ".join(
            str(c)
            for c in app.screen.query_one(TimelineTable).get_row_at(
                next(n for n, e in enumerate(app.screen.timeline_rows) if e.kind == "contact")
            )
        )
        assert "↵" in row_text  # one line in the list
        detail = await _open_entry(pilot, app, "contact")
        shown = screen_text(detail)
        assert LONG_NOTE in shown  # every line, whole (the screen wraps it)
        assert "recorded by Test Worker" in shown
        local = store.clock.to_local(store.clock.utcnow()).strftime("%Y-%m-%d %H:%M")
        assert f"Contact · {local}" in shown
        assert "phone" in shown and "25" in shown and "reached" in shown
        await pilot.press("f2")  # the privacy mask hides the note here too
        await settle(pilot)
        assert "José says" not in screen_text(app.screen) and "rec center" not in screen_text(app.screen)
        await pilot.press("f2")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)

        detail = await _open_entry(pilot, app, "referral")
        shown = screen_text(detail)
        assert "court on the 12th" in shown and "no openings until January" in shown
        assert "Legal Aid Society" in shown and "rejected" in shown
        await pilot.press("escape")
        await settle(pilot)

        for kind, note in (
            ("outcome", "started at the warehouse"),
            ("follow_up", "bring the letter\nroom 4B"),
            ("assessment", "sleeping in his car"),
            ("notification", "nobody home, left a card"),
        ):
            detail = await _open_entry(pilot, app, kind)
            assert note in screen_text(detail), kind
            await pilot.press("escape")
            await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        assert isinstance(app.screen.focused, DataTable)
