"""Provenance: every timeline entry says who recorded it and on which device, and the bundle it
came in. Real encrypted laptops and a coordinator exchanging real bundles."""

from __future__ import annotations

from sqlalchemy import text

from tests.sync_support import enrolled_program, exchange, new_coordinator
from vipterm.services import caseload, records
from vipterm.services import sync as sync_service


def _entry(cf, kind):
    return next(e for e in cf.timeline if e.kind == kind)


def test_a_contact_shows_its_worker_device_and_bundle_on_the_coordinator_and_back(tmp_path):
    coord, (w1, w2) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"), ("w2.db", "Worker Two"))
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Shared", area_command="valley"))
        records.log_contact(w1, records.ContactDraft(client.id, outcome="reached", note="met at the park"))
        here = _entry(caseload.client_file(w1, client.id), "contact")
        assert (here.recorded_by, here.device, here.device_id, here.bundle_id) == (
            "Worker One",
            "this device",
            w1.device_id,
            "",
        )

        exchange(coord, [w1, w2], tmp_path / "r1")
        at_coord = _entry(caseload.client_file(coord, client.id), "contact")
        assert at_coord.recorded_by == "Worker One"
        assert at_coord.device == f"laptop {w1.device_id[-8:]}" and at_coord.device_id == w1.device_id
        with coord.read() as s:
            delivered = (
                s.execute(
                    text("SELECT bundle_id FROM sync_bundle WHERE direction = 'in' AND peer_device = :d"),
                    {"d": w1.device_id},
                )
                .scalars()
                .all()
            )
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
            n = origin.record_arrivals(
                conn,
                {"contact": [{"id": "a"}, {"id": "b"}, {"id": 7}]},
                "sender-device",
                "bundle-1",
                datetime(2026, 11, 23, 16, 0),
                [["contact", "a", "x" * 500], ["contact", "b", 3], "junk", ["contact", "c", "ok"]],
            )
            assert n == 2
        with coord.read() as s:
            got = origin.origins_of(s.connection(), [("contact", "a"), ("contact", "b")])
        assert {k[1]: v.device for k, v in got.items()} == {"a": "sender-device", "b": "sender-device"}
    finally:
        coord.close()


