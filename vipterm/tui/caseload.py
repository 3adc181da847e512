"""The caseload (home screen): this worker's clients, most urgent first, filtered as you type.

Rows come from `services.caseload.caseload` in a thread worker and are kept in a
`services.caseload.CaseloadIndex`; the filter is answered from it in memory on every key. The
rows are drawn by `CaseloadTable` (tui/caseload_table.py, Textual's line API): every matching row
is in the list and reachable by scrolling (a coordinator's 10,000 clients too), and only the lines
on screen are painted, each built once per row. A save re-reads only the saved client's row, in a
thread, and repaints only the lines that changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from vipterm import domain
from vipterm.domain import Role
from vipterm.services import caseload as caseload_service
from vipterm.services.caseload import DUE_TODAY, OVERDUE, CaseloadIndex, CaseloadRow
from vipterm.tui import display
from vipterm.tui.assign import AssignFlow
from vipterm.tui.base import VipScreen
from vipterm.tui.caseload_table import CaseloadTable, Column
from vipterm.tui.field_work import FieldWorkActions
from vipterm.tui.key_bar import SteadyFooter
from vipterm.tui.key_order import EditsInOrder, HandsOnKeys
from vipterm.tui.messages import CaseloadLoaded, ClientRef
from vipterm.tui.widgets import ClientFormActions

__all__ = ["CaseloadScreen", "CaseloadTable", "row_mark", "ref_for"]

WIDE = 110  # from this many columns on, the table also shows age group and risk flags

URGENCY_MARK = {OVERDUE: Text("!!", style="bold red"), DUE_TODAY: Text("!", style="bold yellow")}
PLANNED_MARK = Text("N", style="bold magenta")  # a custom notification planned by the review, not yet attempted


def row_mark(row: CaseloadRow) -> Text | str:
    """The urgency column: N for a planned notification (those rows lead), else !! or !."""
    return PLANNED_MARK if row.planned_on is not None else URGENCY_MARK.get(row.urgency, "")


def ref_for(row: CaseloadRow) -> ClientRef:
    return ClientRef(row.client_id, row.pseudonym, row.name, row.area_command)


class FilterInput(HandsOnKeys, EditsInOrder, Input):
    """The caseload's filter field: an Input whose typing does not lay the whole screen out again,
    whose editing keys act in the order typed (`tui.key_order.EditsInOrder`), and whose Escape
    (empty the filter) and Down go back to the table at once, the keys typed after them following
    (`tui.key_order.HandsOnKeys`: "esc /kar" typed fast filters "kar").

    Input sizes its scrollable width to its text on every key, and a changed size is a layout of
    the screen (every widget placed and repainted: a third of a key's time). Here that width is
    at least the field's own, so it changes only for a text longer than the field.
    """

    @property
    def content_width(self) -> int:
        return max(super().content_width, self.scrollable_content_region.width)

    async def _on_key(self, event: events.Key) -> None:
        # No super() call: Textual calls EditsInOrder's and Input's `_on_key` next, unless stopped here.
        if self.pass_on(event):
            return
        if event.key in ("escape", "down"):
            if event.key == "escape":
                self.value = ""
            event.stop()
            event.prevent_default()
            self.hand_over(self.screen.query_one(CaseloadTable))

    def _on_paste(self, event: events.Paste) -> None:
        self.pass_on(event)  # else Textual calls `Input._on_paste` next


@dataclass
class CaseloadRowsLoaded(Message):
    """Some clients' rows re-read after a save (`rows` lacks a client that left the caseload)."""

    client_ids: list
    rows: list
    scope: str
    generation: int
    read: int  # the number of the re-read: an older one finishing later must not undo a newer


class CaseloadScreen(AssignFlow, FieldWorkActions, ClientFormActions, VipScreen):
    HELP_KEYS = (
        ("enter", "open the client (in the filter: the first match)"),
        ("↑ ↓ pgup pgdn", "move through every matching client"),
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

    def __init__(self, rows: list[CaseloadRow] | None = None) -> None:
        """`rows`: this worker's caseload as `caseload()` gives it, read already (the unlock reads
        it beside the passphrase check); the screen then shows it in its first paint."""
        super().__init__()
        self._first_rows = rows
        self._mounted = False
        self._resumed = False  # shown once already (the first showing needs no reload)
        self.scope = "mine"
        self.index = CaseloadIndex([])
        self._query: str | None = None  # the filter of the last drawing: a new one starts at the top
        self._today = None  # the day the drawn lines were built for ("3d ago", "in 2d")
        self._counted: tuple | None = None  # (rows, overdue, due today) for the title
        self._texts: dict[str, str] = {}  # what the title and the preview show now
        self._to_top = False  # the next drawing shows the list from its first row, cursor there
        self._reads = 0  # one-client re-reads started (after saves)
        self._read_of: dict[str, int] = {}  # client id → the newest re-read put in
        self.generation = 0
        self.loaded = False
        self._loading = False  # a full load is running: a one-client refresh waits for it instead
        self._form_open = False  # a form opened from here: its save refreshes one row, not the caseload
        self._wide: bool | None = None
        self.marked: set[str] = set()  # client ids marked (space) for assignment, on the coordinator
        self._owner_columns = False  # the table has the worker column (see shows_owner)

    def compose(self) -> ComposeResult:
        yield Static("Caseload", id="caseload-title", markup=False)
        field = FilterInput(placeholder="/ filter: name, alias, id, area, status · !overdue !today", id="filter")
        field.cursor_blink = self.app.cursor_blink
        yield field
        yield CaseloadTable(self._cells, lambda row: row.client_id, moves_focus=self._to_filter, id="caseload-table")
        yield Static("", id="caseload-preview", markup=False)
        yield SteadyFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # The app's width: a screen built before it is shown has no size of its own yet.
        self._set_columns(self.app.size.width >= WIDE)
        self.query_one(CaseloadTable).focus()
        self._mounted = True
        rows, self._first_rows = self._first_rows, None
        self.take_rows(rows)

    def take_rows(self, rows: list[CaseloadRow] | None) -> None:
        """Show these rows (the caseload as `caseload()` read it), or load them if None. A screen
        built while the passphrase was checked gets them once the app is unlocked."""
        if not self._mounted:
            self._first_rows = rows  # `on_mount` takes them
            return
        if self.store is None:
            return  # built ahead of the unlock: the rows come with it
        if rows is not None:
            self.generation += 1
            self.on_caseload_loaded(CaseloadLoaded(rows, self.scope, self.generation))
        else:
            self.reload()

    def on_screen_resume(self) -> None:
        # Back from a client file, a sync or a report: what they changed shows at once.
        # Back from a form opened here: `_after_form` refreshes just that client's row.
        if not self._resumed:
            self._resumed = True  # shown for the first time: its rows are loaded, or loading
            return
        if self._form_open:
            self._form_open = False
            return
        if self.loaded:
            self.reload()

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE
        if wide != self._wide:
            self._set_columns(wide)
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
        columns = [
            Column("urgency", "", 3 if owners else 2),
            Column("id", "id", 10),
            Column("name", "name", 22 if wide else 16),
        ]
        if owners:
            columns.append(Column("worker", "worker", 14 if wide else 12))
        if wide:
            columns.append(Column("age", "age", 11))
        if not brief:
            columns.append(Column("area", "area", 9))
        columns.append(Column("status", "status", 22 if wide else 10))
        if not brief:
            columns.append(Column("last", "last", 5))
        columns += [Column("next", "next", 5), Column("refs", "refs", 4)]
        if wide:
            columns.append(Column("flags", "flags", 12))
        self.query_one(CaseloadTable).set_columns(columns)

    def _cells(self, row: CaseloadRow) -> list[Text | str]:
        """A row's cells as the table draws them (names through the privacy mask)."""
        owners = self._owner_columns
        wide = bool(self._wide)
        today = self.app.today()
        urgency = row_mark(row)
        if owners:
            urgency = Text.assemble(("✓" if row.client_id in self.marked else " ", "bold green"), urgency)
        cells = [urgency, row.pseudonym, self.app.shown_name(row.name, row.pseudonym)]
        if owners:
            cells.append(Text("unassigned", style="bold magenta") if row.unassigned else row.worker_name)
        if wide:
            cells.append(domain.AgeGroup.label_of(row.age_group))
        brief = owners and not wide
        if not brief:
            cells.append(domain.AreaCommand.label_of(row.area_command))
        cells.append(display.status_label(row.status, short=not wide))
        if not brief:
            cells.append(display.ago(row.last_contact, today))
        cells += [
            display.due_in(row.next_due, today),
            Text(
                f"{row.open_referrals}{' !' if row.stale_referrals else ''}",
                style="bold yellow" if row.stale_referrals else "",
            ),
        ]
        if wide:
            cells.append(display.flag_codes(row.risk_flags))
        return cells

    # --- the rows --------------------------------------------------------------------------------

    @property
    def rows(self) -> list[CaseloadRow]:
        """Every loaded row, in the caseload's order (a new list after each load or save)."""
        return self.index.rows

    @property
    def shown(self) -> list[CaseloadRow]:
        """The rows matching the filter, all of them in the table."""
        return list(self.query_one(CaseloadTable).rows)

    @property
    def matching(self) -> int:
        return self.query_one(CaseloadTable).row_count

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
        """Re-read only these clients' rows (after a save that touched them), in a thread, and put
        them in place: nothing else is queried, and only the lines that changed are repainted.

        Same rows as a full reload would give them: a client that left this scope or was closed
        disappears, the others move to their new place in the order.
        """
        store = self.store
        if store is None:
            return
        if not self.loaded or self._loading:
            self.reload()  # a full load is coming (or needed) anyway
            return
        self._reads += 1
        self._load_clients(store, self.scope, list(client_ids), self.generation, self._reads)

    @work(thread=True, exit_on_error=False, group="caseload-rows")
    def _load_clients(self, store, scope: str, client_ids: list[str], generation: int, read: int) -> None:
        rows = caseload_service.caseload(
            store,
            worker_id="mine" if scope == "mine" else None,
            client_ids=client_ids,
        )
        self.post_message(CaseloadRowsLoaded(client_ids, rows, scope, generation, read))

    def on_caseload_rows_loaded(self, message: CaseloadRowsLoaded) -> None:
        if message.generation != self.generation or message.scope != self.scope or self.store is None:
            return  # a full load replaced the rows since (or the app was locked)
        if any(self._read_of.get(c, 0) > message.read for c in message.client_ids):
            return  # two saves of one client: the later read is in already
        self._read_of.update(dict.fromkeys(message.client_ids, message.read))
        self.index.replace(message.client_ids, message.rows)
        self.query_one(CaseloadTable).invalidate(message.client_ids)
        self._render_rows()

    @work(thread=True, exclusive=True, exit_on_error=False, group="caseload")
    def _load(self, store, scope: str, generation: int) -> None:
        rows = caseload_service.caseload(store, worker_id="mine" if scope == "mine" else None)
        self.post_message(CaseloadLoaded(rows, scope, generation))

    def on_caseload_loaded(self, message: CaseloadLoaded) -> None:
        if message.generation != self.generation or self.store is None:
            return  # an older load, or one that finished after a lock
        self.index = CaseloadIndex(message.rows)
        self.loaded = True
        self._loading = False
        self._render_rows()
        if not self.app.client_index:
            # After the caseload, not beside it: both would compete for the same interpreter.
            self.app.load_client_index()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._render_rows()

    def _render_rows(self) -> None:
        """Give the table the rows matching the filter. The cursor stays on its client (after a
        reload or a save); a new filter shows its best matches first, from the top."""
        if self.store is None or not self.loaded:
            return
        table = self.query_one(CaseloadTable)
        if self._owner_columns != self.shows_owner:  # e.g. columns set while the app was locked
            self._set_columns(bool(self._wide))
        today = self.app.today()
        if today != self._today:
            self._today = today
            table.invalidate()  # "last" and "next" are counted from today
        query = self.query_one("#filter", Input).value
        matching = self.index.filter(query)
        if self._to_top:
            self._to_top = False
            self._query = query
            table.set_rows(matching, cursor=0, top=True)
        elif query != self._query:
            self._query = query
            # The client under the cursor stays there if it is among the first matches on screen.
            kept = table.current
            page = max(1, table.scrollable_content_region.height - 1)
            cursor = next(
                (i for i, row in enumerate(matching[:page]) if kept is not None and row.client_id == kept.client_id), 0
            )
            table.set_rows(matching, cursor=cursor, top=True)
        else:
            table.set_rows(matching)
        self._update_title()
        self._update_preview()

    def _update_title(self) -> None:
        rows = self.rows
        if self._counted is None or self._counted[0] is not rows:
            self._counted = (
                rows,
                sum(1 for r in rows if r.urgency == OVERDUE),
                sum(1 for r in rows if r.urgency == DUE_TODAY),
            )
        _, overdue, today = self._counted
        scope = "my clients" if self.scope == "mine" else "all clients"
        count = f"{self.matching:,}"
        if self.matching != len(self.rows):
            count += f" (filtered from {len(self.rows):,})"
        text = f"Caseload · {scope} · {count} · {overdue} overdue · {today} due today"
        if self.marked:
            text += f" · {len(self.marked)} marked"
        if self.app.masked:
            text += " · names masked"
        self._set_text("#caseload-title", text)

    @on(CaseloadTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._update_preview()

    def _update_preview(self) -> None:
        row = self.current_row()
        if row is None:
            empty = (
                "no clients match the filter"
                if self.rows
                else (
                    "no clients assigned to you — m shows all clients, n adds one"
                    if self.scope == "mine"
                    else "no clients yet — n adds one"
                )
            )
            self._set_text("#caseload-preview", empty if self.loaded else "loading…")
            return
        parts = [row.pseudonym, domain.AgeGroup.label_of(row.age_group), display.status_label(row.status)]
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
        self._set_text("#caseload-preview", " · ".join(parts))

    def _set_text(self, selector: str, text: str) -> None:
        """Put `text` in the title or the preview, both of fixed height (vipterm.tcss), so without a
        layout of the screen on every key."""
        if self._texts.get(selector) == text:
            return
        self._texts[selector] = text
        self.query_one(selector, Static).update(text, layout=False)

    def current_row(self) -> CaseloadRow | None:
        return self.query_one(CaseloadTable).current

    # --- keys ------------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.select_on_focus = True
        field.focus()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        """Enter in the filter opens the best match: `/`, a few letters, Enter."""
        if self.matching:
            self.query_one(CaseloadTable).focus()
            self.action_open_client()

    def _to_filter(self, event: events.Key) -> Input | None:
        """The filter, if this key typed at the table goes to it: the table moves the focus there in
        its own key handler, and the keys typed with it in one burst follow (`/oscar` fast puts
        "oscar" in the filter; had `/` waited for its binding, `o` would open the outcome form)."""
        if not event.is_printable:
            return None  # the table's and the screen's keys (a filter key moved to ctrl+… acts by its binding)
        field = self.query_one("#filter", Input)
        bound = self.app.active_bindings.get(event.key)  # the keys in effect here, the settings file's included
        if bound is not None:
            if bound.binding.action != "focus_filter" or not bound.enabled:
                return None  # a key of the caseload or the app
            field.select_on_focus = True  # `/` selects what is there
            return field
        if event.character and event.character.isalpha():
            # A letter that is no key of the caseload starts the filter: typing a name without
            # `/` first finds the client instead of falling on the record keys.
            field.select_on_focus = False  # a typed name starts afresh
            field.value = event.character
            field.cursor_position = 1
            return field
        return None

    @on(CaseloadTable.RowSelected)
    def _row_selected(self, event: CaseloadTable.RowSelected) -> None:
        event.stop()
        self.action_open_client()

    def action_open_client(self) -> None:
        row = self.current_row()
        if row is not None:
            self.app.open_client(row.client_id)

    def action_toggle_scope(self) -> None:
        self.scope = "all" if self.scope == "mine" else "mine"
        self.marked.clear()
        self._set_columns(bool(self._wide))
        self.loaded = False
        self._to_top = True  # the other scope's list starts at its first row
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
        table = self.query_one(CaseloadTable)
        table.invalidate([row.client_id])  # its ✓ changed, not the row
        table.move_cursor(row=table.cursor_row + 1)
        self._update_title()

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
        self.refresh_clients(list(result.moved) + list(result.already))

    # --- lock and mask ---------------------------------------------------------------------------

    def refresh_names(self) -> None:
        self.query_one(CaseloadTable).invalidate()  # names (un)masked: every line is drawn anew
        self._render_rows()

    def clear_for_lock(self) -> None:
        self.generation += 1  # drop any load still running
        self.index, self.loaded, self._loading, self._query = CaseloadIndex([]), False, False, None
        self.marked.clear()
        table = self.query_one(CaseloadTable)
        table.set_rows([], top=True)
        table.invalidate()  # no line drawn before the lock outlives it
        self._set_text("#caseload-title", "Caseload · locked")
        self._set_text("#caseload-preview", "")
        self.query_one("#filter", Input).value = ""

    def after_unlock(self) -> None:
        self.reload()
