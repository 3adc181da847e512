"""Keys of one burst (a paste, a fast typist, a whole word sent at once) handled in the order they
were typed, on the widget they were meant for.

- `HandsOnKeys`: a widget that moves the focus in its own key handler hands the keys still queued
  at it to the widget that now has the focus, in order (the form fields on Enter, `widgets.FieldInput`;
  the caseload's table on `/` or a letter, `tui.caseload`; the tables of the audit, conflicts,
  report and sync screens on the key that opens their field, and that field on Enter or Escape,
  `widgets.HandsOnTable` and `widgets.HandsOnField`).
- `EditsInOrder`: an input field whose own editing keys (ctrl+u, backspace, Enter, …) act when the
  field reaches them, between the letters around them (the unlock field, the caseload's filter,
  `widgets.HandsOnField`, a form's fields and note: `widgets.FieldInput`, `widgets.NoteArea`).

Why: Textual queues a burst's keys at the widget focused when they arrived, before it handles the
first; and a key's binding runs only once the key has bubbled from that widget up to the app,
after the widget has handled the keys queued behind it. So a focus moved by a binding comes too
late for the rest of the burst ("/oscar" on the caseload pressed `o`, the outcome form), and an
editing binding acts after the keys typed after it ("abc ctrl+u wxyz" left an empty field).
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input, TextArea


class HandsOnKeys:
    """Mixin for a widget: `hand_over(target)` focuses `target` at once, and the keys (and pastes)
    that reach this widget afterwards, while it is not focused, are posted to `target`.

    Its subclass's `_on_key` (and `_on_paste`) starts with `if self.pass_on(event): return`.
    Focus coming back here (shift+tab, a click) ends the hand-over.
    """

    _handed_to: Widget | None = None

    def hand_over(self, target: Widget) -> None:
        self._handed_to = target
        self.screen.set_focus(target)  # at once: a `focus()` would wait for the message queue

    def pass_on(self, event: events.Key | events.Paste) -> bool:
        """Post `event` to the widget the focus was handed to; False if it is this widget's own."""
        target = self._handed_to
        if target is None:
            return False
        if self.screen.focused is self:
            self._handed_to = None  # back here: keys are this widget's again
            return False
        event.stop()
        event.prevent_default()
        if isinstance(event, events.Key):
            target.post_message(events.Key(event.key, event.character))
        else:
            target.post_message(events.Paste(event.text))
        return True

    def _on_focus(self, event: events.Focus) -> None:
        # No super() call: Textual itself calls the `_on_focus` of every class of the widget.
        self._handed_to = None


# The actions of Input's own keys (deleting, moving the cursor, Enter, …), not those it inherits
# for scrolling: Down, say, is left to the field's other handlers (the caseload's filter goes back
# to the table on it).
INPUT_EDIT_ACTIONS = frozenset(binding.action for binding in Input.BINDINGS if isinstance(binding, Binding))
# The same for a TextArea's own keys (a form's note, `widgets.NoteArea`).
TEXT_AREA_EDIT_ACTIONS = frozenset(binding.action for binding in TextArea.BINDINGS if isinstance(binding, Binding))


class EditsInOrder:
    """Mixin for an `Input`: a key bound to one of the field's editing actions (`ACTIONS_IN_ORDER`)
    runs the action in the field's key handler, so in the order the keys were typed (see the
    module docstring). A `TextArea` takes it too, with `ACTIONS_IN_ORDER = TEXT_AREA_EDIT_ACTIONS`.

    Other keys are left to the widget's other handlers, the screen and the app as usual. The
    binding is looked up with the keys in effect, the settings file's included.
    """

    ACTIONS_IN_ORDER: ClassVar[frozenset[str]] = INPUT_EDIT_ACTIONS

    async def _on_key(self, event: events.Key) -> None:
        # No super() call: Textual calls `Input._on_key` (or `TextArea._on_key`) next.
        if event.is_printable:
            return  # a character: the field types it
        bound = self.screen.active_bindings.get(event.key)
        if (
            bound is None
            or bound.node is not self
            or not bound.enabled
            or bound.binding.priority
            or bound.binding.action not in self.ACTIONS_IN_ORDER
        ):
            return
        event.stop()  # handled here: bubbling to the app would run the binding a second time
        await self.app.run_action(bound.binding.action, self)
