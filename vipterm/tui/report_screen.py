"""The monthly report in the terminal: a month picker, one tab per section, the running success
rate as a chart, and a drill-down from any count to the pseudonymous clients behind it.

`ReportScreen(month=None)` reads the app's store (`VipScreen.store`; the app opens it with `R`).
The report and every drill-down are computed by `services.report` in thread workers that post
messages back, so the screen never waits on the database; a worker that fails goes through the
app's one error handler to the status line, and the keys keep working. The drill-down lists pseudonyms,
age groups, areas and statuses only: never a name, even when the app's name mask is off.

Keys: [ / ] previous / next month, g go to a month (type YYYY-MM, Enter), Enter on a count
lists its clients, Tab / Shift+Tab between sections, Escape back.
"""

from __future__ import annotations

from datetime import date, timedelta

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from vipterm import domain
from vipterm.errors import VipError
from vipterm.services.report import (
    RUNNING_KEY,
    DrillClient,
    MonthlyReport,
    ReportTable,
    add_months,
    build_report,
    clients_behind,
    month_key,
    month_label,
    parse_month,
)
from vipterm.services.report_render import format_value
from vipterm.tui.base import VipModal, VipScreen
from vipterm.tui.widgets import HandsOnField, HandsOnTable

# (tab id, tab title, table key) in the order of the printed report.
SECTIONS = (
    ("notifications_by_area", "Notifications", "notifications_by_area"),
    ("running", "Success rate", RUNNING_KEY),
    ("age_summary", "Age", "age_summary"),
    ("services", "Services", "services"),
    ("funnel", "Funnel", "funnel"),
    ("closed_loop", "Referrals", "closed_loop"),
    ("time_to_service", "Timing", "time_to_service"),
    ("after_notification", "After", "after_notification"),
    ("contacts_per_worker", "Workers", "contacts_per_worker"),
    ("weekly_review", "Review", "weekly_review"),
)


class ReportLoaded(Message):
    def __init__(self, report: MonthlyReport) -> None:
        super().__init__()
        self.report = report


class DrillLoaded(Message):
    def __init__(self, title: str, clients: list[DrillClient]) -> None:
        super().__init__()
        self.title = title
        self.clients = clients


class SectionTable(HandsOnTable):
    """One report table; Enter on a count lists the clients behind it. `g` moves the focus to the
    month field at once, the keys typed with it following (`widgets.HandsOnTable`): "g2025-03⏎"
    typed fast opens March 2025, where the table took the digits and Enter drilled into a count."""

    def __init__(self, **kwargs) -> None:
        super().__init__(focus_actions={"goto_month"}, **kwargs)


class DrillDownScreen(VipModal[None]):
    """The pseudonymous clients behind one count."""

    CLOSE_ON_LOCK = True
    BINDINGS = [Binding("escape", "dismiss", "back"), Binding("q", "dismiss", "back", show=False)]
    DEFAULT_CSS = """
    DrillDownScreen { align: center middle; }
    DrillDownScreen > Vertical { width: 90%; max-width: 90; height: 85%; border: round $accent;
                                  background: $surface; padding: 0 1; }
    DrillDownScreen #drill-title { text-style: bold; height: auto; }
    DrillDownScreen DataTable { height: 1fr; }
    """

    def __init__(self, title: str, clients: list[DrillClient]) -> None:
        super().__init__()
        self.title_text = title
        self.clients = clients

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self.title_text} — {len(self.clients):,} client(s)", id="drill-title")
            yield DataTable(id="drill-table", cursor_type="row", zebra_stripes=True)
            yield Static("pseudonyms only · Escape to go back", classes="dim")

    def on_mount(self) -> None:
        table = self.query_one("#drill-table", DataTable)
        table.add_columns("pseudonym", "age group", "area", "status")
        for client in self.clients:
            table.add_row(
                client.pseudonym,
                domain.AgeGroup.label_of(client.age_group),
                domain.AreaCommand.label_of(client.area_command),
                domain.ClientStatus.label_of(client.status),
                key=client.client_id,
            )
        table.focus()


