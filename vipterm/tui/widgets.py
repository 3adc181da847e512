"""Reusable widgets: the choice field with completion, the multi-line note editor, a labelled form
row with its own error line, the y/n confirmation modal, a screen's table and the one-line field it
opens (`HandsOnTable`, `HandsOnField`: keys typed in one burst land where they were meant), and the
base classes every screen and form share.

Forms and questions derive from `tui.base.VipModal`, which sends their failed workers to the app's
one error handler: a `ValidationError` becomes a message beside its field and anything else a
toast; a form is never closed by a failure, so no draft is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable
from functools import partial

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.strip import Strip
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, DataTable, Footer, Input, Label, OptionList, SelectionList, Static, TextArea
from textual.widgets.option_list import OptionDoesNotExist

from vipterm.tui.base import VipModal
from vipterm.tui.key_order import TEXT_AREA_EDIT_ACTIONS, EditsInOrder, HandsOnKeys
from vipterm.tui.parsing import complete_choice


class ClientFormActions:
    """Mixin for screens that act on one client: the record keys open the matching form.

    The screen says, in `_form(kind)`, which client the form is for and what happens after a save.
    """

    def _form(self, kind: str) -> None:  # pragma: no cover - every screen defines its own
        raise NotImplementedError

    def action_log_contact(self) -> None:
        self._form("contact")

    def action_notification(self) -> None:
        self._form("notification")

    def action_assessment(self) -> None:
        self._form("assessment")

    def action_referral(self) -> None:
        self._form("referral")

    def action_outcome(self) -> None:
        self._form("outcome")

    def action_follow_up(self) -> None:
        self._form("follow_up")


class HandsOnTable(HandsOnKeys, DataTable):
    """A screen's table whose screen keys that open a field (`focus_actions`: `/` for a filter, `e`
    to edit a value, `g` for a month, `f` for a folder) run in the table's own key handler, and the
    keys typed with them in one burst follow the focus to that field (`tui.key_order.HandsOnKeys`):
    "/unmask" typed fast filters "unmask", where the table used to take the letters as keys of its
    own or of the screen (`e` then a value containing `t` took the other side of a conflict).

    The action moves the focus with `Screen.set_focus`, at once. The key is looked up with the keys
    in effect, the settings file's included; a key not among `focus_actions` acts as usual.
    """

    def __init__(self, *args, focus_actions: Collection[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.focus_actions = frozenset(focus_actions)

    async def _on_key(self, event: events.Key) -> None:
        if self.pass_on(event):
            return
        bound = self.screen.active_bindings.get(event.key)
        if (
            bound is None
            or bound.node is not self.screen
            or not bound.enabled
            or bound.binding.priority
            or bound.binding.action not in self.focus_actions
        ):
            return
        event.stop()  # run here: bubbling to the app would run the binding a second time
        event.prevent_default()
        await self.app.run_action(bound.binding.action, self.screen)
        focused = self.screen.focused
        if focused is not None and focused is not self:
            self.hand_over(focused)

    def _on_paste(self, event: events.Paste) -> None:
        self.pass_on(event)


class HandsOnField(HandsOnKeys, EditsInOrder, Input):
    """A one-line field over a screen's table (a filter, a value, a folder). Its editing keys act in
    the order typed (`tui.key_order.EditsInOrder`: "e ctrl+u valley" fast leaves "valley"), and a
    key that leaves it (`leave(event)` names the widget it goes to: Enter or Escape back to the
    table) moves the focus in the field's own key handler, the keys typed after it following
    (`tui.key_order.HandsOnKeys`: a folder, Enter, then `e` exports instead of typing "e" into it).

    `leave(event)` may do what the key means first (hide the field, keep a value); when it returns
    None the key is the field's as usual.
    """

    def __init__(self, *args, leave: Callable[[events.Key], Widget | None] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._leave = leave

    async def _on_key(self, event: events.Key) -> None:
        # No super() call: Textual calls EditsInOrder's and Input's `_on_key` next, unless stopped here.
        if self.pass_on(event):
            return
        target = self._leave(event) if self._leave is not None else None
        if target is not None:
            event.stop()
            event.prevent_default()
            self.hand_over(target)

    def _on_paste(self, event: events.Paste) -> None:
        self.pass_on(event)  # else Textual calls `Input._on_paste` next


class FieldInput(HandsOnKeys, EditsInOrder, Input):
    """A form's one-line field. Enter moves to the next field at once, in the key handler, and
    keys already on their way to this field (typed right after Enter, faster than the screen
    redraws) are handed on to the field that now has the focus, in the order they were typed
    (`tui.key_order.HandsOnKeys`). Its editing keys (backspace, ctrl+u, the cursor keys, …) act
    in the order typed too (`tui.key_order.EditsInOrder`): "reacx ⌫ hed" typed fast is "reached",
    where the backspace used to run after "hed" ("reacxhe").

    Why: Textual queues a burst of keys at the focused field before it handles the first; had
    Enter moved the focus through a message, "r ⏎ note" would put "note" in this field.
    On the form's last field Enter submits as usual (the form saves).
    """

    def _next_field(self) -> Widget | None:
        form = self.screen
        fields = [w for w in form.query(FIELD_SELECTOR) if w.focusable] if isinstance(form, FormModal) else []
        if self not in fields or fields[-1] is self:
            return None
        return fields[fields.index(self) + 1]

    async def _on_key(self, event: events.Key) -> None:
        if self.pass_on(event):
            return
        if event.key == "enter":
            following = self._next_field()
            if following is not None:
                event.stop()
                event.prevent_default()
                if isinstance(self, ChoiceInput):
                    self.complete()
                self.hand_over(following)
                return
        # No super() call: Textual calls EditsInOrder's and Input's `_on_key` next (calling them
        # here too would run an editing key twice).

    def _on_paste(self, event: events.Paste) -> None:
        # A paste right after Enter: the next field's. Otherwise Textual calls `Input._on_paste`
        # next, as it does each class's handler: calling it here too pasted the text twice.
        self.pass_on(event)


class ChoiceInput(FieldInput):
    """A text field that takes one of a fixed list of labels.

    Typing shows the first matching label as a suggestion; Tab (or Enter) completes it and moves
    on; up/down step through the labels. The form turns the label into the stored value.
    """

    DEFAULT_CSS = """
    ChoiceInput { width: 1fr; }
    """
    BINDINGS = [
        Binding("tab", "complete_next", "complete", show=False),
        Binding("up", "step(-1)", "previous choice", show=False),
        Binding("down", "step(1)", "next choice", show=False),
    ]

    def __init__(self, choices: list[tuple[str, str]], value: str = "", **kwargs):
        self.choices = list(choices)
        self.labels = [label for label, _ in self.choices]
        super().__init__(value=value, suggester=SuggestFromList(self.labels, case_sensitive=False), **kwargs)

    def complete(self) -> None:
        match = complete_choice(self.value, self.labels)
        if match is not None and match != self.value:
            self.value = match
            self.cursor_position = len(match)

    def action_complete_next(self) -> None:
        self.complete()
        self.screen.focus_next()

    def action_step(self, delta: int) -> None:
        current = complete_choice(self.value, self.labels) if self.value else None
        index = self.labels.index(current) if current in self.labels else (-1 if delta > 0 else 0)
        label = self.labels[(index + delta) % len(self.labels)]
        self.value = label
        self.cursor_position = len(label)

    def set_choice(self, stored_value: str) -> None:
        for label, value in self.choices:
            if value == stored_value:
                self.value = label
                self.cursor_position = len(label)
                return


class NoteArea(EditsInOrder, TextArea):
    """A note: several lines, wrapped as typed. Enter makes a new line, Tab moves on, ctrl+s (the
    form's key) saves. A paste goes in whole, every line of it (a one-line field keeps only the
    first, silently). It starts one line high and grows with the text, up to a few lines.

    Its editing keys (backspace, ctrl+u, the cursor keys, …) act in the order typed
    (`tui.key_order.EditsInOrder`): "bakc ⌫⌫ ck" typed fast is "back", where the backspaces used to
    run after "ck" and left "bakc".
    """

    ACTIONS_IN_ORDER = TEXT_AREA_EDIT_ACTIONS

    DEFAULT_CSS = """
    NoteArea { width: 1fr; height: auto; min-height: 1; max-height: 6; }
    """

    def __init__(self, text: str = "", *, placeholder: str = "", **kwargs) -> None:
        super().__init__(
            text,
            tab_behavior="focus",
            soft_wrap=True,
            compact=True,
            highlight_cursor_line=False,
            placeholder=placeholder,
            **kwargs,
        )

    @property
    def value(self) -> str:
        """The note as typed (the same name as `Input.value`, so forms read every field alike)."""
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)


class TickList(SelectionList):
    """Ticks (risk flags, messages) that show their state in text, not only in colour: `[x]` for a
    ticked line, `[ ]` for one that is not (readable in monochrome, high contrast, a screen reader)."""

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)  # the label, without SelectionList's coloured button
        index = self.scroll_offset.y + y
        try:
            selection = self.get_option_at_index(index)
        except OptionDoesNotExist:
            return line
        style = next(iter(line)).style or self.rich_style
        mark = "[x] " if selection.value in self._selected else "[ ] "
        return Strip([Segment(mark, style=style + RichStyle(meta={"option": index})), *line])


class FormRow(Vertical):
    """A label, the field, and an error line under it that appears only when there is an error."""

    DEFAULT_CSS = """
    FormRow { height: auto; }
    FormRow > Horizontal { height: auto; }
    FormRow .form-label { width: 16; padding: 0 1 0 0; text-align: right; color: $text-muted; }
    FormRow .field-error { display: none; color: $text-error; padding-left: 16; }
    FormRow .field-error.-shown { display: block; }
    FormRow .field-hint { color: $text-muted; padding-left: 16; }
    """

    def __init__(self, label: str, field_widget: Widget, field_name: str, hint: str = ""):
        super().__init__(id=f"row-{field_name}")
        self.label = label
        self.field_widget = field_widget
        self.field_name = field_name
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.label, classes="form-label")
            yield self.field_widget
        yield Static("", id=f"error-{self.field_name}", classes="field-error", markup=False)
        if self.hint:
            yield Static(self.hint, classes="field-hint", markup=False)

    def show_error(self, message: str) -> None:
        error = self.query_one(".field-error", Static)
        error.update(message)
        error.add_class("-shown")

    def clear_error(self) -> None:
        error = self.query_one(".field-error", Static)
        error.update("")
        error.remove_class("-shown")

    @property
    def error_text(self) -> str:
        return str(self.query_one(".field-error", Static).render()) if self.has_error else ""

    @property
    def has_error(self) -> bool:
        return self.query_one(".field-error", Static).has_class("-shown")


class ConfirmModal(VipModal[bool]):
    """A yes/no question: `y` or Enter on Yes confirms, `n` or Escape declines."""

    CLOSE_ON_LOCK = True
    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical { width: 60; max-width: 95%; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    ConfirmModal #confirm-buttons { height: auto; margin-top: 1; align: center middle; }
    ConfirmModal Button { margin: 0 1; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "yes", id="confirm_yes"),
        Binding("n", "answer(False)", "no", id="confirm_no"),
        Binding("escape", "answer(False)", "no", show=False),
        Binding("left,right", "app.focus_next", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes [y]", no: str = "No [n]", default_yes: bool = False):
        super().__init__()
        self.question = question
        self.yes_text, self.no_text = yes, no
        self.default_yes = default_yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(id="confirm-buttons"):
                # Labels are plain text: "[y]" is the key, not a markup tag (it vanished as one).
                yield Button(Content(self.yes_text), id="confirm-yes", variant="warning")
                yield Button(Content(self.no_text), id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-yes" if self.default_yes else "#confirm-no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


# Every kind of widget a form's field can be (the order of focus follows the compose order).
FIELD_SELECTOR = "Input, NoteArea, SelectionList, DataTable, Checkbox, OptionList"


class FormModal(VipModal[object]):
    """Base of every entry form: rows with error lines, ctrl+s saves from any field, Enter accepts
    the field and moves on (and saves from the last one), Escape asks before dropping a draft.

    Subclasses implement `fields()` (yield FormRow), `collect()` (parse the fields into a draft,
    raising ValidationError for the field at fault) and `save_record(store, draft)` (the service
    call, run in a thread). A failure keeps the form open with everything typed.
    """

    BINDINGS = [
        # Not a priority binding: priority keys jump ahead of typed characters still on their way
        # to the field, so a fast "type the note, ctrl+s" would save the note cut short.
        Binding("ctrl+s", "save", "save", id="save"),
        Binding("escape", "cancel", "back", id="back"),
    ]
    form_title = "Form"
    HELP_KEYS = (("tab / shift+tab", "next / previous field"), ("enter", "next field; on the last one, save"))

    def __init__(self) -> None:
        super().__init__()
        self.saving = False
        self._initial: dict[str, object] = {}
        # The draft kept in the database as the worker types (see "drafts" below).
        self.pending_draft: dict | None = None  # fields to restore once the form is mounted
        self._form_mounted = False
        self._draft_timer = None
        self._draft_lock = threading.Lock()  # orders the draft writes of the thread workers
        self._draft_seq = 0  # the newest draft write asked for
        self._draft_written = 0  # the newest one written: an older write that arrives late is dropped
        self._draft_stored = False  # a draft of this form is in the database
        self._draft_done = False  # saved or discarded: no draft may be written any more

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static(self.title_line(), id="form-title", markup=False)
            yield from self.fields()
            yield Static("ctrl+s save · enter next (in a note: new line) · tab next · esc back", id="form-help")
        yield Footer(compact=True, show_command_palette=False)

    def title_line(self) -> str:
        return self.form_title

    def fields(self) -> Iterable[FormRow]:
        return ()

    def on_mount(self) -> None:
        # Textual calls the on_mount of every class of the form, and subclasses call this one too:
        # the defaults are taken (and a draft restored) once, or a restored draft would count as
        # the defaults and be neither kept nor asked about.
        if self._form_mounted:
            return
        self._form_mounted = True
        self._initial = self.snapshot_values()
        if self.pending_draft is not None:
            draft, self.pending_draft = self.pending_draft, None
            self.restore_draft(draft)
        first = self.first_focus()
        if first is not None:
            self.set_focus(first)  # at once, not deferred: the worker may already be typing

    def on_key(self, event) -> None:
        """Type-ahead: keys that arrive before any field has the focus go to the first field."""
        if self.focused is None and event.is_printable and event.character:
            first = self.first_focus()
            if isinstance(first, (Input, NoteArea)):
                self.set_focus(first)
                if isinstance(first, NoteArea):
                    first.insert(event.character)
                else:
                    first.insert_text_at_cursor(event.character)
                event.stop()
                event.prevent_default()

    def first_focus(self) -> Widget | None:
        inputs = [w for w in self.query(FIELD_SELECTOR) if w.focusable]
        return inputs[0] if inputs else None

    # --- values and drafts -------------------------------------------------------------------

    def snapshot_values(self) -> dict[str, object]:
        values: dict[str, object] = {}
        for widget in self.query("Input, NoteArea"):
            values[widget.id or str(id(widget))] = widget.value
        for widget in self.query(SelectionList):
            values[widget.id or str(id(widget))] = tuple(sorted(map(str, widget.selected)))
        return values

    def is_dirty(self) -> bool:
        return self.snapshot_values() != self._initial

    def value(self, field_id: str) -> str:
        """What the field holds: the text of a one-line field or of a note."""
        return self.query_one(f"#{field_id}", (Input, NoteArea)).value

    # --- errors --------------------------------------------------------------------------------

    def rows(self) -> list[FormRow]:
        return list(self.query(FormRow))

    def clear_errors(self) -> None:
        for row in self.rows():
            row.clear_error()

    def show_field_error(self, field_name: str, message: str) -> bool:
        """Show `message` under the field; False when the form has no such field."""
        for row in self.rows():
            if row.field_name == field_name:
                row.show_error(message)
                if row.field_widget.focusable:
                    row.field_widget.focus()
                return True
        return False

    def worker_failed(self, error: BaseException, message: str) -> bool:
        self.saving = False  # ctrl+s works again; the draft is untouched
        return False

    # --- actions ---------------------------------------------------------------------------------

    def collect(self) -> object:
        raise NotImplementedError

    def save_record(self, store, draft) -> object:
        raise NotImplementedError

    # A form whose save is one service call that can join the caller's transaction sets this and
    # takes `session=` in save_record: its draft is then deleted in the save's own transaction (one
    # commit, one fsync instead of two); a save that fails rolls the deletion back, so the draft stays.
    SAVE_JOINS_TRANSACTION = False

    def action_save(self) -> None:
        from vipterm.errors import ValidationError

        if self.saving:
            return
        self.clear_errors()
        try:
            draft = self.collect()
        except ValidationError as exc:
            if not self.show_field_error(exc.field or "", exc.message):
                self.notify(exc.message, severity="error")
            return
        store = self.app.store
        if store is None:
            self.notify("unlock first; your draft is kept", severity="warning")
            return
        self.saving = True
        self.run_worker(
            lambda: self._save_in_thread(store, draft), thread=True, exit_on_error=False, group="form-save", name="save"
        )

    def _save_in_thread(self, store, draft) -> None:
        key = self.draft_key()
        if self.SAVE_JOINS_TRANSACTION and key is not None:
            from vipterm.services import drafts

            # Under the draft lock, so no draft write lands between the save and the deletion.
            with self._draft_lock:
                with store.write() as session:
                    result = self.save_record(store, draft, session=session)
                    drafts.delete_draft_in(session, key)
                self._draft_done = True
                self._draft_stored = False
        else:
            result = self.save_record(store, draft)
            self._forget_draft(store)
        self.app.call_from_thread(self._saved, result)

    def _saved(self, result) -> None:
        self.saving = False
        self.dismiss(result)

    def action_cancel(self) -> None:
        if not self.is_dirty():
            self.discard_draft()
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.discard_draft()
                self.dismiss(None)

        self.app.push_screen(ConfirmModal("Discard this draft? What you typed will be lost."), answered)

    @on(Input.Submitted)
    def _enter_moves_on(self, event: Input.Submitted) -> None:
        """Enter accepts the field (completing a choice) and moves to the next; on the last, saves."""
        event.stop()
        if isinstance(event.input, ChoiceInput):
            event.input.complete()
        focusable = [w for w in self.query(FIELD_SELECTOR) if w.focusable]
        if focusable and event.input is focusable[-1]:
            self.action_save()
        else:
            self.focus_next()

    # --- lock --------------------------------------------------------------------------------------

    def clear_for_lock(self) -> None:
        self.query_one("#form-title", Static).update("locked")
        if self._draft_timer is not None:  # the store closes next: keep what was typed since the last write
            self._draft_timer.stop()
            self._draft_timer = None
            self._write_draft_before_lock()

    def _write_draft_before_lock(self) -> None:
        """Write the pending draft now, on the UI thread (one small write), so that a terminal
        killed while locked loses nothing typed; if it cannot be written now, it is after unlock."""
        store = self.app.store
        if store is None or self._draft_done or self.draft_key() is None:
            return
        fields = self.draft_fields() if self.is_dirty() else None
        self._draft_seq += 1
        with self._draft_lock:
            try:
                self._store_draft(store, self._draft_seq, fields)
            except Exception:
                pass  # after_unlock schedules the write again; the form still holds every word

    def after_unlock(self) -> None:
        self.query_one("#form-title", Static).update(self.title_line())
        self.schedule_draft()

    # --- drafts: kept in the database as typed, offered back after a crash (tui.drafts) ------------

    draft_form: str | None = None  # the form's kind (as `VipApp.open_form` names it); None: no draft
    DRAFT_DELAY = 1.0  # seconds after the last change: one write per pause, not one per key

    def draft_key(self) -> str | None:
        """Which record the draft is for: one draft per form and client (or referral)."""
        return self.draft_form

    def draft_client_id(self) -> str | None:
        return None

    def draft_fields(self) -> dict:
        """What the draft keeps: every field, as JSON holds it."""
        return {
            key: [list(v) if isinstance(v, tuple) else v for v in value] if isinstance(value, tuple) else value
            for key, value in self.snapshot_values().items()
        }

    def restore_draft(self, fields: dict) -> None:
        """Put a kept draft back into the fields; it stays unsaved (the form is dirty)."""
        for widget in self.query("Input, NoteArea"):
            value = fields.get(widget.id or "")
            if isinstance(value, str):
                widget.value = value
        for widget in self.query(SelectionList):
            chosen = fields.get(widget.id or "")
            if isinstance(chosen, list):
                widget.deselect_all()
                for value in chosen:
                    try:
                        widget.select(value)
                    except Exception:  # an option this version no longer has
                        pass
        self.restore_extra(fields)
        self._draft_stored = True  # it came from the database; saving or discarding deletes it
        self.schedule_draft()

    def restore_extra(self, fields: dict) -> None:
        """For forms with more than text fields and ticks (the needs grid, the chosen provider)."""

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(SelectionList.SelectedChanged)
    def _field_changed(self, event) -> None:
        self.clear_error_of(event.control)
        self.schedule_draft()

    def clear_error_of(self, widget: Widget) -> None:
        """The worker changed a field: the message about its old value goes (a save checks again)."""
        for node in (widget, *widget.ancestors):
            if isinstance(node, FormRow):
                if node.has_error:
                    node.clear_error()
                return

    def schedule_draft(self) -> None:
        """Write the draft once typing pauses (each change restarts the wait)."""
        if self.draft_key() is None or self._draft_done or not self.is_mounted:
            return
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(self.DRAFT_DELAY, self._write_draft)

    def _write_draft(self) -> None:
        self._draft_timer = None
        store = self.app.store
        if store is None or self._draft_done:
            return
        fields = self.draft_fields() if self.is_dirty() else None  # None: nothing to keep
        if fields is None and not self._draft_stored and self._draft_written == self._draft_seq:
            return  # nothing kept and nothing on its way: nothing to delete
        self._draft_seq += 1
        self.run_worker(
            partial(self._write_draft_in_thread, store, self._draft_seq, fields),
            thread=True,
            group="draft",
            name="draft",
            exit_on_error=False,
        )

    def _write_draft_in_thread(self, store, seq: int, fields: dict | None) -> None:
        from vipterm.errors import DatabaseBusy, VipError

        with self._draft_lock:
            if self._draft_done or seq <= self._draft_written:
                return
            try:
                self._store_draft(store, seq, fields)
            except DatabaseBusy:
                # Another writer holds the lock: try again shortly; the form still holds every word.
                self.app.call_from_thread(self.schedule_draft)
            except VipError:
                return  # refused (too large to keep): trying again would not help; the form holds it
            except Exception:
                # A closing database: try again shortly; the form still holds every word.
                self.app.call_from_thread(self.schedule_draft)

    def _store_draft(self, store, seq: int, fields: dict | None) -> None:
        """Keep `fields` as the draft, or delete the kept one when there is nothing to keep
        (the caller holds `_draft_lock`)."""
        from vipterm.services import drafts

        if fields is not None:
            drafts.save_draft(store, self.draft_key(), self.draft_form, self.draft_client_id(), fields)
            self._draft_stored = True
        elif self._draft_stored:
            drafts.delete_draft(store, self.draft_key())
            self._draft_stored = False
        self._draft_written = seq

    def _forget_draft(self, store) -> None:
        """The record was saved or the draft discarded: delete it, and drop any write still to come."""
        from vipterm.services import drafts

        with self._draft_lock:
            self._draft_done = True
            if self._draft_stored and store is not None:
                try:
                    drafts.delete_draft(store, self.draft_key())
                    self._draft_stored = False
                except Exception:
                    pass  # kept: offered again at the next start, which loses nothing

    def discard_draft(self, *, wait: bool = False) -> None:
        """The worker chose to drop what was typed: the kept draft goes too (at once with `wait`)."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        self._draft_done = True  # no write from now on, even one already queued
        store = self.app.store
        if wait:
            self._forget_draft(store)
        else:
            self.run_worker(
                partial(self._forget_draft, store),
                thread=True,
                group="draft",
                name="discard draft",
                exit_on_error=False,
            )
