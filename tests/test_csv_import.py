"""Spreadsheet import: the documented examples import, bad rows are reported row by row and nothing
is written, a real run is all-or-nothing and is captured for sync like any other write."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import PASSPHRASE, REPO_ROOT
from tests.test_cli import vipterm
from vipterm.errors import ValidationError
from vipterm.progress import Progress, ProgressTask
from vipterm.services import records
from vipterm.services.csv_import import (
    COLUMNS,
    KINDS,
    import_csv,
    parse_date,
    parse_datetime,
)
from vipterm.services.database import create_store

EXAMPLES = REPO_ROOT / "docs" / "examples"


def counts(store) -> dict[str, int]:
    with store.read() as session:
        return {
            t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in (
                "client",
                "client_identity",
                "notification_attempt",
                "contact",
                "referral",
                "referral_event",
                "provider",
                "outcome",
                "change_log",
            )
        }


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
        logged = {
            tbl: n
            for tbl, n in session.execute(
                text("SELECT tbl, count(DISTINCT row_id) FROM change_log WHERE device = :d GROUP BY tbl"),
                {"d": store.device_id},
            )
        }
        statuses = dict(session.execute(text("SELECT pseudonym, status FROM client")).all())
        events = [
            s
            for (s,) in session.execute(
                text(
                    "SELECT e.status FROM referral_event e JOIN referral r ON r.id = e.referral_id "
                    "JOIN provider p ON p.id = r.provider_id WHERE p.name = 'Workforce Connection Center' ORDER BY e.at"
                )
            )
        ]
        first_service = session.execute(
            text("SELECT first_service_on FROM referral WHERE status = 'completed'")
        ).scalar_one()
    assert logged["client"] == 4 and logged["notification_attempt"] == 5 and logged["contact"] == 4
    assert logged["referral"] == 4 and logged["referral_event"] == 14 and logged["outcome"] == 3
    assert events == ["draft", "sent", "accepted", "in_progress", "completed"]
    assert str(first_service)[:10] == "2021-09-01"
    # The funnel moved with the history: delivered → notified, accepted → engaged; inactive stays.
    assert statuses == {
        "VIP-0001": "engaged",
        "VIP-0002": "engaged",
        "VIP-0003": "notification_attempted",
        "VIP-0004": "inactive",
    }


def test_dry_run_reports_no_problem_and_writes_nothing(store):
    before = counts(store)
    result = import_csv(store, "clients", EXAMPLES / "clients.csv", dry_run=True)
    assert result.ok and result.rows == 4 and result.written == 0
    assert counts(store) == before


def test_bad_rows_are_reported_row_by_row_and_nothing_is_written(store, tmp_path):
    import_csv(store, "clients", EXAMPLES / "clients.csv")
    before = counts(store)
    path = write(
        tmp_path,
        "notifications.csv",
        (
            "client,attempted_on,outcome,area_command,note\n"
            "VIP-0001,2021-08-09,delivered,Southeast,\n"  # row 2: fine
            "VIP-0001,2021-13-40,delivered,Southeast,\n"  # row 3: no such date
            "VIP-9999,2021-08-01,deliverd,Downtown,\n"  # row 4: three problems
            "VIP-0002,2099-01-01,refused,,\n"  # row 5: future
            ",2021-08-01,,,\n"  # row 6: empty required cells
        ),
    )
    for dry_run in (True, False):
        result = import_csv(store, "notifications", path, dry_run=dry_run)
        found = {(e.row, e.column) for e in result.errors}
        assert found == {
            (3, "attempted_on"),
            (4, "client"),
            (4, "outcome"),
            (4, "area_command"),
            (5, "attempted_on"),
            (6, "client"),
            (6, "outcome"),
        }
        assert result.written == 0
        assert counts(store) == before  # all or nothing: the good row 2 was not written either
    by_cell = {(e.row, e.column): e.message for e in result.errors}
    # The lists people read are labels: `not found`, `N/A` (never the stored `not_found`, `na`).
    assert "not one of: delivered, refused, not found, in custody, deferred" in by_cell[(4, "outcome")]
    assert by_cell[(4, "area_command")] == (
        "'Downtown' is not one of: Southeast, Northeast, Northwest, Foothills, Southwest, Valley, N/A"
    )
    assert "not a client" in by_cell[(4, "client")] and "future" in by_cell[(5, "attempted_on")]
    assert str(result.errors[0]).startswith("row 3, column attempted_on:")


def test_identifying_values_are_never_echoed(store, tmp_path):
    path = write(
        tmp_path,
        "clients.csv",
        (
            "client,first_name,last_name,date_of_birth,phone,identified_on\n"
            "VIP-1,Quetzalli,Abeyta,31/02/1999,505-555-0142,2021-01-01\n"
            "VIP-2,,,,,2021-01-01\n"
        ),
    )
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
        (1, "occurred_at", "is required and missing from the header")
    ]


def test_spreadsheet_exports_are_read_as_saved(store, tmp_path):
    # Excel on Windows: Windows-1252, semicolons, upper-case headers and values, US dates, blank tail lines.
    path = write(
        tmp_path,
        "clients.csv",
        (
            "Client;First Name;Last Name;Identified On;Area Command;Referral Source\r\n"
            "VIP-7;José;Peña;11/5/2021;FOOTHILLS;Shooting Review\r\n"
            ";;;;;\r\n"
        ),
        encoding="cp1252",
    )
    result = import_csv(store, "clients", path)
    assert result.errors == [] and result.written == 1
    with store.read() as session:
        row = session.execute(
            text(
                "SELECT c.area_command, c.referral_source, c.identified_on, i.first_name "
                "FROM client c JOIN client_identity i ON i.client_id = c.id "
                "WHERE c.pseudonym = 'VIP-7'"
            )
        ).one()
    assert row[0] == "foothills" and row[1] == "shooting_review" and str(row[2]) == "2021-11-05" and row[3] == "José"
    # UTF-8 with the byte-order mark Excel writes.
    bom = write(tmp_path, "bom.csv", "\ufeffclient,kind,occurred_on\nVIP-7,Re-Arrest,2022-01-02\n")
    assert import_csv(store, "outcomes", bom).written == 1


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2022-11-05", "2022-11-05"),
        ("11/05/2022", "2022-11-05"),
        ("11/5/22", "2022-11-05"),
        ("2022/11/05", "2022-11-05"),
        ("5-Nov-2022", "2022-11-05"),
        ("Nov 5, 2022", "2022-11-05"),
        ("2022-11-05 00:00:00", "2022-11-05"),
        ("11/5/2022 0:00", "2022-11-05"),
    ],
)
def test_dates_in_spreadsheet_formats(value, expected):
    assert parse_date(value).isoformat() == expected


def _by_formats(value: str):
    """How the listed formats read a date, one strptime after another: what the shortcuts must match."""
    from datetime import datetime

    from vipterm.services.csv_import import DATE_FORMATS

    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


@given(
    st.one_of(
        st.from_regex(r"\A[0-9]{1,3}/[0-9]{1,3}/[0-9]{2,5}\Z"),
        st.from_regex(r"\A\d{1,2}/\d{1,2}/\d{4}\Z"),  # any script's digits
        st.from_regex(r"\A[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\Z"),
        st.text(alphabet="0123456789/-٣ ", max_size=12),
    )
)
def test_the_quick_date_readings_agree_with_the_listed_formats(value):
    expected = _by_formats(" ".join(value.split()))
    try:
        got = parse_date(value)
    except ValueError:
        got = None
    if expected is not None:
        assert got == expected
    elif got is not None:
        # Read by a later rule (a datetime at midnight), never by a shortcut the formats refuse.
        assert " " in value.strip() or ":" in value


def test_datetimes_in_spreadsheet_formats():
    assert parse_datetime("11/05/2022 3:30 PM").isoformat() == "2022-11-05T15:30:00"
    assert parse_datetime("2022-11-05T09:15").isoformat() == "2022-11-05T09:15:00"
    assert parse_datetime("2022-11-05").isoformat() == "2022-11-05T12:00:00"  # a date alone: noon
    with pytest.raises(ValueError):
        parse_date("05.11.2022x")


def test_referral_history_must_be_possible(store, tmp_path):
    import_csv(store, "clients", EXAMPLES / "clients.csv")
    path = write(
        tmp_path,
        "referrals.csv",
        (
            "client,need,provider,category,status,sent_on,accepted_on,first_service_on,status_on,reason\n"
            "VIP-0001,food,Pantry,food,failed,2021-08-20,,,2021-09-01,closed\n"  # sent → failed: not allowed
            "VIP-0001,food,Pantry,,completed,2021-08-20,2021-08-10,,2021-09-01,\n"  # accepted before sent
            "VIP-0001,food,Unknown Place,,sent,2021-08-20,,,,\n"  # provider not in directory
            "VIP-0001,food,Pantry,food,rejected,2021-08-20,,,2021-08-22,\n"  # no reason
            "VIP-0001,food,Pantry,food,accepted,2021-08-20,2021-08-22,2021-08-23,,\n"  # service before it started
            "VIP-0001,sleep,Pantry,food,teleported,,,,,\n"  # unknown need and status
        ),
    )
    result = import_csv(store, "referrals", path)
    found = {(e.row, e.column) for e in result.errors}
    assert {
        (2, "status"),
        (3, ""),
        (4, "provider"),
        (5, "reason"),
        (6, "first_service_on"),
        (7, "need"),
        (7, "status"),
    } <= found
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
    assert real.returncode == 0 and real.stdout == "imported 4 clients row(s)\n" and real.stderr == ""
    again = vipterm("import-csv", "--db", str(db), "clients", str(EXAMPLES / "clients.csv"), "--json")
    assert again.returncode == 0 and again.stderr == ""  # the same clients again: duplicates, nothing written
    import json

    data = json.loads(again.stdout)
    assert list(data)[:3] == ["version", "kind", "status"] and data["version"] == 1
    assert data["status"] == "imported" and data["written"] == 0 and data["duplicates"] == 4
    assert [d["row"] for d in data["duplicate_rows"]] == [2, 3, 4, 5] and data["problems"] == []
    text_again = vipterm("import-csv", "--db", str(db), "clients", str(EXAMPLES / "clients.csv"), "--dry-run")
    assert text_again.stdout.splitlines() == [
        "already in the database, skipped: rows 2-5",
        "4 clients row(s) checked: no problems, 0 new; 4 duplicate row(s) skipped (dry run: nothing was written)",
    ]
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
    records.log_contact(
        store,
        records.ContactDraft(
            typed.id,
            occurred_at=store.clock.to_utc(__import__("datetime").datetime(2026, 11, 23, 8, 30)),
            mode="phone",
            outcome="reached",
        ),
    )
    result = import_csv(
        store,
        "contacts",
        _sheet(
            tmp_path,
            "c.csv",
            f"client,occurred_at,mode,purpose,outcome\n{imported.pseudonym},2026-11-23 08:30,phone,check-in,reached\n",
        ),
    )
    assert result.ok and result.written == 1, result.errors
    assert (
        _open_follow_ups(store, typed.id) == _open_follow_ups(store, imported.id) == [(date(2026, 11, 30), "contact")]
    )


def test_a_row_the_services_refuse_is_reported_and_nothing_is_written(store, tmp_path):
    from vipterm.services import records

    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    before = counts(store)
    sheet = _sheet(
        tmp_path,
        "n.csv",
        "client,attempted_on,outcome,setting,messages,team_roles\n"
        f"{client.pseudonym},2026-11-20,delivered,home,offer of help,peer support\n"
        f"{client.pseudonym},2026-11-21,not found,home,offer of help,\n",
    )
    for dry in (True, False):
        result = import_csv(store, "notifications", sheet, dry_run=dry)
        assert [(e.row, e.column) for e in result.errors] == [(3, "messages")]
        assert "only for a delivered notification" in result.errors[0].message
        assert result.written == 0
        assert counts(store) == before


def test_a_contact_row_must_say_whether_the_client_was_reached(store, tmp_path):
    from vipterm.services import records

    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    result = import_csv(
        store,
        "contacts",
        _sheet(tmp_path, "c.csv", f"client,occurred_at,mode,outcome\n{client.pseudonym},2026-11-20 10:00,phone,\n"),
    )
    assert [(e.row, e.column) for e in result.errors] == [(2, "outcome")]


def test_a_dry_run_runs_the_services_and_writes_nothing(store, tmp_path):
    from vipterm.services import records

    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    before = counts(store)
    result = import_csv(
        store,
        "contacts",
        _sheet(
            tmp_path, "c.csv", f"client,occurred_at,mode,outcome\n{client.pseudonym},2026-11-20 10:00,phone,reached\n"
        ),
        dry_run=True,
    )
    assert result.ok and result.written == 0
    assert counts(store) == before


# --- matching, duplicates, batches, progress (issue 13) ------------------------------------------------


@pytest.mark.parametrize("header", ["IdentifiedOn", "identified on", "identified-on", "IDENTIFIED_ON"])
def test_headers_match_ignoring_case_spaces_and_hyphens(store, tmp_path, header):
    path = write(tmp_path, "clients.csv", f"Client,First Name,{header},Area-Command\nVIP-9,Ana,2021-01-04,N/A\n")
    result = import_csv(store, "clients", path)
    assert result.errors == [] and result.written == 1


def test_listed_values_match_ignoring_case_spaces_and_hyphens(store, tmp_path):
    path = write(
        tmp_path,
        "clients.csv",
        (
            "client,first_name,identified_on,area_command,age_group,referral_source,risk_flags\n"
            "VIP-1,Ana,2021-01-04,South East,18-24,Shooting-Review,On Probation / Parole; RECENT gunshot victim\n"
            "VIP-2,Ben,2021-01-04,South-East,30 and over,crime_data,\n"
            "VIP-3,Cy,2021-01-04,southeast,under18,SELF,\n"
            "VIP-4,Di,2021-01-04,n/a,,,\n"
        ),
    )
    result = import_csv(store, "clients", path)
    assert result.errors == [] and result.written == 4, [str(e) for e in result.errors]
    with store.read() as session:
        rows = dict(
            session.execute(
                text(
                    "SELECT pseudonym, area_command || ' ' || age_group || ' ' || referral_source || ' ' || risk_flags "
                    "FROM client"
                )
            ).all()
        )
    assert rows == {
        "VIP-1": "southeast 18_24 shooting_review on_supervision,recent_gunshot_victim",
        "VIP-2": "southeast 30_plus crime_data ",
        "VIP-3": "southeast under_18 self ",
        "VIP-4": "na unknown other ",
    }


def test_the_summary_counts_rows_with_problems(store, tmp_path):
    path = write(
        tmp_path,
        "clients.csv",
        "client,first_name,identified_on,area_command\n"
        "VIP-1,,2099-01-01,Downtown\nVIP-2,Ben,2021-01-01,\nVIP-3,Cy,soon,\n",
    )
    result = import_csv(store, "clients", path)
    assert len(result.errors) == 4 and result.rows_with_problems == 2 and result.rows == 3
    from vipterm.commands.report import import_lines

    assert import_lines(result)[-1] == "4 problem(s) in 2 of 3 row(s); nothing was imported"
    assert result.status.value == "refused"


def _history(tmp_path) -> dict[str, Path]:
    """The hand-computed report fixture's history (tests/test_report_fixture.py), one file per kind."""
    from tests import test_report_fixture as fixture

    files = {}
    for kind, content in (
        ("clients", fixture.CLIENTS),
        ("notifications", fixture.NOTIFICATIONS),
        ("contacts", fixture.CONTACTS),
        ("referrals", fixture.REFERRALS),
        ("outcomes", fixture.OUTCOMES),
    ):
        files[kind] = write(tmp_path, f"{kind}.csv", content)
    return files


