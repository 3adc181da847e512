"""Keys that change a record, made safe: closing a follow-up asks what happened, the one-key
attempt log, the possible-duplicate question at intake, and the save-after-a-question of forms.

- `FollowUpDoneModal` (`d`): lists the client's open follow-ups (kind, date, note) and asks what
  happened: `l` log a contact now (the follow-up closes only if that contact reached the client),
  `y` done without a contact, `n`/Escape nothing. The default is nothing.
- `AttemptModal` (`A`): no answer / left voicemail / wrong number / refused, one key each; it never
  closes a follow-up (`records.log_attempt`).
- `DuplicateModal`: intake found existing clients who may be this person; `y` creates anyway.
- `FieldWorkActions`: the `d` and `A` actions for the caseload and the client file.
- `ConfirmingSave`: a form whose service may answer `NeedsConfirmation` asks, then saves again.

Every question here ignores keys for a moment after it opens (`ARM_SECONDS`): letters typed in a
burst (a name typed without `/` first on the caseload) must not answer it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from vipterm import domain
from vipterm.errors import NeedsConfirmation
from vipterm.tui.base import VipModal
from vipterm.tui.messages import ClientRef

ARM_SECONDS = 0.5


class ArmedModal(VipModal):
    """A question whose answer keys count only once it has been on screen for `ARM_SECONDS`."""

    CLOSE_ON_LOCK = True
    ARM_SECONDS = ARM_SECONDS
    DEFAULT_CSS = """
    ArmedModal { align: center middle; }
    ArmedModal > Vertical { width: 76; max-width: 98%; height: auto; max-height: 90%;
                            border: thick $warning; background: $surface; padding: 0 1; }
    ArmedModal .question-title { text-style: bold; }
    ArmedModal .question-help { color: $text-muted; margin-top: 1; }
    ArmedModal OptionList { height: auto; max-height: 12; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._opened = time.monotonic()

    def on_mount(self) -> None:
        self._opened = time.monotonic()

    def armed(self) -> bool:
        if time.monotonic() - self._opened >= self.ARM_SECONDS:
            return True
        self.app.bell()  # a key typed ahead: not an answer
        return False

    def action_cancel(self) -> None:
        self.dismiss(None)


# --- closing a follow-up -------------------------------------------------------------------------


def follow_up_label(follow_up, today) -> str:
    kind = domain.FollowUpKind.label_of(follow_up.kind)
    days = (follow_up.due_on - today).days
    when = "due today" if days == 0 else (f"{-days} d overdue" if days < 0 else f"in {days} d")
    at = getattr(follow_up, "due_time", None)
    text = f"{follow_up.due_on.isoformat()}{' ' + at if at else ''}  {kind} ({when})"
    if getattr(follow_up, "auto", False):
        text += " · automatic"
    return text


class FollowUpDoneModal(ArmedModal):
    """Which open follow-up, and what happened: ("contact" | "no_contact", follow_up_id) or None.

    It opens at once and reads the follow-ups itself, so keys typed after `d` land here (and are
    ignored while it arms) instead of on the screen beneath."""

    BINDINGS = [
        Binding("l", "answer('contact')", "log a contact now", id="follow_up_log"),
        Binding("y", "answer('no_contact')", "done without a contact", id="follow_up_no_contact"),
        Binding("n,escape", "cancel", "nothing", id="follow_up_cancel"),
    ]

    def __init__(self, ref: ClientRef, selected: str | None = None) -> None:
        super().__init__()
        self.ref = ref
        self.selected = selected
        self.follow_ups: list = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"Close a follow-up of {self.ref.pseudonym}: what happened?", classes="question-title", markup=False
            )
            yield OptionList(Option("loading…", disabled=True), id="follow-up-choices")
            yield Static(
                "↑↓ which one · l log a contact now (it closes if the contact reached them) · "
                "y done without a contact · n or esc: nothing",
                classes="question-help",
                markup=False,
            )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(OptionList).focus()
        if self.store is not None:
            self._load(self.store)

    @work(thread=True, group="follow-up")
    def _load(self, store) -> None:
        from vipterm.services import records

        follow_ups = records.open_follow_ups(store, self.ref.client_id)
        self.app.call_from_thread(self._show, follow_ups)

    def _show(self, follow_ups: list) -> None:
        if not self.is_attached or self.store is None:
            return
        if not follow_ups:
            self.notify(f"{self.ref.pseudonym} has no open follow-up", severity="warning")
            self.dismiss(None)
            return
        self.follow_ups = follow_ups
        today = self.app.today()
        note_shown = getattr(self.app, "shown_note", lambda note: note)
        options = self.query_one(OptionList)
        options.clear_options()
        for f in follow_ups:
            label = follow_up_label(f, today)
            if f.note:
                label += f" — {note_shown(f.note)}"
            options.add_option(Option(label, id=f.id))
        ids = [f.id for f in follow_ups]
        options.highlighted = ids.index(self.selected) if self.selected in ids else 0

    @on(OptionList.OptionSelected)
    def _enter_is_not_an_answer(self, event: OptionList.OptionSelected) -> None:
        event.stop()  # Enter picks nothing: the answer is l or y

    def action_answer(self, how: str) -> None:
        if not self.armed() or not self.follow_ups:
            return
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        self.dismiss((how, options.get_option_at_index(options.highlighted).id))

    def refresh_names(self) -> None:
        if self.follow_ups:
            self._show(self.follow_ups)


