"""Pilot test of the quarantine in the conflict review screen: an enrolled laptop's forged changes
(real key, real bundle) are listed with record, reason and sender, never their values, and the
coordinator accepts a delete, restores a record and refuses an invalid value from the keyboard."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.test_sync_malicious_worker import STAMP, World, field, forge, held
from tests.tui.test_sync_tui import Host, text_of, until
from vipterm.services import records
from vipterm.tui.conflicts_screen import ConflictsScreen


async def test_quarantine_is_reviewed_from_the_keyboard(tmp_path):
    world = World(tmp_path)
    coord, a, ca = world.coord, world.a, world.ca
    try:
        contact = records.log_contact(a, records.ContactDraft(client_id=ca.id, outcome="reached", note="visit"))
        world.round()
        forge(a, [("client", ca.id, "status", "pwned")])
        forge(a, [("contact", contact.id, "deleted_at", STAMP), ("client", ca.id, "deleted_at", STAMP)])
        world.upload(a)
        assert len(held(coord)) == 3

        screen = ConflictsScreen()
        async with Host(coord, screen).run_test(size=(100, 32)) as pilot:
            table = screen.query_one("#quarantine-table", DataTable)
            await until(pilot, lambda: table.row_count == 3)
            assert "3 held for review" in text_of(screen, "#quarantine-title")
            rows = [table.get_row_at(i) for i in range(3)]
            assert {r[1] for r in rows} == {"change", "delete"}
            assert all(r[3] == "Worker A" for r in rows)
            shown = " ".join(str(c) for r in rows for c in r)
            assert "pwned" not in shown and "Alma" not in shown  # reasons and labels, never values
            await pilot.press("tab")
            assert table.has_focus
            order = [q.kind + ":" + q.tbl for q in screen.held]
            # The invalid status: accepting it is refused with its reason; nothing changes.
            table.move_cursor(row=order.index("change:client"))
            await pilot.pause()
            assert "client.status is not one of" in text_of(screen, "#quarantine-detail")
            assert world.a.device_id in text_of(screen, "#quarantine-detail")
            await pilot.press("a", "y")  # a decision asks first
            await until(pilot, lambda: screen.query_one("#conflicts-message").has_class("-error"))
            assert "cannot be accepted" in text_of(screen, "#conflicts-message")
            await pilot.press("d", "y")  # discard it
            await until(pilot, lambda: table.row_count == 2)
            # Restore the client (discard its delete), confirm the contact's delete.
            order = [q.kind + ":" + q.tbl for q in screen.held]
            table.move_cursor(row=order.index("delete:client"))
            await pilot.pause()
            await pilot.press("d", "y")
            await until(pilot, lambda: table.row_count == 1)
            assert "restored" in text_of(screen, "#conflicts-message")
            await pilot.press("a", "y")
            await until(pilot, lambda: table.row_count == 0)
            assert "nothing held" in text_of(screen, "#quarantine-title")
        assert field(coord, "client", ca.id, "deleted_at") is None
        assert field(coord, "contact", contact.id, "deleted_at") is not None
        assert field(coord, "client", ca.id, "status") == "identified"
    finally:
        world.close()


async def test_the_laptop_is_told_how_many_clients_left_its_caseload_never_who(tmp_path):
    from vipterm.services import sync as sync_service
    from vipterm.tui.sync_screen import SyncScreen

    world = World(tmp_path)
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    try:
        records.update_client(coord, ca.id, assigned_worker_id=b.worker_id)
        down = tmp_path / "stick"
        down.mkdir()
        sync_service.export(coord, down, device=a.device_id)
        screen = SyncScreen(folder=down)
        async with Host(a, screen).run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: "inbox" in text_of(screen, "#sync-summary"))
            await pilot.press("i")
            await pilot.press("y")  # an import asks first
            await until(pilot, lambda: "left this laptop's caseload" in text_of(screen, "#sync-result"))
            shown = text_of(screen, "#sync-result")
            assert "1 client(s) left this laptop's caseload and were erased here" in shown
            assert "Alma" not in shown and "Avila" not in shown and ca.id not in shown
        assert field(a, "client", ca.id, "id") is None
    finally:
        world.close()