def _reports(store) -> str:
    from vipterm.services.report import build_report
    from vipterm.services.report_render import render

    return "".join(render(build_report(store, month), "csv") for month in ("2022-05", "2022-07", "2022-08"))


def test_a_history_imported_twice_keeps_the_same_counts(store, tmp_path):
    with store.write() as session:
        from vipterm.store.models import Worker

        session.add(Worker(display_name="Second Worker"))
    files = _history(tmp_path)
    first = {kind: import_csv(store, kind, path) for kind, path in files.items()}
    assert all(r.errors == [] and r.written == r.rows > 0 and not r.duplicates for r in first.values())
    before, report = counts(store), _reports(store)
    for dry_run in (True, False):
        for kind, path in files.items():
            again = import_csv(store, kind, path, dry_run=dry_run)
            # Every row is recognised as already there: reported with a count, skipped, nothing written.
            assert again.errors == [] and again.written == 0, [str(e) for e in again.errors]
            assert [d.row for d in again.duplicates] == list(range(2, first[kind].rows + 2))
            assert again.in_database == first[kind].rows and again.new_rows == 0
        assert counts(store) == before  # the change log too: nothing to sync
    assert _reports(store) == report


def test_identical_rows_in_one_file_are_reported_and_written_once(store, tmp_path):
    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    path = write(
        tmp_path,
        "n.csv",
        (
            "client,attempted_on,outcome,setting,messages,team_roles\n"
            f"{client.pseudonym},2026-11-02,delivered,home,offer of help,peer support\n"
            f"{client.pseudonym},2026-11-03,refused,home,,\n"
            f"{client.pseudonym},11/02/2026,Delivered,HOME,Offer-of-help,Peer Support\n"
        ),
    )  # row 2 again
    for dry_run in (True, False):
        result = import_csv(store, "notifications", path, dry_run=dry_run)
        assert result.errors == [] and [(d.row, d.repeats_row) for d in result.duplicates] == [(4, 2)]
        assert str(result.duplicates[0]) == "row 4: repeats row 2; skipped"
    assert result.written == 2
    with store.read() as session:
        assert session.execute(text("SELECT count(*) FROM notification_attempt")).scalar_one() == 2


