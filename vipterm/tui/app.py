"""The field app: `VipApp` and `run_app(path)`.

The app owns what every screen shares: the unlocked `Store` (None while locked), the clock
(injectable so tests freeze "today"), the privacy mask, the idle lock, the theme, the keymap
from the settings file, and the one handler that turns a failed worker into a field error or a
toast. Screens live in their own modules and all derive from `tui.base` (`VipScreen`, `VipModal`),
whose hooks the app calls for locking, unlocking, the mask, quitting and failed workers; each
screen module is imported when it is first opened, so start-up stays light.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from vipterm import domain
from vipterm.errors import ValidationError
from vipterm.timekeeping import ProgramClock
from vipterm.tui.base import ScreenHooks, describe_error
from vipterm.tui.commands import ClientCommands
from vipterm.tui.config import TuiConfig, load_config
from vipterm.tui.messages import ClientRef
from vipterm.tui.themes import HIGH_CONTRAST, THEME_CYCLE

DEMO_PASSPHRASE = "vipterm-demo"

# The modules of the screens a worker opens soonest after unlock (the assessment and other forms,
# the client file, the report, the palette's actions), with the Textual widgets they import. Each
# is imported on first use so that start-up stays light; the warm-up imports them in the
# background once the caseload is painted, so that their first opening is as quick as the later
# ones.
WARM_MODULES = (
    "vipterm.tui.forms",
    "vipterm.tui.client_file",
    "vipterm.tui.consent_forms",
    "vipterm.tui.report_screen",
    "vipterm.tui.help",
    "vipterm.tui.widgets",
    "vipterm.services.report_render",
    "vipterm.services.consent",
)


# Seconds between a session's first paint and the reads that can wait (palette index, backup
# reminder, warm-up): see `VipApp._after_first_paint`.
BACKGROUND_AFTER_FIRST_PAINT_S = 0.25
# Allocations between two young garbage collections once the session's data is in (Python: 700).
YOUNG_GC_THRESHOLD = 20_000
# Seconds the palette waits for the client index it asked for before showing what it has.
CLIENT_INDEX_WAIT_S = 10.0


class VipApp(App[int]):
    """vipterm: the peer support worker's caseload, contacts, referrals and follow-ups."""

    CSS_PATH = "vipterm.tcss"
    TITLE = "vipterm"
    COMMANDS = App.COMMANDS | {ClientCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "quit", id="quit", priority=True, show=False),
        Binding("question_mark", "help", "help", id="help"),
        Binding("ctrl+l", "lock", "lock", id="lock", priority=True),
        Binding("ctrl+backslash,f2", "toggle_mask", "mask names", id="mask", priority=True, show=False),
        Binding("ctrl+t", "cycle_theme", "theme", id="theme", show=False, priority=True),
    ]

    masked: reactive[bool] = reactive(False, init=False)

    def __init__(
        self,
        path: Path,
        *,
        store=None,
        demo: bool = False,
        config: TuiConfig | None = None,
        idle_lock_seconds: float | None = None,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.store = store
        self.demo = demo
        self._clock_before_unlock = ProgramClock()
        self.config = config if config is not None else load_config()
        minutes = self.config.idle_lock_minutes
        self.idle_lock_seconds = idle_lock_seconds if idle_lock_seconds is not None else minutes * 60
        self.cursor_blink = cursor_blink
        self.last_mode = domain.ContactMode.IN_PERSON.value
        self.client_index: list = []  # every client (CaseloadRow), for the palette
        self._client_index_loading = False
        self._client_index_ready = asyncio.Event()
        self._last_activity = time.monotonic()
        self._unlocked_once = store is not None
        self._session_work_started = False  # drafts, reminder, warm-up: once, after the first paint
        self._drafts_offered = False
        self._remind_after_paint = False
        self._prepared = None  # the caseload screen, built while the first passphrase is checked
        self._frozen = False  # the session's long-lived objects are out of the full collections
        # Set when the warm-up after unlock is done (or had nothing to do).
        self.warmed = threading.Event()
        self.register_theme(HIGH_CONTRAST)

    # --- time -----------------------------------------------------------------------------------

    @property
    def clock(self) -> ProgramClock:
        """The program clock: the unlocked store's (it knows the program's time zone)."""
        return self.store.clock if self.store is not None else self._clock_before_unlock

    def now(self) -> datetime:
        """The program's wall-clock time to the minute: what a worker means by "now"."""
        return self.clock.local_now()

    def today(self) -> date:
        return self.clock.today()

    def to_utc(self, local: datetime) -> datetime:
        """A wall time typed on screen as the naive UTC the database stores."""
        return self.clock.to_utc(local)

    def to_local(self, stored: datetime) -> datetime:
        """A stored time as a wall time in the program zone, for display."""
        return self.clock.to_local(stored)

    # --- start ------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        from vipterm.tui.unlock import UnlockScreen

        theme = self.config.theme
        self.theme = theme if theme in self.available_themes else "textual-dark"
        if theme not in self.available_themes:
            self.config.problems.append(f"unknown theme {theme!r}; using textual-dark")
        if self.config.keys:
            self.set_keymap(self.config.keys)
        for problem in self.config.problems:
            self.notify(problem, title="settings", severity="warning", timeout=8)
        if self.idle_lock_seconds > 0:
            self.set_interval(max(0.2, min(self.idle_lock_seconds / 4, 15.0)), self.check_idle_lock)
        if self.store is not None:
            self._start_session()
        else:
            self.push_screen(UnlockScreen(self.path, demo=self.demo))

    def prepare_session(self) -> None:
        """Build the caseload screen (compose, mount, style) while the first passphrase is checked:
        Argon2id leaves the interpreter free for a quarter of a second, and this work would
        otherwise come after it, between the key and the caseload's first paint. The unlock
        worker imports the screen's modules first and then asks for this."""
        from vipterm.tui.caseload import CaseloadScreen

        if self._unlocked_once or self._prepared is not None:
            return
        self._prepared = CaseloadScreen()
        self._get_screen(self._prepared)  # started now (Textual's switch_screen would do it later)

    def _start_session(self, *, replacing_unlock: bool = False, rows: list | None = None) -> None:
        from vipterm.tui.caseload import CaseloadScreen

        screen, self._prepared = self._prepared, None
        if screen is None:
            screen = CaseloadScreen(rows)
        else:
            screen.take_rows(rows)
        if replacing_unlock:
            # The caseload takes the unlock screen's place: popping it first would resume (lay
            # out and paint) Textual's empty default screen beneath, for nothing.
            self.switch_screen(screen)
        else:
            self.push_screen(screen)
        # The palette's index, the drafts to offer and the warm-up start once the caseload is
        # painted (`load_client_index`); at the latest after a few seconds, should it never load.
        self.set_timer(5.0, self._start_session_work)

    def unlocked(self, store, last_mode: str, caseload: list | None = None) -> None:
        """The unlock screen proved the passphrase: start, or return to where the lock left off.
        `caseload`: the caseload's rows, when the unlock read them (the first unlock)."""
        self.store = store
        self.last_mode = last_mode
        self._last_activity = time.monotonic()
        if not self._unlocked_once:
            self._unlocked_once = True
            self._remind_after_paint = not self.demo  # a throwaway demo copy needs no backup
            self._start_session(replacing_unlock=True, rows=caseload)
            return
        self.pop_screen()
        for screen in self._vip_screens():
            screen.after_unlock()

    # --- lock -------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("lock", "toggle_mask", "command_palette") and self.store is None:
            return False  # nothing to lock, mask or find while locked
        return super().check_action(action, parameters)

    @property
    def locked(self) -> bool:
        return self.store is None

    def action_lock(self) -> None:
        """Clear every screen of client data and ask for the passphrase again; drafts stay."""
        from vipterm.tui.unlock import UnlockScreen

        if self.store is None:
            return
        # Pickers, help and questions are transient and may show names: close them.
        while isinstance(self.screen, CommandPalette) or (
            isinstance(self.screen, ScreenHooks) and self.screen.CLOSE_ON_LOCK
        ):
            self.pop_screen()
        for screen in self._vip_screens():
            screen.clear_for_lock()
        store, self.store = self.store, None
        self.client_index = []
        self._client_index_loading = False
        self._client_index_ready.clear()
        store.close()
        self.clear_notifications()
        self.push_screen(UnlockScreen(self.path, relock=True))

    def on_event(self, event: events.Event):
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)):
            self._last_activity = time.monotonic()
        return super().on_event(event)

    def idle_seconds(self) -> float:
        return time.monotonic() - self._last_activity

    def check_idle_lock(self) -> None:
        if self.store is not None and self.idle_lock_seconds > 0 and self.idle_seconds() >= self.idle_lock_seconds:
            self.action_lock()
            self.notify("locked after a time without use", timeout=5)

    # --- privacy mask -------------------------------------------------------------------------------

    def shown_name(self, name: str, pseudonym: str = "") -> str:
        """A client's name as the screen may show it now: while the mask is on, initials and no
        alias (`domain.masked_name`)."""
        if self.masked:
            return domain.masked_name(name) if name else pseudonym
        return name or pseudonym

    def shown_note(self, note: str) -> str:
        """A note (or any free text a worker wrote) as the screen may show it now: while the mask
        is on, nothing of it (a note names people: "José says Marcus threatened him")."""
        if self.masked and note:
            return f"{domain.MASK} note hidden (mask on)"
        return note

    def ref_name(self, ref: ClientRef) -> str:
        return self.shown_name(ref.name, ref.pseudonym)

    def action_toggle_mask(self) -> None:
        self.masked = not self.masked

    def watch_masked(self, masked: bool) -> None:
        for screen in self._vip_screens():
            screen.refresh_names()
        self.notify("names masked" if masked else "names shown", timeout=2)
        if not masked and self.store is not None:
            self._audit_unmask(self.store)

    @work(thread=True, exit_on_error=False, group="backup-reminder")
    def _remind_backup(self, store) -> None:
        """After the first unlock: a toast when the last backup is older than the setting says."""
        from vipterm.services.backup import backup_reminder

        message = backup_reminder(store, self.config.backup_reminder_days)
        if message:
            self.call_from_thread(self.notify, message, title="backup", severity="warning", timeout=10)

    @work(thread=True, exit_on_error=False, group="audit")
    def _audit_unmask(self, store) -> None:
        from vipterm.services import records

        records.record_audit(store, domain.AuditAction.UNMASK)

    # --- themes ----------------------------------------------------------------------------------------

    def action_cycle_theme(self) -> None:
        index = THEME_CYCLE.index(self.theme) if self.theme in THEME_CYCLE else -1
        self.theme = THEME_CYCLE[(index + 1) % len(THEME_CYCLE)]
        self.notify(f"theme: {self.theme}", timeout=2)

    # --- data the whole app shares -------------------------------------------------------------------

    def load_client_index(self) -> None:
        """Load the palette's index of every client in a thread, once the screen has painted what
        it shows now (the caseload calls this when its rows are in: 10,000 rows read beside its
        first paint would delay it). The first time, the rest of what can wait for that paint
        starts then too: drafts to offer, the backup reminder, the warm-up."""
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        if self._session_work_started:
            self._after_paint()  # a later reload: nothing left settling
            return
        # What a crash left unsaved is offered at once, before anything new is typed (a form
        # opened meanwhile would have its own fresh draft offered back over it).
        self._offer_drafts_once()
        # The first paint of a session is followed by a few more (the key bar, the preview):
        # the index read (10,000 rows turned into Python objects) holds the interpreter long
        # enough to stretch those, and the first keys typed, by tens of milliseconds. It
        # starts once they are done; a palette opened sooner asks for it (`ready_client_index`).
        self.set_timer(BACKGROUND_AFTER_FIRST_PAINT_S, self._after_paint)

    def _offer_drafts_once(self) -> None:
        if self._drafts_offered or self.store is None:
            return
        self._drafts_offered = True
        from vipterm.tui.drafts import offer_drafts

        offer_drafts(self)  # what a crash left unsaved in a form, offered back

    def _after_paint(self) -> None:
        if self.store is None or not self.screen_stack:
            return  # locked meanwhile, or the app is closing (quit right after the unlock)
        self._load_client_index()
        self._start_session_work()

    def _start_session_work(self) -> None:
        store = self.store
        if store is None or self._session_work_started:
            return
        self._session_work_started = True
        self._offer_drafts_once()
        if self._remind_after_paint:
            self._remind_backup(store)
        self._warm_up(store, self._client_in_focus())

    def _client_in_focus(self) -> str | None:
        if not self.screen_stack:
            return None
        row = getattr(self.screen, "current_row", lambda: None)()
        return getattr(row, "client_id", None)

    @work(thread=True, exit_on_error=False, group="warm-up")
    def _warm_up(self, store, client_id: str | None) -> None:
        """Import the modules of the screens opened next and run their queries once (reads only,
        never the write lock), so that SQLAlchemy has compiled them and the pages they read are
        in the cache. Only ever an optimisation: what fails here fails again, and is reported,
        when the screen itself is opened."""
        try:
            for name in WARM_MODULES:
                try:
                    importlib.import_module(name)
                except ImportError:
                    pass  # a module that moved: its screen imports what it needs when opened
            if client_id is not None:
                from vipterm.services import caseload, consent, records

                caseload.client_file(store, client_id)
                consent.list_consents(store, client_id)
                consent.safety_plan(store, client_id)
                records.latest_assessment_levels(store, client_id)
        except Exception:  # see the docstring: the screen reports it when opened
            pass
        finally:
            self.warmed.set()

    def _load_client_index(self) -> None:
        self._client_index_loading = True
        if not self.client_index:
            self._client_index_ready.clear()
        self._read_client_index()

    @work(thread=True, exclusive=True, exit_on_error=False, group="client-index")
    def _read_client_index(self) -> None:
        from vipterm.services import caseload

        store = self.store
        if store is None:
            return
        try:
            rows = caseload.caseload(store, worker_id=None, include_closed=True)
        except BaseException:
            self.call_from_thread(self._client_index_failed)  # a palette waiting for it stops waiting
            raise  # reported by the worker-error handler
        self.call_from_thread(self._set_client_index, store, rows)

    def _client_index_failed(self) -> None:
        self._client_index_loading = False
        self._client_index_ready.set()

    def _set_client_index(self, store, rows) -> None:
        if store is self.store:  # a lock in between drops the answer
            self.client_index = rows
            self._client_index_loading = False
            self._client_index_ready.set()
            self._freeze_long_lived()

    async def ready_client_index(self) -> list:
        """The palette's index of every client; read now and waited for when it has not been yet
        (a palette opened in the moment after the unlock, before the index is read)."""
        if self.store is not None and not self.client_index:
            if not self._client_index_loading:
                self._load_client_index()
            try:
                await asyncio.wait_for(self._client_index_ready.wait(), CLIENT_INDEX_WAIT_S)
            except TimeoutError:
                pass  # a lock dropped the answer, or the read failed (reported): no client hits
        return self.client_index

    def _freeze_long_lived(self) -> None:
        """Once the caseload and the palette's index are in, most of what exists lives as long as
        the session: collect once, then keep it out of Python's full garbage collections, which
        otherwise walk all of it (70–200 ms each, several a minute while forms open and close:
        the slowest contact saves; bench/FINDINGS.md). Objects freed by reference count go as
        before; `on_unmount` undoes it."""
        if self._frozen:
            return
        self._frozen = True
        gc.collect()
        gc.freeze()
        # A screen opened and closed allocates tens of thousands of objects: with Python's
        # default of a young collection per 700, every tenth of those is an older-generation
        # one and the full collections that follow come every few saves. Fewer, larger young
        # collections (a few milliseconds each) leave most of those objects freed by reference
        # count before any collection sees them.
        self._usual_gc_thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_GC_THRESHOLD, *self._usual_gc_thresholds[1:])

    def on_unmount(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()  # what the app held can be collected again once it is gone
            gc.set_threshold(*self._usual_gc_thresholds)

    def open_client(self, client_id: str) -> None:
        from vipterm.tui.client_file import ClientFileScreen

        if self.store is None:
            return
        while isinstance(self.screen, ClientFileScreen) or (
            isinstance(self.screen, ScreenHooks) and self.screen.CLOSE_ON_LOCK
        ):
            self.pop_screen()
        self.push_screen(ClientFileScreen(client_id))

    # --- errors ------------------------------------------------------------------------------------------

    def _vip_screens(self) -> list[ScreenHooks]:
        """The screens of the stack that are vipterm's (not Textual's default screen or palette)."""
        return [screen for screen in self.screen_stack if isinstance(screen, ScreenHooks)]

    def handle_worker_error(self, origin, error: BaseException) -> None:
        """The one place a failed worker (of any screen, or of the app) becomes something the
        worker can act on: a message under the field at fault, the screen's own status line, or
        a toast. The screen first leaves its busy state, so its keys work again."""
        message = describe_error(error)
        shown_in_place = False
        if isinstance(origin, ScreenHooks):
            shown_in_place = origin.worker_failed(error, message)
            if (
                isinstance(error, ValidationError)
                and error.field
                and origin.show_field_error(error.field, error.message)
            ):
                return
        if not shown_in_place:
            self.notify(message, severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.handle_worker_error(self, event.worker.error)

    def _fatal_error(self) -> None:
        # Textual's default prints a traceback with local variables, which can hold client data.
        if os.environ.get("VIPTERM_DEBUG"):
            return super()._fatal_error()
        self.bell()
        error = self._exception
        self._exit_renderables.append(
            f"vipterm: internal error ({type(error).__name__ if error else 'unknown'}); the last save "
            "either completed or changed nothing. Run again with VIPTERM_DEBUG=1 to see the details."
        )
        self._close_messages_no_wait()

    # --- actions reachable from anywhere ---------------------------------------------------------

    def action_help(self) -> None:
        from vipterm.tui.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.screen))

    def action_command_palette(self) -> None:
        if self.store is None:
            self.bell()
            return
        super().action_command_palette()

    def action_quit(self) -> None:
        drafts = [s for s in self._vip_screens() if s.is_dirty()]
        if not drafts:
            self.exit(0)
            return
        from vipterm.tui.widgets import ConfirmModal

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                for screen in drafts:  # lost by choice: their kept drafts go too
                    discard = getattr(screen, "discard_draft", None)
                    if discard is not None:
                        discard(wait=True)
                self.exit(0)

        self.push_screen(ConfirmModal("A form has unsaved input. Quit and lose it?"), answered)

    def action_open_screen(self, name: str) -> None:
        """Open the sync, conflicts or report screen (imported here, on first use)."""
        if self.store is None:
            return
        if name == "sync":
            from vipterm.tui.sync_screen import SyncScreen as screen_class
        elif name == "conflicts":
            from vipterm.tui.conflicts_screen import ConflictsScreen as screen_class
        elif name == "report":
            from vipterm.tui.report_screen import ReportScreen as screen_class
        else:
            raise ValueError(f"no screen named {name!r}")
        self.push_screen(screen_class())

    open_screen = action_open_screen

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from vipterm.tui.commands import system_commands

        yield from system_commands(self, screen)
        yield from super().get_system_commands(screen)

    # --- forms the screens open -------------------------------------------------------------------

    def open_form(
        self,
        kind: str,
        ref: ClientRef,
        done: Callable[[object], None] | None = None,
        *,
        draft: dict | None = None,
        **extra,
    ) -> None:
        """Open the `kind` form about `ref`; `draft`: fields of a kept draft to put back in it."""
        from vipterm.tui import forms

        if self.store is None:
            return
        factory = {
            "contact": forms.ContactForm,
            "notification": forms.NotificationForm,
            "outcome": forms.OutcomeForm,
            "follow_up": forms.FollowUpForm,
            "assessment": forms.AssessmentForm,
            "referral": forms.ReferralForm,
            "referral_status": forms.ReferralStatusForm,
        }[kind]
        if kind == "contact" and not extra:
            form = self._contact_form_about(ref, draft)
        else:
            form = factory(ref, **extra)
            form.pending_draft = draft
        if kind == "assessment":  # an urgent safety/retaliation need offers the safety plan
            inner = done

            def done(result, inner=inner) -> None:
                from vipterm.tui.consent_forms import after_record

                if inner is not None:
                    inner(result)
                after_record(self, ref, result)

        self.push_screen(form, done)

    _contact_form = None  # the contact form, once built: opened again for each contact

    def _contact_form_about(self, ref: ClientRef, draft: dict | None):
        """The contact form about `ref`: the app's one, opened again (`ContactForm.reopen` says
        why), unless it is still busy with its last contact (then a new one, dropped after)."""
        from vipterm.tui import forms

        kept = self._contact_form
        if kept is not None and kept.can_reopen():
            kept.reopen(ref, draft)
            return kept
        form = forms.ContactForm(ref)
        form.pending_draft = draft
        if kept is None:
            self._contact_form = form
            self.install_screen(form, "contact-form")  # an installed screen stays mounted when closed
        return form


def run_app(path: Path, *, demo: bool = False) -> int:
    """Run the app on `path` until the user quits; returns the exit code."""
    app = VipApp(Path(path), demo=demo)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)
