"""The audit screen (`U` on the caseload): the audit log, newest first — who viewed, unmasked or
exported identifiable data, who enrolled, revoked, reassigned, purged or decided a held change, on
which device, when. The coordinator sees every device's entries (they sync with the bundles); a
laptop its own device's. `/` filters as you type (worker, device, action, client pseudonym,
detail; every word must match), `enter` shows one entry whole, `F5` reads the log again.

It shows pseudonyms and staff names, never a client's name, so it is not itself audited.
"""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static

from vipterm import domain
from vipterm.tui.base import VipModal, VipScreen
from vipterm.tui.widgets import HandsOnField, HandsOnTable

LIMIT = 2000  # the newest entries drawn; `vipterm audit` lists them all


class AuditLoaded(Message):
    def __init__(self, rows, generation: int) -> None:
        super().__init__()
        self.rows = rows
        self.generation = generation


def _matches(row, words: list[str]) -> bool:
    hay = domain.fold(
        " ".join(
            (row.at, row.worker, row.device, row.action, row.action_label, row.client, row.client_id or "", row.detail)
        )
    )
    return all(w in hay for w in words)


class AuditScreen(VipScreen):
    DEFAULT_CSS = """
    AuditScreen #audit-table { height: 1fr; }
    AuditScreen #audit-filter { display: none; }
    AuditScreen #audit-filter.shown { display: block; }
    AuditScreen #audit-help { color: $text-muted; }
    """
    HELP_KEYS = (("enter", "the entry under the cursor, whole"), ("↑ ↓", "move in the log"))
    BINDINGS = [
        Binding("escape", "back", "back", id="audit_back"),
        Binding("slash", "filter", "filter", id="audit_filter"),
        Binding("enter", "show_entry", "entry", id="audit_entry", show=False),
        Binding("f5", "reload", "reload", id="audit_reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list | None = None
        self.shown: list = []
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield Static("Audit log · loading…", id="audit-title", markup=False)
        # `/` at the table and Enter or Escape in the filter move the focus at once, and the keys
        # typed with them follow ("/unmask" typed fast filters "unmask"): `tui.key_order`.
        yield HandsOnField(
            placeholder="filter: worker, device, action, client, detail", id="audit-filter", leave=self._leave_filter
        )
        yield HandsOnTable(id="audit-table", cursor_type="row", zebra_stripes=True, focus_actions={"filter"})
        yield Static("/ filter · enter the whole entry · esc back", id="audit-help", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Each column takes two cells of padding; the detail gets the rest (80 columns fit).
        detail = max(12, self.size.width - 2 - 16 - 22 - 18 - 8)
        table.add_column("when", width=16, key="when")
        table.add_column("by · device", width=22, key="by")
        table.add_column("what", width=18, key="what")
        table.add_column("client · detail", width=detail, key="detail")
        table.focus()
        self.reload()

    # --- data --------------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        store = self.store
        if store is None:
            return
        self.generation += 1
        self._load(store, self.generation)

    @work(thread=True, exclusive=True, group="audit-log")
    def _load(self, store, generation: int) -> None:
        from vipterm.services.audit import list_entries

        self.post_message(AuditLoaded(list_entries(store, limit=LIMIT), generation))

    def on_audit_loaded(self, message: AuditLoaded) -> None:
        if message.generation != self.generation or self.store is None:
            return
        self.entries = message.rows
        self._show()

    def _show(self) -> None:
        entries = self.entries or []
        words = domain.fold(self.query_one("#audit-filter", Input).value).split()
        self.shown = [r for r in entries if _matches(r, words)] if words else list(entries)
        table = self.query_one(DataTable)
        table.clear()
        for n, r in enumerate(self.shown):
            when = self.app.to_local(_at(r.at)).strftime("%Y-%m-%d %H:%M")
            by = f"{r.worker or 'unknown worker'} · {r.device}"
            detail = " · ".join(x for x in (r.client, r.detail) if x)
            table.add_row(when, by, r.action_label, detail, key=str(n))
        scope = (
            "every device" if self.store is not None and self.store.role is domain.Role.COORDINATOR else "this device"
        )
        capped = f" (the newest {LIMIT:,}; `vipterm audit` lists all)" if len(entries) >= LIMIT else ""
        matching = f" · {len(self.shown):,} match" if words else ""
        self.query_one("#audit-title", Static).update(
            f"Audit log · {scope} · {len(entries):,} entr{'y' if len(entries) == 1 else 'ies'}{capped}{matching}"
        )

    # --- keys --------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#audit-filter", Input)
        box.add_class("shown")
        self.set_focus(box)  # at once: the table hands it the rest of the burst

    @on(Input.Changed, "#audit-filter")
    def _filter_changed(self) -> None:
        self._show()

    def _leave_filter(self, event: events.Key) -> Widget | None:
        """Enter keeps the filter and goes back to the log; Escape empties and hides it."""
        if event.key == "escape":
            box = self.query_one("#audit-filter", Input)
            box.value = ""
            box.remove_class("shown")
        elif event.key != "enter":
            return None
        return self.query_one(DataTable)

    @on(DataTable.RowSelected, "#audit-table")
    def _row_selected(self) -> None:
        self.action_show_entry()  # the table takes enter itself

    def action_show_entry(self) -> None:
        table = self.query_one(DataTable)
        if not (0 <= table.cursor_row < len(self.shown)):
            return
        self.app.push_screen(AuditEntryModal(self.shown[table.cursor_row]))

    def action_back(self) -> None:
        box = self.query_one("#audit-filter", Input)
        if box.value or box.has_focus:  # a filter is cleared first; then escape goes back
            box.value = ""
            box.remove_class("shown")
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()

    def clear_for_lock(self) -> None:
        self.entries = None
        self.shown = []
        self.query_one(DataTable).clear()

    def after_unlock(self) -> None:
        self.reload()


class AuditEntryModal(VipModal[None]):
    """One audit entry whole: when, who, which device (and its id), what, about which client."""

    CLOSE_ON_LOCK = True
    DEFAULT_CSS = """
    AuditEntryModal { align: center middle; }
    AuditEntryModal > Vertical { width: 78; max-width: 100%; height: auto; border: thick $primary;
                                 background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "close", id="audit_entry_close")]

    def __init__(self, row) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        r = self.row
        lines = [
            ("when (UTC)", r.at.replace("T", " ")),
            ("what", r.action_label),
            ("by", r.worker or "unknown worker"),
            ("device", f"{r.device} ({r.device_id})"),
            ("client", " ".join(x for x in (r.client, r.client_id or "") if x) or "—"),
            ("detail", r.detail or "—"),
            ("entry", r.id),
        ]
        width = max(len(k) for k, _ in lines)
        with Vertical():
            yield Static("Audit entry", markup=False)
            yield Static("\n".join(f"{k.rjust(width)}  {v}" for k, v in lines), id="audit-entry-body", markup=False)
            yield Static("esc close", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def _at(iso: str):
    from datetime import datetime

    return datetime.fromisoformat(iso)
