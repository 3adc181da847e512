"""Help (`?`): vipterm's keys on the screen it was opened from, each once, with what it does.

Only keys vipterm declares are listed (its screens', its widgets' and the app's bindings, under
the names the keymap gives them), plus the few navigation keys a screen gives a meaning of its
own (`ScreenHooks.HELP_KEYS`); Textual's generic keys ("Focus Next", "Page Left", …) are not.
The table fits an 80-column terminal.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from vipterm.tui.base import ScreenHooks, VipModal

KEY_WIDTH = 16
DOES_WIDTH = 50  # with the cell padding, the box border and its padding: 76 columns

PALETTE = ("^p", "palette: find a client, run an action")


def _declared_by_vipterm(node, binding: Binding) -> bool:
    """True when a vipterm class in `node`'s ancestry declares a binding for this action."""
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("vipterm.") or "BINDINGS" not in cls.__dict__:
            continue
        for declared in cls.__dict__["BINDINGS"]:
            action = declared.action if isinstance(declared, Binding) else declared[1]
            if action == binding.action:
                return True
    return False


def vipterm_bindings(app, screen: Screen) -> list[ActiveBinding]:
    """vipterm's bindings active on `screen` (under the keys the keymap gives them): the screen's
    own first, then the focused widget's, then the app's. What help lists and the palette runs."""

    def rank(active: ActiveBinding) -> int:
        return 0 if active.node is screen else 2 if active.node is app else 1

    return [
        active
        for active in sorted(screen.active_bindings.values(), key=rank)
        if _declared_by_vipterm(active.node, active.binding)
        # A widget's own navigation keys (the caseload table's arrows) are described by its screen.
        and getattr(active.node, "HELP_LISTS_BINDINGS", True)
    ]


def screen_keys(app, screen: Screen) -> list[tuple[str, str]]:
    """(keys, description) of vipterm's keys active on `screen`, each key and each description
    once: the screen's own first, then the focused widget's, then the app's, then the screen's
    navigation notes, and the palette."""
    described: dict[str, list[str]] = {}
    listed_keys: set[str] = set()

    def add(keys: list[str], description: str) -> None:
        fresh = [k for k in keys if k not in listed_keys]
        if not fresh or not description:
            return
        listed_keys.update(fresh)
        described.setdefault(description, []).extend(fresh)

    for active in vipterm_bindings(app, screen):
        binding = active.binding
        add([app.get_key_display(binding)], binding.description or binding.action.replace("_", " "))
    if isinstance(screen, ScreenHooks):
        for keys, description in screen.HELP_KEYS:
            add([keys], description)
    add([PALETTE[0]], PALETTE[1])
    return [(" / ".join(keys), description) for description, keys in described.items()]


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
            yield Static(
                f"Keys · {type(self.origin).__name__.replace('Screen', '').replace('Form', ' form')}", id="help-title"
            )
            yield DataTable(id="help-keys", cursor_type="row", show_header=False)
            yield Static("Rebind keys in config.toml [keys] (vipterm help keys) · esc closes", id="help-foot")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_column("key", width=KEY_WIDTH)
        table.add_column("does", width=DOES_WIDTH)
        for keys, description in screen_keys(self.app, self.origin):
            table.add_row(keys, description)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
