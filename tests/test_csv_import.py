"""Spreadsheet import: the documented examples import, bad rows are reported row by row and nothing
is written, a real run is all-or-nothing and is captured for sync like any other write."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import PASSPHRASE, REPO_ROOT
from tests.test_cli import vipterm
from vipterm.errors import ValidationError
from vipterm.services.csv_import import COLUMNS, KINDS, import_csv, parse_date, parse_datetime
from vipterm.services.database import create_store

EXAMPLES = REPO_ROOT / "docs" / "examples"


def counts(store) -> dict[str, int]:
    with store.read() as session:
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("client", "client_identity", "notification_attempt", "contact", "referral",
                          "referral_event", "provider", "outcome", "change_log")}


def write(tmp_path: Path, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


def import_examples(store):
    for kind in KINDS:
        result = import_csv(store, kind, EXAMPLES / f"{kind}.csv")
        assert result.errors == [], [str(e) for e in result.errors]
        assert result.written == result.rows > 0


def test_every_documented_example_imports_and_is_captured(store):
    before = counts(store)
    import_examples(store)
    after = counts(store)
    assert after["client"] - before["client"] == 4 and after["notification_attempt"] == 5
    assert after["contact"] == 4 and after["referral"] == 4 and after["outcome"] == 3
    # 2 completed-path, rejected, in-progress and sent referrals: their whole status history.
    assert after["referral_event"] == 5 + 3 + 4 + 2
    assert after["provider"] == 4  # added to the directory from the category column
    with store.read() as session:
        # Every imported row is in this device's change log, so it syncs like a typed-in record.
        logged = {tbl: n for tbl, n in session.execute(text(
            "SELECT tbl, count(DISTINCT row_id) FROM change_log WHERE device = :d GROUP BY tbl"), {"d": store.device_id})}
        statuses = dict(session.execute(text("SELECT pseudonym, status FROM client")).all())
        events = [s for (s,) in session.execute(text(
            "SELECT e.status FROM referral_event e JOIN referral r ON r.id = e.referral_id "
            "JOIN provider p ON p.id = r.provider_id WHERE p.name = 'Workforce Connection Center' ORDER BY e.at"))]
        first_service = session.execute(text(
            "SELECT first_service_on FROM referral WHERE status = 'completed'")).scalar_one()
    assert logged["client"] == 4 and logged["notification_attempt"] == 5 and logged["contact"] == 4
    assert logged["referral"] == 4 and logged["referral_event"] == 14 and logged["outcome"] == 3
    assert events == ["draft", "sent", "accepted", "in_progress", "completed"]
    assert str(first_service)[:10] == "2021-09-01"
    # The funnel moved with the history: delivered → notified, accepted → engaged; inactive stays.
    assert statuses == {"VIP-0001": "engaged", "VIP-0002": "engaged", "VIP-0003": "notification_attempted",
                        "VIP-0004": "inactive"}


def test_dry_run_reports_no_problem_and_writes_nothing(store):
    before = counts(store)
    result = import_csv(store, "clients", EXAMPLES / "clients.csv", dry_run=True)
    assert result.ok and result.rows == 4 and result.written == 0
    assert counts(store) == before


def test_bad_rows_are_reported_row_by_row_and_nothing_is_written(store, tmp_path):
    import_csv(store, "clients", EXAMPLES / "clients.csv")
    before = counts(store)
    path = write(tmp_path, "notifications.csv", (
        "client,attempted_on,outcome,area_command,note\n"
        "VIP-0001,2021-08-09,delivered,Southeast,\n"       # row 2: fine
        "VIP-0001,2021-13-40,delivered,Southeast,\n"       # row 3: no such date
        "VIP-9999,2021-08-01,deliverd,Downtown,\n"         # row 4: three problems
        "VIP-0002,2099-01-01,refused,,\n"                  # row 5: future
        ",2021-08-01,,,\n"                                 # row 6: empty required cells
    ))
    for dry_run in (True, False):
        result = import_csv(store, "notifications", path, dry_run=dry_run)
        found = {(e.row, e.column) for e in result.errors}
        assert found == {(3, "attempted_on"), (4, "client"), (4, "outcome"), (4, "area_command"),
                         (5, "attempted_on"), (6, "client"), (6, "outcome")}
        assert result.written == 0
        assert counts(store) == before  # all or nothing: the good row 2 was not written either
    by_cell = {(e.row, e.column): e.message for e in result.errors}
    assert "not one of: delivered, refused, not_found, in_custody, deferred" in by_cell[(4, "outcome")]
    assert "southeast" in by_cell[(4, "area_command")] and "'Downtown'" in by_cell[(4, "area_command")]
    assert "not a client" in by_cell[(4, "client")] and "future" in by_cell[(5, "attempted_on")]
    assert str(result.errors[0]).startswith("row 3, column attempted_on:")


def test_identifying_values_are_never_echoed(store, tmp_path):
    path = write(tmp_path, "clients.csv", (
        "client,first_name,last_name,date_of_birth,phone,identified_on\n"
        "VIP-1,Quetzalli,Abeyta,31/02/1999,505-555-0142,2021-01-01\n"
        "VIP-2,,,,,2021-01-01\n"
    ))
    result = import_csv(store, "clients", path)
    messages = " ".join(str(e) for e in result.errors)
    assert (2, "date_of_birth") in {(e.row, e.column) for e in result.errors}
    assert (3, "first_name") in {(e.row, e.column) for e in result.errors}
    for secret in ("Quetzalli", "Abeyta", "31/02/1999", "505-555-0142"):
        assert secret not in messages


def test_header_problems_list_the_accepted_columns(store, tmp_path):
    path = write(tmp_path, "contacts.csv", "client,when,Occurred At\nVIP-1,2021-01-01,2021-01-01\n")
    result = import_csv(store, "contacts", path)
    assert [(e.row, e.column) for e in result.errors] == [(1, "when")]
    assert "accepted: " + ", ".join(COLUMNS["contacts"][0] + COLUMNS["contacts"][1]) in result.errors[0].message
    missing = import_csv(store, "contacts", write(tmp_path, "c2.csv", "client,mode\nVIP-1,phone\n"))
    assert [(e.row, e.column, e.message) for e in missing.errors] == [
        (1, "occurred_at", "is required and missing from the header")]


def test_spreadsheet_exports_are_read_as_saved(store, tmp_path):
    # Excel on Windows: Windows-1252, semicolons, upper-case headers and values, US dates, blank tail lines.
    path = write(tmp_path, "clients.csv", (
        "Client;First Name;Last Name;Identified On;Area Command;Referral Source\r\n"
        "VIP-7;José;Peña;11/5/2021;FOOTHILLS;Shooting Review\r\n"
        ";;;;;\r\n"
    ), encoding="cp1252")
    result = import_csv(store, "clients", path)
    assert result.errors == [] and result.written == 1
    with store.read() as session:
        row = session.execute(text("SELECT c.area_command, c.referral_source, c.identified_on, i.first_name "
                                   "FROM client c JOIN client_identity i ON i.client_id = c.id "
                                   "WHERE c.pseudonym = 'VIP-7'")).one()
    assert row[0] == "foothills" and row[1] == "shooting_review" and str(row[2]) == "2021-11-05" and row[3] == "José"
    # UTF-8 with the byte-order mark Excel writes.
    bom = write(tmp_path, "bom.csv", "\ufeffclient,kind,occurred_on\nVIP-7,Re-Arrest,2022-01-02\n")
    assert import_csv(store, "outcomes", bom).written == 1


@pytest.mark.parametrize("value,expected", [
    ("2022-11-05", "2022-11-05"), ("11/05/2022", "2022-11-05"), ("11/5/22", "2022-11-05"),
    ("2022/11/05", "2022-11-05"), ("5-Nov-2022", "2022-11-05"), ("Nov 5, 2022", "2022-11-05"),
    ("2022-11-05 00:00:00", "2022-11-05"), ("11/5/2022 0:00", "2022-11-05"),
])
def test_dates_in_spreadsheet_formats(value, expected):
    assert parse_date(value).isoformat() == expected


def test_datetimes_in_spreadsheet_formats():
    assert parse_datetime("11/05/2022 3:30 PM").isoformat() == "2022-11-05T15:30:00"
    assert parse_datetime("2022-11-05T09:15").isoformat() == "2022-11-05T09:15:00"
    assert parse_datetime("2022-11-05").isoformat() == "2022-11-05T12:00:00"  # a date alone: noon
    with pytest.raises(ValueError):
        parse_date("05.11.2022x")


def test_referral_history_must_be_possible(store, tmp_path):
    import_csv(store, "clients", EXAMPLES / "clients.csv")
    path = write(tmp_path, "referrals.csv", (
        "client,need,provider,category,status,sent_on,accepted_on,first_service_on,status_on,reason\n"
        "VIP-0001,food,Pantry,food,failed,2021-08-20,,,2021-09-01,closed\n"          # sent → failed: not allowed
        "VIP-0001,food,Pantry,,completed,2021-08-20,2021-08-10,,2021-09-01,\n"       # accepted before sent
        "VIP-0001,food,Unknown Place,,sent,2021-08-20,,,,\n"                         # provider not in directory
        "VIP-0001,food,Pantry,food,rejected,2021-08-20,,,2021-08-22,\n"              # no reason
        "VIP-0001,food,Pantry,food,accepted,2021-08-20,2021-08-22,2021-08-23,,\n"    # service before it started
        "VIP-0001,sleep,Pantry,food,teleported,,,,,\n"                               # unknown need and status
    ))
    result = import_csv(store, "referrals", path)
    found = {(e.row, e.column) for e in result.errors}
    assert {(2, "status"), (3, ""), (4, "provider"), (5, "reason"), (6, "first_service_on"), (7, "need"),
            (7, "status")} <= found
    assert "give accepted_on" in next(e.message for e in result.errors if (e.row, e.column) == (2, "status"))
    assert result.written == 0


def test_a_tab_separated_file_and_unknown_kind(store, tmp_path):
    with pytest.raises(ValidationError, match="not a kind of import"):
        import_csv(store, "appointments", EXAMPLES / "clients.csv")
    with pytest.raises(ValidationError, match="no file"):
        import_csv(store, "clients", tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="is empty"):
        import_csv(store, "clients", write(tmp_path, "empty.csv", ""))


def test_cli_import_dry_run_then_import(tmp_path):
    db = tmp_path / "laptop.db"
    create_store(db, PASSPHRASE, worker_name="Test Worker").close()
    dry = vipterm("import-csv", "--db", str(db), "clients", str(EXAMPLES / "clients.csv"), "--dry-run")
    assert dry.returncode == 0 and "no problems" in dry.stdout and "nothing was written" in dry.stdout
    real = vipterm("import-csv", "--db", str(db), "clients", str(EXAMPLES / "clients.csv"))
    assert real.returncode == 0 and "imported 4 clients" in real.stdout
    again = vipterm("import-csv", "--db", str(db), "clients", str(EXAMPLES / "clients.csv"), "--json")
    assert again.returncode == 2  # the pseudonyms exist now: every row refused, nothing written
    import json

    data = json.loads(again.stdout)
    assert data["written"] == 0 and [e["row"] for e in data["errors"]] == [2, 3, 4, 5]
    bad_kind = vipterm("import-csv", "--db", str(db), "appointments", str(EXAMPLES / "clients.csv"))
    assert bad_kind.returncode == 2 and bad_kind.stderr.count("\n") == 1 and "Traceback" not in bad_kind.stderr


def test_the_cli_lists_the_same_kinds_and_formats_as_the_services():
    from vipterm.commands import report as report_command
    from vipterm.services import csv_import, report_render

    assert report_command.KINDS == csv_import.KINDS
    assert report_command.FORMATS == report_render.FORMATS


# --- the import goes through the app's own services ---------------------------------------------------


def _sheet(tmp_path, name, text_value):
    path = tmp_path / name
    path.write_text(text_value, encoding="utf-8")
    return path


def _open_follow_ups(store, client_id):
    from vipterm.services.records import open_follow_ups

    return [(f.due_on, f.kind) for f in open_follow_ups(store, client_id)]


def test_an_imported_contact_closes_due_follow_ups_as_a_typed_one_does(store, tmp_path):
    from datetime import date

    from vipterm.services import records

    typed = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    imported = records.create_client(store, records.ClientDraft(first_name="Bea", last_name="Soto"))
    for client in (typed, imported):
        records.schedule_follow_up(store, client.id, date(2026, 11, 23))
        records.schedule_follow_up(store, client.id, date(2026, 11, 30))
    records.log_contact(store, records.ContactDraft(typed.id, occurred_at=store.clock.to_utc(
        __import__("datetime").datetime(2026, 11, 23, 8, 30)), mode="phone", outcome="reached"))
    result = import_csv(store, "contacts", _sheet(tmp_path, "c.csv",
                        "client,occurred_at,mode,purpose,outcome\n"
                        f"{imported.pseudonym},2026-11-23 08:30,phone,check-in,reached\n"))
    assert result.ok and result.written == 1, result.errors
    assert _open_follow_ups(store, typed.id) == _open_follow_ups(store, imported.id) == [(date(2026, 11, 30), "contact")]


def test_a_row_the_services_refuse_is_reported_and_nothing_is_written(store, tmp_path):
    from vipterm.services import records

    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    before = counts(store)
    sheet = _sheet(tmp_path, "n.csv",
                   "client,attempted_on,outcome,setting,messages,team_roles\n"
                   f"{client.pseudonym},2026-11-20,delivered,home,offer of help,peer support\n"
                   f"{client.pseudonym},2026-11-21,not found,home,offer of help,\n")
    for dry in (True, False):
        result = import_csv(store, "notifications", sheet, dry_run=dry)
        assert [(e.row, e.column) for e in result.errors] == [(3, "messages")]
        assert "only for a delivered notification" in result.errors[0].message
        assert result.written == 0
        assert counts(store) == before


def test_a_contact_row_must_say_whether_the_client_was_reached(store, tmp_path):
    from vipterm.services import records

    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    result = import_csv(store, "contacts", _sheet(tmp_path, "c.csv",
                        "client,occurred_at,mode,outcome\n"
                        f"{client.pseudonym},2026-11-20 10:00,phone,\n"))
    assert [(e.row, e.column) for e in result.errors] == [(2, "outcome")]


def test_a_dry_run_runs_the_services_and_writes_nothing(store, tmp_path):
    from vipterm.services import records

    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    before = counts(store)
    result = import_csv(store, "contacts", _sheet(tmp_path, "c.csv",
                        "client,occurred_at,mode,outcome\n"
                        f"{client.pseudonym},2026-11-20 10:00,phone,reached\n"), dry_run=True)
    assert result.ok and result.written == 0
    assert counts(store) == before
