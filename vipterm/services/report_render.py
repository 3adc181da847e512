"""The monthly report as text (Rich tables), CSV, JSON and one self-contained printable HTML page.

Every format is rendered from a `MonthlyReport` (services/report.py), which holds aggregates
only: no renderer can reach a client's name, alias, date of birth, phone or note. Two options
change what is shown, never what is computed:

* `suppress_small`: counts of 1–4 people (or of their notifications and referrals) are shown as
  "<5" (JSON: null, and the column is listed in the row's "suppressed"); a rate or median over
  a suppressed count is suppressed with it. Staff workload counts are never suppressed.
* `staff_names`: the contacts-per-worker table names staff by their display name; without it
  (the default, for pages that leave the program) they are "Worker 1", "Worker 2", … by contacts.

The JSON shape is stable and documented in docs/metrics.md ("JSON shape").
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import replace
from datetime import date
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vipterm.services.report import (
    REPORT_FORMAT,
    REPORT_VERSION,
    SMALL_CELL_LIMIT,
    UNSPECIFIED_CATEGORY,
    MonthlyReport,
    ReportTable,
    Row,
    month_label,
    running_table,
)

FORMATS = ("text", "csv", "json", "html")
SUPPRESSED_TEXT = f"<{SMALL_CELL_LIMIT}"
PROGRAM_NAME = "Violence Intervention Program"


# --- what a cell shows ---------------------------------------------------------------------------


def suppressed_columns(table: ReportTable, row: Row, suppress_small: bool) -> set[str]:
    """The columns of `row` that are hidden under the small-cell rule."""
    if not suppress_small:
        return set()
    hidden = set()
    for col in table.columns:
        value = row.values.get(col.key)
        if col.kind == "count" and isinstance(value, int) and 0 < value < SMALL_CELL_LIMIT:
            hidden.add(col.key)
    for col in table.columns:
        if col.kind in ("rate", "days") and any(of in hidden for of in col.of):
            hidden.add(col.key)
        # A rate over fewer than five people says too much about each of them.
        if col.kind == "rate" and len(col.of) == 2:
            denominator = row.values.get(col.of[1])
            if isinstance(denominator, int) and 0 < denominator < SMALL_CELL_LIMIT:
                hidden.add(col.key)
    return hidden


def format_value(kind: str, value: Any) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:.0f}%"
    if kind == "days":
        return f"{value:g}"
    return f"{value:,}"


def cell_text(table: ReportTable, row: Row, col_key: str, suppress_small: bool) -> str:
    if col_key in suppressed_columns(table, row, suppress_small):
        return SUPPRESSED_TEXT
    return format_value(table.column(col_key).kind, row.values.get(col_key))


def _shown_rows(table: ReportTable) -> tuple[Row, ...]:
    """Rows a reader sees: the 'no provider recorded' row only when it has someone in it."""
    return tuple(
        r
        for r in table.rows
        if not (table.key == "services" and r.key == UNSPECIFIED_CATEGORY and not any(r.values.values()))
    )


def prepare(report: MonthlyReport, *, staff_names: bool = False) -> MonthlyReport:
    """The report as it leaves the program: staff anonymised unless `staff_names`."""
    if staff_names:
        return report
    table = report.contacts_per_worker
    ranked = sorted(table.rows, key=lambda r: (-(r.values.get("contacts") or 0), r.label, r.key))
    rows = tuple(Row(f"worker-{n}", f"Worker {n}", r.values) for n, r in enumerate(ranked, 1))
    return replace(report, contacts_per_worker=replace(table, rows=rows))


def _sections(report: MonthlyReport) -> tuple[ReportTable, ...]:
    return (report.notifications_by_area, running_table(report), *report.tables[1:])


# --- text ---------------------------------------------------------------------------------------------


def _rich_table(table: ReportTable, suppress_small: bool) -> Table:
    out = Table(title=table.title.upper(), title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
    out.add_column("", no_wrap=True)
    for col in table.columns:
        out.add_column(col.label, justify="right")
    for row in _shown_rows(table):
        out.add_row(row.label, *(cell_text(table, row, c.key, suppress_small) for c in table.columns))
    if table.total is not None:
        out.add_row(
            Text(table.total.label, style="bold"),
            *(Text(cell_text(table, table.total, c.key, suppress_small), style="bold") for c in table.columns),
            end_section=True,
        )
    return out


def _running_text(report: MonthlyReport, suppress_small: bool, months: int = 12) -> Table:
    table = running_table(report)
    out = Table(title="VIP RUNNING SUCCESS RATE", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("month", "left"),
        ("notified", "right"),
        ("engaged", "right"),
        ("rate", "right"),
        ("0 ─── 25 ─── 50 ─── 75 ─── 100%", "left"),
    )
    for name, justify in columns:
        out.add_column(name, justify=justify)
    for row in table.rows[-months:]:
        hidden = suppressed_columns(table, row, suppress_small)
        rate = row.values["rate"]
        bar = "" if rate is None or "rate" in hidden else "█" * round(rate * 30)
        out.add_row(
            row.label, *(cell_text(table, row, c, suppress_small) for c in ("notified", "engaged", "rate")), bar
        )
    return out


def render_text(
    report: MonthlyReport,
    *,
    suppress_small: bool = False,
    staff_names: bool = False,
    width: int = 100,
    color: bool = False,
) -> str:
    report = prepare(report, staff_names=staff_names)
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, color_system="standard" if color else None, highlight=False
    )
    console.print(Text(PROGRAM_NAME.upper(), style="bold"))
    console.print(Text(f"MONTHLY INFORMATIONAL REPORT — {month_label(report.month).upper()}", style="bold"))
    console.print(
        f"Data as of {_day(report.as_of)} · fiscal year from {_day(report.fiscal_year_start)}"
        + (f" · cells under {SMALL_CELL_LIMIT} people shown as {SUPPRESSED_TEXT}" if suppress_small else "")
    )
    if report.partial:
        console.print(
            Text(f"{report.partial_note} — the numbers count only up to that day and will still change", style="bold")
        )
    console.print()
    running = running_table(report)
    parts = [
        (_rich_table(report.notifications_by_area, suppress_small), report.notifications_by_area.definition),
        (
            _running_text(report, suppress_small),
            running.definition + " Last 12 months shown; the CSV, JSON and "
            f"HTML outputs hold every month since {report.first_notification_month or 'the start'}.",
        ),
    ]
    parts += [(_rich_table(t, suppress_small), t.definition) for t in report.tables[1:]]
    for table, definition in parts:
        console.print(table)
        console.print(Text(definition, style="dim"))
        console.print()
    console.print(
        Text(
            "Definitions of every number: docs/metrics.md. Aggregates only: no names, aliases, dates of "
            "birth, phones or notes.",
            style="dim",
        )
    )
    return buffer.getvalue()


# --- CSV ---------------------------------------------------------------------------------------------

CSV_HEADER = ("month", "section", "section_title", "row", "row_label", "column", "column_label", "kind", "value")


def render_csv(report: MonthlyReport, *, suppress_small: bool = False, staff_names: bool = False) -> str:
    """One line per cell (a long table a spreadsheet can pivot); suppressed cells read '<5'."""
    report = prepare(report, staff_names=staff_names)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for table in _sections(report):
        for row in table.all_rows():
            hidden = suppressed_columns(table, row, suppress_small)
            for col in table.columns:
                value = row.values.get(col.key)
                if col.key in hidden:
                    shown = SUPPRESSED_TEXT
                elif value is None:
                    shown = ""
                elif col.kind == "rate":
                    shown = f"{value:.4f}"
                else:
                    shown = f"{value:g}" if isinstance(value, float) else str(value)
                writer.writerow(
                    (report.month_key, table.key, table.title, row.key, row.label, col.key, col.label, col.kind, shown)
                )
    return buffer.getvalue()


# --- JSON --------------------------------------------------------------------------------------------


def report_as_dict(report: MonthlyReport, *, suppress_small: bool = False, staff_names: bool = False) -> dict[str, Any]:
    """The documented, stable JSON shape (docs/metrics.md)."""
    report = prepare(report, staff_names=staff_names)

    def row_dict(table: Any, row: Any) -> dict[str, Any]:
        hidden = suppressed_columns(table, row, suppress_small)
        values = {c.key: (None if c.key in hidden else row.values.get(c.key)) for c in table.columns}
        return {"key": row.key, "label": row.label, "values": values, "suppressed": sorted(hidden)}

    def table_dict(table: Any) -> dict[str, Any]:
        return {
            "title": table.title,
            "unit": table.unit,
            "definition": table.definition,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in table.columns],
            "rows": [row_dict(table, r) for r in table.rows],
            "total": row_dict(table, table.total) if table.total is not None else None,
        }

    running = running_table(report)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "month": report.month_key,
        "as_of": report.as_of.isoformat(),
        "partial": report.partial,
        "partial_as_of": report.partial_as_of.isoformat() if report.partial_as_of else None,
        "fiscal_year_start": report.fiscal_year_start.isoformat(),
        "age_summary_month": report.age_summary_month.strftime("%Y-%m"),
        "first_notification_month": report.first_notification_month,
        "suppress_small": suppress_small,
        "small_cell_limit": SMALL_CELL_LIMIT,
        "staff_names": staff_names,
        "running_success_rate": [
            {"month": r.key, **row_dict(running, r)["values"], "suppressed": row_dict(running, r)["suppressed"]}
            for r in running.rows
        ],
        "tables": {t.key: table_dict(t) for t in report.tables},
    }


def render_json(report: MonthlyReport, *, suppress_small: bool = False, staff_names: bool = False) -> str:
    return (
        json.dumps(
            report_as_dict(report, suppress_small=suppress_small, staff_names=staff_names), indent=2, ensure_ascii=False
        )
        + "\n"
    )


# --- HTML ---------------------------------------------------------------------------------------------

_CSS = """
@page { size: letter; margin: 0.55in 0.6in; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; color: #1b2430; margin: 0;
       font-size: 10pt; line-height: 1.35; background: #fff; }
.page { max-width: 7.3in; margin: 0 auto; }
header.masthead { border-bottom: 4px solid #0b3d62; padding-bottom: 6px; margin-bottom: 8px; display: flex;
                  justify-content: space-between; align-items: flex-end; }
.masthead .program { font-size: 10pt; letter-spacing: .18em; text-transform: uppercase; color: #0b3d62;
                     font-weight: 700; }
.masthead h1 { font-size: 18pt; margin: 2px 0 0; letter-spacing: .02em; text-transform: uppercase; }
.masthead .month { font-size: 15pt; font-weight: 700; color: #c0392b; text-align: right; text-transform: uppercase; }
.masthead .asof { font-size: 8pt; color: #5b6675; text-align: right; }
.intro { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 18px; font-size: 8.2pt; color: #333;
         margin-bottom: 8px; }
.intro h3 { font-size: 8.6pt; margin: 0; color: #0b3d62; text-transform: uppercase; letter-spacing: .06em; }
.intro p { margin: 0 0 4px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 9px 18px; }
section { break-inside: avoid; page-break-inside: avoid; }
section.wide { grid-column: 1 / -1; }
section.compact table { font-size: 8pt; }
h2 { font-size: 10pt; text-transform: uppercase; letter-spacing: .08em; color: #fff; background: #0b3d62;
     padding: 2px 8px; margin: 0 0 4px; }
table { border-collapse: collapse; width: 100%; font-size: 8.6pt; font-variant-numeric: tabular-nums; }
th, td { padding: 1px 6px; border-bottom: 1px solid #dde3ea; }
th { text-align: right; font-size: 8pt; text-transform: uppercase; color: #0b3d62; border-bottom: 2px solid #0b3d62; }
th:first-child, td:first-child { text-align: left; }
td { text-align: right; }
tr.total td { font-weight: 700; border-top: 2px solid #0b3d62; border-bottom: none; }
td.hl, th.hl { background: #eef4f9; }
p.def { font-size: 7.4pt; color: #5b6675; margin: 3px 0 0; line-height: 1.25; }
.big { font-size: 20pt; font-weight: 700; color: #0b3d62; line-height: 1; }
.big small { font-size: 9pt; font-weight: 400; color: #5b6675; }
svg text { font-family: inherit; }
.pagebreak { break-before: page; page-break-before: always; }
footer { margin-top: 10px; border-top: 1px solid #c9d2dc; padding-top: 6px; font-size: 7.6pt; color: #5b6675; }
.note { font-size: 8pt; background: #fff7e0; border-left: 3px solid #e0a800; padding: 4px 8px; margin: 8px 0; }
@media screen { body { background: #e9edf1; } .page { background: #fff; padding: 0.45in 0.55in;
                margin: 16px auto; box-shadow: 0 1px 6px rgba(0,0,0,.15); } }
"""

_INTRO = (
    (
        "Custom notifications",
        "Peer support workers and police officers identify the people most likely to be "
        "involved in gun violence and visit them in person, often with a trusted community leader, to warn of the "
        "consequences of further violence and to offer help.",
    ),
    (
        "Engaging with services",
        "Peer support workers then stay in contact, assess each person's needs and "
        "refer them to services. We measure success by how many of the people given a custom notification go "
        "on to engage with at least one service.",
    ),
)


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(table: ReportTable, suppress_small: bool, highlight: str | None = None) -> str:
    head = "".join(f'<th class="{"hl" if c.key == highlight else ""}">{_esc(c.label)}</th>' for c in table.columns)
    lines = [f"<table><thead><tr><th></th>{head}</tr></thead><tbody>"]
    rows = list(_shown_rows(table))
    for row in rows + ([table.total] if table.total is not None else []):
        cls = ' class="total"' if row is table.total else ""
        cells = "".join(
            f'<td class="{"hl" if c.key == highlight else ""}">'
            f"{_esc(cell_text(table, row, c.key, suppress_small))}</td>"
            for c in table.columns
        )
        lines.append(f"<tr{cls}><td>{_esc(row.label)}</td>{cells}</tr>")
    lines.append("</tbody></table>")
    if table.definition:
        lines.append(f'<p class="def">{_esc(table.definition)}</p>')
    return "".join(lines)


def _running_svg(report: MonthlyReport, suppress_small: bool) -> str:
    """A line chart of the running success rate, 0–100%, one point per month."""
    table = running_table(report)
    width, height, left, right, top, bottom = 640, 128, 38, 12, 6, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    rows = table.rows
    n = max(len(rows) - 1, 1)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Running success rate by month" xmlns="http://www.w3.org/2000/svg">'
    ]
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde3ea" '
            f'stroke-width="1"/><text x="{left - 5}" y="{y + 3:.1f}" font-size="9" text-anchor="end" '
            f'fill="#5b6675">{pct}%</text>'
        )
    points = []
    for i, row in enumerate(rows):
        x = left + plot_w * i / n
        if row.key.endswith("-01") or i == 0 or len(rows) <= 14:
            label = row.key[:4] if row.key.endswith("-01") else date.fromisoformat(row.key + "-01").strftime("%b %y")
            if len(rows) > 14 and not row.key.endswith("-01"):
                label = ""
            if label:
                parts.append(
                    f'<text x="{x:.1f}" y="{height - 8}" font-size="9" text-anchor="middle" '
                    f'fill="#5b6675">{_esc(label)}</text>'
                )
        rate = row.values["rate"]
        if rate is None or "rate" in suppressed_columns(table, row, suppress_small):
            continue
        points.append((x, top + plot_h * (1 - rate)))
    if points:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        area = path + f" L{points[-1][0]:.1f},{top + plot_h:.1f} L{points[0][0]:.1f},{top + plot_h:.1f} Z"
        parts.append(f'<path d="{area}" fill="#0b3d62" fill-opacity="0.08"/>')
        parts.append(f'<path d="{path}" fill="none" stroke="#0b3d62" stroke-width="2"/>')
        x, y = points[-1]
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#c0392b"/>')
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(
    labels_values: list[tuple[str, float | None, str]], *, width: int = 320, bar: int = 11, maximum: float | None = None
) -> str:
    """Horizontal bars: (label, value, text shown at the bar's end)."""
    gap, label_w = 4, 130
    height = len(labels_values) * (bar + gap) + gap
    top = maximum or max([v or 0 for _, v, _ in labels_values] + [1])
    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg" role="img">']
    for i, (label, value, shown) in enumerate(labels_values):
        y = gap + i * (bar + gap)
        length = 0 if not value else (width - label_w - 44) * value / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar - 3}" font-size="9" text-anchor="end" fill="#1b2430">'
            f"{_esc(label)}</text>"
        )
        parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar}" fill="#2e6f9e"/>')
        parts.append(
            f'<text x="{label_w + length + 4:.1f}" y="{y + bar - 3}" font-size="9" fill="#1b2430">{_esc(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _funnel_svg(report: MonthlyReport, suppress_small: bool) -> str:
    table = report.funnel
    items = []
    for row in table.rows:
        hidden = suppressed_columns(table, row, suppress_small)
        value = row.values["ptd"]
        items.append((row.label, None if "ptd" in hidden else value, cell_text(table, row, "ptd", suppress_small)))
    return _bars_svg(items, width=320)


MAX_WORKER_ROWS = 16


def _workers_html(table: ReportTable, suppress_small: bool) -> str:
    """Per worker for a small team; for a large one, how the month's contacts spread over workers."""
    if len(table.rows) <= MAX_WORKER_ROWS:
        return _html_table(table, suppress_small)
    counts = sorted(r.values.get("contacts") or 0 for r in table.rows)
    total = table.total.values if table.total is not None else {}
    middle = (
        counts[len(counts) // 2] if len(counts) % 2 else (counts[len(counts) // 2 - 1] + counts[len(counts) // 2]) / 2
    )
    summary = ReportTable(
        key=table.key,
        title=table.title,
        unit=table.unit,
        definition=table.definition + f" {len(counts)} workers: the CSV and JSON outputs list each one.",
        columns=(table.columns[0],),
        rows=(
            Row("workers", "Workers", {"contacts": len(counts)}),
            Row("with", "Workers with a contact", {"contacts": sum(1 for c in counts if c)}),
            Row("median", "Contacts per worker (median)", {"contacts": middle}),
            Row("max", "Most by one worker", {"contacts": counts[-1]}),
            Row("total", "All contacts", {"contacts": total.get("contacts", 0)}),
            Row("reached", "Contacts that reached the client", {"contacts": total.get("reached", 0)}),
        ),
    )
    return _html_table(summary, suppress_small)


def render_html(report: MonthlyReport, *, suppress_small: bool = False, staff_names: bool = False) -> str:
    """One self-contained page: inline CSS and SVG, no script, no network resource."""
    report = prepare(report, staff_names=staff_names)
    month = month_label(report.month)
    latest = report.running_success[-1] if report.running_success else None
    running_rows = running_table(report)
    latest_row = running_rows.rows[-1] if running_rows.rows else None
    if (
        latest is not None
        and latest_row is not None
        and "rate" not in suppressed_columns(running_rows, latest_row, suppress_small)
        and latest.rate is not None
        and report.first_notification_month is not None
    ):
        headline = (
            f'<div class="big">{latest.rate * 100:.0f}%<small> of the {latest.notified:,} people notified '
            f"since {_esc(month_label(date.fromisoformat(report.first_notification_month + '-01')))} have "
            f"engaged with at least one service</small></div>"
        )
    else:
        headline = '<div class="big">—<small> no notifications delivered yet</small></div>'

    age = report.age_summary

    services = report.services
    shown_services = _shown_rows(services)
    half = (len(shown_services) + 1) // 2
    left = replace(services, rows=shown_services[:half], total=None, definition="")
    right = replace(services, rows=shown_services[half:])

    suppress_note = (
        f'<p class="note">Small numbers are suppressed: counts of 1 to {SMALL_CELL_LIMIT - 1} people '
        f"are shown as “{SUPPRESSED_TEXT}”, with the rates and medians over them.</p>"
        if suppress_small
        else ""
    )
    partial_note = (
        f'<p class="note partial"><strong>{_esc(report.partial_note.capitalize())}</strong>: '
        "the numbers count only up to that day and will still change.</p>\n"
        if report.partial
        else ""
    )
    intro = "".join(f"<div><h3>{_esc(h)}</h3><p>{_esc(p)}</p></div>" for h, p in _INTRO)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(PROGRAM_NAME)} — Monthly informational report — {_esc(month)}</title>
<style>{_CSS}</style>
</head>
<body>
<div class="page">
<header class="masthead">
  <div><div class="program">{_esc(PROGRAM_NAME)}</div><h1>Monthly informational report</h1></div>
  <div><div class="month">{_esc(month)}</div>
  <div class="asof">Data as of {_day(report.as_of)} · fiscal year from {_day(report.fiscal_year_start)}</div></div>
</header>
{partial_note}<div class="intro">{intro}</div>
{suppress_note}
<div class="grid">
<section class="wide"><h2>VIP running success rate</h2>{headline}{_running_svg(report, suppress_small)}
<p class="def">{_esc(running_rows.definition)}</p></section>
<section><h2>{_esc(age.title)}</h2>{_html_table(age, suppress_small, "rate")}</section>
<section><h2>Custom notifications</h2>{_html_table(report.notifications_by_area, suppress_small, "m")}</section>
<section class="wide compact"><h2>Services connected to</h2>
<div class="grid"><div>{_html_table(left, suppress_small, "m")}</div>
<div>{_html_table(right, suppress_small, "m")}</div></div>
</section>
</div>
<div class="pagebreak"></div>
<header class="masthead">
  <div><div class="program">{_esc(PROGRAM_NAME)}</div><h1>From notification to services</h1></div>
  <div><div class="month">{_esc(month)}</div></div>
</header>
<div class="grid">
<section><h2>{_esc(report.funnel.title)}</h2>{_html_table(report.funnel, suppress_small)}
{_funnel_svg(report, suppress_small)}</section>
<section><h2>{_esc(report.closed_loop.title)}</h2>{_html_table(report.closed_loop, suppress_small, "rate")}</section>
<section class="wide"><h2>{_esc(report.time_to_service.title)}</h2>
{_html_table(report.time_to_service, suppress_small)}</section>
<section class="wide"><h2>{_esc(report.after_notification.title)}</h2>
{_html_table(report.after_notification, suppress_small)}</section>
<section class="wide"><h2>{_esc(report.contacts_per_worker.title)} — {_esc(month)}</h2>
{_workers_html(report.contacts_per_worker, suppress_small)}</section>
{_review_html(report, suppress_small)}</div>
<footer>Every number on this page is computed from the program's records as of the last day of the month, with the
definitions published with the program's software (docs/metrics.md). Aggregates only: this page holds no name,
alias, date of birth, phone number or note of any person. Fiscal year to date (FYTD) counts from 1 July.</footer>
</div>
</body>
</html>
"""


def _review_html(report: MonthlyReport, suppress_small: bool) -> str:
    table = report.weekly_review
    if table is None:
        return ""
    return (
        f'<section class="wide"><h2>{_esc(table.title)}</h2>\n{_html_table(table, suppress_small)}'
        f'<p class="def">{_esc(table.definition)}</p></section>\n'
    )


def render(report: MonthlyReport, fmt: str, *, suppress_small: bool = False, staff_names: bool = False) -> str:
    if fmt == "text":
        return render_text(report, suppress_small=suppress_small, staff_names=staff_names)
    if fmt == "csv":
        return render_csv(report, suppress_small=suppress_small, staff_names=staff_names)
    if fmt == "json":
        return render_json(report, suppress_small=suppress_small, staff_names=staff_names)
    if fmt == "html":
        return render_html(report, suppress_small=suppress_small, staff_names=staff_names)
    raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(FORMATS)}")