def test_clients_are_recognised_by_case_id_else_by_folded_name_birth_date_and_day(store, tmp_path):
    first = write(
        tmp_path,
        "a.csv",
        "client,first_name,last_name,date_of_birth,identified_on\n"
        "VIP-7,José,Peña,1999-02-03,2021-01-04\n"
        ",Rosa,Baca-Lujan,,2021-02-01\n",
    )
    assert import_csv(store, "clients", first).written == 2
    again = write(
        tmp_path,
        "b.csv",
        "Client,First Name,Last Name,Date of Birth,Identified On\n"
        "VIP-7,jose,PENA,02/03/1999,2021-01-04\n"  # same case id, same person
        ",ROSA,baca lujan,,02/01/2021\n"  # no case id: same name and day
        ",Rosa,Baca-Lujan,,2021-03-01\n"  # identified another day: new
        "VIP-7,Josefa,Peña,1999-02-03,2021-01-04\n",
    )  # the case id, another person
    result = import_csv(store, "clients", again)
    assert [(e.row, e.column) for e in result.errors] == [(5, "client")]
    assert "already a client" in result.errors[0].message and "Josefa" not in result.errors[0].message
    assert [d.row for d in result.duplicates] == [2, 3] and result.written == 0


def _follow_ups(store, client_id):
    with store.read() as session:
        return sorted(
            session.execute(
                text("SELECT due_on, done_at IS NOT NULL, closed_as, note FROM follow_up WHERE client_id = :c"),
                {"c": client_id},
            ).all()
        )


