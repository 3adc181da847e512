"""Help (`?`): every key of the screen it was opened from, with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from vipterm.tui.base import VipModal


def screen_keys(app, screen: Screen) -> list[tuple[str, str]]:
    """(keys, description) of the bindings active on `screen`, as the footer and keymap name them."""
    seen: dict[str, list[str]] = {}
    # vipterm's own keys (the screen's and the app's) first, then the focused widget's navigation.
    ordered = sorted(screen.active_bindings.values(), key=lambda a: a.node is not screen and a.node is not app)
    for active in ordered:
        binding = active.binding
        description = binding.description or binding.action
        if not description:
            continue
        seen.setdefault(description, [])
        display = app.get_key_display(binding)
        if display not in seen[description]:
            seen[description].append(display)
    return [(" / ".join(keys), description) for description, keys in seen.items()]


class HelpScreen(VipModal[None]):
    CLOSE_ON_LOCK = True
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "close", id="close_help"),
    ]

    def __init__(self, origin: Screen) -> None:
        super().__init__()
        self.origin = origin

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(f"Keys · {type(self.origin).__name__.replace('Screen', '').replace('Form', ' form')}",
                         id="help-title")
            yield DataTable(id="help-keys", cursor_type="row", show_header=False)
            yield Static("Rebind keys in config.toml [keys] (see docs/keys.md) · esc closes", id="help-foot")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_column("key", width=14)
        table.add_column("does", width=34)
        rows = screen_keys(self.app, self.origin)
        rows.insert(0, ("^p", "palette: find a client, run an action"))
        for keys, description in rows:
            table.add_row(keys, description)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
