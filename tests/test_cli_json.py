"""The --json shape of every command (docs/cli-json.md), and the stdout/stderr rule.

One checker, `shape`, says what every --json output must be: one object whose first field is
`version`; every time ISO 8601 with the program zone's offset (America/Denver: -07:00 in
November, -06:00 in summer); every coded field a machine value (lower case, no spaces), never a
display label. Each command with --json is run on a real database and its output checked.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import DEMO_PASSPHRASE, EXAMPLE_DB
from vipterm import cli
from vipterm.commands.common import JSON_VERSION

# A date and a time of day, with or without an offset: every such text must carry one.
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Fields whose values are codes: what a script compares against, never a label for people.
CODED = {
    "status",
    "kind",
    "urgency",
    "group",
    "action",
    "role",
    "state",
    "area_command",
    "age_group",
    "source",
    "referral_source",
    "setting",
    "method",
    "code",
    "need",
    "outcome",
    "mode",
    "purpose",
    "field",
    "tbl",
    "direction",
}
_MACHINE = re.compile(r"^[a-z0-9_\-.]*$")
PROGRAM_OFFSETS = {timedelta(hours=-7), timedelta(hours=-6)}  # America/Denver, winter and summer


def shape(stdout: str) -> dict:
    """The parsed output, after checking it has the one documented shape."""
    data = json.loads(stdout)
    assert isinstance(data, dict), "a --json output is one object"
    assert next(iter(data)) == "version" and data["version"] == JSON_VERSION
    times = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            if _TIME.match(value):
                moment = datetime.fromisoformat(value)
                assert moment.tzinfo is not None, f"{key}: {value!r} has no offset"
                assert moment.utcoffset() in PROGRAM_OFFSETS, f"{key}: {value!r} is not in the program's zone"
                times.append(value)
            if key in CODED:
                assert _MACHINE.match(value), f"{key}: {value!r} is a label, not a machine value"

    walk(data)
    return data


def test_the_checker_refuses_what_the_issue_found():
    with pytest.raises(AssertionError):
        shape('[{"id": "x"}]')  # a bare list: no version
    with pytest.raises(AssertionError):
        shape('{"version": 1, "when": "2026-11-10 10:08:00"}')  # no offset
    with pytest.raises(AssertionError):
        shape('{"version": 1, "at": "2026-11-10T17:08:00+00:00"}')  # UTC, not the program's time
    with pytest.raises(AssertionError):
        shape('{"version": 1, "clients": [{"urgency": "due today"}]}')  # a label
    assert shape('{"version": 1, "at": "2026-11-10T10:08:00-07:00", "urgency": "due_today"}')


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """One copy of the demo database for the module (a coordinator with 8 workers, 900 clients)."""
    path = tmp_path_factory.mktemp("json") / "example.db"
    shutil.copy(EXAMPLE_DB, path)
    return path


@pytest.fixture
def vip(example, capsys, monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", DEMO_PASSPHRASE)

    def run(*args, db: Path | None = None, expect: int = 0):
        capsys.readouterr()
        code = cli.main(["--db", str(db or example), *args])
        out = capsys.readouterr()
        assert code == expect, out.err
        return out.out, out.err

    return run


def test_clients_list_and_show(vip):
    out, _ = vip("clients", "list", "--all", "--json")
    rows = shape(out)["clients"]
    assert {r["urgency"] for r in rows} == {"overdue", "due_today", "upcoming"}
    assert any(r["last_contact"] for r in rows)
    shown = shape(vip("clients", "show", rows[0]["pseudonym"], "--json")[0])
    assert shown["id"] == rows[0]["id"]
    timed = [e for e in shown["timeline"] if e["timed"]]
    untimed = [e for e in shown["timeline"] if not e["timed"]]
    assert timed and all(datetime.fromisoformat(e["when"]).tzinfo for e in timed)
    assert all(_DAY.match(e["when"]) for e in untimed)  # a day stays a day


def test_clients_history_consent_and_safety_plan(vip):
    client = shape(vip("clients", "list", "--all", "--json")[0])["clients"][0]["pseudonym"]
    vip("clients", "update", client, "--phone", "505-555-0199")  # an edit, so the history has a change
    history = shape(vip("clients", "history", client, "--json")[0])
    assert history["changes"] and all(datetime.fromisoformat(c["at"]).tzinfo for c in history["changes"])
    assert "consents" in shape(vip("clients", "consent", client, "list", "--json")[0])
    plan = shape(vip("clients", "safety-plan", client, "--json")[0])
    assert plan["pseudonym"] == client and "safety_plan" in plan
    vip("clients", "safety-plan", client, "--threats", "a dispute over a car")
    saved = shape(vip("clients", "safety-plan", client, "--json")[0])["safety_plan"]
    assert saved["threats"] == "a dispute over a car" and datetime.fromisoformat(saved["updated_at"]).tzinfo


def test_doctor_tasks_audit_workers(vip):
    assert shape(vip("doctor", "--json")[0])["healthy"]
    tasks = shape(vip("tasks", "--json")[0])
    assert tasks["tasks"] and {t["group"] for t in tasks["tasks"]} <= {"overdue", "today", "this_week"}
    audit = shape(vip("audit", "--json")[0])["entries"]
    assert audit and "action_label" not in audit[0]
    workers = shape(vip("workers", "list", "--json")[0])["workers"]
    assert len(workers) == 8
    added = shape(vip("workers", "add", "Noor Haddad", "--json")[0])
    assert added["name"] == "Noor Haddad"


def test_assign_review_and_backup(vip, tmp_path):
    clients = shape(vip("clients", "list", "--all", "--json")[0])["clients"]
    moved = shape(vip("clients", "assign", clients[0]["id"], "--to", "Jerome Baca", "--json")[0])
    assert moved["worker"] == "Jerome Baca"
    incident = shape(vip("review", "incident", "--day", "2026-11-21", "--area", "southeast", "--json")[0])
    candidate = shape(
        vip(
            "review",
            "candidate",
            "--client",
            clients[1]["pseudonym"],
            "--worker",
            "Jerome Baca",
            "--notify-on",
            "2026-11-24",
            "--incident",
            incident["id"][:8],
            "--json",
        )[0]
    )
    review = shape(vip("review", "show", "--json")[0])
    assert [c["plan"]["id"] for c in review["candidates"]] == [candidate["plan_id"]]
    backup = shape(vip("backup", "--to", str(tmp_path), "--json")[0])
    assert Path(backup["path"]).is_file() and datetime.fromisoformat(backup["taken_at"]).tzinfo


def test_sync_commands(vip, tmp_path):
    db = tmp_path / "coordinator.db"
    shutil.copy(EXAMPLE_DB, db)
    vip("coordinator", "init", "--existing", db=db)
    status = shape(vip("sync", "status", "--json", db=db)[0])
    assert status["role"] == "coordinator" and status["enrolled"]
    assert shape(vip("sync", "export", "--to", str(tmp_path), "--json", db=db)[0])["bundles"] == []
    empty = tmp_path / "inbox"
    empty.mkdir()
    assert shape(vip("sync", "import", str(empty), "--json", db=db)[0])["results"] == []
    assert shape(vip("conflicts", "list", "--all", "--json", db=db)[0])["conflicts"] == []
    assert shape(vip("sync", "quarantine", "list", "--all", "--json", db=db)[0])["entries"] == []


def test_import_csv_json(vip, tmp_path):
    db = tmp_path / "import.db"
    shutil.copy(EXAMPLE_DB, db)
    sheet = tmp_path / "clients.csv"
    sheet.write_text(
        "client,first_name,last_name,identified_on\nVIP-0001,Ana,Example,2021-08-02\nVIP-0002,Ben,Example,not a day\n"
    )
    refused = shape(vip("import-csv", "clients", str(sheet), "--json", db=db, expect=2)[0])
    assert refused["written"] == 0 and refused["rows"] == 2
    sheet.write_text("client,first_name,last_name,identified_on\nVIP-0001,Ana,Example,2021-08-02\n")
    checked = shape(vip("import-csv", "clients", str(sheet), "--dry-run", "--json", db=db)[0])
    assert checked["rows"] == 1 and checked["written"] == 0


def test_one_conversion_for_every_command():
    from datetime import date
    from zoneinfo import ZoneInfo

    from vipterm import domain
    from vipterm.commands.common import json_value

    denver = ZoneInfo("America/Denver")
    assert json_value(
        {
            "at": "2026-11-10 17:08:00",  # stored UTC, handed over as text by a service
            "occurred_at": datetime(2026, 7, 1, 15, 0),  # stored UTC: summer offset
            "due_on": date(2026, 11, 14),  # a day stays a day
            "area_command": domain.AreaCommand.SOUTHEAST,  # the member's value, not its label
            "note": "2026-11-10 17:08:00",  # free text is never rewritten
            "path": Path("/tmp/x"),
        },
        denver,
    ) == {
        "at": "2026-11-10T10:08:00-07:00",
        "occurred_at": "2026-07-01T09:00:00-06:00",
        "due_on": "2026-11-14",
        "area_command": "southeast",
        "note": "2026-11-10 17:08:00",
        "path": "/tmp/x",
    }
