"""The report screen under Pilot, in the real app on a real encrypted database: `R` opens it on the
last whole month, its tables hold the service's numbers, the month picker moves, and a count drills
down to exactly the pseudonymous clients behind it — never a name."""

from __future__ import annotations

from sqlalchemy import text
from textual.widgets import DataTable

from tests.tui_support import make_app, screen_text, settle
from vipterm.services.report import build_report, clients_behind
from vipterm.tui.report_screen import DrillDownScreen, ReportScreen, SectionTable


def cell(table: DataTable, row_key: str, col_key: str) -> str:
    return str(table.get_cell(row_key, col_key))


async def open_report(pilot) -> ReportScreen:
    await settle(pilot)
    await pilot.press("R")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ReportScreen)
    return screen


async def test_R_opens_the_last_whole_month_with_the_services_numbers(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        assert screen.month.isoformat() == "2026-10-01"  # the app's clock says 23 November 2026
        expected = build_report(tui_store, "2026-10")
        areas = screen.query_one("#table-notifications_by_area", SectionTable)
        for row in expected.notifications_by_area.all_rows():
            for col in ("m", "m1", "m2", "fytd"):
                assert cell(areas, row.key, col) == f"{row.values[col]:,}"
        age = screen.query_one("#table-age_summary", SectionTable)
        assert cell(age, "total", "notified") == str(expected.age_summary.total.values["notified"])
        running = screen.query_one("#table-running_success_rate", SectionTable)
        assert running.row_count == len(expected.running_success)
        assert cell(running, "2026-10", "engaged") == f"{expected.running_success[-1].engaged:,}"
        assert "Monthly report — October 2026" in screen_text(screen)


async def test_month_picker_keys_and_typed_month(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert screen.month.isoformat() == "2026-09-01" and screen.report.month_key == "2026-09"
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert screen.report.month_key == "2026-11"
        await pilot.press("g")
        await pilot.pause()
        field = screen.query_one("#month-input")
        field.value = ""
        await pilot.press(*"2025-07", "enter")
        await settle(pilot)
        assert screen.report.month_key == "2025-07" and screen.report.fiscal_year_start.isoformat() == "2025-07-01"
        areas = screen.query_one("#table-notifications_by_area", SectionTable)
        total = screen.report.notifications_by_area.total.values
        assert total["m"] == total["fytd"]  # July: the fiscal year to date is the month itself
        assert cell(areas, "total", "fytd") == f"{total['fytd']:,}"
        await pilot.press("g")
        await pilot.pause()
        field.value = ""
        await pilot.press(*"2025-13", "enter")
        await settle(pilot)
        assert "YYYY-MM" in screen_text(screen) and screen.report.month_key == "2025-07"


def _burst(app, keys) -> None:
    """Post keys all at once, before the app handles the first (a paste, a fast typist, tmux
    send-keys): Textual queues them all at the widget focused on arrival."""
    from bench.tui_driver import send_key

    for key in keys:
        send_key(app, key)


async def test_a_month_typed_in_one_burst_after_g_opens_that_month(tui_path, tui_store):
    # "g2025-07⏎]" sent at once: `g`'s binding moved the focus to the month field only after the
    # table had taken the digits and drilled into a count on Enter. And Escape hid the field but
    # left the focus in it: `]` after it was typed there instead of moving a month on.
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        field = screen.query_one("#month-input")
        _burst(app, ["g", *"2025-07", "enter", "right_square_bracket"])
        await settle(pilot)
        assert app.screen is screen, "no drill-down opened"
        assert screen.report.month_key == "2025-08"
        assert not field.has_class("editing") and isinstance(app.focused, SectionTable)
        await pilot.press("g")
        await settle(pilot)
        assert field.has_focus
        _burst(app, ["escape", "right_square_bracket"])
        await settle(pilot)
        assert screen.report.month_key == "2025-09"
        assert not field.has_class("editing") and isinstance(app.focused, SectionTable)


async def test_drill_down_lists_the_clients_behind_a_count_by_pseudonym_only(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        areas = screen.query_one("#table-notifications_by_area", SectionTable)
        areas.focus()
        total_row = areas.get_row_index("total")
        areas.move_cursor(row=total_row, column=4)  # the FYTD total
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DrillDownScreen)
        expected = clients_behind(tui_store, "2026-10", "notifications_by_area", "total", "fytd")
        shown = modal.query_one("#drill-table", DataTable)
        assert list(k.value for k in shown.rows) == [c.client_id for c in expected]
        assert len(expected) > 0
        assert [str(shown.get_row_at(i)[0]) for i in range(shown.row_count)] == [c.pseudonym for c in expected]
        with tui_store.read() as session:
            names = {
                f"{first} {last}"
                for first, last in session.execute(text("SELECT first_name, last_name FROM client_identity"))
            }
        visible = screen_text(modal)
        assert not any(name in visible for name in names)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ReportScreen)


async def test_rate_cells_drill_to_their_numerator_and_tabs_show_definitions(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_report(pilot)
        await pilot.press("tab")  # the tab bar → next section with the arrow keys
        tabs = screen.query_one("#report-tabs")
        tabs.active = "age_summary"
        await settle(pilot)
        assert "two months back" in screen_text(screen)
        age = screen.query_one("#table-age_summary", SectionTable)
        age.focus()
        age.move_cursor(row=age.get_row_index("total"), column=3)  # success rate
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DrillDownScreen)
        engaged = clients_behind(tui_store, "2026-10", "age_summary", "total", "engaged")
        assert modal.query_one("#drill-table", DataTable).row_count == len(engaged)
