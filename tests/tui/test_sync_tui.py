"""Pilot tests of the sync screen and the conflict review screen, on real encrypted databases,
real keys and real bundles, each screen opened in the real app on its store."""

from __future__ import annotations

import time

from sqlalchemy import text
from textual.widgets import DataTable, Input, Static

from tests.sync_support import exchange, new_coordinator, new_enrolled_worker
from tests.tui_support import make_app
from vipterm.services import records
from vipterm.services import sync as sync_service
from vipterm.tui.conflicts_screen import ConflictsScreen
from vipterm.tui.sync_screen import SyncScreen


def Host(store, screen):
    """The real app on `store`, with `screen` opened over its caseload."""
    app = make_app(store.path, store)
    app.call_later(app.push_screen, screen)
    return app


async def until(pilot, predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.05)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_sync_screen_exports_and_imports_from_a_folder(tmp_path):
    coord = new_coordinator(tmp_path / "c.db")
    laptop = new_enrolled_worker(coord, tmp_path / "w.db", "Worker One")
    stick = tmp_path / "stick"
    stick.mkdir()
    try:
        records.create_client(laptop, records.ClientDraft(first_name="Hidden", last_name="Name"))
        with laptop.read() as s:
            logged = s.execute(text("SELECT count(*) FROM change_log")).scalar_one()
        screen = SyncScreen()
        async with Host(laptop, screen).run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: "pending changes" in text_of(screen, "#sync-summary"))
            assert f"pending changes {logged}" in text_of(screen, "#sync-summary")
            await pilot.press("e")  # no folder yet: a clear message, focus on the folder field
            await until(pilot, lambda: "choose a folder" in text_of(screen, "#sync-result"))
            screen.query_one("#sync-folder", Input).value = str(stick)
            await pilot.press("enter", "e")
            await until(pilot, lambda: "exported 1 bundle" in text_of(screen, "#sync-result"))
            await until(pilot, lambda: f"exported, not yet acknowledged {logged}" in text_of(screen, "#sync-summary"))
            assert len(list(stick.glob("*.vipb"))) == 1
            assert "Hidden" not in text_of(screen, "#sync-summary") + text_of(screen, "#sync-result")

        cscreen = SyncScreen(folder=stick)
        async with Host(coord, cscreen).run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: "enrolled laptops 1" in text_of(cscreen, "#sync-summary"))
            await pilot.press("i", "y")  # an import asks first
            await until(pilot, lambda: "applied" in text_of(cscreen, "#sync-result"))
            await pilot.press("i", "y")  # the same folder again: a notice, not an error
            await until(pilot, lambda: "already imported" in text_of(cscreen, "#sync-result"))
            assert not cscreen.query_one("#sync-result").has_class("-error")
            await pilot.press("escape")
        with coord.read() as s:
            assert s.execute(text("SELECT count(*) FROM client")).scalar_one() == 1
    finally:
        coord.close()
        laptop.close()


async def test_sync_screen_shows_a_refusal_and_the_inbox(tmp_path):
    coord = new_coordinator(tmp_path / "c.db")
    laptop = new_enrolled_worker(coord, tmp_path / "w.db")
    try:
        out = tmp_path / "out"
        out.mkdir()
        records.create_client(laptop, records.ClientDraft(aka="First"))  # the first bundle holds changes
        sync_service.export(laptop, out)
        records.create_client(laptop, records.ClientDraft(aka="Later"))
        late = tmp_path / "late"
        late.mkdir()
        [second] = sync_service.export(laptop, late, only_new=True)
        (late / "junk.vipb").write_bytes(b"not a bundle at all" * 100)
        screen = SyncScreen(folder=late)
        async with Host(coord, screen).run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: "inbox: empty" in text_of(screen, "#sync-summary"))
            await pilot.press("i", "y")
            await until(pilot, lambda: "waiting" in text_of(screen, "#sync-result"))
            assert "junk.vipb: refused: not a vipterm bundle" in text_of(screen, "#sync-result")
            assert screen.query_one("#sync-result").has_class("-error")
            table = screen.query_one("#sync-inbox", DataTable)
            await until(pilot, lambda: table.row_count == 1)
            assert table.get_row_at(0)[0] == second.bundle_id
    finally:
        coord.close()
        laptop.close()


