"""The caseload (home screen): this worker's clients, most urgent first, filtered as you type.

Rows come from `services.caseload.caseload` in a thread worker; the filter runs in Python on the
loaded rows. The table draws a window of `MAX_ROWS` of the matching rows (filling a DataTable with
a coordinator's 10,000+ clients would take seconds) and moves that window as the cursor reaches
its edge (↓/↑, page keys, ctrl+home/end), so every row is reachable and none is hidden; the title
says which rows are drawn ("61–120 of 207").
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Static

from vipterm.services import caseload as caseload_service
from vipterm.domain import Role
from vipterm.services.caseload import DUE_TODAY, OVERDUE, CaseloadRow
from vipterm.tui import display
from vipterm.tui.field_work import FieldWorkActions
from vipterm.tui.messages import CaseloadLoaded, ClientRef
from vipterm.tui.assign import AssignFlow
from vipterm.tui.base import VipScreen
from vipterm.tui.widgets import ClientFormActions

MAX_ROWS = 60  # rows drawn at once: a screenful and a page or two (a DataTable row costs on every key)
WINDOW_STEP = MAX_ROWS // 2  # how far the window moves when the cursor leaves it: half, so context stays
WIDE = 110  # from this many columns on, the table also shows age group and risk flags

URGENCY_MARK = {OVERDUE: Text("!!", style="bold red"), DUE_TODAY: Text("!", style="bold yellow")}
PLANNED_MARK = Text("N", style="bold magenta")  # a custom notification planned by the review, not yet attempted


def row_mark(row: CaseloadRow) -> Text | str:
    """The urgency column: N for a planned notification (those rows lead), else !! or !."""
    return PLANNED_MARK if row.planned_on is not None else URGENCY_MARK.get(row.urgency, "")


def ref_for(row: CaseloadRow) -> ClientRef:
    return ClientRef(row.client_id, row.pseudonym, row.name, row.area_command)


class CaseloadTable(DataTable):
    """The caseload rows (a window over every matching row); Enter opens the client under the cursor.

    A cursor key that would leave the window asks the screen to move the window instead.
    """

    def _window_move(self, step: int) -> bool:
        """Move the cursor `step` rows from where it is, across the window's edge; True if it moved."""
        screen = self.screen
        if not isinstance(screen, CaseloadScreen) or not screen.shown:
            return False
        return screen.move_cursor_to(screen.window_start + self.cursor_row + step)

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - (self.header_height if self.show_header else 0))

    def action_cursor_down(self) -> None:
        if self.cursor_row >= self.row_count - 1 and self._window_move(1):
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0 and self._window_move(-1):
            return
        super().action_cursor_up()

    def action_page_down(self) -> None:
        if self.cursor_row >= self.row_count - 1 and self._window_move(self._page_height()):
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.cursor_row <= 0 and self._window_move(-self._page_height()):
            return
        super().action_page_up()

    def action_scroll_top(self) -> None:
        if not self._window_move(-self.screen.window_start - self.cursor_row):
            super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        if not self._window_move(self.screen.matching - 1 - self.screen.window_start - self.cursor_row):
            super().action_scroll_bottom()


