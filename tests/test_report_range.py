"""A report over a range of months: the same numbers as each month alone, progress one step per
month, and `vipterm report --through` writing them all in one CSV or JSON output."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from tests.conftest import DEMO_PASSPHRASE
from tests.test_cli import vipterm
from vipterm.errors import ValidationError
from vipterm.progress import Progress, ProgressTask
from vipterm.services.database import open_store
from vipterm.services.report import build_report, build_reports, month_range
from vipterm.services.report_render import render_csv


class Recorded(Progress):
    """Keeps every task it handed out, to see what the service reported."""

    def __init__(self) -> None:
        self.tasks: list[ProgressTask] = []

    def task(self, label: str, total: int | None = None) -> ProgressTask:
        self.tasks.append(ProgressTask(label, total))
        return self.tasks[-1]


def test_month_range_includes_both_ends_and_refuses_a_backwards_one():
    assert month_range("2022-11", "2023-02") == [
        date(2022, 11, 1),
        date(2022, 12, 1),
        date(2023, 1, 1),
        date(2023, 2, 1),
    ]
    assert month_range("2022-11", "2022-11") == [date(2022, 11, 1)]
    with pytest.raises(ValidationError, match="ends .*2022-10.* before it starts .*2022-11"):
        month_range("2022-11", "2022-10")


def test_a_range_is_each_month_alone_with_progress_per_month(example_copy):
    store = open_store(example_copy, DEMO_PASSPHRASE)
    try:
        progress = Recorded()
        months = month_range("2022-09", "2022-11")
        reports = build_reports(store, months, progress)
        assert [r.month_key for r in reports] == ["2022-09", "2022-10", "2022-11"]
        for report, month in zip(reports, months):
            assert render_csv(report) == render_csv(build_report(store, month))
        [task] = progress.tasks
        assert (task.total, task.completed) == (3, 3)
    finally:
        store.close()


def test_cli_range_as_csv_and_json(example_copy, tmp_path):
    result = vipterm(
        "report",
        "--db",
        str(example_copy),
        "--month",
        "2022-10",
        "--through",
        "2022-11",
        "--format",
        "csv",
        passphrase=DEMO_PASSPHRASE,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][0] == "month" and sum(row[0] == "month" for row in rows) == 1  # one header
    assert sorted({row[0] for row in rows[1:]}) == ["2022-10", "2022-11"]

    target = tmp_path / "range.json"
    result = vipterm(
        "report",
        "--db",
        str(example_copy),
        "--month",
        "2022-09",
        "--through",
        "2022-11",
        "--format",
        "json",
        "--out",
        str(target),
        passphrase=DEMO_PASSPHRASE,
    )
    assert result.returncode == 0, result.stderr
    assert [r["month"] for r in json.loads(target.read_text())] == ["2022-09", "2022-10", "2022-11"]
    assert "2022-09 through 2022-11" in result.stderr


def test_cli_range_as_text_prints_each_month(example_copy):
    result = vipterm(
        "report", "--db", str(example_copy), "--month", "2022-10", "--through", "2022-11", passphrase=DEMO_PASSPHRASE
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.index("REPORT — OCTOBER 2022") < result.stdout.index("REPORT — NOVEMBER 2022")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--through", "2022-10"], "before it starts"),
        (["--through", "2022-12", "--format", "html"], "HTML report is one month"),
    ],
)
def test_cli_refuses_a_bad_range_in_one_line(example_copy, extra, message):
    result = vipterm("report", "--db", str(example_copy), "--month", "2022-11", *extra, passphrase=DEMO_PASSPHRASE)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "zone", ["America/Denver", "Asia/Kolkata", "Australia/Lord_Howe", "America/Havana", "Pacific/Kiritimati", "UTC"]
)
def test_the_reports_local_day_is_the_clocks_around_every_change_of_offset(store, zone):
    """The report's SQL `local_day()` (one zone lookup per UTC day) gives the program clock's
    local date for stored times around midnight and around every daylight-saving change."""
    import json
    from datetime import datetime, timedelta

    from sqlalchemy import text

    from vipterm.services.report import _program_day_functions
    from vipterm.timekeeping import ProgramClock

    clock = ProgramClock(zone)
    stamps = []
    start = datetime(2025, 1, 1)
    for day in range(0, 400):
        for hour in range(24):
            for minute in (0, 29, 30, 44, 45):
                moment = start + timedelta(days=day, hours=hour, minutes=minute)
                stamps += [moment, moment - timedelta(microseconds=1)]
    with store.read() as session:
        _program_day_functions(session, clock)
        got = (
            session.execute(
                text("SELECT local_day(value) FROM json_each(:stamps) ORDER BY key"),
                {"stamps": json.dumps([m.isoformat(sep=" ", timespec="microseconds") for m in stamps])},
            )
            .scalars()
            .all()
        )
    assert got == [clock.local_day(m).isoformat() for m in stamps]
