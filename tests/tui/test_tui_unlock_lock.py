"""Unlock, wrong passphrases, files that are not databases, the lock key and the idle lock.

Every test runs the real app under Pilot on a real SQLCipher file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from textual.widgets import Input

from tests.conftest import DEMO_PASSPHRASE, open_known
from tests.tui_support import make_app, screen_text, settle, unlock, wait_for
from vipterm.services import caseload as caseload_service
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.forms import ContactForm
from vipterm.tui.unlock import UnlockScreen
from vipterm.tui.widgets import NoteArea


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_wrong_passphrase_says_so_lets_retry_and_touches_nothing(demo_path):
    before = _digest(demo_path)
    app = make_app(demo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, UnlockScreen)
        await unlock(pilot, "not the passphrase")
        assert app.store is None
        assert isinstance(app.screen, UnlockScreen)
        assert "wrong passphrase" in screen_text(app.screen)
        assert app.screen.query_one("#passphrase", Input).value == ""  # cleared for the retry
        assert _digest(demo_path) == before
        assert not Path(str(demo_path) + "-wal").exists() or Path(str(demo_path) + "-wal").stat().st_size == 0
        await unlock(pilot, DEMO_PASSPHRASE)
        assert app.store is not None
        assert isinstance(app.screen, CaseloadScreen)


def _burst(app, keys) -> None:
    """Post keys all at once, before the app handles the first (a fast typist, a paste)."""
    from bench.tui_driver import send_key

    for key in keys:
        send_key(app, key)


async def test_editing_keys_in_a_burst_act_where_they_were_typed(demo_path):
    # ctrl+u's binding ran only after the keys typed after it had been put in the field: it then
    # cleared them too. Escape (empty the field) and Enter the same.
    app = make_app(demo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query("#passphrase")))
        field = app.screen.query_one("#passphrase", Input)
        _burst(app, [*"abc", "ctrl+u", *"wxyz"])
        await settle(pilot)
        assert field.value == "wxyz"
        _burst(app, ["backspace", *"ab", "escape", *"pq", "left", "backspace", "r"])
        await settle(pilot)
        assert field.value == "rq"
        _burst(app, ["end", "ctrl+u", *DEMO_PASSPHRASE, "enter", *"later"])  # typed on while it unlocks
        await wait_for(pilot, lambda: app.store is not None or "wrong" in screen_text(app.screen))
        assert app.store is not None, "the passphrase was checked as typed, before the keys after Enter"


async def test_first_unlock_shows_the_caseload_read_beside_the_passphrase_check(demo_path):
    """The caseload screen is built while the passphrase is checked and comes with its rows: the
    same rows as the caseload query, loaded once (no second read when it is first shown), with
    its keys in the key bar."""
    app = make_app(demo_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot, "not the passphrase")  # a failed try keeps the screen built for the next
        await unlock(pilot, DEMO_PASSPHRASE)
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        await settle(pilot)
        screen = app.screen
        expected = caseload_service.caseload(app.store)
        assert expected, "the demo worker has clients"
        assert [r.client_id for r in screen.rows] == [r.client_id for r in expected]
        assert screen.generation == 1  # read once, with the unlock
        keys = [key.description for key in screen.query("FooterKey")]
        assert "log" in keys and "filter" in keys


async def test_empty_passphrase_asks_for_one(demo_path):
    app = make_app(demo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await settle(pilot)
        assert "type the passphrase" in screen_text(app.screen)
        assert app.store is None


async def test_a_file_that_is_not_a_database_is_named_clearly(tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are not the pages of an encrypted database" * 100)
    before = _digest(junk)
    app = make_app(junk)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, "whatever passphrase")
        text = screen_text(app.screen)
        # SQLCipher cannot tell a wrong key from random bytes; the message covers both.
        assert "wrong passphrase" in text or "not a vipterm database" in text
        assert app.store is None
    assert _digest(junk) == before


async def test_a_plain_sqlite_file_is_refused_without_retry(tmp_path):
    import sqlite3

    plain = tmp_path / "plain.db"
    with sqlite3.connect(plain) as conn:
        conn.execute("create table t (x)")
    app = make_app(plain)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, "whatever passphrase")
        assert "unencrypted SQLite file" in screen_text(app.screen)
        assert app.screen.query_one("#passphrase", Input).disabled
        assert app.store is None


async def test_a_newer_schema_is_refused_clearly(demo_path):
    with open_known(demo_path, DEMO_PASSPHRASE) as store:
        with store.database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA user_version = 99")
            conn.commit()
    before = _digest(demo_path)
    app = make_app(demo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        assert app.store is None
        assert "schema version 99" in screen_text(app.screen)
        assert "upgrade vipterm" in screen_text(app.screen)
    assert _digest(demo_path) == before


async def test_demo_unlock_screen_tells_the_demo_passphrase(demo_path):
    app = make_app(demo_path, demo=True)
    async with app.run_test(size=(80, 24)):
        assert f"the passphrase is {DEMO_PASSPHRASE}" in screen_text(app.screen)
    plain = make_app(demo_path)
    async with plain.run_test(size=(80, 24)):
        assert DEMO_PASSPHRASE not in screen_text(plain.screen)


async def test_lock_clears_every_screen_of_client_data_and_unlock_restores(demo_path):
    app = make_app(demo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        caseload = app.screen
        rows = caseload.rows
        assert rows, "the demo worker has clients"
        names = [r.name for r in rows if r.name]
        await pilot.press("enter")  # open the first client's file
        await settle(pilot)
        assert names[0].split()[0] in screen_text(app.screen)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert app.store is None
        assert isinstance(app.screen, UnlockScreen)
        for screen in app.screen_stack:
            text = screen_text(screen)
            for name in names:
                assert name not in text, f"a client name is still on {type(screen).__name__}"
                for part in name.replace("“", " ").replace("”", " ").split():
                    if len(part) > 3:
                        assert part not in text
        # The palette finds nobody while locked.
        assert app.client_index == []
        await unlock(pilot, DEMO_PASSPHRASE)
        assert app.store is not None
        assert names[0].split()[0] in screen_text(app.screen)  # the client file is back
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert [r.client_id for r in app.screen.rows] == [r.client_id for r in rows]


async def test_wrong_passphrase_after_a_lock_keeps_it_locked(demo_path):
    app = make_app(demo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        await pilot.press("ctrl+l")
        await settle(pilot)
        await unlock(pilot, "guess guess guess")
        assert app.store is None
        assert "wrong passphrase" in screen_text(app.screen)
        assert all(not s.rows for s in app.screen_stack if isinstance(s, CaseloadScreen))


async def test_a_draft_survives_the_lock_and_saves_after_unlock(demo_path):
    app = make_app(demo_path)
    note = "walked to the bus stop together"
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        client_id = app.screen.current_row().client_id
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ContactForm)
        await pilot.press("r", "enter", *note)  # outcome reached, then the note
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        form = next(s for s in app.screen_stack if isinstance(s, ContactForm))
        assert "locked" in screen_text(form) and form.ref.name not in screen_text(form)
        await unlock(pilot, DEMO_PASSPHRASE)
        assert app.screen is form
        assert form.query_one("#note", NoteArea).value == note
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    with open_known(demo_path, DEMO_PASSPHRASE) as store:
        cf = caseload_service.client_file(store, client_id)
    assert any(note == e.note for e in cf.timeline if e.kind == "contact")


async def test_idle_time_locks_the_app(demo_path):
    app = make_app(demo_path, idle_lock_seconds=0.4)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query("#passphrase")))
        app.screen.query_one("#passphrase", Input).value = DEMO_PASSPHRASE
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(isinstance(s, CaseloadScreen) for s in app.screen_stack))
        await wait_for(pilot, lambda: app.store is None and isinstance(app.screen, UnlockScreen))
        assert isinstance(app.screen, UnlockScreen)
        assert "Locked" in screen_text(app.screen)


async def test_activity_postpones_the_idle_lock(demo_path):
    app = make_app(demo_path, idle_lock_seconds=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        app._last_activity -= 59.5
        await pilot.press("down")  # a key counts as activity
        app.check_idle_lock()
        assert app.store is not None
        app._last_activity -= 61
        app.check_idle_lock()
        assert app.store is None
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)


async def test_idle_lock_default_comes_from_the_config(demo_path, tmp_path, monkeypatch):
    from vipterm.tui.app import VipApp
    from vipterm.tui.config import load_config

    config_file = tmp_path / "config.toml"
    config_file.write_text("[app]\nidle_lock_minutes = 3\n")
    app = VipApp(demo_path, config=load_config(config_file))
    assert app.idle_lock_seconds == 180
    assert VipApp(demo_path, config=load_config(tmp_path / "missing.toml")).idle_lock_seconds == 600
