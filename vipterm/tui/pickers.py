"""A type-to-filter picker modal: `ListPicker` (type to filter, ↑/↓ move, Enter picks, Escape
cancels; the items are read in a thread worker). Subclasses say what they list: `read(store)`,
`matching(query)` and `label(item)`. The review's worker and client pickers and the coordinator's
assignment picker are ListPickers.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from vipterm.tui.base import VipModal


class PickerLoaded(Message):
    def __init__(self, items: list) -> None:
        super().__init__()
        self.items = items


class ListPicker(VipModal):
    """Type to filter, ↑/↓ move, Enter picks, Escape cancels; the list is read in a thread."""

    CLOSE_ON_LOCK = True
    DEFAULT_CSS = """
    ListPicker { align: center middle; }
    ListPicker > Vertical { width: 64; max-width: 98%; height: auto; max-height: 90%;
                         border: thick $accent; background: $surface; padding: 0 1; }
    ListPicker .picker-title { text-style: bold; }
    ListPicker OptionList { height: auto; max-height: 12; }
    ListPicker .picker-help { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="review_picker_cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]
    title_text = ""
    placeholder = ""
    MAX_SHOWN = 50

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.query_text = query
        self.items: list = []
        self.shown: list = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="picker-title", markup=False)
            yield Input(self.query_text, placeholder=self.placeholder, id="picker-filter")
            yield OptionList(id="picker-list")
            yield Static("loading…", id="picker-help", classes="picker-help", markup=False)

    def on_mount(self) -> None:
        self.query_one("#picker-filter", Input).focus()
        if self.store is not None:
            self._load(self.store)

    @work(thread=True, exclusive=True, exit_on_error=False, group="review-picker")
    def _load(self, store) -> None:
        self.post_message(PickerLoaded(self.read(store)))

    def on_picker_loaded(self, message: PickerLoaded) -> None:
        self.items = message.items
        self.loaded = True
        self._fill()

    @on(Input.Changed, "#picker-filter")
    def _filtered(self) -> None:
        if self.loaded:
            self._fill()

    def _fill(self) -> None:
        self.shown = self.matching(self.query_one("#picker-filter", Input).value)[: self.MAX_SHOWN]
        options = self.query_one("#picker-list", OptionList)
        options.clear_options()
        options.add_options([Option(self.label(item), id=self.option_id(item)) for item in self.shown])
        if self.shown:
            options.highlighted = 0
        self.query_one("#picker-help", Static).update(
            self.empty_text
            if not self.items
            else (self.no_match_text if not self.shown else "enter picks · ↑↓ move · esc cancels")
        )

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-list", OptionList)
        if self.shown:
            options.highlighted = max(0, min(len(self.shown) - 1, (options.highlighted or 0) + step))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#picker-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._pick(self.query_one("#picker-list", OptionList).highlighted)

    @on(OptionList.OptionSelected, "#picker-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option_index)

    def _pick(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self.shown):
            self.app.bell()
            return
        self.dismiss(self.shown[index])

    # what a picker lists
    empty_text = ""
    no_match_text = "nothing matches"

    def read(self, store) -> list:  # pragma: no cover - each picker defines it
        raise NotImplementedError

    def matching(self, query: str) -> list:  # pragma: no cover
        raise NotImplementedError

    def label(self, item) -> str:  # pragma: no cover
        raise NotImplementedError

    def option_id(self, item) -> str | None:
        """An id for the item's option (none by default)."""
        return None