async def test_the_client_file_shows_who_and_which_laptop_enter_adds_the_bundle_h_the_conflict(tmp_path, monkeypatch):
    from tests.tui_support import make_app, screen_text, settle, wait_for
    from vipterm.tui.client_file import TimelineTable
    from vipterm.tui.client_forms import FieldHistoryModal
    from vipterm.tui.entry_detail import EntryDetailModal

    coord, (w1,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Shared", area_command="valley"))
        records.log_contact(w1, records.ContactDraft(client.id, outcome="reached", note="met at the park"))
        exchange(coord, [w1], tmp_path / "r1")
        records.edit_client(w1, client.id, area_command="foothills")
        monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T09:05:00-07:00")  # the coordinator's edit is later
        records.edit_client(coord, client.id, area_command="southeast")
        exchange(coord, [w1], tmp_path / "r2")
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
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("h")
            await settle(pilot)
            modal = app.screen
            assert isinstance(modal, FieldHistoryModal)
            await wait_for(pilot, lambda: modal.changes is not None)
            rows = [
                [str(c) for c in modal.query_one("#history-table").get_row_at(n)]
                for n in range(modal.query_one("#history-table").row_count)
            ]
            assert ["area command", "foothills", f"Worker One · laptop {w1.device_id[-8:]}", "lost*"] in [
                r[1:] for r in rows
            ]
            assert ["area command", "southeast", "Coordinator · this device", "won*"] in [r[1:] for r in rows]
    finally:
        coord.close()
        w1.close()


# --- field history: who, which device, and the conflict it met ------------------------------------


def test_field_history_after_a_conflict_names_both_values_who_set_them_and_which_won(tmp_path, monkeypatch):
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import PASSPHRASE
    from vipterm.services.field_history import field_history

    coord, (w1,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Shared", area_command="valley"))
        exchange(coord, [w1], tmp_path / "r1")
        records.edit_client(w1, client.id, phone="505-555-0101")
        monkeypatch.setenv("VIPTERM_NOW", "2026-11-23T09:05:00-07:00")  # the coordinator's edit is later
        records.edit_client(coord, client.id, phone="505-555-0202")
        exchange(coord, [w1], tmp_path / "r2")
        phones = field_history(coord, client.id, "phone")
        by_value = {c.value: c for c in phones}
        won, lost = by_value["505-555-0202"], by_value["505-555-0101"]
        assert (won.worker, won.device_name, won.conflict, won.conflict_open) == (
            "Coordinator",
            "this device",
            "won",
            True,
        )
        assert (lost.worker, lost.device_name, lost.device, lost.conflict) == (
            "Worker One",
            f"laptop {w1.device_id[-8:]}",
            w1.device_id,
            "lost",
        )
        [conflict] = sync_service.list_conflicts(coord)
        sync_service.resolve_conflict(coord, conflict.id, "current")
        assert not any(c.conflict_open for c in field_history(coord, client.id, "phone"))
        path = coord.path
    finally:
        coord.close()
        w1.close()
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE}

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "vipterm", *a, "--db", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    shown = run("clients", "history", client.id, "--field", "phone")
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if "505-555-0101" in x)
    assert f"Worker One on laptop {w1.device_id[-8:]}" in line and "lost a conflict" in line
    data = json.loads(run("clients", "history", client.id, "--field", "phone", "--json").stdout)["changes"]
    assert {(d["value"], d["conflict"], d["worker"]) for d in data} >= {
        ("505-555-0202", "won", "Coordinator"),
        ("505-555-0101", "lost", "Worker One"),
    }


def test_a_purge_erases_where_the_clients_records_came_from(tmp_path):
    coord, (w1,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Gone", area_command="valley"))
        contact = records.log_contact(w1, records.ContactDraft(client.id, outcome="reached"))
        exchange(coord, [w1], tmp_path / "r1")

        def origins(store):
            with store.read() as s:
                return s.execute(
                    text("SELECT count(*) FROM sync_origin WHERE row_id IN (:c, :k)"), {"c": client.id, "k": contact.id}
                ).scalar_one()

        assert origins(coord) == 3 and origins(w1) == 3  # client, its identity, the contact
        sync_service.purge_client(coord, client.id)
        exchange(coord, [w1], tmp_path / "r2")
        assert origins(coord) == 0 and origins(w1) == 0
    finally:
        coord.close()
        w1.close()


def test_a_laptop_cannot_claim_another_device_made_its_records(tmp_path, monkeypatch):
    """A modified vipterm on a laptop adds `origins` to its own bundle naming another laptop as
    the maker of its contact: the coordinator ignores the list (only its own return bundles carry
    one) and names the sending laptop."""
    from vipterm.sync import bundle as bundle_format

    coord, (w1, w2) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"), ("w2.db", "Worker Two"))
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Mine", area_command="valley"))
        contact = records.log_contact(w1, records.ContactDraft(client.id, outcome="reached"))
        real = bundle_format.write_bundle

        def forged(to_dir, *, header_fields, payload, **kw):
            if header_fields.get("kind") == "worker":
                payload = {
                    **payload,
                    "origins": [["contact", contact.id, w2.device_id], ["client", client.id, w2.device_id]],
                }
            return real(to_dir, header_fields=header_fields, payload=payload, **kw)

        monkeypatch.setattr(bundle_format, "write_bundle", forged)
        exchange(coord, [w1, w2], tmp_path / "r1")
        entry = _entry(caseload.client_file(coord, client.id), "contact")
        assert entry.device_id == w1.device_id
    finally:
        for s in (coord, w1, w2):
            s.close()
