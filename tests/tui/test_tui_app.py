"""App-wide behaviour under Pilot: the palette, help, the privacy mask, themes, rebindable keys,
the settings file, quitting with a draft, and the optional sync/conflicts/report screens."""

from __future__ import annotations

from sqlmodel import select
from textual.command import CommandPalette
from textual.widgets import Input

from tests.conftest import DEMO_PASSPHRASE
from tests.tui_support import (  # noqa: F401
    FROZEN_NOW,
    make_app,
    screen_text,
    settle,
    table_keys,
    unlock,
    wait_for,
    wait_for_palette_hits,
)
from vipterm import domain
from vipterm.services import caseload as caseload_service
from vipterm.store.models import AuditEntry
from vipterm.tui.caseload import CaseloadScreen, CaseloadTable
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.config import load_config
from vipterm.tui.forms import ContactForm
from vipterm.tui.help import HelpScreen
from vipterm.tui.widgets import ConfirmModal, NoteArea

TODAY = FROZEN_NOW.date()


def _rows(store, scope="mine"):
    return caseload_service.caseload(store, worker_id="mine" if scope == "mine" else None, today=TODAY, now=FROZEN_NOW)


async def test_palette_finds_any_client_by_name_and_opens_them(tui_path, tui_store):
    others = [r for r in _rows(tui_store, "all") if r.assigned_worker_id != tui_store.worker_id and r.name]
    target = others[0]
    last_name = target.name.split()[1] if len(target.name.split()) > 1 else target.name
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.client_index)  # the palette's index loads after the first paint
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*target.pseudonym)
        await wait_for_palette_hits(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        assert app.screen.client_id == target.client_id
        assert last_name in screen_text(app.screen)


async def test_a_palette_opened_before_the_index_is_read_waits_for_it(tui_path, tui_store, monkeypatch):
    # The index is read a moment after the first paint; a worker quick on ctrl+p still finds a client.
    monkeypatch.setattr("vipterm.tui.app.BACKGROUND_AFTER_FIRST_PAINT_S", 600.0)
    target = _rows(tui_store)[0]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not app.client_index  # not read yet: the palette asks for it
        await pilot.press("ctrl+p", *target.pseudonym)
        await wait_for_palette_hits(pilot)
        shown = " ".join(str(option.prompt) for option in app.screen.query_one("CommandList").options)
        assert target.pseudonym in shown


async def test_palette_runs_actions_by_name(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"log contact")
        await wait_for_palette_hits(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ContactForm)


async def test_palette_is_closed_by_the_lock_and_refused_while_locked(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert not any(isinstance(s, CommandPalette) for s in app.screen_stack)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert not isinstance(app.screen, CommandPalette)


async def test_help_lists_the_keys_of_the_current_screen(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app.screen)
        for _key, does in (("l", "log"), ("/", "filter"), ("d", "done"), ("m", "mine/all"), ("^l", "lock")):
            assert does in text, does
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CaseloadScreen)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app.screen)
        assert "status" in text and "outcome" in text and "back" in text


async def test_privacy_mask_replaces_names_everywhere_and_back(tui_path, tui_store):
    rows = _rows(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("ctrl+backslash")
        await settle(pilot)
        assert app.masked
        for screen in app.screen_stack:
            text = screen_text(screen)
            for row in rows:
                assert row.name not in text
        table = app.screen_stack[-3].query_one(CaseloadTable)
        assert [str(table.get_row(k)[2]) for k in table_keys(table)] == [r.initials for r in rows[: table.row_count]]
        assert rows[0].initials in screen_text(app.screen)  # the form's title
        await pilot.press("f2")  # the other key for the mask
        await settle(pilot)
        assert not app.masked
        assert rows[0].name in screen_text(app.screen_stack[-2])
    with tui_store.read() as session:
        unmasks = session.exec(select(AuditEntry).where(AuditEntry.action == domain.AuditAction.UNMASK.value)).all()
    assert len(unmasks) == 1


async def test_mask_also_hides_names_in_the_palette(tui_path, tui_store):
    target = _rows(tui_store)[0]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f2", "ctrl+p", *target.pseudonym)
        await wait_for_palette_hits(pilot)
        palette = app.screen
        shown = " ".join(str(option.prompt) for option in palette.query_one("CommandList").options)
        assert target.pseudonym in shown and target.initials in shown
        assert target.name not in shown


async def test_theme_key_cycles_dark_light_high_contrast(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark"
        seen = []
        for _ in range(3):
            await pilot.press("ctrl+t")
            seen.append(app.theme)
        assert seen == ["textual-light", "vipterm-high-contrast", "textual-dark"]


async def test_keys_are_rebindable_from_the_settings_file(tui_path, tui_store, tmp_path):
    settings = tmp_path / "config.toml"
    settings.write_text('[keys]\nlog_contact = "k"\nlock = "f12"\n[app]\ntheme = "textual-light"\n')
    app = make_app(tui_path, tui_store, config=load_config(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "textual-light"
        await pilot.press("l")  # no key any more: it starts the filter
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert app.screen.query_one("#filter", Input).value == "l"
        await pilot.press("escape")  # clear the filter, back to the list
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, ContactForm)
        await pilot.press("escape")
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert app.store is not None
        await pilot.press("f12")
        await settle(pilot)
        assert app.store is None


async def test_a_broken_settings_file_falls_back_to_defaults_with_a_toast(tui_path, tui_store, tmp_path):
    settings = tmp_path / "config.toml"
    settings.write_text('[app]\nidle_lock_minutes = "soon"\ntheme = "mauve"\n[keys]\nlock = 5\n')
    config = load_config(settings)
    assert config.idle_lock_minutes == 10 and config.keys == {}
    app = make_app(tui_path, tui_store, config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        messages = " ".join(n.message for n in app._notifications)
        assert "idle_lock_minutes" in messages and "mauve" in messages and "lock" in messages
        assert app.theme == "textual-dark"
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[keys\n")
    assert "not valid TOML" in load_config(bad_toml).problems[0]


async def test_quit_asks_when_a_form_has_a_draft(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l", "r", "enter", *"unsaved")  # outcome reached, then the note
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ContactForm)
        assert app.screen.query_one("#note", NoteArea).value == "unsaved"
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert app.return_code == 0


async def test_quit_without_drafts_is_immediate(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_sync_conflicts_and_report_keys_open_their_screens_and_lock_clears_them(tui_path, tui_store):
    from vipterm.tui.conflicts_screen import ConflictsScreen
    from vipterm.tui.report_screen import ReportScreen
    from vipterm.tui.sync_screen import SyncScreen

    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, screen_class in (("s", SyncScreen), ("c", ConflictsScreen), ("R", ReportScreen)):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, screen_class), key
            assert app.screen.store is app.store and app.store is not None  # every screen reads the app's
            await pilot.press("ctrl+l")
            await settle(pilot)
            assert app.screen_stack[-2].store is None  # locked: no store behind the screen
            await unlock(pilot, DEMO_PASSPHRASE)
            assert isinstance(app.screen, screen_class) and app.screen.store is app.store
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, CaseloadScreen)


async def test_confirmation_buttons_name_their_keys():
    # "[y]" in a label is the key to press, not a markup tag: it must be on screen.
    from textual.app import App
    from textual.widgets import Button

    from vipterm.tui.widgets import ConfirmModal

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ConfirmModal("Discard this draft?"))

    app = Host()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert [str(b.label) for b in app.screen.query(Button)] == ["Yes [y]", "No [n]"]
