"""The coordinator's review: concurrent edits whose losing value was kept, and the quarantine.

`ConflictsScreen()` reads the app's store (`VipScreen.store`). The list shows each conflict's record (by pseudonym),
field and both values; the panel below shows them side by side with who and when. Keys: `k` keep
the current value (the coordinator's "keep mine"), `t` take the other value ("keep theirs"),
`e` edit a value, `r` refresh, `escape` back. A resolution is an ordinary change, so it reaches
every laptop holding the record at the next sync.

Below, the **quarantine**: changes a laptop sent that were not applied (outside its write scope,
a value that fails the rules, a reference to a missing record, a duplicate pseudonym), a laptop's
deletes waiting for confirmation, and held bundles — each with its record (by pseudonym), the
reason, who sent it (device) and the bundle. No held value is shown here (`vipterm sync
quarantine show ID` shows them). Keys: `a` accept (apply the change, confirm the delete),
`d` discard (leave the records as they are; for a delete, restore the record); `tab` moves between
the two lists. Database work runs in thread workers; one that
fails (a refused value, a busy database) is reported on the message line by the app's one error
handler, and the keys work again.
"""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static

from vipterm import domain
from vipterm.services import quarantine as quarantine_service
from vipterm.services import sync as sync_service
from vipterm.services.sync import ConflictView, value_text
from vipterm.tui.base import VipScreen
from vipterm.tui.widgets import ConfirmModal, HandsOnField, HandsOnTable


class ConflictsLoaded(Message):
    def __init__(self, items: list[ConflictView], held: list | None = None) -> None:
        super().__init__()
        self.items = items
        self.held = held  # QuarantineView list; None: unchanged