# --- the one-key attempt log ------------------------------------------------------------------------

ATTEMPT_KEYS = {
    domain.ContactOutcome.NO_ANSWER: "n",
    domain.ContactOutcome.VOICEMAIL: "v",
    domain.ContactOutcome.WRONG_NUMBER: "w",
    domain.ContactOutcome.REFUSED: "x",
}
ATTEMPT_MODES = (
    domain.ContactMode.PHONE,
    domain.ContactMode.TEXT,
    domain.ContactMode.IN_PERSON,
    domain.ContactMode.VIA_FAMILY,
)


class AttemptModal(ArmedModal):
    """Log an attempt that did not reach the client: one key for what happened; `m` changes the
    mode (phone first). Dismisses with (outcome, mode) or None."""

    BINDINGS = [
        *[
            Binding(key, f"answer('{outcome.value}')", outcome.label, id=f"attempt_{outcome.value}")
            for outcome, key in ATTEMPT_KEYS.items()
        ],
        Binding("m", "next_mode", "mode", id="attempt_mode"),
        Binding("escape", "cancel", "nothing", id="attempt_cancel"),
    ]

    def __init__(self, pseudonym: str) -> None:
        super().__init__()
        self.pseudonym = pseudonym
        self.mode = ATTEMPT_MODES[0]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"Attempt to reach {self.pseudonym} (not reached: no follow-up is closed)",
                classes="question-title",
                markup=False,
            )
            yield Static(self._mode_line(), id="attempt-mode", markup=False)
            yield OptionList(
                *[Option(f"[{key}] {outcome.label}", id=outcome.value) for outcome, key in ATTEMPT_KEYS.items()],
                id="attempt-choices",
            )
            yield Static("n v w x log it · m mode · esc nothing", classes="question-help", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def _mode_line(self) -> str:
        return f"by {self.mode.label} (m changes it)"

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(OptionList).focus()

    def action_next_mode(self) -> None:
        self.mode = ATTEMPT_MODES[(ATTEMPT_MODES.index(self.mode) + 1) % len(ATTEMPT_MODES)]
        self.query_one("#attempt-mode", Static).update(self._mode_line())

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_answer(event.option.id)

    def action_answer(self, outcome: str) -> None:
        if self.armed():
            self.dismiss((outcome, self.mode.value))


# --- possible duplicates at intake ---------------------------------------------------------------------


class DuplicateModal(ArmedModal):
    """Intake found existing clients who may be this person: `y` creates anyway, `n`/Escape goes
    back to the form (the default). Dismisses with True or False."""

    BINDINGS = [
        Binding("y", "answer(True)", "create anyway", id="duplicate_create"),
        Binding("n,escape", "answer(False)", "back to the form", id="duplicate_back"),
    ]

    def __init__(self, matches, shown_name: Callable[[str, str], str]) -> None:
        super().__init__()
        self.matches = list(matches)
        self.shown_name = shown_name

    def compose(self) -> ComposeResult:
        n = len(self.matches)
        with Vertical():
            yield Static(
                f"Possible duplicate: {n} existing client{'s' if n != 1 else ''} may be this person",
                classes="question-title",
                markup=False,
            )
            yield OptionList(*self._options(), id="duplicate-matches")
            yield Static(
                "y create a new client anyway · n or esc back to the form", classes="question-help", markup=False
            )
        yield Footer(compact=True, show_command_palette=False)

    def _options(self) -> list[Option]:
        options = []
        for m in self.matches:
            born = f" · born {m.date_of_birth.isoformat()}" if m.date_of_birth else ""
            options.append(
                Option(
                    f"{m.pseudonym}  {self.shown_name(m.name, m.pseudonym)}{born} · same {', '.join(m.reasons)}",
                    id=m.client_id,
                )
            )
        return options

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(OptionList).focus()

    def refresh_names(self) -> None:
        """The privacy mask changed: draw the matches' names again (initials or whole)."""
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = highlighted

    @on(OptionList.OptionSelected)
    def _enter_is_not_an_answer(self, event: OptionList.OptionSelected) -> None:
        event.stop()

    def action_answer(self, create: bool) -> None:
        if not create:
            self.dismiss(False)
        elif self.armed():
            self.dismiss(True)


# --- forms that ask before saving ------------------------------------------------------------------------


class ConfirmingSave:
    """Mixin for a `FormModal` whose service may refuse with `NeedsConfirmation`: the form asks
    (y/n, default no; the duplicate list for intake) and, on yes, saves again with `confirmed`
    set for that one save. On no, nothing is saved and everything typed stays."""

    confirmed = False

    def take_confirmation(self) -> bool:
        """For `collect()`: whether the person said yes to the last question (asked once per save)."""
        confirmed, self.confirmed = self.confirmed, False
        return confirmed

    def _save_in_thread(self, store, draft) -> None:
        try:
            super()._save_in_thread(store, draft)
        except NeedsConfirmation as exc:
            self.app.call_from_thread(self._ask_to_confirm, exc)

    def _ask_to_confirm(self, exc: NeedsConfirmation) -> None:
        from vipterm.tui.widgets import ConfirmModal

        self.saving = False

        def answered(yes: bool | None) -> None:
            if yes:
                self.confirmed = True
                self.action_save()
            else:
                self.notify("nothing saved; the form keeps what you typed", timeout=4)

        if exc.matches:
            self.app.push_screen(DuplicateModal(exc.matches, self.app.shown_name), answered)
        else:
            self.app.push_screen(ConfirmModal(exc.message), answered)


# --- the d and A keys of the caseload and the client file --------------------------------------------


class FieldWorkActions:
    """Mixin for the caseload and the client file. The screen provides `field_work_target()` (the
    ClientRef in focus, or None), `selected_follow_up_id()` (or None) and `after_field_work(client_id)`
    (redraw what changed)."""

    def field_work_target(self) -> ClientRef | None:  # pragma: no cover - each screen defines it
        raise NotImplementedError

    def selected_follow_up_id(self) -> str | None:
        return None

    def after_field_work(self, client_id: str) -> None:  # pragma: no cover
        raise NotImplementedError

    # --- d: close a follow-up ----------------------------------------------------------------------------

    def action_follow_up_done(self) -> None:
        ref = self.field_work_target()
        if ref is None or self.app.store is None:
            return
        modal = FollowUpDoneModal(ref, selected=self.selected_follow_up_id())
        self.app.push_screen(modal, lambda answer: self._follow_up_answered(ref, answer))

    def _follow_up_answered(self, ref: ClientRef, answer) -> None:
        store = self.app.store
        if not answer or store is None:
            return
        how, follow_up_id = answer
        if how == "no_contact":
            self._close_follow_up(store, ref, follow_up_id)
            return

        def logged(contact) -> None:
            if contact is None:
                return  # the form was left: the follow-up stays open
            if contact.outcome == domain.ContactOutcome.REACHED.value:
                self._close_follow_up(self.app.store, ref, follow_up_id, contact_id=contact.id)
            else:
                self.notify(f"the contact did not reach {ref.pseudonym}: the follow-up stays open", timeout=6)
                self.after_field_work(ref.client_id)

        self.app.open_form("contact", ref, logged)

    @work(thread=True, group="follow-up")
    def _close_follow_up(self, store, ref: ClientRef, follow_up_id: str, contact_id: str | None = None) -> None:
        from vipterm.services import records

        follow_up = records.complete_follow_up(
            store, follow_up_id, closed_as="contact" if contact_id else "no_contact", contact_id=contact_id
        )
        how = "closed by the contact" if contact_id else "done without a contact"
        self.app.call_from_thread(self._follow_up_closed, ref, follow_up, how)

    def _follow_up_closed(self, ref: ClientRef, follow_up, how: str) -> None:
        self.notify(f"follow-up of {ref.pseudonym} due {follow_up.due_on.isoformat()} {how}")
        self.after_field_work(ref.client_id)

    # --- A: log an attempt ----------------------------------------------------------------------------

    def action_log_attempt(self) -> None:
        ref = self.field_work_target()
        if ref is None or self.app.store is None:
            return
        self.app.push_screen(AttemptModal(ref.pseudonym), lambda answer: self._attempt_answered(ref, answer))

    def _attempt_answered(self, ref: ClientRef, answer) -> None:
        store = self.app.store
        if not answer or store is None:
            return
        outcome, mode = answer
        self._log_attempt(store, ref, outcome, mode)

    @work(thread=True, group="attempt")
    def _log_attempt(self, store, ref: ClientRef, outcome: str, mode: str) -> None:
        from vipterm.services import records

        contact = records.log_attempt(store, ref.client_id, outcome, mode=mode)
        self.app.call_from_thread(self._attempt_logged, ref, contact)

    def _attempt_logged(self, ref: ClientRef, contact) -> None:
        label = domain.ContactOutcome(contact.outcome).label
        self.notify(f"attempt logged for {ref.pseudonym}: {label}; any due follow-up stays open")
        self.after_field_work(ref.client_id)
