"""`vipterm report` (the monthly informational report) and `vipterm import-csv` (a program's history).

    vipterm report --month 2022-11 [--through 2023-06] [--format text|csv|json|html] [--out FILE] [--suppress-small]
                   [--staff-names]
    vipterm import-csv KIND FILE [--dry-run] [--json]

Both only print aggregates or row numbers: never a client's name, alias, birth date, phone or note.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vipterm.commands.common import add_db_argument, emit_json, note, unlock
from vipterm.errors import ExitCode, ValidationError

# Spelled out here so that building the parser imports no service (start-up time); a test checks
# they match services.report_render.FORMATS and services.csv_import.KINDS.
FORMATS = ("text", "csv", "json", "html")
KINDS = ("clients", "notifications", "contacts", "referrals", "outcomes")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="the monthly informational report (aggregates only)",
        description="The monthly informational report for a month, computed as of its last day. "
        "Every number is defined in `vipterm help metrics`.",
    )
    add_db_argument(p)
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="the report's month, e.g. 2022-11")
    p.add_argument(
        "--through",
        metavar="YYYY-MM",
        help="a range: one report for each month from --month through this one (text, csv or json; "
        "csv and json hold them all in one file, with progress on a terminal)",
    )
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write to FILE instead of the terminal")
    p.add_argument(
        "--suppress-small",
        action="store_true",
        help="show counts of 1–4 people as <5 (and the rates over them); the page says so",
    )
    p.add_argument(
        "--staff-names",
        action="store_true",
        help="name workers in the contacts-per-worker table (default: Worker 1, 2, …)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "import-csv",
        help="import a program's history from a spreadsheet (CSV)",
        description="Validate every row of a CSV file and import them all, or none. "
        "Columns: `vipterm help import-csv`; example files: the examples/ folder in "
        "`vipterm help --path`.",
    )
    add_db_argument(p)
    p.add_argument("kind", metavar="KIND", help=f"what the file holds: {', '.join(KINDS)}")
    p.add_argument("file", type=Path, metavar="FILE", help="the CSV file, as a spreadsheet saves it")
    p.add_argument("--dry-run", action="store_true", help="check every row and report problems; write nothing")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=cmd_import_csv)


def _write_out(path: Path, content: str) -> None:
    """The report file, all or nothing; a missing folder or a folder given as the file is refused."""
    from vipterm.store.files import write_atomically

    path = path.expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValidationError(f"the folder {folder} does not exist", field="out")
    if path.is_dir():
        raise ValidationError(f"{path} is a folder", field="out")
    write_atomically(path, content)


def cmd_report(args) -> int:
    from vipterm.commands.progress import progress_for
    from vipterm.services.report import build_reports, month_range, parse_month
    from vipterm.services.report_render import render, render_text

    # A bad month or range is refused before asking for the passphrase.
    months = month_range(args.month, args.through) if args.through else [parse_month(args.month)]
    if len(months) > 1 and args.format == "html":
        raise ValidationError(
            "an HTML report is one month's page: leave out --through, or use --format text, csv or json for a range",
            field="format",
        )
    with unlock(args) as store:
        reports = build_reports(store, months, progress_for(args))
        # Every report leaves an audit entry, whatever its format or destination (staff names
        # and small counts can identify someone): what, not the figures.
        from vipterm.domain import AuditAction
        from vipterm.services.audit import record_audit

        span = reports[0].month_key + (f" through {reports[-1].month_key}" if len(reports) > 1 else "")
        record_audit(
            store,
            AuditAction.EXPORT,
            None,
            f"report {span} {args.format} to {'a file' if args.out else 'the terminal'}"
            + (" with staff names" if args.staff_names else "")
            + (" small counts suppressed" if args.suppress_small else ""),
        )
    options = dict(suppress_small=args.suppress_small, staff_names=args.staff_names)
    if args.format == "text" and args.out is None:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        width = min(os.get_terminal_size().columns, 110) if sys.stdout.isatty() else 100
        sys.stdout.write("\n".join(render_text(r, width=width, color=color, **options) for r in reports))
        return ExitCode.OK
    if len(reports) > 1:
        content = _render_range(reports, args.format, options)
        if args.out is None:
            sys.stdout.write(content)
        else:
            _write_out(args.out, content)
            note(args, f"wrote the {args.format} reports for {span} to {args.out}")
        return ExitCode.OK
    report = reports[0]
    content = render(report, args.format, **options)
    if args.out is None:
        sys.stdout.write(content)
    else:
        _write_out(args.out, content)
        note(args, f"wrote the {args.format} report for {report.month_key} to {args.out}")
    return ExitCode.OK


def _render_range(reports, fmt: str, options: dict) -> str:
    """Several months in one output: CSV rows under one header (each row names its month), a JSON
    list of the monthly reports, or the text reports one after another."""
    import json

    from vipterm.services.report_render import render, report_as_dict

    if fmt == "json":
        return json.dumps([report_as_dict(r, **options) for r in reports], indent=2, ensure_ascii=False) + "\n"
    pages = [render(r, fmt, **options) for r in reports]
    if fmt == "csv":
        return pages[0] + "".join(page.split("\n", 1)[1] for page in pages[1:])
    return "\n".join(pages)


def cmd_import_csv(args) -> int:
    """The result (summary, problems, duplicates) on stdout; progress on stderr (a terminal only)."""
    from vipterm.commands.progress import progress_for
    from vipterm.services.csv_import import ImportStatus, import_csv, parse_kind

    kind = parse_kind(args.kind)
    if not args.file.exists():
        raise ValidationError(f"no file at {args.file}", field="file")
    with unlock(args) as store:
        result = import_csv(store, kind, args.file, dry_run=args.dry_run, progress=progress_for(args))
        clock = store.clock
    if args.json:
        emit_json(result.as_dict(), clock)
    else:
        for line in import_lines(result):
            print(line)
    return ExitCode.USAGE if result.status is ImportStatus.REFUSED else ExitCode.OK


def _row_ranges(rows: list[int]) -> str:
    """Row numbers as ranges: `2-5, 9, 12-40` (a re-imported file can repeat 50,000 rows)."""
    parts: list[str] = []
    ordered = sorted(rows)
    start = prev = ordered[0]
    for number in ordered[1:] + [None]:
        if number is not None and number == prev + 1:
            prev = number
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if number is not None:
            start = prev = number
    return ", ".join(parts)


def import_lines(result) -> list[str]:
    """What import-csv prints: each problem, the duplicates set aside, then one summary line."""
    from vipterm.services.csv_import import ImportStatus

    lines = [str(error) for error in result.errors]
    lines += [str(d) for d in result.duplicates if d.repeats_row is not None]
    in_database = [d.row for d in result.duplicates if d.repeats_row is None]
    if in_database:
        lines.append(
            f"already in the database, skipped: row{'s' if len(in_database) > 1 else ''} {_row_ranges(in_database)}"
        )
    duplicates = len(result.duplicates)
    skipped = f"; {duplicates} duplicate row(s) skipped" if duplicates else ""
    if result.status is ImportStatus.REFUSED:
        where = (
            f"in {result.rows_with_problems} of {result.rows} row(s)" if result.rows_with_problems else "in the header"
        )
        lines.append(f"{len(result.errors)} problem(s) {where}; nothing was imported")
    elif result.status is ImportStatus.CHECKED:
        lines.append(
            f"{result.rows} {result.kind} row(s) checked: no problems, {result.new_rows} new{skipped} "
            "(dry run: nothing was written)"
        )
    else:
        lines.append(f"imported {result.written} {result.kind} row(s){skipped}")
    return lines