def test_batched_rows_keep_the_services_rules_row_by_row(store, tmp_path, monkeypatch):
    """Several rows of the same client, across small batches, end as the services typed one by one do."""
    from datetime import date, datetime

    from vipterm.services import csv_import

    monkeypatch.setattr(csv_import, "BATCH_ROWS", 2)  # many batches from a few rows
    typed = [records.create_client(store, records.ClientDraft(first_name=f"T{i}")) for i in range(2)]
    imported = [records.create_client(store, records.ClientDraft(first_name=f"I{i}")) for i in range(2)]
    history = [
        (0, "2026-10-01", "delivered"),
        (1, "2026-10-02", "not_found"),
        (0, "2026-10-05", "refused"),
        (1, "2026-10-06", "delivered"),
        (0, "2026-10-09", "delivered"),
        (1, "2026-10-20", "delivered"),
    ]
    contacts = [
        (0, "2026-10-10 09:00", "reached"),
        (1, "2026-10-14 10:00", "no_answer"),
        (1, "2026-10-27 10:00", "reached"),
        (0, "2026-10-12 11:00", "reached"),
    ]
    for who, day, outcome in history:
        delivered = outcome == "delivered"
        records.record_notification(
            store,
            records.NotificationDraft(
                client_id=typed[who].id,
                attempted_on=date.fromisoformat(day),
                outcome=outcome,
                team=[("peer support", "peer_support")] if delivered else [],
                messages=["offer_of_help"] if delivered else [],
                confirm_same_day=True,
                as_recorded=True,
            ),
        )
    for who, when, outcome in contacts:
        records.log_contact(
            store,
            records.ContactDraft(
                client_id=typed[who].id, occurred_at=store.clock.to_utc(datetime.fromisoformat(when)), outcome=outcome
            ),
        )
    notifications = write(
        tmp_path,
        "n.csv",
        "client,attempted_on,outcome,messages,team_roles\n"
        + "".join(
            f"{imported[who].pseudonym},{day},{outcome},{'offer of help' if outcome == 'delivered' else ''},"
            f"{'peer support' if outcome == 'delivered' else ''}\n"
            for who, day, outcome in history
        ),
    )
    contact_sheet = write(
        tmp_path,
        "c.csv",
        "client,occurred_at,outcome\n"
        + "".join(f"{imported[who].pseudonym},{when},{outcome}\n" for who, when, outcome in contacts),
    )
    assert import_csv(store, "notifications", notifications).written == 6
    assert import_csv(store, "contacts", contact_sheet).written == 4
    with store.read() as session:
        status = dict(session.execute(text("SELECT id, status FROM client")).all())

    def closed(rows):  # the replaced follow-ups are closed at "now": compare what, not when
        return [(due, done, how, note) for due, done, how, note in rows]

    for t, i in zip(typed, imported):
        assert closed(_follow_ups(store, t.id)) == closed(_follow_ups(store, i.id))
        assert status[t.id] == status[i.id]
    assert len(_follow_ups(store, imported[1].id)) == 2


