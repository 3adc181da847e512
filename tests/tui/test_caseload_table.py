"""The caseload's line-API table under Pilot, on thousands of rows: every row reachable by the keys,
only the lines on screen drawn, each row's line built once and kept while the row is the same."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App

from vipterm.tui.caseload_table import CaseloadTable, Column

ROWS = 5000


@dataclass(frozen=True)
class Row:
    key: str
    name: str
    status: str


def _rows(n: int = ROWS) -> list[Row]:
    return [Row(f"c{i:05d}", f"Person {i:05d}", "active" if i % 3 else "notified") for i in range(n)]


class TableApp(App):
    CSS = "CaseloadTable { height: 1fr; }"

    def __init__(self, rows: list[Row]) -> None:
        super().__init__()
        self.rows = rows
        self.selected: list[str] = []

    def compose(self):
        yield CaseloadTable(lambda r: [r.key, r.name, r.status], lambda r: r.key)

    def on_mount(self) -> None:
        table = self.query_one(CaseloadTable)
        table.set_columns([Column("id", "id", 8), Column("name", "name", 14), Column("status", "status", 10)])
        table.set_rows(self.rows)
        table.focus()

    def on_caseload_table_row_selected(self, message: CaseloadTable.RowSelected) -> None:
        self.selected.append(message.table.current.key)


def painted(table: CaseloadTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


async def test_every_row_of_thousands_is_reachable_and_only_a_screenful_is_drawn():
    rows = _rows()
    app = TableApp(rows)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(CaseloadTable)
        assert table.row_count == ROWS
        lines = painted(table)
        assert lines[0].split() == ["id", "name", "status"]
        assert lines[1].split()[:3] == ["c00000", "Person", "00000"]
        assert len(table.lines_built) <= table.size.height
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.current is rows[-1]
        assert painted(table)[-1].split()[0] == rows[-1].key
        assert len(table.lines_built) <= 2 * table.size.height, "the rows in between were never drawn"
        await pilot.press("enter")
        assert app.selected == [rows[-1].key]
        # Page keys move by a screenful; up from the top and down from the bottom stay put.
        await pilot.press("ctrl+home", "pagedown")
        assert table.cursor_row == table.size.height - 1  # a page: the rows under the header
        await pilot.press("ctrl+home", "up")
        assert table.cursor_row == 0
        await pilot.press("ctrl+end", "down")
        assert table.cursor_row == ROWS - 1
        # A click puts the cursor on a row; a click on the row under the cursor selects it.
        await pilot.press("ctrl+home")
        await pilot.click(CaseloadTable, offset=(3, 4))  # line 0 is the header: line 4 is row 3
        assert table.cursor_row == 3 and app.selected == [rows[-1].key]
        await pilot.click(CaseloadTable, offset=(3, 4))
        assert app.selected == [rows[-1].key, rows[3].key]
        # The cursor line is built once: moving over rows repaints them from their cached lines.
        built = sum(table.lines_built.values())
        await pilot.press("up", "up", "down", "down")
        await pilot.pause()
        assert sum(table.lines_built.values()) == built


async def test_new_rows_redraw_only_the_changed_row():
    rows = _rows(300)
    app = TableApp(rows)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(CaseloadTable)
        table.move_cursor(row=5)
        await pilot.pause()
        before = dict(table.lines_built)
        # Row 3 changes (a new object) and moves to the top, as a saved contact's row can.
        changed = Row(rows[3].key, rows[3].name, "engaged")
        table.set_rows([changed] + rows[:3] + rows[4:])
        await pilot.pause()
        assert table.current is rows[5], "the cursor stays on its row"
        assert painted(table)[1].split()[-1] == "engaged"
        after = dict(table.lines_built)
        assert after.pop(changed.key) == before.pop(changed.key) + 1
        assert after == before, "no other row's line was built again"
        # A narrower list (a filter) and back: every row on screen was drawn before, none rebuilt.
        table.set_rows(rows[100:110], cursor=0, top=True)
        await pilot.pause()
        table.set_rows([changed] + rows[:3] + rows[4:], cursor=0, top=True)
        await pilot.pause()
        assert painted(table)[2].split()[0] == rows[0].key
        assert {k: n for k, n in table.lines_built.items() if k in before} == {
            k: n for k, n in before.items() if k in table.lines_built
        }


def _tracked_objects_under(root: object) -> int:
    """Objects the garbage collector tracks (and walks at each full collection) reachable from
    `root`, the rows themselves and styles left out."""
    import gc

    from rich.style import Style

    seen: set[int] = set()
    stack = [root]
    count = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, Row, Style)):
            continue
        seen.add(id(obj))
        if gc.is_tracked(obj):
            count += 1
            stack.extend(gc.get_referents(obj))
    return count


async def test_a_drawn_row_is_kept_in_a_few_objects_not_a_strip_and_its_caches():
    # Every full garbage collection walks what the table keeps: a worker who pages through
    # thousands of clients must not leave dozens of objects per row behind.
    app = TableApp(_rows(600))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(CaseloadTable)
        for _ in range(40):  # page through every row: each is drawn (and striped, cropped) once
            await pilot.press("pagedown")
            painted(table)  # each page drawn, even when a busy machine coalesces the paints
        kept = table._lines
        assert len(kept) == 600
        per_row = _tracked_objects_under(kept) / 600
    assert per_row < 8, per_row
