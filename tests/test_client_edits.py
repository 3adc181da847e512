"""Editing, closing and reopening a client: the services, the CLI (real processes) and a real
bundle carrying an edit from a laptop to the coordinator."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.conftest import FROZEN_NOW_ISO, PASSPHRASE
from tests.sync_support import enrolled_program, exchange
from tests.test_cli import vipterm as _run
from vipterm.errors import NotFound, ValidationError
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.services.database import create_store


def vipterm(*args):
    """The real command line, on the program's frozen day (not the machine's)."""
    return _run(*args, env={"VIPTERM_NOW": FROZEN_NOW_ISO})


def _identity(store, client_id):
    with store.read() as s:
        return s.execute(
            text("SELECT first_name, last_name, aka, date_of_birth, phone FROM client_identity WHERE client_id = :c"),
            {"c": client_id},
        ).one()


def _client_row(store, client_id):
    with store.read() as s:
        return s.execute(
            text(
                "SELECT area_command, age_group, referral_source, risk_flags, status, closed_reason, "
                "closed_on FROM client WHERE id = :c"
            ),
            {"c": client_id},
        ).one()


def _changes(store, tbl, col, row_id):
    with store.read() as s:
        return s.execute(
            text("SELECT count(*) FROM change_log WHERE tbl = :t AND col = :c AND row_id = :r"),
            {"t": tbl, "c": col, "r": row_id},
        ).scalar_one()


def _new(store, **kw):
    draft = records.ClientDraft(first_name="Ana", last_name="Ruiz", area_command="valley", confirm_duplicate=True, **kw)
    return records.create_client(store, draft)


# --- editing ------------------------------------------------------------------------------------


def test_edit_changes_identity_and_program_fields_and_keeps_each_change(store):
    client = _new(store)
    records.edit_client(
        store,
        client.id,
        first_name="  Ana María ",
        phone="505-555-0100",
        date_of_birth=date(2001, 4, 2),
        area_command="Foothills",
        age_group="18_24",
        referral_source="hospital",
        risk_flags=["retaliation_risk", "group_involved"],
    )
    assert _identity(store, client.id) == ("Ana María", "Ruiz", "", "2001-04-02", "505-555-0100")
    area, age, source, flags, status, *_ = _client_row(store, client.id)
    assert (area, age, source, flags, status) == (
        "foothills",
        "18_24",
        "hospital",
        "retaliation_risk,group_involved",
        "identified",
    )
    # The field's history is the change log: the phone was set at intake and once by the edit.
    assert _changes(store, "client_identity", "phone", client.id) == 2
    records.edit_client(store, client.id, phone="505-555-0100")  # no difference: nothing captured
    assert _changes(store, "client_identity", "phone", client.id) == 2


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"date_of_birth": date(2026, 12, 1)}, "date_of_birth", "future"),
        ({"date_of_birth": date(1850, 1, 1)}, "date_of_birth", "1900"),
        ({"first_name": "", "last_name": ""}, "first_name", "name or an alias"),
        ({"area_command": "narnia"}, "area_command", "not one of"),
        ({"risk_flags": ["brave"]}, "risk_flags", "not one of"),
        ({"phone": "505\x1b[2J"}, "phone", "control"),
        ({"status": "closed"}, "status", "cannot be edited"),
        ({"assigned_worker_id": "x"}, "assigned_worker_id", "cannot be edited"),
    ],
)
def test_a_bad_edit_names_its_field_and_changes_nothing(store, changes, field, words):
    client = _new(store)
    before = (_identity(store, client.id), _client_row(store, client.id))
    with pytest.raises(ValidationError) as exc:
        records.edit_client(store, client.id, **changes)
    assert exc.value.field == field and words in exc.value.message
    assert (_identity(store, client.id), _client_row(store, client.id)) == before


def test_editing_an_unknown_client_is_not_found(store):
    with pytest.raises(NotFound):
        records.edit_client(store, "0193c7a0-0000-7000-8000-000000000000", phone="1")


def test_an_edit_on_a_laptop_reaches_the_coordinator_in_a_real_bundle(tmp_path):
    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = _new(laptop)
        exchange(coord, [laptop], tmp_path / "r1")
        records.edit_client(laptop, client.id, phone="505-555-0142", aka="Flaco", area_command="southwest")
        exchange(coord, [laptop], tmp_path / "r2")
        assert _identity(coord, client.id)[2:] == ("Flaco", None, "505-555-0142")
        assert _client_row(coord, client.id)[0] == "southwest"
        with coord.read() as s:
            held = s.execute(text("SELECT count(*) FROM sync_quarantine")).scalar_one()
        assert held == 0  # the assigned worker's laptop may edit its client: nothing held
    finally:
        coord.close()
        laptop.close()


# --- closing and reopening --------------------------------------------------------------------------


def test_close_and_reopen_keep_the_reason_and_move_the_client_out_of_and_back_into_the_caseload(store):
    client = _new(store)
    records.record_notification(
        store,
        records.NotificationDraft(
            client_id=client.id, attempted_on=store.clock.today(), outcome="delivered", team=[("R", "peer_support")]
        ),
    )
    records.close_client(store, client.id, "moved away")
    _a, _b, _c, _d, status, reason, closed_on = _client_row(store, client.id)
    assert (status, reason, closed_on) == ("closed", "moved_away", store.clock.today().isoformat())
    assert client.id not in {r.client_id for r in caseload_service.caseload(store)}
    assert client.id in {r.client_id for r in caseload_service.caseload(store, include_closed=True)}
    with pytest.raises(ValidationError, match="already closed"):
        records.close_client(store, client.id, "deceased")
    records.reopen_client(store, client.id)
    _a, _b, _c, _d, status, reason, closed_on = _client_row(store, client.id)
    assert (status, reason, closed_on) == ("notified", None, None)  # back where its records put it
    assert client.id in {r.client_id for r in caseload_service.caseload(store)}
    with pytest.raises(ValidationError, match="not closed"):
        records.reopen_client(store, client.id)


def test_closing_needs_a_known_reason(store):
    client = _new(store)
    with pytest.raises(ValidationError) as exc:
        records.close_client(store, client.id, "bored")
    assert exc.value.field == "reason" and "lost_contact" in exc.value.message
    assert _client_row(store, client.id)[4] == "identified"


def test_closed_clients_stay_in_the_report(store):
    from vipterm.services import report as report_service

    today = store.clock.today()
    clients = [_new(store, identified_on=today - timedelta(days=3)) for _ in range(2)]
    for c in clients:
        records.record_notification(
            store,
            records.NotificationDraft(
                client_id=c.id,
                attempted_on=today - timedelta(days=1),
                outcome="delivered",
                team=[("R", "peer_support")],
            ),
        )
    month = today.strftime("%Y-%m")
    before = report_service.build_report(store, month)
    assert before.notifications_by_area.total.values["m"] == 2  # counted (so the comparison means something)
    records.close_client(store, clients[0].id, "completed")
    after = report_service.build_report(store, month)
    assert after == before  # closing changes no count: the client's history still counts


# --- the CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path):
    path = tmp_path / "cli.db"
    store = create_store(path, PASSPHRASE, worker_name="Rosa")
    client = _new(store)
    store.close()
    return path, client


def test_cli_update_by_pseudonym_and_by_prefix(cli_db):
    path, client = cli_db
    done = vipterm(
        "clients",
        "update",
        client.pseudonym.lower(),
        "--db",
        str(path),
        "--phone",
        "505-555-0177",
        "--area",
        "northeast",
        "--risk-flags",
        "retaliation_risk,on_supervision",
        "--date-of-birth",
        "1999-01-31",
    )
    assert done.returncode == 0, done.stderr
    assert client.pseudonym in done.stdout and "phone" in done.stdout and "505" not in done.stdout
    again = vipterm("clients", "update", client.id[:13], "--db", str(path), "--aka", "Gata", "--date-of-birth", "")
    assert again.returncode == 0, again.stderr
    shown = json.loads(vipterm("clients", "show", client.id, "--db", str(path), "--json").stdout)
    assert (shown["aka"], shown["date_of_birth"], shown["area_command"]) == ("Gata", None, "northeast")
    assert shown["risk_flags"] == ["retaliation_risk", "on_supervision"]


def test_cli_update_refuses_bad_values_and_changes_nothing(cli_db):
    path, client = cli_db
    bad = vipterm("clients", "update", client.pseudonym, "--db", str(path), "--area", "narnia", "--phone", "1")
    assert bad.returncode == 2 and "narnia" in bad.stderr and "Traceback" not in bad.stderr
    nothing = vipterm("clients", "update", client.pseudonym, "--db", str(path))
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    dob = vipterm("clients", "update", client.pseudonym, "--db", str(path), "--date-of-birth", "31/01/1999")
    assert dob.returncode == 2 and "YYYY-MM-DD" in dob.stderr
    unknown = vipterm("clients", "update", "VIP-NOSUCH", "--db", str(path), "--phone", "1")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    shown = json.loads(vipterm("clients", "show", client.id, "--db", str(path), "--json").stdout)
    assert shown["area_command"] == "valley"


def test_cli_close_and_reopen(cli_db):
    path, client = cli_db
    closed = vipterm("clients", "close", client.pseudonym, "--db", str(path), "--reason", "lost-contact")
    assert closed.returncode == 0, closed.stderr
    assert "lost contact" in closed.stdout
    listed = json.loads(vipterm("clients", "list", "--db", str(path), "--json").stdout)["clients"]
    assert client.id not in {r["id"] for r in listed}
    bad = vipterm("clients", "close", client.pseudonym, "--db", str(path), "--reason", "bored")
    assert bad.returncode == 2 and "'bored' is not one of" in bad.stderr
    again = vipterm("clients", "close", client.pseudonym, "--db", str(path), "--reason", "deceased")
    assert again.returncode == 2 and "already closed" in again.stderr
    reopened = vipterm("clients", "reopen", client.pseudonym, "--db", str(path))
    assert reopened.returncode == 0 and "identified" in reopened.stdout
    listed = json.loads(vipterm("clients", "list", "--db", str(path), "--json").stdout)["clients"]
    assert client.id in {r["id"] for r in listed}


# --- the field history ------------------------------------------------------------------------------


def test_each_edit_shows_in_the_field_history_on_the_coordinator(tmp_path):
    from vipterm.services.field_history import field_history

    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = _new(laptop)
        records.edit_client(laptop, client.id, phone="505-555-0101")
        exchange(coord, [laptop], tmp_path / "r1")
        records.edit_client(coord, client.id, phone="505-555-0202")
        records.close_client(coord, client.id, "declined")
        phones = field_history(coord, client.id, "phone")
        assert [(c.value, c.by) for c in phones] == [
            ("505-555-0202", "this device"),
            ("505-555-0101", "Worker One"),
            ("", "Worker One"),
        ]
        assert [c.value for c in field_history(coord, client.id, "closed_reason")] == ["declined", None]
        with pytest.raises(ValidationError):
            field_history(coord, client.id, "pseudonym")
    finally:
        coord.close()
        laptop.close()


def test_cli_history(cli_db):
    path, client = cli_db
    assert vipterm("clients", "update", client.pseudonym, "--db", str(path), "--phone", "505-555-0303").returncode == 0
    shown = vipterm("clients", "history", client.pseudonym, "--db", str(path), "--field", "phone")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "505-555-0303" in lines[0] and "this device" in lines[0] and len(lines) == 2
    as_json = json.loads(vipterm("clients", "history", client.id, "--db", str(path), "--json").stdout)["changes"]
    assert {"first_name", "phone", "area_command"} <= {c["field"] for c in as_json}


def test_closing_on_a_laptop_and_reopening_on_the_coordinator_sync_both_ways(tmp_path):
    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = _new(laptop)
        exchange(coord, [laptop], tmp_path / "r1")
        records.close_client(laptop, client.id, "incarcerated")
        exchange(coord, [laptop], tmp_path / "r2")
        assert _client_row(coord, client.id)[4:6] == ("closed", "incarcerated")
        records.reopen_client(coord, client.id)
        exchange(coord, [laptop], tmp_path / "r3")
        assert _client_row(laptop, client.id)[4:] == ("identified", None, None)
        assert client.id in {r.client_id for r in caseload_service.caseload(laptop)}
    finally:
        coord.close()
        laptop.close()
