"""The report's outputs: every format aggregates only, the JSON shape, the CLI, and the HTML in Chromium."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSPHRASE, open_known
from tests.test_cli import vipterm
from vipterm.domain import utcnow
from vipterm.services import records
from vipterm.services.report import build_report
from vipterm.services.report_render import FORMATS, SUPPRESSED_TEXT, render, report_as_dict

SENTINEL_NOTE = "Sentinel note: met behind the laundromat on Zuni"
SENTINEL_NAME = ("Quetzalli", "Abeyta-Oyelaran", "Sentinelito", "505-555-0199")


@pytest.fixture
def example_store(example_copy: Path):
    store = open_known(example_copy, DEMO_PASSPHRASE)
    # One person whose identity and note are certainly in the data, dated inside a report month.
    first, last, aka, phone = SENTINEL_NAME
    client = records.create_client(
        store,
        records.ClientDraft(
            first_name=first,
            last_name=last,
            aka=aka,
            phone=phone,
            date_of_birth=date(2001, 2, 3),
            area_command="valley",
            identified_on=date(2022, 11, 2),
            confirm_duplicate=True,
        ),
    )
    records.record_notification(
        store,
        records.NotificationDraft(
            client_id=client.id, attempted_on=date(2022, 11, 3), note=SENTINEL_NOTE, team=[("Rosa", "peer_support")]
        ),
    )
    records.log_contact(
        store,
        records.ContactDraft(
            client_id=client.id, occurred_at=datetime(2022, 11, 4, 15), note=SENTINEL_NOTE, outcome="reached"
        ),
    )
    records.record_outcome(store, client.id, "re_arrest", date(2022, 11, 20), note=SENTINEL_NOTE)
    yield store
    store.close()


def _identities(store) -> dict[str, set[str]]:
    """Every identifying string in the database, by kind."""
    with store.read() as session:
        people = session.execute(
            text("SELECT first_name, last_name, aka, date_of_birth, phone FROM client_identity")
        ).all()
        notes = set()
        for table in ("notification_attempt", "contact", "assessment", "outcome", "follow_up", "provider"):
            notes |= {n for (n,) in session.execute(text(f"SELECT note FROM {table} WHERE note != ''"))}
        notes |= {f for (f,) in session.execute(text("SELECT feedback FROM referral WHERE feedback != ''"))}
    found: dict[str, set[str]] = {
        "full name": set(),
        "first name": set(),
        "last name": set(),
        "alias": set(),
        "birth date": set(),
        "phone": set(),
        "note": notes,
    }
    for first, last, aka, dob, phone in people:
        found["full name"].add(f"{first} {last}".strip())
        found["first name"].add(first)
        found["last name"].add(last)
        if aka:
            found["alias"].add(aka)
        if phone:
            found["phone"].add(phone)
        if dob:
            day = date.fromisoformat(str(dob)[:10])
            found["birth date"] |= {day.isoformat(), f"{day.month}/{day.day}/{day.year}", f"{day:%m/%d/%Y}"}
    return {kind: {v for v in values if v} for kind, values in found.items()}


def _leaks(output: str, identities: dict[str, set[str]], kinds) -> list[str]:
    problems = []
    for kind in kinds:
        for value in identities[kind]:
            # The plain substring test first (thousands of values per output): only a value that
            # occurs at all needs the word-boundary pattern.
            if value in output and re.search(r"(?<![\w-])" + re.escape(value) + r"(?![\w-])", output):
                problems.append(f"{kind} found")
    return problems


def test_every_format_is_aggregates_only(example_store):
    identities = _identities(example_store)
    assert SENTINEL_NAME[0] in identities["first name"] and SENTINEL_NOTE in identities["note"]
    assert len(identities["full name"]) > 500 and identities["phone"] and identities["birth date"]
    for month in ("2022-11", "2022-09", utcnow().strftime("%Y-%m")):
        report = build_report(example_store, month)
        # The sentinel is counted (so the check looks where the person is), yet never named.
        if month == "2022-11":
            assert report.notifications_by_area.row("valley").values["m"] >= 1
        for fmt in FORMATS:
            for suppress in (False, True):
                output = render(report, fmt, suppress_small=suppress)
                leaks = _leaks(output, identities, identities.keys())
                assert leaks == [], f"{fmt} report for {month} (suppress={suppress}) contains: {sorted(set(leaks))}"
            # With staff names, staff may share a first or last name with a client: check the rest.
            output = render(report, fmt, staff_names=True)
            assert _leaks(output, identities, ("alias", "birth date", "phone", "note")) == []


def test_json_shape_is_stable_and_matches_the_report(example_store):
    report = build_report(example_store, "2022-11")
    data = json.loads(render(report, "json"))
    assert data["format"] == "vipterm-monthly-report" and data["version"] == 1
    assert (data["month"], data["as_of"], data["fiscal_year_start"], data["age_summary_month"]) == (
        "2022-11",
        "2022-11-30",
        "2022-07-01",
        "2022-09",
    )
    assert list(data["tables"]) == [
        "notifications_by_area",
        "age_summary",
        "services",
        "funnel",
        "closed_loop",
        "time_to_service",
        "after_notification",
        "contacts_per_worker",
        "weekly_review",
    ]
    areas = data["tables"]["notifications_by_area"]
    assert [c["key"] for c in areas["columns"]] == ["m", "m1", "m2", "fytd"]
    assert [c["label"] for c in areas["columns"]] == ["NOV", "OCT", "SEP", "FYTD"]
    assert [r["label"] for r in areas["rows"]] == [
        "Southeast",
        "Northeast",
        "Northwest",
        "Foothills",
        "Southwest",
        "Valley",
        "N/A",
    ]
    for col in ("m", "m1", "m2", "fytd"):
        assert sum(r["values"][col] for r in areas["rows"]) == areas["total"]["values"][col]
        assert areas["total"]["values"][col] == report.notifications_by_area.total.values[col]
    running = data["running_success_rate"]
    assert running[0]["month"] == data["first_notification_month"] and running[-1]["month"] == "2022-11"
    assert running[-1]["engaged"] == report.running_success[-1].engaged
    assert all(a["notified"] <= b["notified"] and a["engaged"] <= b["engaged"] for a, b in zip(running, running[1:]))
    workers = data["tables"]["contacts_per_worker"]["rows"]
    assert [w["label"] for w in workers] == [f"Worker {n}" for n in range(1, len(workers) + 1)]
    assert [w["values"]["contacts"] for w in workers] == sorted(
        (w["values"]["contacts"] for w in workers), reverse=True
    )


def test_suppression_hides_small_counts_and_the_rates_over_them(example_store):
    report = build_report(example_store, "2022-11")
    data = report_as_dict(report, suppress_small=True)
    assert data["suppress_small"] is True
    hidden = 0
    for table in data["tables"].values():
        for row in table["rows"] + ([table["total"]] if table["total"] else []):
            for col in table["columns"]:
                value = row["values"][col["key"]]
                if col["kind"] == "count" and value is not None:
                    assert value == 0 or value >= 5, (table["title"], row["key"], col["key"])
                if col["key"] in row["suppressed"]:
                    hidden += 1
                    assert value is None
    assert hidden > 0  # the November 2022 report has small cells
    age = data["tables"]["age_summary"]
    for row in age["rows"]:
        if "notified" in row["suppressed"]:
            assert "rate" in row["suppressed"]
    text_output = render(report, "text", suppress_small=True)
    assert SUPPRESSED_TEXT in text_output and "shown as <5" in text_output
    html_output = render(report, "html", suppress_small=True)
    assert "Small numbers are suppressed" in html_output and "&lt;5" in html_output
    rows = list(csv.DictReader(io.StringIO(render(report, "csv", suppress_small=True))))
    assert any(r["value"] == SUPPRESSED_TEXT for r in rows)
    assert not any(r["kind"] == "work" and r["value"] == SUPPRESSED_TEXT for r in rows)


def test_csv_is_one_line_per_cell(example_store):
    report = build_report(example_store, "2022-11")
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    cell = {(r["section"], r["row"], r["column"]): r["value"] for r in rows}
    assert cell[("notifications_by_area", "total", "fytd")] == str(report.notifications_by_area.total.values["fytd"])
    assert cell[("running_success_rate", "2022-11", "engaged")] == str(report.running_success[-1].engaged)
    assert float(cell[("age_summary", "total", "rate")]) == pytest.approx(
        report.age_summary.total.values["rate"], abs=1e-4
    )
    assert {r["month"] for r in rows} == {"2022-11"}


def test_cli_report_prints_the_seed_sections(example_copy):
    result = vipterm("report", "--db", str(example_copy), "--month", "2022-11", passphrase=DEMO_PASSPHRASE)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in (
        "MONTHLY INFORMATIONAL REPORT — NOVEMBER 2022",
        "CUSTOM NOTIFICATIONS BY AREA COMMAND",
        "VIP RUNNING SUCCESS RATE",
        "SEPTEMBER SUMMARY BY AGE GROUP",
        "SERVICES CONNECTED TO",
        "PROGRAM FUNNEL",
        "REFERRAL CLOSED-LOOP RATE",
        "RE-ARREST AND RE-VICTIMIZATION",
        "CONTACTS PER WORKER",
    ):
        assert heading in out, heading
    header = next(line for line in out.splitlines() if "NOV" in line and "FYTD" in line)
    assert header.split() == ["NOV", "OCT", "SEP", "FYTD"]
    for area in ("Southeast", "Northeast", "Northwest", "Foothills", "Southwest", "Valley", "N/A"):
        assert re.search(rf"^\s*{re.escape(area)}(\s+\d+){{4}}\s*$", out, re.M), area


def test_cli_report_writes_each_format_to_a_file(example_copy, tmp_path):
    for fmt in FORMATS:
        target = tmp_path / f"report.{fmt}"
        result = vipterm(
            "report",
            "--db",
            str(example_copy),
            "--month",
            "2022-11",
            "--format",
            fmt,
            "--out",
            str(target),
            passphrase=DEMO_PASSPHRASE,
        )
        assert result.returncode == 0, result.stderr
        assert target.stat().st_size > 1000 and result.stdout == ""
    assert json.loads((tmp_path / "report.json").read_text())["month"] == "2022-11"
    assert list(tmp_path.glob(".report-*")) == []  # no temporary file left behind


@pytest.mark.parametrize("month", ["2022-13", "November", "2022/11", "22-11", ""])
def test_cli_report_refuses_a_bad_month_in_one_line(example_copy, month):
    result = vipterm("report", "--db", str(example_copy), "--month", month, passphrase=DEMO_PASSPHRASE)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "YYYY-MM" in result.stderr and "Traceback" not in result.stderr


def test_cli_report_into_a_missing_folder_changes_nothing(example_copy, tmp_path):
    result = vipterm(
        "report",
        "--db",
        str(example_copy),
        "--month",
        "2022-11",
        "--format",
        "html",
        "--out",
        str(tmp_path / "nowhere" / "r.html"),
        passphrase=DEMO_PASSPHRASE,
    )
    assert result.returncode == 2 and "does not exist" in result.stderr and result.stderr.count("\n") == 1


def test_html_is_self_contained(example_store):
    page = render(build_report(example_store, "2022-11"), "html")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "@page { size: letter" in page
    # No script, no stylesheet link, no image or font fetched: the only URL is the SVG namespace.
    assert "<script" not in page and "<link" not in page and "<img" not in page and "url(" not in page
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install -y chromium)")
def test_html_opens_in_headless_chromium(example_store, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(build_report(example_store, "2022-11"), "html", suppress_small=True), encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            CHROMIUM,
            *flags,
            f"--user-data-dir={tmp_path / 'profile-shot'}",
            "--window-size=850,1100",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a rendered page, not a blank one
    pdf = tmp_path / "report.pdf"
    result = subprocess.run(
        [
            CHROMIUM,
            *flags,
            f"--user-data-dir={tmp_path / 'profile-pdf'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", document))
    assert 1 <= pages <= 3  # two letter pages: the seed's page, and the extra sections
    assert b"/MediaBox [0 0 612 792]" in document  # US letter, in points
