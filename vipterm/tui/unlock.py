"""The unlock screen: the first thing the app shows, and what the lock puts back on top.

The passphrase is checked with `open_store` in a thread (Argon2id takes about a quarter of a
second); a wrong one is said so and the field is cleared for another try. A failed try never
writes to the file. When locked, this screen is opaque and every screen below it has been
cleared of client data; drafts of open forms are kept for when the passphrase is typed again.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.widgets import Input, Static

from vipterm.errors import DatabaseBusy, DatabaseMissing, NewerSchema, NotADatabase, VipError, WrongPassphrase
from vipterm.tui.base import VipScreen
from vipterm.tui.key_bar import SteadyFooter
from vipterm.tui.key_order import EditsInOrder
from vipterm.tui.messages import Unlocked, UnlockFailed


class PassphraseField(EditsInOrder, Input):
    """The passphrase field. Its editing keys act in the order typed (`tui.key_order.EditsInOrder`):
    "abc ctrl+u wxyz" typed fast leaves "wxyz", not an empty field cleared by a ctrl+u run late.
    Escape empties it, as a key of its own for the same reason."""

    BINDINGS = [Binding("escape", "clear", "clear", show=False)]
    ACTIONS_IN_ORDER = EditsInOrder.ACTIONS_IN_ORDER | {"clear"}

    def action_clear(self) -> None:
        self.value = ""


class PrepareSession(Message):
    """The first passphrase is being checked: the app may build the caseload screen meanwhile."""


class UnlockScreen(VipScreen):
    """Ask for the passphrase; on success hand the store to the app."""

    BINDINGS = [Binding("ctrl+q", "app.quit", "quit", id="quit")]
    AUTO_FOCUS = "#passphrase"

    def __init__(self, path: Path, *, relock: bool = False, demo: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.relock = relock
        self.demo = demo
        self.busy = False

    def compose(self) -> ComposeResult:
        from vipterm.tui.app import DEMO_PASSPHRASE

        with Center():
            with Vertical(id="unlock-box"):
                yield Static("vipterm", id="unlock-title")
                if self.relock:
                    yield Static("Locked. Type the passphrase to continue where you were.", id="unlock-lead")
                else:
                    yield Static("Type the passphrase of this laptop's database.", id="unlock-lead")
                field = PassphraseField(placeholder="passphrase", password=True, id="passphrase")
                field.cursor_blink = self.app.cursor_blink
                yield field
                yield Static("", id="unlock-message", markup=False)
                if self.demo:
                    yield Static(
                        f"Demo (throwaway copy): the passphrase is {DEMO_PASSPHRASE}", id="unlock-demo", markup=False
                    )
                yield Static(f"database: {self.path.name} · ctrl+q quits", id="unlock-path", markup=False)
        yield SteadyFooter(compact=True, show_command_palette=False)

    @on(Input.Submitted, "#passphrase")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy:
            return
        passphrase = event.value
        if not passphrase:
            self._say("type the passphrase, then Enter")
            return
        self.busy = True
        self._say("unlocking…")
        self._unlock(passphrase)

    @work(thread=True, exclusive=True, exit_on_error=False, group="unlock")
    def _unlock(self, passphrase: str) -> None:
        from vipterm.services import records
        from vipterm.services.database import open_store

        if not self.relock:
            # The caseload screen is built while Argon2id runs (`VipApp.prepare_session`). Its
            # modules are imported here first, in the one thread importing now: two threads
            # importing the same modules at once can deadlock on Python's import locks.
            import vipterm.tui.caseload  # noqa: F401

            self.post_message(PrepareSession())
        try:
            store = open_store(self.path, passphrase)
        except WrongPassphrase:
            self.post_message(UnlockFailed("wrong passphrase — try again"))
            return
        except (NotADatabase, DatabaseMissing) as exc:
            self.post_message(UnlockFailed(exc.message, retry=False))
            return
        except NewerSchema as exc:
            self.post_message(UnlockFailed(exc.message, retry=False))
            return
        except DatabaseBusy as exc:  # a moment later it may open
            self.post_message(UnlockFailed(exc.message))
            return
        except VipError as exc:
            self.post_message(UnlockFailed(exc.message, retry=False))
            return
        try:
            last_mode = records.last_contact_mode(store)
        except Exception:
            store.close()
            raise
        rows = None if self.relock else self._first_caseload(store)
        self.post_message(Unlocked(store, last_mode, rows))

    @staticmethod
    def _first_caseload(store) -> list | None:
        """The caseload's rows for its first showing, read here while the screen waits anyway: in
        the caseload's own worker they were read while the screen was being built and painted,
        both slowed by sharing one interpreter. A failure is the caseload's to report, when it
        loads the rows itself."""
        from vipterm.services import caseload

        try:
            return caseload.caseload(store)
        except Exception:
            return None

    def on_prepare_session(self, message: PrepareSession) -> None:
        self.app.prepare_session()

    def on_unlock_failed(self, message: UnlockFailed) -> None:
        self.busy = False
        field = self.query_one("#passphrase", Input)
        field.value = ""
        self._say(message.message, error=True)
        if not message.retry:
            field.disabled = True
            self._say(message.message + " — press ctrl+q to quit", error=True)
        else:
            field.focus()

    def on_unlocked(self, message: Unlocked) -> None:
        self.busy = False
        self.query_one("#passphrase", Input).value = ""
        self.app.unlocked(message.store, message.last_mode, message.caseload)

    def worker_failed(self, error: BaseException, message: str) -> bool:
        self.busy = False  # Enter works again
        self._say(message, error=True)
        return True

    def _say(self, text: str, error: bool = False) -> None:
        label = self.query_one("#unlock-message", Static)
        label.update(text)
        label.set_class(error, "-error")
