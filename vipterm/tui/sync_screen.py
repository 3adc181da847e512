"""The sync screen: keys and fingerprints, last export and import, pending changes, the inbox of
waiting bundles, and one key each to export to (or import from) a chosen folder.

Self-contained: `SyncScreen(store)`; every database call runs in a thread worker (services.sync)
and posts a message back, so the screen never blocks on disk or crypto. Shows ids, counts and
fingerprints only, never a client's name.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from vipterm.errors import VipError
from vipterm.services import sync as sync_service

DEFAULT_FOLDER_HINT = "folder for bundles (a USB stick, a shared folder)"


class SyncStatusLoaded(Message):
    def __init__(self, status: dict) -> None:
        super().__init__()
        self.status = status


class SyncActionDone(Message):
    def __init__(self, text: str, ok: bool = True) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class SyncScreen(Screen):
    """Export, import and the state of this device's sync."""

    DEFAULT_CSS = """
    SyncScreen { layout: vertical; }
    #sync-title { text-style: bold; padding: 0 1; }
    #sync-summary { padding: 0 1; height: auto; }
    #sync-folder { margin: 0 1; }
    #sync-result { padding: 0 1; height: auto; min-height: 1; }
    #sync-result.-error { color: $error; }
    #sync-inbox { height: 1fr; margin: 0 1; }
    """
    BINDINGS = [
        Binding("e", "export", "export", id="sync_export"),
        Binding("i", "import", "import", id="sync_import"),
        Binding("f", "focus_folder", "folder", id="sync_folder"),
        Binding("r,f5", "refresh", "refresh", id="sync_refresh"),
        Binding("escape", "back", "back", id="sync_back"),
    ]

    def __init__(self, store, folder: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.folder = folder
        self.status: dict | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static("Sync", id="sync-title", markup=False)
        yield Static("loading…", id="sync-summary", markup=False)
        folder = Input(value=str(self.folder) if self.folder else "", placeholder=DEFAULT_FOLDER_HINT, id="sync-folder")
        yield folder
        yield Static("", id="sync-result", markup=False)
        yield DataTable(id="sync-inbox", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#sync-inbox", DataTable)
        table.add_column("waiting bundle", key="bundle")
        table.add_column("from device", key="device")
        table.add_column("changes", key="range")
        table.add_column("received", key="received")
        table.focus()
        self.action_refresh()

    # --- loading ---------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync-status")
    def _load(self) -> None:
        try:
            status = sync_service.sync_status(self.store)
        except VipError as exc:
            self.post_message(SyncActionDone(exc.message, ok=False))
            return
        self.post_message(SyncStatusLoaded(status))

    def on_sync_status_loaded(self, message: SyncStatusLoaded) -> None:
        self.status = s = message.status
        lines = [f"device {s['device_id']}  ({s['role']})"]
        if s["enrolled"]:
            lines.append(f"fingerprint {s['device_fingerprint']}   program root {s['root_fingerprint']} "
                         f"(roster v{s['roster_version']})")
        elif s["role"] == "worker":
            lines.append("not enrolled: run `vipterm enroll request` and take the file to the coordinator")
        else:
            lines.append("no keys yet: run `vipterm coordinator init --existing`")
        lines.append(f"last export {_when(s['last_export_at'])}   last import {_when(s['last_import_at'])}")
        if s["role"] == "worker":
            lines.append(f"pending changes {s['pending_changes']:,}   "
                         f"exported, not yet acknowledged {s['exported_unacknowledged']:,}")
        else:
            laptops = sum(1 for d in s["devices"] if d["role"] == "worker" and not d["revoked_at"])
            lines.append(f"enrolled laptops {laptops}   open conflicts {s['open_conflicts']}")
        lines.append(f"inbox: {len(s['inbox'])} bundle(s) waiting for an earlier one" if s["inbox"]
                     else "inbox: empty")
        self.query_one("#sync-summary", Static).update("\n".join(lines))
        table = self.query_one("#sync-inbox", DataTable)
        table.clear()
        for b in s["inbox"]:
            table.add_row(b["bundle_id"], b["source_device"], f"{b['seq_first']}..{b['seq_last']}",
                          _when(b["received_at"]), key=b["bundle_id"])

    # --- actions ---------------------------------------------------------------------------------

    def action_focus_folder(self) -> None:
        self.query_one("#sync-folder", Input).focus()

    def action_back(self) -> None:
        if self.focused is self.query_one("#sync-folder", Input):
            self.query_one("#sync-inbox", DataTable).focus()
            return
        self.app.pop_screen()

    def _chosen_folder(self) -> Path | None:
        text = self.query_one("#sync-folder", Input).value.strip()
        if not text:
            self._show("choose a folder first (f)", ok=False)
            self.action_focus_folder()
            return None
        return Path(text).expanduser()

    @on(Input.Submitted, "#sync-folder")
    def _folder_entered(self) -> None:
        self.query_one("#sync-inbox", DataTable).focus()

    def action_export(self) -> None:
        folder = self._chosen_folder()
        if folder is not None and not self.busy:
            self.busy = True
            self._show("exporting…")
            self._export(folder)

    def action_import(self) -> None:
        folder = self._chosen_folder()
        if folder is not None and not self.busy:
            self.busy = True
            self._show("importing…")
            self._import(folder)

    @work(thread=True, exit_on_error=False, group="sync-action")
    def _export(self, folder: Path) -> None:
        try:
            results = sync_service.export(self.store, folder)
        except VipError as exc:
            self.post_message(SyncActionDone(exc.message, ok=False))
            return
        if not results:
            self.post_message(SyncActionDone("no laptops are enrolled: nothing to export"))
            return
        total = sum(r.changes for r in results)
        names = ", ".join(r.path.name for r in results[:3]) + (" …" if len(results) > 3 else "")
        self.post_message(SyncActionDone(f"exported {len(results)} bundle(s), {total:,} change record(s): {names}"))

    @work(thread=True, exit_on_error=False, group="sync-action")
    def _import(self, folder: Path) -> None:
        try:
            results = sync_service.import_bundles(self.store, [folder])
        except VipError as exc:
            self.post_message(SyncActionDone(exc.message, ok=False))
            return
        if not results:
            self.post_message(SyncActionDone(f"no bundle files in {folder}"))
            return
        flat = []
        for r in results:
            flat.append(r)
            flat.extend(r.released)
        lines = [f"{r.source}: {r.status}: {r.message}" for r in flat]
        self.post_message(SyncActionDone("\n".join(lines), ok=not any(r.refused for r in flat)))

    def on_sync_action_done(self, message: SyncActionDone) -> None:
        self.busy = False
        self._show(message.text, ok=message.ok)
        self.action_refresh()

    def _show(self, text: str, ok: bool = True) -> None:
        result = self.query_one("#sync-result", Static)
        result.update(text)
        result.set_class(not ok, "-error")


def _when(value) -> str:
    if not value:
        return "never"
    return str(value)[:16]