class _Recorder(Progress):
    """Progress that keeps what it is told: (label, completed, total) at every change."""

    def __init__(self):
        self.seen = []

    def task(self, label, total=None):
        seen = self.seen

        class Task(ProgressTask):
            def _changed(self):
                seen.append((self.label, self.completed, self.total))

        return Task(label, total)


def test_progress_is_reported_per_batch(store, tmp_path, monkeypatch):
    from vipterm.services import csv_import

    monkeypatch.setattr(csv_import, "BATCH_ROWS", 2)
    path = write(
        tmp_path,
        "clients.csv",
        "client,first_name,identified_on\n" + "".join(f"VIP-{n},Name{n},2021-01-0{n}\n" for n in range(1, 6)),
    )
    recorder = _Recorder()
    assert import_csv(store, "clients", path, progress=recorder).written == 5
    assert [s for s in recorder.seen if s[0] == "importing clients"] == [
        ("importing clients", 2, 5),
        ("importing clients", 4, 5),
        ("importing clients", 5, 5),
    ]
    assert [s for s in recorder.seen if s[0] == "checking clients"][-1] == ("checking clients", 5, 5)


def test_imported_clients_are_captured_field_by_field_like_typed_ones(store, tmp_path):
    """The bulk insert logs what the ORM hook logs: one entry per field, its stored value, a clock."""
    path = write(tmp_path, "c.csv", "client,first_name,date_of_birth,identified_on\nVIP-1,Ana,1990-05-06,2021-01-04\n")
    assert import_csv(store, "clients", path).written == 1
    typed = records.create_client(store, records.ClientDraft(first_name="Ben"))
    from vipterm.sync.field_clocks import clocks_of
    from vipterm.sync.values import unpack as unpack_value

    with store.read() as session:
        imported_id = session.execute(text("SELECT id FROM client WHERE pseudonym = 'VIP-1'")).scalar_one()
        for client_id in (imported_id, typed.id):
            for table, key in (("client", "id"), ("client_identity", "client_id")):
                logged = {
                    col: unpack_value(v)
                    for col, v in session.execute(
                        text("SELECT col, value FROM change_log WHERE tbl = :t AND row_id = :r"),
                        {"t": table, "r": client_id},
                    )
                }
                stored = dict(
                    session.execute(text(f"SELECT * FROM {table} WHERE {key} = :r"), {"r": client_id}).mappings().one()
                )
                stored.pop(key)
                assert logged == stored
                # One clock for the new record, standing for each of its fields.
                clocks = clocks_of(session.connection(), table, [client_id])
                assert {col for _r, col in clocks} == set(stored)
                [stamp] = session.execute(
                    text("SELECT DISTINCT hlc FROM change_log WHERE tbl = :t AND row_id = :r"),
                    {"t": table, "r": client_id},
                ).scalars()
                assert set(clocks.values()) == {(stamp, store.device_id)}
            assert (
                session.execute(
                    text("SELECT count(*) FROM sync_origin WHERE row_id = :r"), {"r": client_id}
                ).scalar_one()
                == 2
            )


def test_the_import_gives_its_connection_back_with_the_usual_page_cache(store, tmp_path):
    with store.read() as session:
        usual = session.execute(text("PRAGMA cache_size")).scalar_one()
    assert import_csv(store, "clients", EXAMPLES / "clients.csv").written == 4
    with store.write() as session:  # the pool hands back the connection the import wrote with
        assert session.execute(text("PRAGMA cache_size")).scalar_one() == usual


def test_control_characters_from_the_file_are_printed_escaped(store, tmp_path):
    """A header (or value) carrying a terminal escape sequence is reported, never sent raw to the terminal."""
    path = tmp_path / "clients.csv"
    path.write_text("identified_on,first_name,last_name,\x1b]0;owned\x07evil\n2026-11-01,Ana,Ruiz,x\n", "utf-8")
    result = import_csv(store, "clients", path)
    shown = "\n".join(str(e) for e in result.errors)
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b]0;owned\\x07evil" in shown and "is not a column" in shown
