"""Screens that keep working: every worker failure of any screen (an OSError from a disk or a
folder, not only vipterm's own errors) reaches the app's one error handler, the screen says what
went wrong, and its keys work again. Real encrypted databases, real keys, the real app."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.sync_support import enrolled_program
from tests.tui_support import make_app, settle
from vipterm.services import records
from vipterm.tui.base import ScreenHooks, VipModal, VipScreen, describe_error
from vipterm.tui.sync_screen import SyncScreen


async def until(pilot, predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.05)


def _unwritable_folder() -> Path | None:
    """A folder that exists but refuses new files with a real OSError, even for root: /sys."""
    folder = Path("/sys")
    if not folder.is_dir():
        return None
    try:
        (folder / "vipterm-probe").write_bytes(b"")
    except OSError:
        return folder
    (folder / "vipterm-probe").unlink()
    return None


def _result(screen) -> str:
    return str(screen.query_one("#sync-result", Static).render())


async def test_an_export_that_fails_with_an_oserror_says_so_and_the_keys_work_again(tmp_path):
    folder = _unwritable_folder()
    if folder is None:
        pytest.skip("no folder here refuses writes with an OSError (needs Linux /sys)")
    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w.db", "Worker One"))
    stick = tmp_path / "stick"
    stick.mkdir()
    try:
        records.create_client(laptop, records.ClientDraft(first_name="Hidden", last_name="Name"))
        app = make_app(laptop.path, laptop)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("s")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SyncScreen)
            await until(pilot, lambda: "pending changes" in str(screen.query_one("#sync-summary", Static).render()))
            screen.query_one("#sync-folder", Input).value = str(folder)
            await pilot.press("e")
            await until(pilot, lambda: "exporting" not in _result(screen) and _result(screen))
            message = _result(screen)
            assert "permission denied" in message.lower() and "try again" in message
            assert "Traceback" not in message and "Hidden" not in message and "vipb" not in message
            assert screen.query_one("#sync-result").has_class("-error")
            assert not screen.busy and app.is_running and app.screen is screen
            assert list(stick.iterdir()) == []
            # The same keys, a good folder: the export goes through.
            screen.query_one("#sync-folder", Input).value = str(stick)
            await pilot.press("e")
            await until(pilot, lambda: "exported 1 bundle" in _result(screen))
            assert len(list(stick.glob("*.vipb"))) == 1
            assert not screen.query_one("#sync-result").has_class("-error")
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, SyncScreen)
    finally:
        coord.close()
        laptop.close()


class Exploding(VipScreen):
    """A screen whose worker fails with a bug (not a VipError)."""

    failed_with: str | None = None

    def on_mount(self) -> None:
        self.run_worker(self._boom, thread=True, exit_on_error=True)  # asked to exit: overridden

    def _boom(self) -> None:
        raise KeyError("José Núñez")  # a message that quotes client data

    def worker_failed(self, error: BaseException, message: str) -> bool:
        self.failed_with = message
        return False  # the app shows the toast


async def test_any_worker_failure_reaches_the_app_handler_and_never_closes_the_app(store, db_path):
    app = make_app(db_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = Exploding()
        await app.push_screen(screen)
        await settle(pilot)
        assert app.is_running and app.screen is screen
        assert screen.failed_with is not None and "KeyError" in screen.failed_with
        toasts = [n.message for n in app._notifications]
        assert any("KeyError" in t for t in toasts)
        assert not any("José" in t for t in toasts)


def test_describe_error_names_the_disk_problem_not_the_file():
    full = OSError(28, "No space left on device", "/media/stick/José.tmp")
    text = describe_error(full)
    assert "disk is full" in text and "José" not in text and "stick/" not in text
    assert "removed stick" in describe_error(FileNotFoundError(2, "No such file", "/media/x"))


def test_every_vipterm_screen_and_modal_derives_from_the_base():
    import importlib
    import inspect

    from textual.screen import Screen

    modules = [
        importlib.import_module(f"vipterm.tui.{name[:-3]}")
        for name in sorted(os.listdir(Path(__file__).resolve().parents[2] / "vipterm" / "tui"))
        if name.endswith(".py") and name != "__init__.py"
    ]
    screens = {
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Screen) and cls.__module__.startswith("vipterm.")
    }
    assert len(screens) >= 10
    outside = sorted(cls.__qualname__ for cls in screens if not issubclass(cls, ScreenHooks))
    assert outside == [], f"screens outside the base class: {outside}"
    assert all(issubclass(cls, (VipScreen, VipModal)) for cls in screens)