async def test_conflict_screen_side_by_side_and_resolution_from_the_keyboard(tmp_path):
    coord = new_coordinator(tmp_path / "c.db")
    laptop = new_enrolled_worker(coord, tmp_path / "w.db", "Worker One")
    try:
        a = records.create_client(laptop, records.ClientDraft(aka="First", area_command="valley"))
        b = records.create_client(laptop, records.ClientDraft(aka="Second", area_command="valley"))
        exchange(coord, [laptop], tmp_path / "r1")
        for client, mine, theirs in ((a, "foothills", "southeast"), (b, "northeast", "northwest")):
            records.update_client(laptop, client.id, area_command=mine)
            records.update_client(coord, client.id, area_command=theirs)
        exchange(coord, [laptop], tmp_path / "r2")
        assert len(sync_service.list_conflicts(coord)) == 2

        screen = ConflictsScreen()
        async with Host(coord, screen).run_test(size=(110, 30)) as pilot:
            table = screen.query_one("#conflicts-table", DataTable)
            await until(pilot, lambda: table.row_count == 2)
            current = text_of(screen, "#conflict-current")
            other = text_of(screen, "#conflict-other")
            assert "by Coordinator" in current and "by Worker One" in other
            assert "southeast" in current and "foothills" in other
            assert "First" not in current + other  # the record is shown by pseudonym
            await pilot.press("t", "y")  # take the laptop's value for the first (asked first)
            await until(pilot, lambda: table.row_count == 1)
            assert "now foothills" in text_of(screen, "#conflicts-message")
            await pilot.press("e")
            edit = screen.query_one("#conflict-edit", Input)
            assert edit.has_focus and edit.value == "northwest"
            edit.value = "nowhere"
            await pilot.press("enter")  # an invalid area: refused with its message, nothing changed
            await until(pilot, lambda: screen.query_one("#conflicts-message").has_class("-error"))
            edit.value = "valley"
            await pilot.press("enter")
            await until(pilot, lambda: table.row_count == 0)
            assert "none open" in text_of(screen, "#conflicts-title")
        with coord.read() as s:
            values = dict(s.execute(text("SELECT id, area_command FROM client")).all())
        assert values == {a.id: "foothills", b.id: "valley"}
    finally:
        coord.close()
        laptop.close()


def _burst(app, keys) -> None:
    """Post keys all at once, before the app handles the first (a paste, a fast typist, tmux
    send-keys): Textual queues them all at the widget focused on arrival."""
    from bench.tui_driver import send_key

    for key in keys:
        send_key(app, key)


async def test_conflict_edit_typed_in_one_burst_saves_the_value_typed(tmp_path):
    # "e ctrl+u southwest ⏎" sent at once: `e`'s binding moved the focus to the edit field only
    # after the list had taken the rest as keys of the screen: its `t` took the other value of the
    # conflict, its `e` filled the field again. And a key typed right after Escape went into the
    # hidden field instead of acting on the list.
    from vipterm.tui.widgets import ConfirmModal

    coord = new_coordinator(tmp_path / "c.db")
    laptop = new_enrolled_worker(coord, tmp_path / "w.db", "Worker One")
    try:
        a = records.create_client(laptop, records.ClientDraft(aka="First", area_command="valley"))
        exchange(coord, [laptop], tmp_path / "r1")
        records.update_client(laptop, a.id, area_command="foothills")
        records.update_client(coord, a.id, area_command="northeast")
        exchange(coord, [laptop], tmp_path / "r2")
        assert len(sync_service.list_conflicts(coord)) == 1

        screen = ConflictsScreen()
        app = Host(coord, screen)
        async with app.run_test(size=(110, 30)) as pilot:
            table = screen.query_one("#conflicts-table", DataTable)
            edit = screen.query_one("#conflict-edit", Input)
            await until(pilot, lambda: table.row_count == 1)
            _burst(app, ["e", *"xy", "escape", "k"])  # Escape closes the field; `k` asks to keep the current
            await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
            assert not edit.has_class("-editing") and "k" not in edit.value
            await pilot.press("n")
            await until(pilot, lambda: app.screen is screen)
            _burst(app, ["e", "ctrl+u", *"southwest", "enter"])
            await until(pilot, lambda: table.row_count == 0)
            assert "is now southwest" in text_of(screen, "#conflicts-message")
        with coord.read() as s:
            assert s.execute(text("SELECT area_command FROM client")).scalar_one() == "southwest"
    finally:
        coord.close()
        laptop.close()


async def test_a_folder_typed_in_one_burst_after_f_is_the_folder_exported_to(tmp_path):
    # "f/tmp/…/stick⏎e" sent at once: `f`'s binding moved the focus to the folder field only after
    # the list had taken the path's letters as keys of the screen (`e` exported, `i` imported, `r`
    # refreshed), and `e` after Enter or Escape was typed into the folder instead of exporting.
    coord = new_coordinator(tmp_path / "c.db")
    laptop = new_enrolled_worker(coord, tmp_path / "w.db", "Worker One")
    stick = tmp_path / "stick"
    stick.mkdir()
    try:
        records.create_client(laptop, records.ClientDraft(aka="First", area_command="valley"))
        screen = SyncScreen()
        app = Host(laptop, screen)
        async with app.run_test(size=(100, 30)) as pilot:
            folder = screen.query_one("#sync-folder", Input)
            await until(pilot, lambda: "pending changes" in text_of(screen, "#sync-summary"))
            assert set(str(stick)) & {"e", "i"}  # keys of the screen among the path's letters
            _burst(app, ["f", *str(stick), "enter", "e"])
            await until(pilot, lambda: "exported 1 bundle" in text_of(screen, "#sync-result"))
            assert folder.value == str(stick) and isinstance(app.screen, SyncScreen)
            assert len(list(stick.glob("*.vipb"))) == 1
            await pilot.press("f")
            await until(pilot, lambda: folder.has_focus and not screen.busy)
            screen.query_one("#sync-result", Static).update("")
            _burst(app, ["escape", "e"])
            await until(pilot, lambda: "exported" in text_of(screen, "#sync-result"))
            assert folder.value == str(stick)
    finally:
        coord.close()
        laptop.close()