class CaseloadScreen(AssignFlow, FieldWorkActions, ClientFormActions, VipScreen):
    HELP_KEYS = (
        ("enter", "open the client (in the filter: the first match)"),
        ("↑ ↓ pgup pgdn", "move; past the rows drawn, the next are drawn"),
        ("^home / ^end", "first / last client in the list"),
        ("!today !overdue", "in the filter: only those due today / overdue"),
        ("esc (filter)", "clear the filter"),
    )
    BINDINGS = [
        Binding("slash", "focus_filter", "filter", id="filter"),
        Binding("enter", "open_client", "open", id="open", show=False),
        Binding("l", "log_contact", "log", id="log_contact"),
        Binding("n", "new_client", "new", id="new_client"),
        Binding("u", "notification", "notify", id="notification"),
        Binding("a", "assessment", "assess", id="assessment"),
        Binding("r", "referral", "refer", id="referral"),
        Binding("d", "follow_up_done", "done…", id="follow_up_done"),
        Binding("A", "log_attempt", "attempt", id="log_attempt"),
        Binding("f", "follow_up", "follow-up", id="follow_up", show=False),
        Binding("o", "outcome", "outcome", id="outcome", show=False),
        Binding("m", "toggle_scope", "mine/all", id="scope"),
        Binding("s", "app.open_screen('sync')", "sync", id="sync", show=False),
        Binding("c", "app.open_screen('conflicts')", "conflicts", id="conflicts", show=False),
        Binding("R", "app.open_screen('report')", "report", id="report", show=False),
        Binding("T", "open_tasks", "tasks", id="tasks"),
        Binding("f5", "reload", "reload", id="reload", show=False),
        Binding("v", "weekly_review", "review", id="weekly_review", show=False),
        Binding("U", "audit_log", "audit", id="audit_log", show=False),
        # The coordinator's assignment (check_action hides them on a laptop, where `w` filters).
        Binding("space", "toggle_mark", "mark", id="mark", show=False),
        Binding("w", "assign", "assign…", id="assign", show=False),
        Binding("W", "workers", "workers", id="workers", show=False),
    ]
    COORDINATOR_ACTIONS = frozenset({"toggle_mark", "assign", "workers"})

    def __init__(self) -> None:
        super().__init__()
        self.scope = "mine"
        self.rows: list[CaseloadRow] = []
        self.shown: list[CaseloadRow] = []  # the window drawn: matching rows window_start … window_start + MAX_ROWS
        self.matching = 0
        self.window_start = 0  # index, among the matching rows, of the window's first row
        self._matching_rows: list[CaseloadRow] = []
        self._query: str | None = None  # the filter of the last drawing: a new one starts at the top
        self.generation = 0
        self.loaded = False
        self._loading = False  # a full load is running: a one-client refresh waits for it instead
        self._form_open = False  # a form opened from here: its save refreshes one row, not the caseload
        self._drawn: tuple | None = None  # what the table shows now: (rows, wide, masked, today)
        self._wide: bool | None = None
        self.marked: set[str] = set()  # client ids marked (space) for assignment, on the coordinator
        self._owner_columns = False  # the table has the worker column (see shows_owner)

    def compose(self) -> ComposeResult:
        yield Static("Caseload", id="caseload-title", markup=False)
        field = Input(placeholder="/ filter: name, alias, id, area, status · !overdue !today", id="filter")
        field.cursor_blink = self.app.cursor_blink
        yield field
        yield CaseloadTable(id="caseload-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="caseload-preview", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._set_columns(self.size.width >= WIDE)
        self.query_one(CaseloadTable).focus()
        self.reload()

    def on_screen_resume(self) -> None:
        # Back from a client file, a sync or a report: what they changed shows at once.
        # Back from a form opened here: `_after_form` refreshes just that client's row.
        if self._form_open:
            self._form_open = False
            return
        if self.loaded:
            self.reload()

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE
        if wide != self._wide:
            self._set_columns(wide)
            self._drawn = None
            self._render_rows()

    @property
    def shows_owner(self) -> bool:
        """The coordinator's all-clients view shows each client's worker and the marks (a laptop's
        clients are all its own worker's: its columns stay as they are)."""
        store = self.store
        return self.scope == "all" and store is not None and store.role is Role.COORDINATOR

    def _set_columns(self, wide: bool) -> None:
        self._wide = wide
        owners = self._owner_columns = self.shows_owner
        # At 80 columns the all-clients view trades `area` and `last` for the worker's name.
        brief = owners and not wide
        table = self.query_one(CaseloadTable)
        table.clear(columns=True)
        table.add_column("", width=3 if owners else 2, key="urgency")
        table.add_column("id", width=10, key="id")
        table.add_column("name", width=22 if wide else 16, key="name")
        if owners:
            table.add_column("worker", width=14 if wide else 12, key="worker")
        if wide:
            table.add_column("age", width=11, key="age")
        if not brief:
            table.add_column("area", width=9, key="area")
        table.add_column("status", width=22 if wide else 10, key="status")
        if not brief:
            table.add_column("last", width=5, key="last")
        table.add_column("next", width=5, key="next")
        table.add_column("refs", width=4, key="refs")
        if wide:
            table.add_column("flags", width=12, key="flags")

    # --- data ------------------------------------------------------------------------------------

    def action_weekly_review(self) -> None:
        """The weekly review (coordinator only; a laptop says where it is kept)."""
        from vipterm.domain import Role
        from vipterm.tui.review_screen import NOT_THE_COORDINATOR, ReviewScreen

        store = self.store
        if store is None:
            return
        if store.role is not Role.COORDINATOR:
            self.notify(NOT_THE_COORDINATOR, severity="warning", timeout=6)
            return
        self.app.push_screen(ReviewScreen())

    def action_audit_log(self) -> None:
        """The audit log: every device's entries on the coordinator, this device's on a laptop."""
        from vipterm.tui.audit_screen import AuditScreen

        if self.store is not None:
            self.app.push_screen(AuditScreen())

    def action_open_tasks(self) -> None:
        """The task view: every open follow-up and planned notification, overdue / today / this week."""
        from vipterm.tui.tasks_screen import TasksScreen

        if self.store is not None:
            self.app.push_screen(TasksScreen())

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.store
        if store is None:
            return
        self.generation += 1
        self._loading = True
        self._load(store, self.scope, self.generation)

    def refresh_clients(self, client_ids: list[str]) -> None:
        """Re-read only these clients' rows (after a save that touched them) and redraw.

        Same rows as a full reload would give them: a client that left this scope or was closed
        disappears, the others move to their new place in the order.
        """
        store = self.store
        if store is None:
            return
        if not self.loaded or self._loading:
            self.reload()  # a full load is coming (or needed) anyway
            return
        fresh = caseload_service.caseload(
            store, worker_id="mine" if self.scope == "mine" else None,
            client_ids=client_ids,
        )
        self.rows = caseload_service.replace_rows(self.rows, client_ids, fresh)
        self._render_rows()

    @work(thread=True, exclusive=True, exit_on_error=False, group="caseload")
    def _load(self, store, scope: str, generation: int) -> None:
        rows = caseload_service.caseload(
            store, worker_id="mine" if scope == "mine" else None
        )
        self.post_message(CaseloadLoaded(rows, scope, generation))

    def on_caseload_loaded(self, message: CaseloadLoaded) -> None:
        if message.generation != self.generation or self.store is None:
            return  # an older load, or one that finished after a lock
        self.rows = message.rows
        self.loaded = True
        self._loading = False
        self._render_rows()
        if not self.app.client_index:
            # After the caseload, not beside it: both would compete for the same interpreter.
            self.app.load_client_index()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._render_rows()

    def _render_rows(self, cursor_at: int | None = None) -> None:
        """Draw the window of matching rows. The window keeps the client under the cursor in view
        (after a reload or a save), starts at the top for a new filter, or, with `cursor_at`,
        is moved so that the matching row of that index is drawn and under the cursor."""
        table = self.query_one(CaseloadTable)
        if self.store is None or not self.loaded:
            return
        keep = self.current_row()
        query = self.query_one("#filter", Input).value
        if query != self._query:
            matching = caseload_service.filter_rows(self.rows, query)
        else:
            matching = self._matching_rows if cursor_at is not None else caseload_service.filter_rows(self.rows, query)
        self._matching_rows = matching
        self.matching = len(matching)
        last_start = max(0, len(matching) - MAX_ROWS)
        if cursor_at is not None:
            cursor_at = max(0, min(cursor_at, len(matching) - 1))
            if not self.window_start <= cursor_at < self.window_start + MAX_ROWS:
                self.window_start = cursor_at - WINDOW_STEP if cursor_at >= self.window_start + MAX_ROWS else cursor_at - WINDOW_STEP + 1
            keep = matching[cursor_at] if matching else None
        elif query != self._query:
            self.window_start = 0  # a new filter shows its best matches first
        elif keep is not None:
            index = next((i for i, row in enumerate(matching) if row.client_id == keep.client_id), None)
            if index is not None and not self.window_start <= index < self.window_start + MAX_ROWS:
                self.window_start = index - WINDOW_STEP
        self.window_start = max(0, min(self.window_start, last_start))
        self._query = query
        shown = matching[self.window_start:self.window_start + MAX_ROWS]
        if self._owner_columns != self.shows_owner:  # e.g. columns set while the app was locked
            self._set_columns(bool(self._wide))
            self._drawn = None
        today = self.app.today()
        wide = bool(self._wide)
        drawn = (shown, wide, self.app.masked, today, self.scope, frozenset(self.marked))
        if self._drawn is not None and self._same_drawing(self._drawn, drawn):
            # The visible slice is unchanged (e.g. a key that only narrows the rows off screen):
            # keep the table and its render caches, update only the count.
            self.shown = shown
            self.matching = len(matching)
            if keep is not None and cursor_at is not None:
                table.move_cursor(row=cursor_at - self.window_start)
            self._update_title()
            self._update_preview()
            return
        self.shown = shown
        self._drawn = drawn
        table.clear()
        for row in self.shown:
            owners = self.shows_owner
            urgency = row_mark(row)
            if owners:
                urgency = Text.assemble(("✓" if row.client_id in self.marked else " ", "bold green"), urgency)
            cells = [
                urgency,
                row.pseudonym,
                self.app.shown_name(row.name, row.pseudonym),
            ]
            if owners:
                cells.append(Text("unassigned", style="bold magenta") if row.unassigned else row.worker_name)
            if wide:
                cells.append(display.age_label(row.age_group))
            brief = owners and not wide
            if not brief:
                cells.append(display.area_label(row.area_command))
            cells.append(display.status_label(row.status, short=not wide))
            if not brief:
                cells.append(display.ago(row.last_contact, today))
            cells += [
                display.due_in(row.next_due, today),
                Text(f"{row.open_referrals}{' !' if row.stale_referrals else ''}",
                     style="bold yellow" if row.stale_referrals else ""),
            ]
            if wide:
                cells.append(display.flag_codes(row.risk_flags))
            table.add_row(*cells, key=row.client_id)
        if keep is not None:
            for index, row in enumerate(self.shown):
                if row.client_id == keep.client_id:
                    table.move_cursor(row=index)
                    break
        self._update_title()
        self._update_preview()

    def move_cursor_to(self, index: int) -> bool:
        """Put the cursor on matching row `index`, moving the window if it is not drawn; False when
        there is no such row (the cursor is at the very top or bottom already)."""
        if not 0 <= index < self.matching:
            index = max(0, min(index, self.matching - 1))
            if index == self.window_start + self.query_one(CaseloadTable).cursor_row:
                return False
        self._render_rows(cursor_at=index)
        return True

    @staticmethod
    def _same_drawing(old: tuple, new: tuple) -> bool:
        old_rows, new_rows = old[0], new[0]
        return (old[1:] == new[1:] and len(old_rows) == len(new_rows)
                and all(a is b for a, b in zip(old_rows, new_rows)))

    def _update_title(self) -> None:
        overdue = sum(1 for r in self.rows if r.urgency == OVERDUE)
        today = sum(1 for r in self.rows if r.urgency == DUE_TODAY)
        scope = "my clients" if self.scope == "mine" else "all clients"
        shown = len(self.shown)
        if shown < self.matching:
            count = f"{self.window_start + 1:,}–{self.window_start + shown:,} of {self.matching:,}"
        else:
            count = f"{self.matching:,}"
        if self.matching != len(self.rows):
            count += f" (filtered from {len(self.rows):,})"
        text = f"Caseload · {scope} · {count} · {overdue} overdue · {today} due today"
        if self.marked:
            text += f" · {len(self.marked)} marked"
        if self.app.masked:
            text += " · names masked"
        self.query_one("#caseload-title", Static).update(text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._update_preview()

    def _update_preview(self) -> None:
        preview = self.query_one("#caseload-preview", Static)
        row = self.current_row()
        if row is None:
            empty = "no clients match the filter" if self.rows else (
                "no clients assigned to you — m shows all clients, n adds one" if self.scope == "mine"
                else "no clients yet — n adds one")
            preview.update(empty if self.loaded else "loading…")
            return
        parts = [row.pseudonym, display.age_label(row.age_group), display.status_label(row.status)]
        if row.unassigned:  # only the coordinator holds clients of no worker
            parts.insert(1, "unassigned: w assigns")
        if row.planned:
            parts.insert(1, f"notification planned {row.planned}")
        if row.risk_flags:
            parts.append("flags: " + display.flag_labels(row.risk_flags))
        if row.open_referrals:
            refs = f"{row.open_referrals} open referral{'s' if row.open_referrals != 1 else ''}"
            if row.stale_referrals:
                refs += f", {row.stale_referrals} stale (no change in 14 days)"
            parts.append(refs)
        if row.next_due:
            parts.append(f"next due {row.next_due.isoformat()}")
        preview.update(" · ".join(parts))

    def current_row(self) -> CaseloadRow | None:
        table = self.query_one(CaseloadTable)
        if not self.shown or table.row_count == 0:
            return None
        index = table.cursor_row
        if 0 <= index < len(self.shown):
            return self.shown[index]
        return None

    # --- keys ------------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.select_on_focus = True
        field.focus()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        """Enter in the filter opens the best match: `/`, a few letters, Enter."""
        if self.shown:
            self.query_one(CaseloadTable).focus()
            self.action_open_client()

    def on_key(self, event) -> None:
        filter_input = self.query_one("#filter", Input)
        table = self.query_one(CaseloadTable)
        if (table.has_focus and event.character and event.character.isalpha() and event.is_printable
                and event.key not in self._own_keys()):
            # A letter that is no key of the caseload starts the filter: typing a name without
            # `/` first finds the client instead of falling on the record keys.
            filter_input.select_on_focus = False  # `/` selects what is there; a typed name starts afresh
            filter_input.value = event.character
            filter_input.cursor_position = 1
            self.set_focus(filter_input)
            event.stop()
            event.prevent_default()
        elif filter_input.has_focus and event.key == "down":
            self.query_one(CaseloadTable).focus()
            event.stop()
        elif filter_input.has_focus and event.key == "escape":
            filter_input.value = ""
            self.query_one(CaseloadTable).focus()
            event.stop()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_client()

    def _own_keys(self) -> set[str]:
        # The keys in effect here (the settings file may have moved them), the app's included.
        return set(self.app.active_bindings)

    def action_open_client(self) -> None:
        row = self.current_row()
        if row is not None:
            self.app.open_client(row.client_id)

    def action_toggle_scope(self) -> None:
        self.scope = "all" if self.scope == "mine" else "mine"
        self.marked.clear()
        self._set_columns(bool(self._wide))
        self._drawn = None
        self.window_start = 0
        self.loaded = False
        self.reload()

    def _form(self, kind: str) -> None:
        row = self.current_row()
        if row is None:
            self.notify("no client selected", severity="warning")
            return
        if self.store is None:
            return
        client_id = row.client_id
        self._form_open = True
        self.app.open_form(kind, ref_for(row), lambda result: self._after_form(result, client_id))

    def _after_form(self, result, client_id: str) -> None:
        # Only this client's row can have changed: re-read it instead of the whole caseload.
        if result is not None:
            self.refresh_clients([client_id])

    def action_new_client(self) -> None:
        from vipterm.tui.forms import ClientForm

        if self.store is None:
            return

        def created(client) -> None:
            if client is not None:
                self.notify(f"{client.pseudonym} added")
                self.app.load_client_index()
                self.app.open_client(client.id)
                # Flagged at retaliation risk at intake: offer the safety plan (over the file).
                from vipterm.tui.consent_forms import after_record

                after_record(self, ClientRef(client.id, client.pseudonym, "", client.area_command), client)

        self.app.push_screen(ClientForm(), created)

    # `d` asks which follow-up and what happened, `A` logs an unreached attempt (tui.field_work).

    def field_work_target(self) -> ClientRef | None:
        row = self.current_row()
        if row is None:
            self.notify("no client selected", severity="warning")
            return None
        return ref_for(row)

    def action_follow_up_done(self) -> None:
        row = self.current_row()
        if row is not None and row.next_due is None:
            self.notify(f"{row.pseudonym} has no open follow-up", severity="warning")
            return
        super().action_follow_up_done()

    def after_field_work(self, client_id: str) -> None:
        self.refresh_clients([client_id])

    # --- assignment (the coordinator) ----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.COORDINATOR_ACTIONS:
            # Hidden on a laptop: assignment is the coordinator's, and there `w` starts the filter.
            store = self.store
            return store is not None and store.role is Role.COORDINATOR
        return super().check_action(action, parameters)

    def action_toggle_mark(self) -> None:
        """Mark or unmark the client under the cursor for `w`, and move down (space, space, …)."""
        row = self.current_row()
        if row is None:
            return
        if not self.shows_owner:
            self.notify("marks are for the all-clients view: m shows all clients", severity="warning")
            return
        self.marked.symmetric_difference_update({row.client_id})
        index = self.window_start + self.query_one(CaseloadTable).cursor_row
        self._drawn = None
        self._render_rows(cursor_at=min(index + 1, self.matching - 1))

    def action_assign(self) -> None:
        """Assign the marked clients (or the one under the cursor) to a worker chosen in a picker."""
        visible = {row.client_id for row in self.rows}
        marked = [row.client_id for row in self.rows if row.client_id in self.marked and row.client_id in visible]
        if marked:
            self.start_assign(marked, "marked")
            return
        row = self.current_row()
        if row is None:
            self.notify("no client selected", severity="warning")
            return
        self.start_assign([row.client_id], row.pseudonym)

    def action_workers(self) -> None:
        """The workers screen: laptops, caseloads, add / rename / hand over / deactivate."""
        from vipterm.tui.workers_screen import WorkersScreen

        if self.store is not None:
            self.app.push_screen(WorkersScreen())

    def after_assign(self, result) -> None:
        self.marked.difference_update(result.moved + result.already)
        self._drawn = None
        self.refresh_clients(list(result.moved) + list(result.already))

    # --- lock and mask ---------------------------------------------------------------------------

    def refresh_names(self) -> None:
        self._drawn = None
        self._render_rows()

    def clear_for_lock(self) -> None:
        self.generation += 1  # drop any load still running
        self.rows, self.shown, self.loaded, self._loading, self._drawn = [], [], False, False, None
        self.marked.clear()
        self._matching_rows, self.window_start, self._query = [], 0, None
        self.query_one(CaseloadTable).clear()
        self.query_one("#caseload-title", Static).update("Caseload · locked")
        self.query_one("#caseload-preview", Static).update("")
        self.query_one("#filter", Input).value = ""

    def after_unlock(self) -> None:
        self.reload()
