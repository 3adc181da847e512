"""The base of every vipterm screen: `VipScreen` (full screens) and `VipModal` (forms, questions,
pickers, help), both built on `ScreenHooks`.

What they give every screen, so no screen has to remember it:
- every thread worker's failure, of any kind (a `VipError`, an `OSError` from a full disk or a
  pulled USB stick, a bug), goes to the app's one error handler (`VipApp.handle_worker_error`),
  which tells the user in one line and lets the screen undo its busy state (`worker_failed`); no
  worker can take the app down (`exit_on_error` is always off) and no key stays dead;
- one way to read the store: `self.store`, the app's unlocked store, None while locked;
- the hooks the app calls on every screen of its stack: `clear_for_lock`, `after_unlock`,
  `refresh_names` (the privacy mask changed), `is_dirty` (quit asks first), `show_field_error`,
  and `CLOSE_ON_LOCK` for transient screens that may show names;
- `HELP_KEYS`: the navigation keys help lists for the screen beside its bindings.

`describe_error` is the one wording of a failure the user sees.
"""

from __future__ import annotations

import inspect
from typing import ClassVar, Generic, TypeVar

from textual._styles_cache import StylesCache
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState, active_worker

from vipterm.errors import DatabaseBusy, VipError, os_reason

BUSY = "the database is busy (a sync or another vipterm is writing); try again — your draft is kept"


def describe_error(error: BaseException) -> str:
    """What the user is told about a failed worker: one line, never a raw exception text (it may
    quote a client's data or a file name)."""
    if isinstance(error, DatabaseBusy):
        return BUSY
    if isinstance(error, VipError):
        return error.message
    if isinstance(error, OSError):
        return (
            f"{os_reason(error)} ({type(error).__name__}); check the folder or disk and try again — "
            "nothing was lost from the screen"
        )
    return f"that did not work ({type(error).__name__}); nothing was lost from the screen — try again"


class ScreenHooks:
    """What every vipterm screen shares (mixed into `Screen` and `ModalScreen` below)."""

    # Transient screens (questions, pickers, help) that may show names close when the app locks.
    CLOSE_ON_LOCK: ClassVar[bool] = False
    # Keys that help (`?`) lists beside the screen's bindings: navigation that means something
    # here, as (keys, what they do). Textual's generic keys are not listed.
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = ()

    @property
    def store(self):
        """The unlocked store, or None while the app is locked: the one way screens read it."""
        return getattr(self.app, "store", None)

    # --- workers ----------------------------------------------------------------------------------

    def run_worker(self, work, *args, **kwargs) -> Worker:
        # A failed worker is reported by `on_worker_state_changed`, never by closing the app.
        kwargs["exit_on_error"] = False
        if kwargs.get("thread") and _plain_callable(work):
            work = _letting_go(work)
        return super().run_worker(work, *args, **kwargs)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            handler = getattr(self.app, "handle_worker_error", None)
            if handler is not None:
                handler(self, event.worker.error)
            else:  # a screen hosted outside vipterm's app (never in the product)
                self.worker_failed(event.worker.error, describe_error(event.worker.error))

    def worker_failed(self, error: BaseException, message: str) -> bool:
        """A worker of this screen failed: leave any busy state. Return True when the screen has
        shown `message` itself (then the app shows no toast)."""
        return False

    def show_field_error(self, field_name: str, message: str) -> bool:
        """Show a validation message under its field; False when the screen has no such field."""
        return False

    # --- lock, unlock, mask, quit ------------------------------------------------------------------

    def clear_for_lock(self) -> None:
        """The app is locking: take every piece of client data off this screen."""

    def after_unlock(self) -> None:
        """The app is unlocked again: load what `clear_for_lock` removed."""

    def refresh_names(self) -> None:
        """The privacy mask was turned on or off: draw names, aliases and notes again."""

    def is_dirty(self) -> bool:
        """True when leaving now would lose something typed (quit asks first)."""
        return False

    # --- closing -----------------------------------------------------------------------------------

    def on_unmount(self) -> None:
        # The screen's widgets have closed: see `let_go_of_closed_widgets`.
        let_go_of_closed_widgets(self.app)


def let_go_of_closed_widgets(*watched) -> None:
    """Let go of closed widgets that two of Textual's caches still hold, and with them what they
    showed (a closed form's client, its note), for as long as the app runs: memory that grew with
    every form opened, walked by every full garbage collection (the slowest contact saves,
    bench/FINDINGS.md). Called when a screen closes (`watched`: the app), and when a kept form
    opens again (its own widgets, whose key bar is rebuilt on every change of focus).
    """
    drop_closed_watchers(*watched)
    # Textual memoises background colours with `lru_cache` on an instance method
    # (Textualize/textual#6665): it keeps up to 1,024 widgets' style caches, and in them every line
    # those widgets last drew. Emptied; the widgets still shown work their colours out again on
    # their next paint.
    clear = getattr(getattr(StylesCache, "get_inner_outer", None), "cache_clear", None)
    if clear is not None:
        clear()


def drop_closed_watchers(*watched) -> None:
    """Forget the watchers that closed widgets set on the reactives of `watched`.

    A widget that watches another (Textual's TextArea watches `app.theme`: every note of every
    form; a key of the key bar is bound to the bar's `compact`) stays in the watched one's list of
    watchers when it closes (Textualize/textual#6666); Textual only drops closed ones when the
    value next changes, so a closed form's note was kept until the theme changed. The same test as
    Textual's own (`_closing`), sooner.
    """
    for node in watched:
        for watchers in getattr(node, "__watchers", {}).values():
            if any(watcher._closing for watcher, _ in watchers):
                watchers[:] = [(watcher, callback) for watcher, callback in watchers if not watcher._closing]


def _plain_callable(work) -> bool:
    return (
        callable(work)
        and not inspect.isawaitable(work)
        and not inspect.iscoroutinefunction(work)
        and not inspect.iscoroutinefunction(getattr(work, "func", None))
    )


def _letting_go(work):
    """`work`, run in a thread that does not name its worker.

    Textual marks the pool thread's own context with the worker it runs (`active_worker`) and never
    unmarks it, and every callback the work sends to the app (`call_from_thread`) runs in a copy of
    that context, as does whatever the callback starts (timers, the caseload's reload). An idle
    thread so kept the last worker it ran, and a save's callback kept the save's worker, and through
    the worker the screen that started it (a closed form, what was typed in it, every line it drew)
    until the thread or the task went on to something else. vipterm's work never asks which worker
    runs it (`get_current_worker`), so the mark is taken off before the work starts.
    """

    def run():
        active_worker.set(None)  # type: ignore[arg-type]
        return work()

    return run


Result = TypeVar("Result")


class VipScreen(ScreenHooks, Screen):
    """Base of every full vipterm screen."""


class VipModal(ScreenHooks, ModalScreen[Result], Generic[Result]):
    """Base of every vipterm modal: forms, questions, pickers, help (`VipModal[bool]`, …)."""
