"""The task view (`T` on the caseload): every open follow-up and planned custom notification of
the caseload, grouped overdue / today / this week (the program's days), with its time, kind and
note; from the keyboard: `d` completes one (asks what happened: log a contact now, or done without
one — the client file's question), `r` moves it to another day or time, `enter` opens the client,
`u` records a planned notification's attempt. On the coordinator it lists every worker's tasks;
`w` shows one worker's, `a` everyone's again.
"""

from __future__ import annotations

from datetime import date

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static

from vipterm import domain
from vipterm.errors import ValidationError
from vipterm.services import records
from vipterm.tui.base import VipScreen
from vipterm.tui.field_work import FieldWorkActions
from vipterm.tui.messages import ClientRef
from vipterm.tui.parsing import DATE_HELP, parse_date
from vipterm.tui.widgets import FormModal, FormRow

GROUP_TITLES = {"overdue": "Overdue", "today": "Today", "this week": "This week"}


class TasksLoaded(Message):
    def __init__(self, tasks, generation: int) -> None:
        super().__init__()
        self.tasks = tasks
        self.generation = generation


class TaskTable(DataTable):
    """One row per task, under a title row per group (the title rows take no action)."""


class TasksScreen(FieldWorkActions, VipScreen):
    DEFAULT_CSS = """
    TasksScreen #tasks-table { height: 1fr; }
    TasksScreen #tasks-help { color: $text-muted; }
    """
    HELP_KEYS = (("enter", "open the task's client"), ("↑ ↓", "move between tasks"))
    BINDINGS = [
        Binding("escape", "back", "back", id="tasks_back"),
        Binding("enter", "open_client", "open", id="tasks_open", show=False),
        Binding("d", "follow_up_done", "done…", id="tasks_done"),
        Binding("r", "reschedule", "reschedule", id="tasks_reschedule"),
        Binding("u", "notify_planned", "notification", id="tasks_notification", show=False),
        Binding("w", "pick_worker", "worker…", id="tasks_worker"),
        Binding("a", "all_workers", "all", id="tasks_all_workers", show=False),
        Binding("f5", "reload", "reload", id="tasks_reload", show=False),
    ]
    COORDINATOR_ACTIONS = frozenset({"pick_worker", "all_workers"})

    def __init__(self) -> None:
        super().__init__()
        self.task_list = None
        self.rows: dict[str, object] = {}  # row key -> Task
        self.generation = 0
        self.worker_filter: tuple[str, str] | None = None  # (id, name) on the coordinator

    def compose(self) -> ComposeResult:
        yield Static("Tasks · loading…", id="tasks-title", markup=False)
        yield TaskTable(id="tasks-table", cursor_type="row", zebra_stripes=False)
        yield Static("", id="tasks-help", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._columns()
        self.reload()

    def _coordinator(self) -> bool:
        store = self.store
        return store is not None and store.role is domain.Role.COORDINATOR

    def check_action(self, action: str, parameters) -> bool | None:
        if action in self.COORDINATOR_ACTIONS:
            return self._coordinator()
        return True

    def _columns(self) -> None:
        table = self.query_one(TaskTable)
        table.clear(columns=True)
        worker = 12 if self._coordinator() and self.worker_filter is None else 0
        columns = 5 if worker else 4
        # Each column takes two cells of padding; the rest of the width goes to the note (80 columns fit).
        note = max(8, self.size.width - 2 - 46 - worker - 2 * columns)
        table.add_column("when", width=16, key="when")
        table.add_column("client", width=16, key="client")
        table.add_column("what", width=14, key="what")
        if worker:
            table.add_column("worker", width=worker, key="worker")
        table.add_column("note", width=note, key="note")

    # --- data --------------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.store
        if store is None:
            return
        self.generation += 1
        if self._coordinator():
            worker = self.worker_filter[0] if self.worker_filter else None
        else:
            worker = "mine"
        self._load(store, worker, self.generation)

    @work(thread=True, exclusive=True, group="tasks")
    def _load(self, store, worker, generation: int) -> None:
        from vipterm.services.tasks import open_tasks

        self.post_message(TasksLoaded(open_tasks(store, worker_id=worker), generation))

    def on_tasks_loaded(self, message: TasksLoaded) -> None:
        if message.generation != self.generation or self.store is None:
            return
        self.task_list = message.tasks
        self._show()

    def _show(self) -> None:
        tasks = self.task_list
        if tasks is None:
            return
        self._columns()
        table = self.query_one(TaskTable)
        keep = table.cursor_row
        self.rows = {}
        wide = self._coordinator() and self.worker_filter is None
        for group in ("overdue", "today", "this week"):
            members = [t for t in tasks.tasks if t.group == group]
            if not members:
                continue
            style = "bold red" if group == "overdue" else "bold"
            title = [Text(f"{GROUP_TITLES[group]} · {len(members)}", style=style), "", ""]
            table.add_row(*title, *([""] if wide else []), "", key=f"group:{group}")
            for t in members:
                when = t.when if group != "today" else ("today" + (f" {t.due_time}" if t.due_time else ""))
                name = self.app.shown_name(t.name, t.pseudonym)
                client = f"{t.pseudonym} {name}"
                cells = [Text(when, style="red" if group == "overdue" else ""), client, t.what]
                if wide:
                    cells.append(t.worker_name or "unassigned")
                # A follow-up's note is a worker's words (masked with the notes); a plan's is its
                # setting and team roles, which name no one.
                cells.append(self.app.shown_note(t.note) if t.kind == "follow_up" else t.note)
                key = f"{t.kind}:{t.id}"
                table.add_row(*cells, key=key)
                self.rows[key] = t
        if table.row_count:
            table.move_cursor(row=min(max(keep, 0), table.row_count - 1))
            if self.current_task() is None and table.row_count > 1 and table.cursor_row == 0:
                table.move_cursor(row=1)  # past the first group's title
        scope = (
            "every worker"
            if self._coordinator() and self.worker_filter is None
            else (self.worker_filter[1] if self.worker_filter else "mine")
        )
        counts = " · ".join(f"{tasks.count(g)} {g}" for g in ("overdue", "today", "this week"))
        later = f" · {tasks.later} later" if tasks.later else ""
        self.query_one("#tasks-title", Static).update(f"Tasks · {scope} · {counts}{later}")
        help_line = "enter open · d done (asks) or review the safety plan · r reschedule · u record a planned notification · esc back"
        if self._coordinator():
            help_line += " · w one worker · a all"
        if not tasks.tasks:
            help_line = "nothing open this week · " + help_line
        self.query_one("#tasks-help", Static).update(help_line)
        table.focus()

    def on_resize(self) -> None:
        self._show()

    # --- the task under the cursor -------------------------------------------------------------------

    def current_task(self):
        table = self.query_one(TaskTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.rows.get(key or "")

    def _ref(self, task) -> ClientRef:
        return ClientRef(task.client_id, task.pseudonym, task.name, task.area_command or "na")

    def field_work_target(self) -> ClientRef | None:
        task = self.current_task()
        if task is None:
            self.notify("no task under the cursor", severity="warning")
            return None
        return self._ref(task)

    def selected_follow_up_id(self) -> str | None:
        task = self.current_task()
        return task.id if task is not None and task.kind == "follow_up" else None

    def after_field_work(self, client_id: str) -> None:
        self.reload()

    # --- keys ------------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#tasks-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_client()

    def action_open_client(self) -> None:
        task = self.current_task()
        if task is not None:
            self.app.open_client(task.client_id)

    def _review_safety_plan(self, task) -> None:
        """A due safety plan review: its form, on the current plan (saving it sets the next review)."""
        from vipterm.services.consent import safety_plan
        from vipterm.tui.consent_forms import SafetyPlanForm

        store = self.app.store
        if store is None:
            return
        ref = self._ref(task)

        def run() -> None:
            plan = safety_plan(store, ref.client_id)
            self.app.call_from_thread(
                lambda: self.app.push_screen(
                    SafetyPlanForm(ref, plan), lambda result: self.reload() if result is not None else None
                )
            )

        self.run_worker(run, thread=True, exit_on_error=False, group="safety-plan")

    def action_follow_up_done(self) -> None:
        task = self.current_task()
        if task is not None and task.kind == "safety_plan":
            self._review_safety_plan(task)
            return
        if task is not None and task.kind != "follow_up":
            self.notify("a planned notification is done by recording its attempt: u", severity="warning")
            return
        super().action_follow_up_done()

    def action_notify_planned(self) -> None:
        task = self.current_task()
        if task is None:
            return
        self.app.open_form("notification", self._ref(task), lambda result: self.reload())

    def action_reschedule(self) -> None:
        task = self.current_task()
        if task is None:
            return
        if task.kind == "safety_plan":
            self._review_safety_plan(task)
            return
        if task.kind != "follow_up":
            self.notify("a planned notification is moved by the coordinator's review (v)", severity="warning")
            return
        self.app.push_screen(RescheduleForm(task), lambda result: self.reload() if result is not None else None)

    def action_pick_worker(self) -> None:
        from vipterm.tui.assign import WorkerPickerModal

        def picked(choice) -> None:
            if choice is not None:
                self.worker_filter = (choice.id, choice.name)
                self.reload()

        self.app.push_screen(WorkerPickerModal("Whose tasks?"), picked)

    def action_all_workers(self) -> None:
        self.worker_filter = None
        self.reload()

    # --- lock and mask -----------------------------------------------------------------------------------

    def refresh_names(self) -> None:
        self._show()

    def clear_for_lock(self) -> None:
        self.generation += 1
        self.task_list = None
        self.rows = {}
        self.query_one(TaskTable).clear()
        self.query_one("#tasks-title", Static).update("locked")

    def after_unlock(self) -> None:
        self.reload()


class RescheduleForm(FormModal):
    """Move a follow-up to another day and, optionally, time (empty time: none)."""

    form_title = "Reschedule"

    def __init__(self, task) -> None:
        super().__init__()
        self.item = task

    def title_line(self) -> str:
        return f"Reschedule · {self.item.pseudonym} · {self.item.what} due {self.item.when}"

    def fields(self):
        yield FormRow("new date", Input(self.item.due_on.isoformat(), id="due_on"), "due_on", hint=DATE_HELP)
        yield FormRow(
            "time", Input(self.item.due_time or "", placeholder="optional, e.g. 9:00", id="due_time"), "due_time"
        )

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.app.cursor_blink
        super().on_mount()

    def collect(self) -> tuple[date, str | None]:
        today = self.app.today()
        day = parse_date(self.value("due_on"), today=today, field="due_on")
        if day < today:
            raise ValidationError("the new date is in the past", field="due_on")
        return day, records.time_of_day(self.value("due_time"))

    def save_record(self, store, draft):
        day, at = draft
        return records.reschedule_follow_up(store, self.item.id, day, at)

    def _saved(self, result) -> None:
        at = f" at {result.due_time}" if result.due_time else ""
        self.notify(f"{self.item.what} of {self.item.pseudonym} moved to {result.due_on.isoformat()}{at}")
        super()._saved(result)
