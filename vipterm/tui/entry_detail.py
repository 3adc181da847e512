"""One timeline entry of the client file in full: `EntryDetailModal`.

The timeline shows one line per entry, cut at the screen's edge; `enter` on it opens this modal:
the whole note wrapped, who recorded it and on which device, the bundle it came in (or that it was
made on this device), when (program-local time), every field recorded, and for a referral each
status change with its reason. Notes and reasons are hidden while the privacy mask
is on, like everywhere else.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from vipterm.tui.base import VipModal

KIND_TITLES = {
    "notification": "Custom notification",
    "contact": "Contact",
    "assessment": "Needs assessment",
    "referral": "Referral",
    "outcome": "Outcome",
    "follow_up": "Follow-up",
}


def provenance_text(entry, to_local) -> str:
    """Who recorded the entry, on which device, and the bundle it came in (or "this device")."""
    who = f"recorded by {entry.recorded_by or 'unknown worker'}"
    if not entry.device:
        # Made before vipterm kept each record's device (schema 8), or loaded in bulk.
        return who + " · device not recorded"
    lines = [f"{who} on {entry.device}"]
    if entry.bundle_id:
        came = f"came in bundle {entry.bundle_id}"
        if entry.received_at is not None:
            came += f", imported {to_local(entry.received_at).strftime('%Y-%m-%d %H:%M')}"
        lines.append(came)
    elif entry.device_id:
        lines.append("made on this device (no bundle)")
    return "\n".join(lines)


class EntryDetailModal(VipModal[None]):
    """The whole of one timeline entry; `escape`, `enter` or `q` close it, arrows scroll."""

    CLOSE_ON_LOCK = True  # it shows notes
    DEFAULT_CSS = """
    EntryDetailModal { align: center middle; }
    EntryDetailModal > Vertical { width: 84; max-width: 100%; height: auto; max-height: 100%;
                                  border: thick $primary; background: $surface; padding: 0 1; }
    EntryDetailModal #entry-title { text-style: bold; color: $primary; }
    EntryDetailModal #entry-who { color: $text-muted; margin-bottom: 1; }
    EntryDetailModal #entry-body { height: auto; max-height: 100%; }
    EntryDetailModal #entry-note { background: $panel; padding: 0 1; margin-top: 1; }
    EntryDetailModal #entry-help { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,enter,q", "close", "close", id="close_detail"),
    ]
    HELP_KEYS = (("↑ ↓ page up/down", "scroll a long note"),)

    def __init__(self, entry, client_label: str = "") -> None:
        super().__init__()
        self.entry = entry  # caseload.TimelineEntry
        self.client_label = client_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="entry-title", markup=False)
            yield Static("", id="entry-who", markup=False)
            with VerticalScroll(id="entry-body"):
                yield Static("", id="entry-fields", markup=False)
                yield Static("", id="entry-note", markup=False)
                yield Static("", id="entry-history", markup=False)
            yield Static("esc close · ↑↓ scroll", id="entry-help")

    def on_mount(self) -> None:
        self.refresh_names()
        self.query_one("#entry-body").focus()

    def when_text(self) -> str:
        entry = self.entry
        if entry.timed:
            return self.app.to_local(entry.when).strftime("%Y-%m-%d %H:%M")
        return entry.when.strftime("%Y-%m-%d")

    def refresh_names(self) -> None:
        """Draw the entry (again, when the privacy mask changes)."""
        entry, app = self.entry, self.app
        title = f"{KIND_TITLES.get(entry.kind, entry.kind)} · {self.when_text()}"
        if self.client_label:
            title += f" · {self.client_label}"
        self.query_one("#entry-title", Static).update(title)
        self.query_one("#entry-who", Static).update(provenance_text(entry, self.app.to_local))
        width = max((len(label) for label, _ in entry.fields), default=0)
        fields = "\n".join(f"{label.rjust(width)}  {value}" for label, value in entry.fields)
        self.query_one("#entry-fields", Static).update(fields or entry.summary)
        note = self.query_one("#entry-note", Static)
        note.update(app.shown_note(entry.note) if entry.note else "(no note)")
        # A referral's note is its first status change's reason: shown there, with when and who.
        note.display = not (entry.texts and entry.note and entry.texts[0][1] == entry.note)
        history = [f"{what}" + (f"\n    {app.shown_note(text)}" if text else "") for what, text in entry.texts]
        section = self.query_one("#entry-history", Static)
        section.update("\n".join(history))
        section.display = bool(history)

    def action_close(self) -> None:
        self.dismiss(None)
