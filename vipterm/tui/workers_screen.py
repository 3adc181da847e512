"""The workers screen (`W`, coordinator): every peer support worker with their laptops, when their
last bundle arrived and what is pending from them, their open clients, overdue follow-ups and
contacts this month; and the staff work done from here.

Keys: `a` add a worker, `r` rename the one under the cursor, `h` hand over their open clients to
another worker (picker, then y/n), `x` deactivate (y/n; refused while they have open clients),
`F5` read again, `escape` back. Every database call runs in a thread worker (services.workers,
services.assignment) and posts a message back. Staff names only; no client is named here.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static

from vipterm.services import assignment
from vipterm.services import workers as workers_service
from vipterm.services.workers import WorkerSummary
from vipterm.tui.assign import WorkerPickerModal, clients_phrase
from vipterm.tui.base import VipModal, VipScreen
from vipterm.tui.widgets import ConfirmModal


class WorkersLoaded(Message):
    def __init__(self, rows: list[WorkerSummary], today) -> None:
        super().__init__()
        self.rows = rows
        self.today = today


class WorkersChanged(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class NameModal(VipModal[str | None]):
    """One line of text (a worker's name): Enter saves, Escape cancels."""

    DEFAULT_CSS = """
    NameModal { align: center middle; }
    NameModal > Vertical { width: 60; max-width: 98%; height: auto; border: thick $accent;
                           background: $surface; padding: 0 1; }
    NameModal #name-title { text-style: bold; }
    NameModal #name-help { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel", id="name_cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="name-title", markup=False)
            yield Input(value=self.value, placeholder="the worker's name", id="name-input")
            yield Static("enter saves · esc cancels", id="name-help", markup=False)

    def on_mount(self) -> None:
        self.query_one("#name-input", Input).focus()

    @on(Input.Submitted, "#name-input")
    def _submitted(self) -> None:
        text = " ".join(self.query_one("#name-input", Input).value.split())
        if not text:
            self.query_one("#name-help", Static).update("a name cannot be empty")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class WorkersScreen(VipScreen):
    """The program's workers, their laptops and caseloads (the coordinator's staff view)."""

    HELP_KEYS = (("↑ ↓", "move between workers"),)
    DEFAULT_CSS = """
    WorkersScreen { layout: vertical; }
    #workers-title { text-style: bold; padding: 0 1; }
    #workers-table { height: 1fr; margin: 0 1; }
    #workers-detail { padding: 0 1; height: auto; min-height: 2; }
    #workers-result { padding: 0 1; height: auto; min-height: 1; }
    #workers-result.-error { color: $error; }
    """
    BINDINGS = [
        Binding("a", "add", "add", id="workers_add"),
        Binding("r", "rename", "rename", id="workers_rename"),
        Binding("h", "handover", "hand over…", id="workers_handover"),
        Binding("x", "deactivate", "deactivate", id="workers_deactivate"),
        Binding("f5", "refresh", "reload", id="workers_refresh", show=False),
        Binding("escape", "back", "back", id="workers_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[WorkerSummary] = []
        self.today = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("Workers", id="workers-title", markup=False)
        yield DataTable(id="workers-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="workers-detail", markup=False)
        yield Static("", id="workers-result", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#workers-table", DataTable)
        table.add_column("worker", key="name", width=20)
        table.add_column("laptops", key="laptops", width=8)
        table.add_column("last bundle", key="last", width=11)
        table.add_column("clients", key="clients", width=7)
        table.add_column("overdue", key="overdue", width=7)
        table.add_column("contacts", key="contacts", width=8)
        table.focus()
        self.action_refresh()

    # --- loading ---------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        if self.store is not None:
            self._load(self.store)

    @work(thread=True, exclusive=True, exit_on_error=False, group="workers")
    def _load(self, store) -> None:
        rows = workers_service.worker_summaries(store, include_inactive=True)
        self.post_message(WorkersLoaded(rows, store.clock.today()))

    def on_workers_loaded(self, message: WorkersLoaded) -> None:
        keep = self.current()
        self.rows = [r for r in message.rows if r.role == "worker"]
        self.today = message.today
        self.loaded = True
        table = self.query_one("#workers-table", DataTable)
        table.clear()
        for r in self.rows:
            live = len(r.enrolled_devices)
            pending = sum(d.pending for d in r.enrolled_devices)
            table.add_row(
                r.name + ("" if r.active else " (inactive)"),
                f"{live}" + (f" ({pending}…)" if pending else ""),
                r.last_bundle_line(message.today),
                str(r.open_clients),
                str(r.overdue_follow_ups),
                str(r.contacts_this_month),
                key=r.id,
            )
        if keep is not None:
            for index, r in enumerate(self.rows):
                if r.id == keep.id:
                    table.move_cursor(row=index)
        active = sum(1 for r in self.rows if r.active)
        self.query_one("#workers-title", Static).update(
            f"Workers · {active} active · {sum(r.open_clients for r in self.rows)} open clients · "
            f"contacts this month {sum(r.contacts_this_month for r in self.rows)}"
        )
        self._show_detail()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        r = self.current()
        detail = self.query_one("#workers-detail", Static)
        if r is None:
            detail.update("no peer support workers yet — a adds one" if self.loaded else "loading…")
            return
        lines = [f"{r.name} · {r.id}"]
        if not r.devices:
            lines.append("no laptop enrolled: `vipterm enroll approve FILE --worker NAME`")
        for d in r.devices:
            state = "revoked" if d.revoked_at else "enrolled " + d.enrolled_at[:10]
            pending = []
            if d.waiting_bundles:
                pending.append(f"{d.waiting_bundles} bundle(s) waiting")
            if d.held_changes:
                pending.append(f"{d.held_changes} held for review")
            last = d.last_bundle_at.strftime("%Y-%m-%d %H:%M") if d.last_bundle_at else "no bundle yet"
            lines.append(
                f"laptop {d.device_id[:13]} · {state} · last bundle {last}"
                + (" · " + ", ".join(pending) if pending else "")
            )
        detail.update("\n".join(lines))

    def current(self) -> WorkerSummary | None:
        table = self.query_one("#workers-table", DataTable)
        if not self.rows or table.row_count == 0:
            return None
        index = table.cursor_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    # --- actions ---------------------------------------------------------------------------------

    def _say(self, text: str, ok: bool = True) -> None:
        result = self.query_one("#workers-result", Static)
        result.update(text)
        result.set_class(not ok, "-error")

    def worker_failed(self, error: BaseException, message: str) -> bool:
        self._say(message, ok=False)
        return True

    def on_workers_changed(self, message: WorkersChanged) -> None:
        self._say(message.text)
        self.action_refresh()

    def action_add(self) -> None:
        def named(name: str | None) -> None:
            if name and self.store is not None:
                self._run(self.store, "add", name)

        self.app.push_screen(NameModal("New peer support worker"), named)

    def action_rename(self) -> None:
        r = self.current()
        if r is None:
            return

        def named(name: str | None) -> None:
            if name and name != r.name and self.store is not None:
                self._run(self.store, "rename", r.id, name)

        self.app.push_screen(NameModal(f"Rename {r.name}", r.name), named)

    def action_deactivate(self) -> None:
        r = self.current()
        if r is None:
            return
        if not r.active:
            self._say(f"{r.name} is already inactive", ok=False)
            return
        if r.open_clients:
            self._say(f"{r.name} has {clients_phrase(r.open_clients)} open: hand them over first (h)", ok=False)
            return

        def answered(yes: bool | None) -> None:
            if yes and self.store is not None:
                self._run(self.store, "deactivate", r.id)

        self.app.push_screen(
            ConfirmModal(f"Deactivate {r.name}? They take no new clients; their history stays."), answered
        )

    def action_handover(self) -> None:
        r = self.current()
        if r is None:
            return
        if not r.open_clients:
            self._say(f"{r.name} has no open clients to hand over", ok=False)
            return

        def picked(choice) -> None:
            if choice is None:
                return
            if choice.id == r.id:
                self._say("choose another worker to take the clients", ok=False)
                return

            def answered(yes: bool | None) -> None:
                if yes and self.store is not None:
                    self._run(self.store, "handover", r.id, choice.id)

            self.app.push_screen(
                ConfirmModal(
                    f"Hand over {r.name}'s {clients_phrase(r.open_clients)} to {choice.name}?\n"
                    "Their laptops receive the change at the next sync export."
                ),
                answered,
            )

        self.app.push_screen(WorkerPickerModal(f"Hand over {r.name}'s {clients_phrase(r.open_clients)} to…"), picked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="workers-change")
    def _run(self, store, what: str, *args) -> None:
        if what == "add":
            worker = workers_service.add_worker(store, args[0])
            text = f"added {worker.display_name}"
        elif what == "rename":
            old, new = workers_service.rename_worker(store, args[0], args[1])
            text = f"renamed {old} to {new}"
        elif what == "deactivate":
            text = f"{workers_service.deactivate_worker(store, args[0]).name} deactivated"
        else:
            result = assignment.handover(store, args[0], args[1])
            text = f"{clients_phrase(result.count)} handed over to {result.worker_name}"
        self.post_message(WorkersChanged(text))

    def action_back(self) -> None:
        self.app.pop_screen()

    def clear_for_lock(self) -> None:
        self.rows, self.loaded = [], False
        self.query_one("#workers-table", DataTable).clear()
        self.query_one("#workers-detail", Static).update("")

    def after_unlock(self) -> None:
        self.action_refresh()