class ConflictResolved(Message):
    def __init__(self, text: str, ok: bool = True) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class ConflictsScreen(VipScreen):
    """Review and resolve concurrent edits, from the keyboard."""

    HELP_KEYS = (
        ("↑ ↓", "move between conflicts or held changes"),
        ("tab", "conflicts ⇄ quarantine"),
        ("enter (edit)", "save the edited value"),
    )

    DEFAULT_CSS = """
    ConflictsScreen { layout: vertical; }
    #conflicts-title { text-style: bold; padding: 0 1; }
    #conflicts-table { height: 1fr; margin: 0 1; }
    #conflict-sides { height: auto; margin: 0 1; }
    .conflict-side { width: 1fr; border: round $primary; padding: 0 1; height: auto; }
    #conflict-edit { margin: 0 1; display: none; }
    #conflict-edit.-editing { display: block; }
    #quarantine-title { text-style: bold; padding: 0 1; }
    #quarantine-table { height: 1fr; margin: 0 1; }
    #quarantine-detail { height: auto; margin: 0 1; padding: 0 1; border: round $warning; }
    #conflicts-message { padding: 0 1; height: auto; min-height: 1; }
    #conflicts-message.-error { color: $error; }
    """
    BINDINGS = [
        Binding("k", "keep_current", "keep current", id="conflict_keep"),
        Binding("t", "take_other", "take other", id="conflict_take"),
        Binding("e", "edit", "edit", id="conflict_edit"),
        Binding("a", "accept_held", "accept held", id="quarantine_accept"),
        Binding("d", "discard_held", "discard held", id="quarantine_discard"),
        Binding("r,f5", "refresh", "refresh", id="conflict_refresh"),
        Binding("escape", "back", "back", id="conflict_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[ConflictView] = []
        self.held: list = []  # quarantine_service.QuarantineView
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static("Conflicts for review", id="conflicts-title", markup=False)
        # `e` at a list and Escape in the edit field move the focus at once, and the keys typed with
        # them follow (`tui.key_order`): "e" then a value typed fast is the value, where its letters
        # used to be keys of the screen (a `t` in it took the other value).
        yield HandsOnTable(id="conflicts-table", cursor_type="row", zebra_stripes=True, focus_actions={"edit"})
        with Horizontal(id="conflict-sides"):
            yield Static("", id="conflict-current", classes="conflict-side", markup=False)
            yield Static("", id="conflict-other", classes="conflict-side", markup=False)
        yield HandsOnField(
            placeholder="new value, Enter to save, Esc to cancel", id="conflict-edit", leave=self._leave_edit
        )
        yield Static("Quarantine", id="quarantine-title", markup=False)
        yield HandsOnTable(id="quarantine-table", cursor_type="row", zebra_stripes=True, focus_actions={"edit"})
        yield Static("", id="quarantine-detail", markup=False)
        yield Static("", id="conflicts-message", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#conflicts-table", DataTable)
        table.add_column("record", key="record")
        table.add_column("field", key="field")
        table.add_column("current", key="current")
        table.add_column("other", key="other")
        held = self.query_one("#quarantine-table", DataTable)
        for key in ("record", "kind", "reason", "sent by"):
            held.add_column(key, key=key)
        table.focus()
        self.action_refresh()

    # --- loading ---------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        if self.store is not None:
            self._load(self.store)

    @work(thread=True, exclusive=True, exit_on_error=False, group="conflicts")
    def _load(self, store) -> None:
        conflicts = sync_service.list_conflicts(store)
        self.post_message(ConflictsLoaded(conflicts, quarantine_service.list_quarantine(store)))

    def on_conflicts_loaded(self, message: ConflictsLoaded) -> None:
        if message.held is not None:
            self._show_held(message.held)
        self.items = message.items
        table = self.query_one("#conflicts-table", DataTable)
        row = table.cursor_row
        table.clear()
        for c in self.items:
            table.add_row(
                c.record, c.col.replace("_", " "), self._value(c.current_value), self._value(c.other_value), key=c.id
            )
        if self.items:
            table.move_cursor(row=min(row, len(self.items) - 1))
        self.query_one("#conflicts-title", Static).update(
            f"Conflicts for review: {len(self.items)} open" if self.items else "Conflicts for review: none open"
        )
        self._show_sides()

    @on(DataTable.RowHighlighted, "#conflicts-table")
    def _highlighted(self) -> None:
        self._show_sides()

    # --- the quarantine --------------------------------------------------------------------------

    def _show_held(self, held: list) -> None:
        self.held = held
        table = self.query_one("#quarantine-table", DataTable)
        row = table.cursor_row
        table.clear()
        for q in held:
            table.add_row(q.record, q.kind, _short(q.reason, 40), q.sent_by, key=q.id)
        if held:
            table.move_cursor(row=min(max(row, 0), len(held) - 1))
        self.query_one("#quarantine-title", Static).update(
            f"Quarantine: {len(held)} held for review (a accept, d discard)" if held else "Quarantine: nothing held"
        )
        self._show_held_detail()

    @on(DataTable.RowHighlighted, "#quarantine-table")
    def _held_highlighted(self) -> None:
        self._show_held_detail()

    def selected_held(self):
        table = self.query_one("#quarantine-table", DataTable)
        if not self.held or table.cursor_row < 0 or table.cursor_row >= len(self.held):
            return None
        return self.held[table.cursor_row]

    def _show_held_detail(self) -> None:
        q = self.selected_held()
        detail = self.query_one("#quarantine-detail", Static)
        detail.display = q is not None
        if q is None:
            detail.update("")
            return
        what = {
            "delete": "a accepts (confirms) the delete, d restores the record",
            "bundle": "a imports the held bundle, d drops it",
        }.get(q.kind, "a applies it, d leaves the records as they are")
        detail.update(f"{q.record}: {q.reason}\nsent by {q.sent_by}, device {q.device}, bundle {q.bundle_id}\n{what}")

    def action_accept_held(self) -> None:
        self._decide("accept")

    def action_discard_held(self) -> None:
        self._decide("discard")

    def _decide(self, choice: str) -> None:
        q = self.selected_held()
        if q is None or self.busy or self.store is None:
            return
        question = (
            f"Accept the held {q.kind} of {q.record}?"
            if choice == "accept"
            else f"Discard the held {q.kind} of {q.record}?"
        )

        def answered(yes: bool | None) -> None:  # a decision changes records: asked first, default no
            if yes and not self.busy and self.store is not None:
                self.busy = True
                self._decide_worker(self.store, q.id, choice)

        self.app.push_screen(ConfirmModal(question), answered)

    @work(thread=True, exit_on_error=False, group="quarantine-decide")
    def _decide_worker(self, store, entry_id: str, choice: str) -> None:
        decide = quarantine_service.accept if choice == "accept" else quarantine_service.discard
        self.post_message(ConflictResolved(decide(store, entry_id)))

    def selected(self) -> ConflictView | None:
        table = self.query_one("#conflicts-table", DataTable)
        if not self.items or table.cursor_row < 0 or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def _show_sides(self) -> None:
        c = self.selected()
        current = self.query_one("#conflict-current", Static)
        other = self.query_one("#conflict-other", Static)
        if c is None:
            current.update("")
            other.update("")
            return
        current.update(
            f"current (k keeps it)\n{self._value(c.current_value, full=True)}\n"
            f"by {c.current_by}, {c.current_at:%Y-%m-%d %H:%M}"
        )
        other.update(
            f"other (t takes it)\n{self._value(c.other_value, full=True)}\nby {c.other_by}, {c.other_at:%Y-%m-%d %H:%M}"
        )

    def _value(self, value, full: bool = False) -> str:
        # A conflicting value may be a name, an alias, a phone or a note: the privacy mask hides
        # every one (the coordinator unmasks to decide).
        if self.app.masked and value not in (None, ""):
            return f"{domain.MASK} (mask on)"
        return value_text(value) if full else _short(value)

    # --- resolving -------------------------------------------------------------------------------

    # k and t decide a conflict in one key: each asks first (y/n, default no).

    def action_keep_current(self) -> None:
        self._ask_then_resolve("current", "Keep the current value of {}?")

    def action_take_other(self) -> None:
        self._ask_then_resolve("other", "Take the other value of {}?")

    def _ask_then_resolve(self, choice: str, question: str) -> None:
        c = self.selected()
        if c is None or self.busy or self.store is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._resolve(choice)

        self.app.push_screen(ConfirmModal(question.format(f"{c.record}: {c.col.replace('_', ' ')}")), answered)

    def action_edit(self) -> None:
        c = self.selected()
        if c is None:
            return
        field = self.query_one("#conflict-edit", Input)
        field.value = "" if c.current_value is None else str(c.current_value)
        field.add_class("-editing")
        self.set_focus(field)  # at once: the list hands it the rest of the burst

    @on(Input.Submitted, "#conflict-edit")
    def _edit_submitted(self, event: Input.Submitted) -> None:
        self._resolve("edit", event.value)

    def _close_edit(self) -> None:
        field = self.query_one("#conflict-edit", Input)
        field.remove_class("-editing")
        self.query_one("#conflicts-table", DataTable).focus()

    def _leave_edit(self, event: events.Key) -> Widget | None:
        """Escape closes the edit field, the keys typed after it going to the list. (Enter saves
        and keeps the field until the value is taken: a refused one stays there to correct.)"""
        if event.key != "escape":
            return None
        self.query_one("#conflict-edit", Input).remove_class("-editing")
        return self.query_one("#conflicts-table", DataTable)

    def action_back(self) -> None:
        if self.query_one("#conflict-edit", Input).has_class("-editing"):
            self._close_edit()
            return
        self.app.pop_screen()

    def _resolve(self, choice: str, value=None) -> None:
        c = self.selected()
        if c is None or self.busy or self.store is None:
            return
        self.busy = True
        self._resolve_worker(self.store, c.id, c.record, c.col, choice, value)

    @work(thread=True, exit_on_error=False, group="conflict-resolve")
    def _resolve_worker(self, store, conflict_id: str, record: str, col: str, choice: str, value) -> None:
        held = sync_service.resolve_conflict(store, conflict_id, choice, value)
        self.post_message(
            ConflictResolved(
                f"{record}: {col.replace('_', ' ')} is now {self._value(held)}; it reaches the laptops at the next sync"
            )
        )

    def on_conflict_resolved(self, message: ConflictResolved) -> None:
        self.busy = False
        self._say(message.text, ok=message.ok)
        if message.ok:
            self._close_edit()
        self.action_refresh()

    def worker_failed(self, error: BaseException, message: str) -> bool:
        # A refused value keeps the edit field open with what was typed; the keys work again.
        self.busy = False
        self._say(message, ok=False)
        return True

    def _say(self, text: str, ok: bool = True) -> None:
        line = self.query_one("#conflicts-message", Static)
        line.update(text)
        line.set_class(not ok, "-error")

    # --- lock and mask -------------------------------------------------------------------------------

    def refresh_names(self) -> None:
        """The mask changed: draw the values again (hidden or shown)."""
        self.on_conflicts_loaded(ConflictsLoaded(self.items))

    def clear_for_lock(self) -> None:
        self.busy = False
        self.on_conflicts_loaded(ConflictsLoaded([], []))
        self._say("")

    def after_unlock(self) -> None:
        self.action_refresh()


def _short(value, width: int = 28) -> str:
    text = value_text(value)
    return text if len(text) <= width else text[: width - 1] + "…"
