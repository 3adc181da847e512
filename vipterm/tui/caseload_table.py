"""The caseload's rows on Textual's line API: every row reachable by scrolling, each row drawn once.

`CaseloadTable` is a `ScrollView` that paints one line per row in `render_line`. A row's line (its
cells cut to the column widths) is built the first time the row is on screen and kept in an LRU
cache under the row's key, together with the row object it was built from: a row object the table
has already drawn is never drawn again, so a key typed in the filter costs only the lines that
come into view, and a saved contact (a new object for one client) rebuilds one line. Backgrounds
(zebra stripe, cursor) are put on when a line is painted, not baked into the cached line, so a
row keeps its cached line when it moves or the cursor passes over it.

It holds no cap: ten thousand rows are as cheap as sixty, because only the lines on screen are
painted. The screen gives it the rows (already filtered and sorted), the columns and a function
that turns a row into its cells; the privacy mask and the coordinator's marks are in those cells,
so the screen calls `invalidate()` when they change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from vipterm.tui.key_order import HandsOnKeys

CELL_PADDING = 1  # blank cells on each side of a column, as DataTable draws them
CACHE_ROWS = 4096  # rows whose drawn line is kept: a caseload, or many screenfuls of all clients


class Column(NamedTuple):
    key: str
    label: str
    width: int


class CaseloadTable(HandsOnKeys, ScrollView, can_focus=True):
    """Rows of one line each under a header line; a row cursor; Enter or a click selects.

    `moves_focus(event)`, if given, names the widget a key typed here moves the focus to (the
    caseload's filter, for `/` or a letter); the table moves it in its own key handler and hands
    it the keys of the same burst still queued here (`tui.key_order.HandsOnKeys`).
    """

    ALLOW_SELECT = False
    HELP_LISTS_BINDINGS = False  # its keys are navigation, which the screen's help describes (tui/help.py)
    COMPONENT_CLASSES = {
        "caseload-table--header",
        "caseload-table--cursor",
        "caseload-table--even-row",
        "caseload-table--odd-row",
    }
    DEFAULT_CSS = """
    CaseloadTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .caseload-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .caseload-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .caseload-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .caseload-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .caseload-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .caseload-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .caseload-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS = [
        Binding("enter", "select_cursor", "select", show=False),
        Binding("up", "cursor_up", "up", show=False),
        Binding("down", "cursor_down", "down", show=False),
        Binding("pageup", "page_up", "page up", show=False),
        Binding("pagedown", "page_down", "page down", show=False),
        Binding("ctrl+home", "scroll_top", "first", show=False),
        Binding("ctrl+end", "scroll_bottom", "last", show=False),
        Binding("home", "scroll_top", "first", show=False),
        Binding("end", "scroll_bottom", "last", show=False),
    ]

    class RowHighlighted(Message):
        """The cursor moved to another row (or the row under it changed)."""

        def __init__(self, table: CaseloadTable, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row

        @property
        def control(self) -> CaseloadTable:
            return self.table

    class RowSelected(Message):
        """Enter, or a click on the row under the cursor."""

        def __init__(self, table: CaseloadTable, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row

        @property
        def control(self) -> CaseloadTable:
            return self.table

    def __init__(
        self,
        cells: Callable[[Any], Sequence[Text | str]],
        key: Callable[[Any], Hashable],
        *,
        moves_focus: Callable[[events.Key], Widget | None] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._moves_focus = moves_focus
        self._cells = cells
        self._key = key
        self.columns: list[Column] = []
        self._rows: Sequence[Any] = []
        self._cursor = 0
        # Per row: the row object, its drawn segments and their width. Segments, not a Strip: a
        # Strip carries seven caches and keeps the lines derived from it (cropped, striped), some
        # 35 objects per row that every full garbage collection walks; the per-paint Strips
        # built from the segments are freed as soon as they are painted.
        self._lines: LRUCache[Hashable, tuple[Any, tuple[Segment, ...], int]] = LRUCache(CACHE_ROWS)
        self._header: Strip | None = None
        self._styles: dict[str, Style] = {}  # line styles by component, until the styles change
        # How often each row's line was built: a row drawn once and kept is built once (tests
        # check that a save rebuilds only the saved client's line).
        self.lines_built: Counter[Hashable] = Counter()

    # --- what it shows ---------------------------------------------------------------------------

    def set_columns(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        self.invalidate()
        self._update_virtual_size()

    @property
    def rows(self) -> Sequence[Any]:
        return self._rows

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def current(self) -> Any | None:
        """The row under the cursor, or None when there are no rows."""
        return self._rows[self._cursor] if 0 <= self._cursor < len(self._rows) else None

    def row_keys(self) -> list[Hashable]:
        return [self._key(row) for row in self._rows]

    def index_of(self, key: Hashable) -> int | None:
        return next((i for i, row in enumerate(self._rows) if self._key(row) == key), None)

    def get_row_at(self, index: int) -> list[Text | str]:
        """The cells of the row at `index`, as drawn."""
        return list(self._cells(self._rows[index]))

    def get_row(self, key: Hashable) -> list[Text | str]:
        index = self.index_of(key)
        if index is None:
            raise KeyError(key)
        return self.get_row_at(index)

    def set_rows(self, rows: Sequence[Any], *, cursor: int | None = None, top: bool = False) -> None:
        """Show `rows`. The cursor stays on the row of the same key if there is one (else at the
        same place), or goes to `cursor`; with `top`, the list is shown from its first row.

        Only lines whose row changed are repainted; rows drawn before keep their cached lines.
        """
        old_rows, old_cursor, old_scroll = self._rows, self._cursor, self.scroll_offset.y
        if cursor is None:
            kept = self.current
            cursor = self._cursor
            if kept is not None and not (cursor < len(rows) and rows[cursor] is kept):
                found = self.index_of_in(rows, self._key(kept))
                cursor = found if found is not None else cursor
        self._rows = rows
        self._cursor = max(0, min(cursor, len(rows) - 1)) if rows else 0
        self._update_virtual_size()
        if top:
            self.scroll_to(y=0, animate=False, immediate=True)
        self._scroll_to_cursor()
        if self.scroll_offset.y != old_scroll or len(old_rows) != len(rows):
            self.refresh()
        else:
            self._refresh_changed(old_rows, old_cursor)
        if old_cursor != self._cursor or (
            self.current is not (old_rows[old_cursor] if old_cursor < len(old_rows) else None)
        ):
            self.post_message(self.RowHighlighted(self, self._cursor))

    def index_of_in(self, rows: Sequence[Any], key: Hashable) -> int | None:
        return next((i for i, row in enumerate(rows) if self._key(row) == key), None)

    def invalidate(self, keys: Sequence[Hashable] | None = None) -> None:
        """Forget the drawn lines of these rows (all rows when None): their cells changed without
        the row objects changing (names masked, marks, the clock)."""
        if keys is None:
            self._lines.clear()
            self._header = None
            self.refresh()
            return
        for key in keys:
            self._lines.discard(key)
        drop = set(keys)
        top = self.scroll_offset.y
        for index in range(top, min(len(self._rows), top + self._page())):
            if self._key(self._rows[index]) in drop:
                self.refresh_lines(index + 1)

    # --- cursor ----------------------------------------------------------------------------------

    def move_cursor(self, *, row: int) -> None:
        if not self._rows:
            return
        row = max(0, min(row, len(self._rows) - 1))
        old = self._cursor
        self._cursor = row
        self._scroll_to_cursor()
        if old != row:
            self.refresh_lines(old + 1)
            self.refresh_lines(row + 1)
            self.post_message(self.RowHighlighted(self, row))

    def _page(self) -> int:
        """Rows that fit under the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = self.scroll_offset.y
        page = self._page()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._page())

    def action_scroll_top(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(row=len(self._rows) - 1)

    def action_select_cursor(self) -> None:
        if self._rows:
            self.post_message(self.RowSelected(self, self._cursor))

    async def _on_key(self, event: events.Key) -> None:
        if self.pass_on(event):
            return
        target = self._moves_focus(event) if self._moves_focus is not None else None
        if target is not None:
            event.stop()
            event.prevent_default()
            self.hand_over(target)

    def _on_paste(self, event: events.Paste) -> None:
        self.pass_on(event)

    async def _on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y - 1
        if event.y < 1 or not 0 <= index < len(self._rows):
            return
        if index == self._cursor:
            self.post_message(self.RowSelected(self, index))
        else:
            self.move_cursor(row=index)

    # --- painting --------------------------------------------------------------------------------

    def _update_virtual_size(self) -> None:
        size = Size(sum(c.width + 2 * CELL_PADDING for c in self.columns), len(self._rows) + 1)
        if size == self.virtual_size:
            return
        height = self.styles.height
        if size.width != self.virtual_size.width or height is None or height.is_auto or not self.container_size:
            self.virtual_size = size  # the widget's own size may follow: lay the screen out again
            return
        # A height set by CSS (the caseload's `1fr`) does not follow the rows: a new row count needs
        # new scrollbars, not a layout of the whole screen. (Showing or hiding a scrollbar still
        # lays out: those are layout reactives.)
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header = None  # the header's line carries the widget's style (rows get it per paint)
        self._styles.clear()

    def _style(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style
            if component:
                style += self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    def _on_resize(self, event: events.Resize) -> None:
        self._scroll_to_cursor()

    def _line_text(self, cells: Sequence[Text | str]) -> Text:
        line = Text(no_wrap=True, end="")
        pad = " " * CELL_PADDING
        for column, cell in zip(self.columns, cells):
            text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
            text.truncate(column.width, overflow="ellipsis", pad=True)
            line.append(pad)
            line.append_text(text)
            line.append(pad)
        return line

    def _row_line(self, row: Any) -> Strip:
        """The row's drawn line (no background): from the cache while it holds this very row."""
        key = self._key(row)
        cached = self._lines.get(key)
        if cached is not None and cached[0] is row:
            return Strip(cached[1], cached[2])
        self.lines_built[key] += 1
        text = self._line_text(self._cells(row))
        segments = tuple(text.render(self.app.console))
        if cached is not None:
            self._lines.discard(key)  # Textual's LRUCache keeps the first value set for a key
        self._lines[key] = (row, segments, text.cell_len)
        return Strip(segments, text.cell_len)

    def _header_line(self) -> Strip:
        if self._header is None:
            text = self._line_text([c.label for c in self.columns])
            style = self._style("caseload-table--header")
            self._header = Strip(list(text.render(self.app.console)), text.cell_len).apply_style(style)
        return self._header

    def _refresh_changed(self, old_rows: Sequence[Any], old_cursor: int) -> None:
        """Repaint the lines on screen whose row (or cursor) differs from what they showed."""
        top = self.scroll_offset.y
        for index in range(top, min(max(len(old_rows), len(self._rows)), top + self._page())):
            old = old_rows[index] if index < len(old_rows) else None
            new = self._rows[index] if index < len(self._rows) else None
            if old is not new or (index == old_cursor) != (index == self._cursor):
                self.refresh_lines(index + 1)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            line = self._header_line()
            return line.crop_extend(scroll_x, scroll_x + width, self._style("caseload-table--header"))
        index = scroll_y + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self._style(""))
        line = self._row_line(self._rows[index]).crop_extend(scroll_x, scroll_x + width, None)
        if index == self._cursor:
            # The cursor's colours win over a cell's own (a red `!!` stays readable), as in DataTable.
            segments = Segment.apply_style(list(line), post_style=self._style("caseload-table--cursor"))
            return Strip(segments, line.cell_length)
        component = "caseload-table--odd-row" if index % 2 else "caseload-table--even-row"
        return line.apply_style(self._style(component))
