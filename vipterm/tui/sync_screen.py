"""The sync screen: keys and fingerprints, last export and import, pending changes, the inbox of
waiting bundles, and one key each to export to (or import from) a chosen folder.

`SyncScreen(folder=None)` reads the app's store (`VipScreen.store`); every database call runs in a
thread worker (services.sync) and posts a message back, so the screen never blocks on disk or
crypto. A worker that fails for any reason (a refused bundle, a full disk, a pulled stick) goes
through the app's one error handler and lands on the screen's result line, and the keys work
again. Shows ids, counts and fingerprints, and each device's worker by name (staff names, never
a client's): the devices table lists every device on the roster with the worker it serves, when
its last bundle arrived and whether it is revoked.
"""

from __future__ import annotations

from pathlib import Path

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static

from vipterm.services import sync as sync_service
from vipterm.tui.base import VipScreen
from vipterm.tui.widgets import ConfirmModal, HandsOnField, HandsOnTable

DEFAULT_FOLDER_HINT = "folder for bundles (a USB stick, a shared folder)"


class SyncStatusLoaded(Message):
    def __init__(self, status: sync_service.SyncStatus) -> None:
        super().__init__()
        self.status = status


class SyncActionDone(Message):
    def __init__(self, text: str, ok: bool = True) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class SyncScreen(VipScreen):
    """Export, import and the state of this device's sync."""

    HELP_KEYS = (("enter (folder)", "keep the folder, back to the list"),)

    DEFAULT_CSS = """
    SyncScreen { layout: vertical; }
    #sync-title { text-style: bold; padding: 0 1; }
    #sync-summary { padding: 0 1; height: auto; }
    #sync-folder { margin: 0 1; }
    #sync-result { padding: 0 1; height: auto; min-height: 1; }
    #sync-result.-error { color: $error; }
    #sync-inbox { height: auto; max-height: 7; margin: 0 1; }
    #sync-devices { height: 1fr; margin: 0 1; }
    """
    BINDINGS = [
        Binding("e", "export", "export", id="sync_export"),
        Binding("i", "import", "import", id="sync_import"),
        Binding("f", "focus_folder", "folder", id="sync_folder"),
        Binding("r,f5", "refresh", "refresh", id="sync_refresh"),
        Binding("escape", "back", "back", id="sync_back"),
    ]

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.status: sync_service.SyncStatus | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Static("Sync", id="sync-title", markup=False)
        yield Static("loading…", id="sync-summary", markup=False)
        # `f` at a list and Enter or Escape in the folder field move the focus at once, and the keys
        # typed with them follow (`tui.key_order`): "f/media/usb" typed fast is the folder, where its
        # letters used to be keys of the screen (`e` exported, `i` imported).
        yield HandsOnField(
            value=str(self.folder) if self.folder else "",
            placeholder=DEFAULT_FOLDER_HINT,
            id="sync-folder",
            leave=self._leave_folder,
        )
        yield Static("", id="sync-result", markup=False)
        yield HandsOnTable(id="sync-inbox", cursor_type="row", zebra_stripes=True, focus_actions={"focus_folder"})
        yield HandsOnTable(id="sync-devices", cursor_type="row", zebra_stripes=True, focus_actions={"focus_folder"})
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#sync-inbox", DataTable)
        table.add_column("waiting bundle", key="bundle")
        table.add_column("from device", key="device")
        table.add_column("changes", key="range")
        table.add_column("received", key="received")
        devices = self.query_one("#sync-devices", DataTable)
        devices.add_column("device", key="device", width=13)
        devices.add_column("worker", key="worker", width=22)
        devices.add_column("role", key="role")
        devices.add_column("last bundle", key="last")
        devices.add_column("", key="state")
        table.focus()
        self.action_refresh()

    # --- loading ---------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        if self.store is not None:
            self._load(self.store)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync-status")
    def _load(self, store) -> None:
        self.post_message(SyncStatusLoaded(sync_service.sync_status(store)))

    def on_sync_status_loaded(self, message: SyncStatusLoaded) -> None:
        self.status = s = message.status
        lines = [f"device {s.device_id}  ({s.role})"]
        if s.enrolled:
            lines.append(
                f"fingerprint {s.device_fingerprint}   program root {s.root_fingerprint} (roster v{s.roster_version})"
            )
        elif s.role == "worker":
            lines.append("not enrolled: run `vipterm enroll request` and take the file to the coordinator")
        else:
            lines.append("no keys yet: run `vipterm coordinator init --existing`")
        lines.append(f"last export {_when(s.last_export_at)}   last import {_when(s.last_import_at)}")
        if s.role == "worker":
            lines.append(
                f"pending changes {s.pending_changes:,}   exported, not yet acknowledged {s.exported_unacknowledged:,}"
            )
        else:
            laptops = sum(1 for d in s.devices if d.role == "worker" and not d.revoked_at)
            lines.append(
                f"enrolled laptops {laptops}   open conflicts {s.open_conflicts}   held for review {s.quarantine_open}"
            )
        lines.append(f"inbox: {len(s.inbox)} bundle(s) waiting for an earlier one" if s.inbox else "inbox: empty")
        self.query_one("#sync-summary", Static).update("\n".join(lines))
        table = self.query_one("#sync-inbox", DataTable)
        table.clear()
        names = {d.device_id: d.worker or "" for d in s.devices}
        for b in s.inbox:
            seqs = f"seq {b.seq_first}..{b.seq_last}" if b.kind == "worker" else "return"
            who = names.get(b.source_device, "")
            table.add_row(
                b.bundle_id,
                b.source_device[:13] + (f" {who}" if who else ""),
                seqs,
                _when(b.received_at),
                key=b.bundle_id,
            )
        devices = self.query_one("#sync-devices", DataTable)
        devices.clear()
        for d in sorted(
            s.devices, key=lambda d: (d.revoked_at is not None, d.role != "coordinator", (d.worker or "").casefold())
        ):
            devices.add_row(
                d.device_id[:13],
                d.worker or "—",
                d.role,
                _when(d.last_bundle_at) if d.last_bundle_at else "—",
                "revoked" if d.revoked_at else ("this device" if d.device_id == s.device_id else ""),
                key=d.device_id,
            )

    # --- actions ---------------------------------------------------------------------------------

    def action_focus_folder(self) -> None:
        self.set_focus(self.query_one("#sync-folder", Input))  # at once: a list hands it the rest of the burst

    def _leave_folder(self, event: events.Key) -> Widget | None:
        """Enter keeps the folder, Escape too; either goes back to the list, and the keys typed
        after it (`e`, `i`) act there."""
        return self.query_one("#sync-inbox", DataTable) if event.key in ("enter", "escape") else None

    def action_back(self) -> None:
        self.app.pop_screen()

    def _chosen_folder(self) -> Path | None:
        text = self.query_one("#sync-folder", Input).value.strip()
        if not text:
            self._show("choose a folder first (f)", ok=False)
            self.action_focus_folder()
            return None
        return Path(text).expanduser()

    def action_export(self) -> None:
        folder = self._chosen_folder()
        if folder is not None and not self.busy and self.store is not None:
            self.busy = True
            self._show("exporting…")
            self._export(self.store, folder)

    def action_import(self) -> None:
        folder = self._chosen_folder()
        if folder is None or self.busy or self.store is None:
            return

        def answered(yes: bool | None) -> None:  # an import changes records: asked first, default no
            if yes and not self.busy and self.store is not None:
                self.busy = True
                self._show("importing…")
                self._import(self.store, folder)

        self.app.push_screen(ConfirmModal("Import the bundles in this folder into the database?"), answered)

    @work(thread=True, exit_on_error=False, group="sync-action")
    def _export(self, store, folder: Path) -> None:
        results = sync_service.export(store, folder)
        if not results:
            self.post_message(SyncActionDone("no laptops are enrolled: nothing to export"))
            return
        total = sum(r.changes for r in results)
        names = ", ".join(r.path.name for r in results[:3]) + (" …" if len(results) > 3 else "")
        self.post_message(SyncActionDone(f"exported {len(results)} bundle(s), {total:,} change record(s): {names}"))

    @work(thread=True, exit_on_error=False, group="sync-action")
    def _import(self, store, folder: Path) -> None:
        results = sync_service.import_bundles(store, [folder])
        if not results:
            self.post_message(SyncActionDone(f"no bundle files in {folder}"))
            return
        flat = []
        for r in results:
            if r.status == sync_service.SKIPPED:  # other devices' bundles on a shared stick: one count line
                continue
            flat.append(r)
            flat.extend(r.released)
        skipped = sync_service.skipped_line(results)
        lines = ([skipped] if skipped else []) + [f"{r.source}: {r.status}: {r.message}" for r in flat]
        self.post_message(SyncActionDone("\n".join(lines), ok=not any(r.refused for r in flat)))

    def on_sync_action_done(self, message: SyncActionDone) -> None:
        self.busy = False
        self._show(message.text, ok=message.ok)
        self.action_refresh()

    def worker_failed(self, error: BaseException, message: str) -> bool:
        # "exporting…" gives way to what went wrong, and e / i work again.
        self.busy = False
        self._show(message, ok=False)
        return True

    def clear_for_lock(self) -> None:
        self.busy = False

    def after_unlock(self) -> None:
        self.action_refresh()

    def _show(self, text: str, ok: bool = True) -> None:
        result = self.query_one("#sync-result", Static)
        result.update(text)
        result.set_class(not ok, "-error")


def _when(value) -> str:
    if not value:
        return "never"
    return str(value)[:16]
