"""Assigning clients to a worker from the coordinator's caseload (`w`).

- `WorkerPickerModal`: the active peer support workers with their open clients; typing filters
  them (case and accents ignored), ↑/↓ move, Enter picks, Escape cancels. The list is read in a
  thread worker.
- `AssignFlow`: picker → a y/n question naming how many clients and the worker (default no) →
  `services.assignment.assign_clients` in a thread worker → the screen's `after_assign(result)`.

The laptops receive the change at the coordinator's next export (the old one erases the clients).
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from vipterm import domain
from vipterm.services import assignment
from vipterm.services.assignment import AssignResult, WorkerChoice
from vipterm.tui.base import VipModal
from vipterm.tui.widgets import ConfirmModal


class WorkersLoaded(Message):
    def __init__(self, choices: list[WorkerChoice]) -> None:
        super().__init__()
        self.choices = choices


class WorkerPickerModal(VipModal[WorkerChoice | None]):
    """Choose the worker who takes the clients: type to filter, Enter picks."""

    CLOSE_ON_LOCK = True
    DEFAULT_CSS = """
    WorkerPickerModal { align: center middle; }
    WorkerPickerModal > Vertical { width: 60; max-width: 98%; height: auto; max-height: 90%;
                                   border: thick $accent; background: $surface; padding: 0 1; }
    WorkerPickerModal #picker-title { text-style: bold; }
    WorkerPickerModal OptionList { height: auto; max-height: 14; }
    WorkerPickerModal #picker-help { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="picker_cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title
        self.choices: list[WorkerChoice] = []
        self.shown: list[WorkerChoice] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="picker-title", markup=False)
            yield Input(placeholder="type a worker's name", id="picker-filter")
            yield OptionList(id="picker-list")
            yield Static("loading…", id="picker-help", markup=False)

    def on_mount(self) -> None:
        self.query_one("#picker-filter", Input).focus()
        store = self.store
        if store is not None:
            self._load(store)

    @work(thread=True, exclusive=True, exit_on_error=False, group="worker-picker")
    def _load(self, store) -> None:
        self.post_message(WorkersLoaded(assignment.assignable_workers(store)))

    def on_workers_loaded(self, message: WorkersLoaded) -> None:
        self.choices = message.choices
        self._fill()

    @on(Input.Changed, "#picker-filter")
    def _filtered(self) -> None:
        self._fill()

    def _fill(self) -> None:
        words = domain.fold(self.query_one("#picker-filter", Input).value).split()
        self.shown = [c for c in self.choices if all(w in domain.fold(c.name) for w in words)]
        options = self.query_one("#picker-list", OptionList)
        options.clear_options()
        options.add_options([Option(f"{c.name}  · {c.open_clients} open client{'s' if c.open_clients != 1 else ''}",
                                    id=c.id) for c in self.shown])
        if self.shown:
            options.highlighted = 0
        help_line = self.query_one("#picker-help", Static)
        if not self.choices:
            help_line.update("no active peer support worker: `vipterm workers add NAME` adds one")
        elif not self.shown:
            help_line.update("no worker matches")
        else:
            help_line.update("enter picks · ↑↓ move · esc cancels")

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-list", OptionList)
        if self.shown:
            current = options.highlighted or 0
            options.highlighted = max(0, min(len(self.shown) - 1, current + step))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#picker-filter")
    def _submitted(self) -> None:
        self._pick(self.query_one("#picker-list", OptionList).highlighted)

    @on(OptionList.OptionSelected, "#picker-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option_index)

    def _pick(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self.shown):
            self.app.bell()
            return
        self.dismiss(self.shown[index])


class Assigned(Message):
    def __init__(self, result: AssignResult) -> None:
        super().__init__()
        self.result = result


def clients_phrase(count: int) -> str:
    return f"{count} client{'s' if count != 1 else ''}"


class AssignFlow:
    """Mixed into a screen: `start_assign(client_ids, what)` asks who and confirms, then assigns.

    The screen implements `after_assign(result)` (e.g. refresh its rows, clear its marks).
    """

    def start_assign(self, client_ids: list[str], what: str) -> None:
        ids = list(dict.fromkeys(client_ids))
        if not ids:
            self.notify("no client selected", severity="warning")
            return

        def picked(choice: WorkerChoice | None) -> None:
            if choice is None:
                return

            def answered(yes: bool | None) -> None:
                if yes and self.store is not None:
                    self._assign_in_thread(self.store, ids, choice.id)

            self.app.push_screen(ConfirmModal(f"Assign {clients_phrase(len(ids))} ({what}) to {choice.name}?\n"
                                              "Their laptops receive the change at the next sync export."),
                                 answered)

        self.app.push_screen(WorkerPickerModal(f"Assign {clients_phrase(len(ids))} to…"), picked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="assign")
    def _assign_in_thread(self, store, client_ids: list[str], worker_id: str) -> None:
        self.post_message(Assigned(assignment.assign_clients(store, client_ids, worker_id)))

    def on_assigned(self, message: Assigned) -> None:
        result = message.result
        text = f"{clients_phrase(result.count)} assigned to {result.worker_name}"
        if result.already:
            text += f" ({len(result.already)} already were)"
        self.notify(text)
        self.after_assign(result)

    def after_assign(self, result: AssignResult) -> None:  # pragma: no cover - screens override
        pass

