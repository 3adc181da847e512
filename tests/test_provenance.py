"""Provenance: every timeline entry says who recorded it and on which device, and the bundle it
came in. Real encrypted laptops and a coordinator exchanging real bundles."""

from __future__ import annotations

from sqlalchemy import text

from tests.sync_support import exchange, new_coordinator, new_enrolled_worker
from vipterm.services import caseload, records
from vipterm.services import sync as sync_service


def _entry(cf, kind):
    return next(e for e in cf.timeline if e.kind == kind)


def test_a_contact_shows_its_worker_device_and_bundle_on_the_coordinator_and_back(tmp_path):
    coord = new_coordinator(tmp_path / "c.db")
    w1 = new_enrolled_worker(coord, tmp_path / "w1.db", "Worker One")
    w2 = new_enrolled_worker(coord, tmp_path / "w2.db", "Worker Two")
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Shared", area_command="valley"))
        records.log_contact(w1, records.ContactDraft(client.id, outcome="reached", note="met at the park"))
        here = _entry(caseload.client_file(w1, client.id), "contact")
        assert (here.recorded_by, here.device, here.device_id, here.bundle_id) == (
            "Worker One", "this device", w1.device_id, "")

        exchange(coord, [w1, w2], tmp_path / "r1")
        at_coord = _entry(caseload.client_file(coord, client.id), "contact")
        assert at_coord.recorded_by == "Worker One"
        assert at_coord.device == f"laptop {w1.device_id[-8:]}" and at_coord.device_id == w1.device_id
        with coord.read() as s:
            delivered = s.execute(text("SELECT bundle_id FROM sync_bundle WHERE direction = 'in' "
                                       "AND peer_device = :d"), {"d": w1.device_id}).scalars().all()
        assert at_coord.bundle_id in delivered and at_coord.received_at is not None
        shown = caseload.client_as_dict(caseload.client_file(coord, client.id))
        contact = next(e for e in shown["timeline"] if e["kind"] == "contact")
        assert contact["recorded_by"] == "Worker One" and contact["device_id"] == w1.device_id
        assert contact["bundle_id"] == at_coord.bundle_id

        # Reassigned, the client's file reaches the second laptop; the contact still names the
        # first laptop (the return bundle says which device made each record), not the coordinator.
        records.update_client(coord, client.id, assigned_worker_id=w2.worker_id)
        exchange(coord, [w1, w2], tmp_path / "r2")
        on_w2 = _entry(caseload.client_file(w2, client.id), "contact")
        assert on_w2.device_id == w1.device_id and on_w2.device == f"laptop {w1.device_id[-8:]}"
        with w2.read() as s:
            returns = s.execute(text("SELECT bundle_id FROM sync_bundle WHERE direction = 'in'")).scalars().all()
        assert on_w2.bundle_id in returns
        # A record the coordinator made names the coordinator.
        records.log_contact(coord, records.ContactDraft(client.id, outcome="reached", worker_id=w2.worker_id))
        exchange(coord, [w1, w2], tmp_path / "r3")
        devices = {e.device for e in caseload.client_file(w2, client.id).timeline if e.kind == "contact"}
        assert devices == {f"laptop {w1.device_id[-8:]}", "coordinator"}
    finally:
        for s in (coord, w1, w2):
            s.close()


def test_a_return_bundle_cannot_make_a_laptop_believe_a_forged_device_list_of_the_wrong_shape(tmp_path):
    """The origins a return bundle lists are read defensively: items of the wrong shape are
    ignored and the sender is named instead."""
    from datetime import datetime

    from vipterm.sync import origin

    coord = new_coordinator(tmp_path / "c.db")
    try:
        with coord.database.write(capture=False) as s:
            conn = s.connection()
            n = origin.record_arrivals(conn, {"contact": [{"id": "a"}, {"id": "b"}, {"id": 7}]}, "sender-device",
                                       "bundle-1", datetime(2026, 11, 23, 16, 0),
                                       [["contact", "a", "x" * 500], ["contact", "b", 3], "junk", ["contact", "c", "ok"]])
            assert n == 2
        with coord.read() as s:
            got = origin.origins_of(s.connection(), [("contact", "a"), ("contact", "b")])
        assert {k[1]: v.device for k, v in got.items()} == {"a": "sender-device", "b": "sender-device"}
    finally:
        coord.close()


async def test_the_client_file_shows_who_and_which_laptop_and_enter_adds_the_bundle(tmp_path):
    from tests.tui_support import make_app, screen_text, settle
    from vipterm.tui.client_file import TimelineTable
    from vipterm.tui.entry_detail import EntryDetailModal

    coord = new_coordinator(tmp_path / "c.db")
    w1 = new_enrolled_worker(coord, tmp_path / "w1.db", "Worker One")
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Shared", area_command="valley"))
        records.log_contact(w1, records.ContactDraft(client.id, outcome="reached", note="met at the park"))
        exchange(coord, [w1], tmp_path / "r1")
        [bundle] = [e.bundle_id for e in caseload.client_file(coord, client.id).timeline if e.kind == "contact"]
        app = make_app(coord.path, coord)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.open_client(client.id)
            await settle(pilot)
            screen = app.screen
            row = next(n for n, e in enumerate(screen.timeline_rows) if e.kind == "contact")
            cells = [str(c) for c in screen.query_one(TimelineTable).get_row_at(row)]
            assert cells[2] == f"Worker One · laptop {w1.device_id[-8:]}"
            table = screen.query_one(TimelineTable)
            table.focus()
            table.move_cursor(row=row)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, EntryDetailModal)
            shown = screen_text(app.screen)
            assert f"recorded by Worker One on laptop {w1.device_id[-8:]}" in shown
            assert f"came in bundle {bundle}" in shown
    finally:
        coord.close()
        w1.close()