class ReportScreen(VipScreen):
    """The monthly informational report for one month, computed as of its last day."""

    HELP_KEYS = (
        ("enter", "list the clients behind a count"),
        ("tab / shift+tab", "next / previous section"),
        ("↑ ↓ ← →", "move between counts"),
    )

    BINDINGS = [
        Binding("escape", "back", "back", id="report_back"),
        Binding("left_square_bracket", "month(-1)", "prev month", id="report_prev_month"),
        Binding("right_square_bracket", "month(1)", "next month", id="report_next_month"),
        Binding("g", "goto_month", "go to month", id="report_goto_month"),
        Binding("enter", "drill", "clients", show=False, id="report_drill"),
        Binding("f5", "reload", "reload", show=False, id="report_reload"),
    ]
    DEFAULT_CSS = """
    ReportScreen #report-head { height: auto; padding: 0 1; }
    ReportScreen #report-title { width: 1fr; text-style: bold; }
    ReportScreen #month-input { width: 14; display: none; }
    ReportScreen #month-input.editing { display: block; }
    ReportScreen #report-status { height: 1; padding: 0 1; color: $text-muted; }
    ReportScreen #report-definition { height: auto; padding: 0 1; color: $text-muted; }
    ReportScreen TabbedContent { height: 1fr; }
    ReportScreen SectionTable { height: 1fr; }
    ReportScreen #running-chart { height: 1fr; min-height: 8; }
    ReportScreen #running-pane SectionTable { height: 8; }
    """

    def __init__(self, month: date | str | None = None) -> None:
        super().__init__()
        # None: the last whole month, decided at mount by the program clock.
        self.month: date | None = (
            parse_month(month) if isinstance(month, str) else month.replace(day=1) if month is not None else None
        )
        self.report: MonthlyReport | None = None

    def _today(self) -> date:
        """Today in the program time zone (the store's clock, which tests freeze)."""
        return self.store.clock.today() if self.store is not None else self.app.today()

    # --- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="report-head"):
            yield Static("", id="report-title")
            yield HandsOnField(placeholder="YYYY-MM", id="month-input", max_length=7, leave=self._leave_month)
        yield Static("", id="report-status")
        with TabbedContent(id="report-tabs"):
            for tab_id, title, key in SECTIONS:
                with TabPane(title, id=f"{tab_id}-pane" if key == RUNNING_KEY else tab_id):
                    if key == RUNNING_KEY:
                        yield PlotextPlot(id="running-chart")
                    yield SectionTable(id=f"table-{key}", cursor_type="cell", zebra_stripes=True)
        yield Static("", id="report-definition")
        yield Footer()

    def on_mount(self) -> None:
        if self.month is None:
            self.month = add_months(self._today().replace(day=1), -1)  # the last whole month
        self.load()

    def _show_title(self, status: str = "computing…", report: MonthlyReport | None = None) -> None:
        title = Text(
            f"Monthly report — {month_label(self.month)} "
            f"(as of {add_months(self.month, 1) - timedelta(days=1):%Y-%m-%d})"
        )
        if report is not None and report.partial:
            # This month or a later one: the numbers count only up to today and will change.
            title.append(f" · {report.partial_note}", style="bold reverse")
        self.query_one("#report-title", Static).update(title)
        if status is not None:
            self.query_one("#report-status", Static).update(status)

    # --- loading ---------------------------------------------------------------------------------

    def load(self) -> None:
        self._show_title()
        if self.store is not None:
            self._compute(self.store, self.month)

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def _compute(self, store, month: date) -> None:
        self.post_message(ReportLoaded(build_report(store, month)))

    def on_report_loaded(self, message: ReportLoaded) -> None:
        report = message.report
        if report.month != self.month:
            return  # an older month's result arriving after the user moved on
        self.report = report
        self._show_title(status=None, report=report)
        for _tab_id, _title, key in SECTIONS:
            self._fill(self.query_one(f"#table-{key}", SectionTable), report.table(key))
        self._draw_chart(report)
        self.query_one("#report-status", Static).update(
            f"fiscal year from {report.fiscal_year_start:%Y-%m-%d} · age summary for "
            f"{month_label(report.age_summary_month)} · Enter on a count lists its clients"
        )
        self._show_definition()

    def worker_failed(self, error: BaseException, message: str) -> bool:
        # In place of "computing…" / "finding the clients…": what went wrong; the keys still work.
        self.query_one("#report-status", Static).update(Text(message, style="bold red"))
        return True

    def _fill(self, table: SectionTable, section: ReportTable) -> None:
        table.clear(columns=True)
        table.add_column("", key="label")
        for col in section.columns:
            table.add_column(col.label, key=col.key)
        rows = section.all_rows()
        if section.key == RUNNING_KEY:
            rows = tuple(reversed(rows))  # latest month first
        for row in rows:
            label = Text(row.label, style="bold") if row is section.total else row.label
            cells = [Text(format_value(c.kind, row.values.get(c.key)), justify="right") for c in section.columns]
            table.add_row(label, *cells, key=row.key)
        if len(section.columns):
            table.move_cursor(row=0, column=1)

    def _draw_chart(self, report: MonthlyReport) -> None:
        chart = self.query_one("#running-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        points = [(i, p.rate * 100) for i, p in enumerate(report.running_success) if p.rate is not None]
        plt.title("Running success rate: notified people engaged with a service (%)")
        if points:
            plt.plot([x for x, _ in points], [y for _, y in points], marker="braille")
            ticks = [(i, p.month[:4]) for i, p in enumerate(report.running_success) if p.month.endswith("-01")]
            if not ticks:
                ticks = [(0, report.running_success[0].month)]
            plt.xticks([i for i, _ in ticks], [label for _, label in ticks])
        plt.ylim(0, 100)
        plt.yticks([0, 25, 50, 75, 100])
        chart.refresh()

    # --- moving around -------------------------------------------------------------------------

    def action_month(self, step: int) -> None:
        self.month = add_months(self.month, step)
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_goto_month(self) -> None:
        field = self.query_one("#month-input", Input)
        field.value = month_key(self.month)
        field.add_class("editing")
        self.set_focus(field)  # at once: the table hands it the rest of the burst

    def _leave_month(self, event: events.Key) -> Widget | None:
        """Enter opens the month typed (a mistyped one is said and stays to correct); Escape
        closes the field. Either goes back to the table, in the field's key handler, so the keys
        typed after it (`]`, arrows) act on the report (`widgets.HandsOnField`)."""
        field = self.query_one("#month-input", Input)
        if event.key == "enter":
            try:
                month = parse_month(field.value)
            except VipError as exc:
                self.query_one("#report-status", Static).update(Text(exc.message, style="bold red"))
                event.stop()
                event.prevent_default()
                return None
            self.month = month
            self.load()
        elif event.key != "escape":
            return None
        field.remove_class("editing")
        return self.query_one(TabbedContent).active_pane.query_one(SectionTable)

    def action_back(self) -> None:
        field = self.query_one("#month-input", Input)
        if field.has_class("editing"):
            field.remove_class("editing")
            return
        self.app.pop_screen()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self._show_definition()
        table = event.pane.query(SectionTable)
        if table:
            table.first().focus()

    def _active_key(self) -> str:
        pane = self.query_one(TabbedContent).active_pane
        table = pane.query_one(SectionTable)
        return table.id.removeprefix("table-")

    def _show_definition(self) -> None:
        if self.report is None:
            return
        section = self.report.table(self._active_key())
        self.query_one("#report-definition", Static).update(section.definition)

    # --- drill-down ----------------------------------------------------------------------------

    @on(DataTable.CellSelected)
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self._drill(event.data_table, event.coordinate)

    def action_drill(self) -> None:
        focused = self.focused
        if isinstance(focused, SectionTable):
            self._drill(focused, focused.cursor_coordinate)

    def _drill(self, table: DataTable, coordinate) -> None:
        if self.report is None or not isinstance(table, SectionTable):
            return
        row_key, col_key = table.coordinate_to_cell_key(coordinate)
        if col_key.value == "label":
            return
        key = table.id.removeprefix("table-")
        section = self.report.table(key)
        column = section.column(col_key.value)
        if column.kind == "work" and col_key.value != "clients" and key == "contacts_per_worker":
            column_key = "clients"  # a count of contacts drills to the clients contacted
        else:
            column_key = col_key.value
        row = section.row(row_key.value)
        title = f"{section.title}: {row.label} · {column.label}"
        if self.store is None:
            return
        self.query_one("#report-status", Static).update("finding the clients…")
        self._load_drill(self.store, self.month, key, row_key.value, column_key, title)

    @work(thread=True, exclusive=True, exit_on_error=False, group="drill")
    def _load_drill(self, store, month: date, table_key: str, row_key: str, column_key: str, title: str) -> None:
        self.post_message(DrillLoaded(title, clients_behind(store, month, table_key, row_key, column_key)))

    def on_drill_loaded(self, message: DrillLoaded) -> None:
        self.query_one("#report-status", Static).update("")
        self.app.push_screen(DrillDownScreen(message.title, message.clients))

    # --- lock --------------------------------------------------------------------------------------

    def after_unlock(self) -> None:
        self.load()
