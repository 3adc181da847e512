"""The palette's actions are the screen's active bindings (as help's list is): the keys it names
are the keys in use (rebound ones too), an action the screen does not offer is not there, and the
screens every screen can open are there from anywhere."""

from __future__ import annotations

from tests.tui_support import make_app, settle, wait_for
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.commands import system_commands
from vipterm.tui.config import load_config
from vipterm.tui.help import screen_keys


def _commands(app) -> dict[str, str]:
    return {c.title: c.help for c in system_commands(app, app.screen)}


async def test_the_palette_offers_the_screens_bindings_under_their_keys(tui_path, tui_store, tmp_path):
    settings = tmp_path / "config.toml"
    settings.write_text('[keys]\nlog_contact = "k"\n')
    app = make_app(tui_path, tui_store, config=load_config(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        caseload = _commands(app)
        assert caseload["Log contact"].endswith("(k)")  # the rebound key, as help shows it
        assert any(keys == "k" for keys, _ in screen_keys(app, app.screen))
        assert "New client" in caseload and "Correct entry" not in caseload
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientFileScreen))
        await settle(pilot)
        client_file = _commands(app)
        assert "Correct entry" in client_file and "New client" not in client_file
        assert {"Sync", "Conflicts", "Monthly report", "Help", "Lock"} <= set(client_file)  # from anywhere
