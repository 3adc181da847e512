"""Assigning clients to a worker from the coordinator's caseload (`w`).

- `WorkerPickerModal`: the active peer support workers with their open clients; typing filters
  them (case and accents ignored), ↑/↓ move, Enter picks, Escape cancels. The list is read in a
  thread worker.
- `AssignFlow`: picker → a y/n question naming how many clients and the worker (default no) →
  `services.assignment.assign_clients` in a thread worker → the screen's `after_assign(result)`.

The laptops receive the change at the coordinator's next export (the old one erases the clients).
"""

from __future__ import annotations

from textual import work
from textual.binding import Binding
from textual.message import Message

from vipterm import domain
from vipterm.services import assignment
from vipterm.services.assignment import AssignResult, WorkerChoice
from vipterm.tui.pickers import ListPicker
from vipterm.tui.widgets import ConfirmModal


class WorkerPickerModal(ListPicker):
    """Choose the worker who takes the clients: the active peer support workers with their open
    clients; type to filter (case and accents ignored), Enter picks."""

    DEFAULT_CSS = """
    WorkerPickerModal > Vertical { width: 60; }
    WorkerPickerModal OptionList { max-height: 14; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel", id="picker_cancel")]
    placeholder = "type a worker's name"
    empty_text = "no active peer support worker: `vipterm workers add NAME` adds one"
    no_match_text = "no worker matches"

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def read(self, store) -> list[WorkerChoice]:
        return assignment.assignable_workers(store)

    def matching(self, query: str) -> list[WorkerChoice]:
        words = domain.fold(query).split()
        return [c for c in self.items if all(w in domain.fold(c.name) for w in words)]

    def label(self, item: WorkerChoice) -> str:
        return f"{item.name}  · {item.open_clients} open client{'s' if item.open_clients != 1 else ''}"

    def option_id(self, item: WorkerChoice) -> str:
        return item.id


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

            self.app.push_screen(
                ConfirmModal(
                    f"Assign {clients_phrase(len(ids))} ({what}) to {choice.name}?\n"
                    "Their laptops receive the change at the next sync export."
                ),
                answered,
            )

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
