"""A malicious enrolled worker: laptop A is enrolled for real and its owner knows the passphrase,
so A signs every forged bundle with its own real device key. It writes forged rows straight
into its own database (with change capture, as a modified vipterm would) and exports.

Each test asserts that the forged change is held in the quarantine (with its reason, the device
and the bundle) or refused with a specific message, that the rest of the bundle and the rest of
the coordinator are unchanged, and that `clients list --all`, `clients show` and the monthly
report still work on the coordinator and, after the return bundle, on laptop A.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.sync_support import PASSPHRASE, enrolled_program, exchange
from vipterm import cli
from vipterm.errors import NotFound
from vipterm.services import quarantine, records
from vipterm.services import sync as sync_service
from vipterm.sync import merge as merge_engine
from vipterm.sync.capture import Capture, record_changes
from vipterm.sync.field_clocks import clocks_of

STAMP = "2026-11-20 10:00:00.000000"


class World:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.coord, (self.a, self.b) = enrolled_program(tmp, "c.db", ("a.db", "Worker A"), ("b.db", "Worker B"))
        self.ca = records.create_client(
            self.a,
            records.ClientDraft(first_name="Alma", last_name="Avila", phone="505-555-0111", area_command="valley"),
        )
        self.cb = records.create_client(
            self.b,
            records.ClientDraft(first_name="Beto", last_name="Baca", phone="505-555-0122", area_command="foothills"),
        )
        self.rounds = 0
        self.round()

    def round(self, workers=None):
        self.rounds += 1
        exchange(self.coord, workers or [self.a, self.b], self.tmp / f"round{self.rounds}")

    def upload(self, laptop):
        """The laptop's next bundle, imported at the coordinator: the import result."""
        self.rounds += 1
        up = self.tmp / f"up{self.rounds}"
        up.mkdir()
        sync_service.export(laptop, up)
        [result] = sync_service.import_bundles(self.coord, [up])
        assert not result.refused, result.message
        return result

    def give_back(self, laptop):
        self.rounds += 1
        down = self.tmp / f"down{self.rounds}"
        down.mkdir()
        [out] = sync_service.export(self.coord, down, device=laptop.device_id)
        [result] = sync_service.import_bundles(laptop, [out.path])
        assert not result.refused, result.message
        return result

    def close(self):
        for s in (self.coord, self.a, self.b):
            s.close()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def forge(store, changes, *, rows=True):
    """Write forged field values into the laptop's own records and its outbox (capture), as a
    modified vipterm on the attacker's laptop would. `rows=False`: the outbox only (new records,
    or values the laptop's own schema would not take)."""
    with store.write() as s:
        conn = s.connection()
        if rows:
            for tbl, row_id, col, value in changes:
                pk = merge_engine.tables()[tbl].pk
                conn.exec_driver_sql(f'UPDATE "{tbl}" SET "{col}" = ? WHERE "{pk}" = ?', (value, row_id))
        record_changes(s, Capture(store.device_id), changes)


def new_row(tbl, row_id, **values):
    """Every column of a new record (defaults from an honest one), as change tuples."""
    ti = merge_engine.tables()[tbl]
    return [(tbl, row_id, col, values.get(col)) for col in ti.columns[1:]]


def contact_values(client_id, worker_id, **over):
    base = dict(
        client_id=client_id,
        worker_id=worker_id,
        occurred_at=STAMP,
        mode="in_person",
        purpose="check_in",
        outcome="reached",
        duration_min=None,
        area_command="valley",
        note="forged",
        created_at=STAMP,
        deleted_at=None,
    )
    base.update(over)
    return base


def vip(capsys, store, *args) -> tuple[int, str, str]:
    """The real command line, in process, on `store`'s database file."""
    capsys.readouterr()
    code = cli.main(["--db", str(store.path), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)


def assert_lists_work(capsys, store, client_id):
    code, out, err = vip(capsys, store, "clients", "list", "--all", "--json")
    assert code == 0 and "internal error" not in err, err
    assert client_id in {r["id"] for r in json.loads(out)["clients"]}
    code, out, err = vip(capsys, store, "clients", "show", client_id, "--json")
    assert code == 0 and "internal error" not in err, err
    code, out, err = vip(capsys, store, "report", "--month", "2026-11", "--format", "json")
    assert code == 0 and "internal error" not in err, err


def field(store, tbl, row_id, col):
    pk = merge_engine.tables()[tbl].pk
    with store.database.engine.connect() as conn:
        row = conn.exec_driver_sql(f'SELECT "{col}" FROM "{tbl}" WHERE "{pk}" = ?', (row_id,)).first()
    return None if row is None else row[0]


def count(store, sql, *params):
    with store.database.engine.connect() as conn:
        return conn.exec_driver_sql(sql, params).scalar_one()


def held(store):
    return quarantine.list_quarantine(store)


# --- finding 4: no validation at merge ----------------------------------------------------------------


def test_invalid_values_are_held_and_the_rest_of_the_bundle_applies(world, capsys):
    coord, a, ca = world.coord, world.a, world.ca
    before_status = field(coord, "client", ca.id, "status")
    records.update_client(a, ca.id, area_command="southeast")  # an honest change in the same bundle
    forge(a, [("client", ca.id, "status", "pwned"), ("client", ca.id, "identified_on", 12345)])
    result = world.upload(a)
    assert result.summary["quarantined"] == 2
    assert "2 change(s) held in the quarantine" in result.message
    assert field(coord, "client", ca.id, "status") == before_status
    assert field(coord, "client", ca.id, "identified_on") != 12345
    assert field(coord, "client", ca.id, "area_command") == "southeast"  # one bad change blocks nothing else
    items = {q.col: q for q in held(coord)}
    assert set(items) == {"status", "identified_on"}
    assert items["status"].code == "invalid" and "client.status is not one of" in items["status"].reason
    assert "pwned" not in items["status"].reason  # reasons never carry a value
    assert items["identified_on"].reason == "client.identified_on is not a date (YYYY-MM-DD)"
    for q in items.values():
        assert q.device == a.device_id and q.bundle_id == result.bundle_id and q.sent_by == "Worker A"
        assert q.record.startswith("client VIP-")
    assert_lists_work(capsys, coord, ca.id)
    assert sync_service.sync_status(coord).quarantine_open == 2
    code, out, err = vip(capsys, coord, "sync", "status")
    assert code == 0 and "held in the quarantine 2" in out
    # The laptop held its forged values; the return bundle brings it back to the coordinator's.
    world.give_back(a)
    assert field(a, "client", ca.id, "status") == before_status
    assert field(a, "client", ca.id, "area_command") == "southeast"
    assert_lists_work(capsys, a, ca.id)


def test_a_duplicate_pseudonym_is_held(world):
    coord, a, cb = world.coord, world.a, world.cb
    taken = field(coord, "client", cb.id, "pseudonym")
    new_id = "01930000-0000-7000-8000-00000000d0b1"
    forge(
        a,
        new_row(
            "client",
            new_id,
            pseudonym=taken,
            age_group="unknown",
            area_command="valley",
            referral_source="other",
            status="identified",
            risk_flags="",
            assigned_worker_id=a.worker_id,
            identified_on="2026-11-01",
            created_at=STAMP,
        ),
        rows=False,
    )
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"duplicate": 1}
    assert count(coord, "SELECT count(*) FROM client WHERE pseudonym = ?", taken) == 1
    [q] = held(coord)
    assert q.row_id == new_id and q.col == "" and q.reason == "client.pseudonym is already another client's"
    # Accepting it (two laptops can draw the same pseudonym) gives the new client another one.
    message = quarantine.accept(coord, q.id)
    fresh = field(coord, "client", new_id, "pseudonym")
    assert fresh != taken and fresh in message
    assert count(coord, "SELECT count(*) FROM client WHERE pseudonym = ?", taken) == 1
    world.give_back(a)
    assert field(a, "client", new_id, "pseudonym") == fresh  # the laptop takes the new pseudonym


# --- finding 5: forged attribution, staff names and roles -------------------------------------------------


def test_a_contact_attributed_to_another_worker_is_held(world, capsys):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    contact_id = "01930000-0000-7000-8000-0000000c0a71"
    forge(a, new_row("contact", contact_id, **contact_values(ca.id, b.worker_id)), rows=False)
    per_worker = count(coord, "SELECT count(*) FROM contact WHERE worker_id = ?", b.worker_id)
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 1}
    [q] = held(coord)
    assert (
        q.reason == "contact attributed to another worker (worker_id)"
        and q.record == f"new contact of {field(coord, 'client', ca.id, 'pseudonym')}"
    )
    assert count(coord, "SELECT count(*) FROM contact WHERE id = ?", contact_id) == 0
    assert count(coord, "SELECT count(*) FROM contact WHERE worker_id = ?", b.worker_id) == per_worker
    world.round()
    assert count(b, "SELECT count(*) FROM client WHERE id = ?", ca.id) == 0  # not pushed onto B's laptop
    assert_lists_work(capsys, coord, ca.id)


def test_renaming_the_coordinator_and_a_new_coordinator_staff_row_are_held(world, capsys):
    coord, a, ca = world.coord, world.a, world.ca
    forge(a, [("worker", coord.worker_id, "display_name", "Pwned")])
    rogue = "01930000-0000-7000-8000-000000000bad"
    forge(
        a,
        new_row("worker", rogue, display_name="Boss", role="coordinator", active=1, created_at=STAMP, deleted_at=None),
        rows=False,
    )
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 2}
    reasons = {q.reason for q in held(coord)}
    assert reasons == {"a laptop may not change another staff member", "a laptop may not add staff members"}
    assert field(coord, "worker", coord.worker_id, "display_name") == "Coordinator"
    assert count(coord, "SELECT count(*) FROM worker WHERE id = ?", rogue) == 0
    assert count(coord, "SELECT count(*) FROM worker WHERE role = 'coordinator'") == 1
    world.round()
    for store in (world.a, world.b):  # the coordinator's name everywhere, the laptop's forgery undone
        assert field(store, "worker", coord.worker_id, "display_name") == "Coordinator"
    assert_lists_work(capsys, a, ca.id)


def test_a_forged_role_on_its_own_staff_row_is_held(world):
    coord, a = world.coord, world.a
    forge(a, [("worker", a.worker_id, "role", "coordinator")])
    result = world.upload(a)
    assert result.summary["refused_fields"] == {"worker.role": 1}
    assert field(coord, "worker", a.worker_id, "role") == "worker"
    world.give_back(a)
    assert field(a, "worker", a.worker_id, "role") == "worker"


# --- write scope: other workers' clients ------------------------------------------------------------------


def test_changes_to_another_workers_client_are_held_and_pull_nothing(world, capsys):
    coord, a, b, cb = world.coord, world.a, world.b, world.cb
    forge(a, [("client_identity", cb.id, "phone", "505-555-0999"), ("client", cb.id, "status", "closed")], rows=False)
    forge(
        a, new_row("contact", "01930000-0000-7000-8000-0000000c0b02", **contact_values(cb.id, a.worker_id)), rows=False
    )
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 3}
    assert field(coord, "client_identity", cb.id, "phone") == "505-555-0122"
    assert field(coord, "client", cb.id, "status") == "identified"
    world.round()
    # A forged contact never pulls the client's identity onto the forger's laptop.
    assert count(a, "SELECT count(*) FROM client_identity WHERE client_id = ?", cb.id) == 0
    assert count(a, "SELECT count(*) FROM client WHERE id = ?", cb.id) == 0
    assert field(b, "client_identity", cb.id, "phone") == "505-555-0122"
    assert_lists_work(capsys, coord, cb.id)


def test_a_worker_cannot_reassign_a_client(world):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    forge(a, [("client", ca.id, "assigned_worker_id", b.worker_id)])
    result = world.upload(a)
    assert result.summary["refused_fields"] == {"client.assigned_worker_id": 1}
    assert field(coord, "client", ca.id, "assigned_worker_id") == a.worker_id
    world.round()
    assert count(b, "SELECT count(*) FROM client WHERE id = ?", ca.id) == 0


# --- finding 9: a reference to a record that does not exist -------------------------------------------------


def test_a_reference_to_a_missing_record_is_held_not_an_internal_error(world, capsys):
    coord, a = world.coord, world.a
    ghost = "01930000-0000-7000-8000-00000000dead"
    forge(
        a, new_row("contact", "01930000-0000-7000-8000-0000000c0c03", **contact_values(ghost, a.worker_id)), rows=False
    )
    forge(a, [("client", ghost, "status", "active")], rows=False)  # a change to a record nobody has
    up = world.tmp / "ghost"
    up.mkdir()
    sync_service.export(a, up)
    code, out, err = vip(capsys, coord, "sync", "import", str(up))
    assert code == 0 and "internal error" not in err, err
    assert "2 change(s) held in the quarantine" in out
    reasons = sorted(q.reason for q in held(coord))
    assert reasons == [
        "a change to a client record that does not exist here",
        "contact.client_id refers to a client that does not exist here (or is held for review)",
    ]
    assert count(coord, "SELECT count(*) FROM contact WHERE client_id = ?", ghost) == 0


# --- finding 3: deletes are reviewable; forged deletes are not applied ---------------------------------------


def test_a_forged_delete_of_another_workers_client_is_not_applied(world, capsys):
    coord, a, b, cb = world.coord, world.a, world.b, world.cb
    forge(a, [("client", cb.id, "deleted_at", STAMP)], rows=False)
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 1}
    assert field(coord, "client", cb.id, "deleted_at") is None
    world.round()
    assert field(b, "client", cb.id, "deleted_at") is None
    assert_lists_work(capsys, coord, cb.id)


def test_a_workers_own_delete_hides_the_record_until_the_coordinator_decides(world, capsys):
    coord, a, ca = world.coord, world.a, world.ca
    contact = records.log_contact(a, records.ContactDraft(client_id=ca.id, outcome="reached", note="visit"))
    world.round()
    forge(a, [("contact", contact.id, "deleted_at", STAMP), ("client", ca.id, "deleted_at", STAMP)])
    result = world.upload(a)
    assert result.summary["deletes_for_review"] == 2 and result.summary["quarantined"] == 0
    assert field(coord, "client", ca.id, "deleted_at") is not None  # hidden ...
    assert field(coord, "client_identity", ca.id, "first_name") == "Alma"  # ... with its data kept
    deletes = {q.tbl: q for q in held(coord)}
    assert {q.kind for q in deletes.values()} == {"delete"}
    # Restore the client (discard the delete), confirm the contact's delete (accept it).
    assert "restored" in quarantine.discard(coord, deletes["client"].id)
    assert "confirmed" in quarantine.accept(coord, deletes["contact"].id)
    assert field(coord, "client", ca.id, "deleted_at") is None
    assert field(coord, "contact", contact.id, "deleted_at") is not None
    assert held(coord) == []
    world.give_back(a)
    assert field(a, "client", ca.id, "deleted_at") is None  # restored on the laptop too
    assert field(a, "contact", contact.id, "deleted_at") is not None
    assert_lists_work(capsys, a, ca.id)


def test_a_restored_fact_comes_back_on_the_laptop(world):
    """Facts are add-only, but their tombstone follows the per-field rule: a restore wins."""
    coord, a, ca = world.coord, world.a, world.ca
    contact = records.log_contact(a, records.ContactDraft(client_id=ca.id, outcome="reached", note="kept"))
    world.round()
    forge(a, [("contact", contact.id, "deleted_at", STAMP)])
    world.upload(a)
    [q] = held(coord)
    quarantine.discard(coord, q.id)
    world.give_back(a)
    assert field(a, "contact", contact.id, "deleted_at") is None
    assert field(coord, "contact", contact.id, "deleted_at") is None


# --- the caseload boundary ----------------------------------------------------------------------------------


def test_a_reassigned_client_is_erased_from_the_old_laptop_and_sends_nothing_more(world):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    contact = records.log_contact(a, records.ContactDraft(client_id=ca.id, outcome="reached", note="visit"))
    world.round()
    records.update_client(coord, ca.id, assigned_worker_id=b.worker_id)
    result = world.give_back(a)
    assert result.summary["left_caseload"] == 1
    assert "1 client(s) left this laptop's caseload and were erased here" in result.message
    assert "Alma" not in result.message
    for tbl, col in (
        ("client", "id"),
        ("client_identity", "client_id"),
        ("contact", "client_id"),
        ("follow_up", "client_id"),
    ):
        assert count(a, f"SELECT count(*) FROM {tbl} WHERE {col} = ?", ca.id) == 0, tbl
    with a.database.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM field_version WHERE row_id = ?", (ca.id,)).scalar_one() == 0
    world.give_back(b)
    assert field(b, "client_identity", ca.id, "first_name") == "Alma"  # B has the whole file
    assert count(b, "SELECT count(*) FROM contact WHERE id = ?", contact.id) == 1
    # Later changes about the client never reach A, not even through the contact A once logged.
    records.update_client(coord, ca.id, phone="505-555-0777")
    records.log_contact(b, records.ContactDraft(client_id=ca.id, outcome="reached", note="new address"))
    world.round()
    assert count(a, "SELECT count(*) FROM client WHERE id = ?", ca.id) == 0
    assert count(a, "SELECT count(*) FROM client_identity WHERE client_id = ?", ca.id) == 0
    assert field(b, "client_identity", ca.id, "phone") == "505-555-0777"
    # A's forged contact on the client is held and pulls nothing back.
    forge(
        a, new_row("contact", "01930000-0000-7000-8000-0000000c0d04", **contact_values(ca.id, a.worker_id)), rows=False
    )
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 1}
    world.give_back(a)
    assert count(a, "SELECT count(*) FROM client_identity WHERE client_id = ?", ca.id) == 0


def test_a_client_reassigned_back_returns_whole(world):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    records.update_client(coord, ca.id, assigned_worker_id=b.worker_id)
    world.round()
    assert count(a, "SELECT count(*) FROM client WHERE id = ?", ca.id) == 0
    records.update_client(coord, ca.id, assigned_worker_id=a.worker_id)
    world.round()
    assert field(a, "client_identity", ca.id, "first_name") == "Alma"
    world.round()
    assert field(b, "client", ca.id, "id") is None  # and it left B's laptop


def test_the_erase_notice_repeats_until_the_laptop_acknowledges_it(world):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    records.update_client(coord, ca.id, assigned_worker_id=b.worker_id)
    lost = world.tmp / "lost"
    lost.mkdir()
    sync_service.export(coord, lost, device=a.device_id)  # this return bundle never reaches the laptop
    assert world.give_back(a).summary["left_caseload"] == 1  # the next one still says it
    assert count(a, "SELECT count(*) FROM client WHERE id = ?", ca.id) == 0


def test_a_revoked_device_receives_nothing_more(world):
    coord, a = world.coord, world.a
    sync_service.revoke(coord, a.device_id)
    out = world.tmp / "after-revoke"
    out.mkdir()
    results = sync_service.export(coord, out)
    assert a.device_id not in {r.for_device for r in results}
    with pytest.raises(NotFound):
        sync_service.export(coord, out, device=a.device_id)


# --- the quarantine, reviewed ------------------------------------------------------------------------------


def test_the_coordinator_accepts_or_discards_held_changes(world, capsys):
    coord, a, b, ca, cb = world.coord, world.a, world.b, world.ca, world.cb
    forge(a, [("client", ca.id, "status", "pwned")])
    shared_contact = "01930000-0000-7000-8000-0000000c0e05"
    forge(a, new_row("contact", shared_contact, **contact_values(cb.id, a.worker_id, note="met both")), rows=False)
    world.upload(a)
    code, out, err = vip(capsys, coord, "sync", "quarantine", "list", "--json")
    assert code == 0, err
    entries = {e["tbl"]: e for e in json.loads(out)["entries"]}
    assert set(entries) == {"client", "contact"}
    assert entries["contact"]["reason"] == "a record about a client assigned to another worker"
    assert entries["contact"]["device"] == a.device_id and entries["contact"]["bundle_id"]
    code, out, err = vip(capsys, coord, "sync", "quarantine", "show", entries["contact"]["id"], "--json")
    assert code == 0 and json.loads(out)["fields"]["note"] == "met both"
    # An invalid value cannot be accepted; an out-of-scope one can, as the coordinator's decision.
    code, out, err = vip(capsys, coord, "sync", "quarantine", "accept", entries["client"]["id"])
    assert code == 2 and "cannot be accepted: client.status is not one of" in err
    code, out, err = vip(capsys, coord, "sync", "quarantine", "accept", entries["contact"]["id"])
    assert code == 0, err
    assert count(coord, "SELECT count(*) FROM contact WHERE id = ?", shared_contact) == 1
    code, out, err = vip(capsys, coord, "sync", "quarantine", "discard", entries["client"]["id"])
    assert code == 0 and "discarded" in out
    code, out, err = vip(capsys, coord, "sync", "quarantine", "list", "--json")
    assert json.loads(out)["entries"] == []
    code, out, err = vip(capsys, coord, "sync", "quarantine", "accept", entries["client"]["id"])
    assert code == 2 and "already discarded" in err
    code, out, err = vip(capsys, coord, "sync", "quarantine", "show", "no-such-entry")
    assert code == 9
    world.round()
    assert count(b, "SELECT count(*) FROM contact WHERE id = ?", shared_contact) == 1  # accepted: B gets it


def test_held_values_are_erased_by_a_purge(world):
    coord, a, ca = world.coord, world.a, world.ca
    forge(a, [("client_identity", ca.id, "first_name", "x" * 500)])
    forge(
        a,
        new_row(
            "contact", "01930000-0000-7000-8000-0000000c0f06", **contact_values(ca.id, a.worker_id, outcome="pwned")
        ),
        rows=False,
    )  # held whole
    world.upload(a)
    assert len(held(coord)) == 2
    sync_service.purge_client(coord, ca.id)
    assert held(coord) == []
    with coord.database.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sync_quarantine").scalar_one() == 0


def test_the_merge_rules_and_the_services_rules_agree():
    from vipterm.services import records as services_records
    from vipterm.sync import validate

    assert validate.MAX_NOTE_LENGTH == services_records.MAX_NOTE_LENGTH
    for name, enum_cls in services_records._FIELD_ENUMS.items():
        assert validate.ENUMS[("client", name)] is enum_cls
    made = int((datetime(2026, 11, 20) - datetime(1970, 1, 1)).total_seconds() * 1000)
    assert validate.check_value("contact", "occurred_at", "2026-11-20T10:00", made) is not None
    assert validate.check_value("contact", "occurred_at", "2026-11-20 10:00:00", made) is None
    assert validate.check_value("client", "risk_flags", "retaliation_risk,nope", 0).code == "invalid"
    assert validate.check_value("client_identity", "first_name", "Ana\x1b[2J", 0) is not None
    assert validate.check_value("assessment_item", "level", 4, 0) is not None
    assert validate.check_value("worker", "active", True, 0) is None
    assert (
        validate.check_value("outcome", "occurred_on", "2026-12-25", made).reason
        == "outcome.occurred_on is in the future"
    )


# --- honest work is never held -----------------------------------------------------------------------------


def test_an_honest_day_on_a_laptop_is_applied_whole(world):
    """Everything the services let a worker do passes the scope and the rules at the coordinator."""
    from datetime import date, timedelta

    from vipterm import domain

    coord, a, ca = world.coord, world.a, world.ca
    today = a.clock.today()
    new = records.create_client(
        a,
        records.ClientDraft(
            aka="Newcomer", area_command="northeast", date_of_birth=date(2001, 3, 4), phone="505-555-0133"
        ),
    )
    records.record_notification(
        a,
        records.NotificationDraft(
            client_id=new.id, attempted_on=today, team=[("Peer", "peer_support")], messages=["offer_of_help"]
        ),
    )
    records.log_contact(
        a,
        records.ContactDraft(
            client_id=ca.id,
            outcome="reached",
            note="line one\nline two",
            duration_min=20,
            next_follow_up=today + timedelta(days=7),
        ),
    )
    records.log_attempt(a, ca.id, "no_answer")
    records.record_assessment(
        a, records.AssessmentDraft(client_id=ca.id, levels={"housing": 3, "food": 1}, priorities={"housing"})
    )
    provider = records.add_provider(a, "Corner Pantry", "food")
    referral = records.create_referral(a, records.ReferralDraft(ca.id, "food", provider.id))
    records.set_referral_status(a, referral.id, "accepted")
    records.record_outcome(a, ca.id, "job", today)
    records.schedule_follow_up(a, ca.id, today + timedelta(days=3), kind="court_date", note="hearing")
    records.complete_next_follow_up(a, ca.id)
    records.update_client(a, ca.id, status="active", risk_flags=["retaliation_risk"], phone="505-555-0144")
    records.record_audit(a, domain.AuditAction.VIEW_IDENTITY, ca.id, "looked")
    result = world.upload(a)
    assert result.summary["quarantined"] == 0 and result.summary["refused_fields"] == {}, result.summary
    assert held(coord) == []
    assert count(coord, "SELECT count(*) FROM provider WHERE id = ?", provider.id) == 1
    assert field(coord, "referral", referral.id, "status") == "accepted"
    assert field(coord, "client_identity", ca.id, "phone") == "505-555-0144"
    assert count(coord, "SELECT count(*) FROM audit_entry WHERE worker_id = ?", a.worker_id) >= 1
    # The directory entry is the coordinator's from then on: the laptop cannot change it.
    forge(a, [("provider", provider.id, "phone", "505-555-0000")])
    assert world.upload(a).summary["quarantined_by_reason"] == {"scope": 1}


def test_forged_audit_follow_up_and_moves_are_held(world):
    coord, a, b, ca, cb = world.coord, world.a, world.b, world.ca, world.cb
    fu = records.schedule_follow_up(a, ca.id, a.clock.today())
    world.round()
    forge(a, [("follow_up", fu.id, "client_id", cb.id)], rows=False)  # moving a record onto another client
    forge(a, [("follow_up", fu.id, "owner_id", b.worker_id)])  # handing it to someone else
    forge(
        a,
        new_row(
            "audit_entry",
            "01930000-0000-7000-8000-0000000a0d17",
            at=STAMP,
            worker_id=b.worker_id,
            device_id=b.device_id,
            action="view_identity",
            client_id=cb.id,
            detail="",
            deleted_at=None,
        ),
        rows=False,
    )
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 3}
    reasons = {q.reason for q in held(coord)}
    assert reasons == {
        "a laptop may not move a record to another client",
        "follow up attributed to another worker (owner_id)",
        "an audit entry attributed to another worker or device",
    }
    assert field(coord, "follow_up", fu.id, "client_id") == ca.id
    assert field(coord, "follow_up", fu.id, "owner_id") == a.worker_id


def test_work_logged_after_a_reassignment_reaches_the_coordinator_for_review(world):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    records.update_client(coord, ca.id, assigned_worker_id=b.worker_id)
    late = records.log_contact(a, records.ContactDraft(client_id=ca.id, outcome="reached", note="before I knew"))
    world.give_back(a)  # the client is erased here; the contact not yet sent stays in the outbox
    assert count(a, "SELECT count(*) FROM contact WHERE id = ?", late.id) == 0
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 1}
    [q] = held(coord)
    assert q.row_id == late.id and q.reason == "a record about a client assigned to another worker"
    quarantine.accept(coord, q.id)  # the coordinator keeps it: it is B's client's history now
    assert count(coord, "SELECT count(*) FROM contact WHERE id = ?", late.id) == 1
    world.round()
    assert count(b, "SELECT count(*) FROM contact WHERE id = ?", late.id) == 1
    assert count(a, "SELECT count(*) FROM contact WHERE id = ?", late.id) == 0
    with a.database.engine.connect() as conn:  # acknowledged: gone from A's outbox too
        assert conn.exec_driver_sql("SELECT count(*) FROM change_log WHERE row_id = ?", (late.id,)).scalar_one() == 0


def test_a_laptop_holds_back_an_invalid_value_in_a_return_bundle():
    """Laptops check what arrives too (defence in depth): the value waits in their own quarantine."""
    from tests.sync_support import FakeWall, Replica, make_client, make_worker
    from vipterm.sync.merge import Change, MergeOptions, pack

    wall = FakeWall()
    laptop = Replica("dev-l", "wk-l", wall)
    with laptop.write() as s:
        make_worker(s, "wk-l", "Laptop")
    with laptop.write() as s:
        make_client(s, "cl-000001", "wk-l")
    bad = Change("dev-c", 0, (wall() + 1000) << 16, "client", "cl-000001", "set", "status", pack("pwned"), None, None)
    good = Change(
        "dev-c", 0, (wall() + 1000) << 16, "client", "cl-000001", "set", "area_command", pack("valley"), None, None
    )
    plan = laptop.merge([bad, good], MergeOptions())
    assert [h.reason for h in plan.held][0].startswith("client.status is not one of")
    dump = laptop.dump()["client"][0]
    assert "pwned" not in dump and "valley" in dump
    with laptop.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sync_quarantine").scalar_one() == 1


def test_a_field_it_may_not_write_sent_with_the_value_held_is_no_change(world):
    coord, a, ca = world.coord, world.a, world.ca
    forge(
        a,
        [
            ("client", ca.id, "assigned_worker_id", a.worker_id),
            ("worker", coord.worker_id, "display_name", "Coordinator"),
        ],
    )
    result = world.upload(a)
    assert result.summary["quarantined"] == 0 and result.summary["refused_fields"] == {}
    assert held(coord) == []


def test_a_dry_run_says_what_would_be_held_and_writes_nothing(world):
    from tests.sync_support import file_state

    coord, a, ca = world.coord, world.a, world.ca
    forge(a, [("client", ca.id, "status", "pwned")])
    up = world.tmp / "dry"
    up.mkdir()
    sync_service.export(a, up)
    before = file_state(coord)
    [result] = sync_service.import_bundles(coord, [up], dry_run=True)
    assert result.status == "would apply" and "1 change(s) would be held in the quarantine" in result.message
    assert file_state(coord) == before and held(coord) == []


def test_doctor_finds_values_a_merge_took_before_the_checks(world, capsys):
    """A coordinator that merged a forged bundle before this release: doctor says where, no value."""
    coord, ca = world.coord, world.ca
    code, out, err = vip(capsys, coord, "doctor")
    assert code == 0, out + err
    with coord.database.engine.begin() as conn:  # as the unchecked merge wrote them
        conn.exec_driver_sql(
            "UPDATE client SET status = 'pwned', identified_on = 12345, risk_flags = 'bogus' WHERE id = ?", (ca.id,)
        )
    code, out, err = vip(capsys, coord, "doctor", "--json")
    assert code == 8
    assert json.loads(out)["values_breaking_rules"] == {
        "client.status": 1,
        "client.identified_on": 1,
        "client.risk_flags": 1,
    }
    code, out, err = vip(capsys, coord, "doctor")
    assert "1 stored value(s) of client.status break the rules" in out and "pwned" not in out


def test_an_older_return_bundle_imported_late_brings_no_erased_client_back(world):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    early = world.tmp / "early"
    early.mkdir()
    [old] = sync_service.export(coord, early, device=a.device_id)  # still holds the client whole
    records.update_client(coord, ca.id, assigned_worker_id=b.worker_id)
    assert world.give_back(a).summary["left_caseload"] == 1
    [result] = sync_service.import_bundles(a, [old.path])  # the stick still had the older one
    assert not result.refused
    assert count(a, "SELECT count(*) FROM client WHERE id = ?", ca.id) == 0
    assert count(a, "SELECT count(*) FROM client_identity WHERE client_id = ?", ca.id) == 0


def test_a_replaced_laptop_receives_nothing_more_and_the_new_one_gets_the_caseload(world):
    from vipterm.domain import Role
    from vipterm.services.database import create_store

    coord, a, ca = world.coord, world.a, world.ca
    new = create_store(world.tmp / "a2.db", PASSPHRASE, worker_name="Worker A", role=Role.WORKER)
    try:
        req = sync_service.enroll_request(new, world.tmp / "a2.vipreq")
        grant = sync_service.enroll_approve(
            coord,
            req.path.read_bytes(),
            world.tmp / "a2.vipgrant",
            fingerprint=req.fingerprint,
            worker=a.worker_id,
            replaces=a.device_id,
        )
        sync_service.enroll_accept(new, grant.path.read_bytes())
        records.update_client(coord, ca.id, phone="505-555-0188")
        out = world.tmp / "after-replace"
        out.mkdir()
        results = {r.for_device: r for r in sync_service.export(coord, out)}
        assert a.device_id not in results and new.device_id in results
        sync_service.import_bundles(new, [results[new.device_id].path])
        assert field(new, "client_identity", ca.id, "phone") == "505-555-0188"
        # The old laptop's later bundles are refused: it can no longer write anything.
        forge(a, [("client", ca.id, "status", "closed")])
        up = world.tmp / "old-up"
        up.mkdir()
        sync_service.export(a, up)
        [result] = sync_service.import_bundles(coord, [up])
        assert result.refused and result.code == "revoked"
        assert field(coord, "client", ca.id, "status") == "identified"
    finally:
        new.close()


def test_a_discarded_new_client_is_erased_from_the_laptop_that_made_it(world):
    coord, a, b = world.coord, world.a, world.b
    theirs = records.create_client(a, records.ClientDraft(first_name="Other", assigned_worker_id=b.worker_id))
    records.log_contact(a, records.ContactDraft(client_id=theirs.id, outcome="reached", note="met"))
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"]["scope"] >= 1
    entry = next(q for q in held(coord) if q.tbl == "client" and q.row_id == theirs.id)
    assert entry.reason == "a new client assigned to another worker"
    assert "erases it" in quarantine.discard(coord, entry.id)
    back = world.give_back(a)
    assert back.summary["left_caseload"] == 1
    assert count(a, "SELECT count(*) FROM client WHERE id = ?", theirs.id) == 0
    assert count(a, "SELECT count(*) FROM contact WHERE client_id = ?", theirs.id) == 0
    assert count(coord, "SELECT count(*) FROM client WHERE id = ?", theirs.id) == 0


def test_a_laptop_cannot_pose_as_the_coordinator_to_another_laptop(world):
    # Laptop A signs a "return" bundle with its own real key, encrypted to laptop B, telling B to
    # erase its client, to change the program's time zone and to take a renamed client.
    from vipterm.store.migrations import SCHEMA_VERSION
    from vipterm.sync import bundle as bundle_format
    from vipterm.sync import clock as hlc_clock

    attacker = sync_service.load_trust(world.a)
    roster = attacker.roster()
    victim = roster.entry_for_device(world.b.device_id)
    out = world.tmp / "forged-return"
    out.mkdir()
    stamp = hlc_clock.tick(0, hlc_clock.wall_ms())
    path = bundle_format.write_bundle(
        out,
        header_fields={
            "program_id": world.a.identity.program_id,
            "schema_version": SCHEMA_VERSION,
            "kind": "return",
            "source_device": world.a.device_id,
            "created_hlc": stamp,
            "extra": {"for_device": world.b.device_id, "since": 0, "upto": stamp},
        },
        payload={
            "changes": [],
            "ack": 0,
            "program": {"time_zone": "Pacific/Kiritimati"},
            "erase": [world.cb.id],
            "origins": [],
        },
        signer=attacker.device_keys,
        recipients=[victim.age_recipient],
        roster_blob=attacker.roster_blob,
    )
    zone_before = world.b.time_zone
    [result] = sync_service.import_bundles(world.b, [path])
    assert result.refused and "coordinator" in result.message
    assert world.b.time_zone == zone_before
    assert count(world.b, "SELECT count(*) FROM client WHERE id = ?", world.cb.id) == 1


def test_a_forged_whole_record_clock_is_refused_and_every_field_keeps_its_clock(world):
    # A record made on the coordinator keeps one clock for all its fields (column `*`). A modified
    # laptop that sent a change to that column, stamped late, would make every field of the record
    # look newer than any honest edit to come: the bundle is refused whole, and nothing moves.
    coord, a = world.coord, world.a
    made = records.create_client(
        coord, records.ClientDraft(first_name="Cruz", last_name="Chavez", assigned_worker_id=a.worker_id)
    )
    world.round()
    assert field(a, "client", made.id, "pseudonym") == made.pseudonym  # the laptop holds the record
    with coord.read() as s:
        before = clocks_of(s.connection(), "client", [made.id])
    assert {col for _r, col in before} >= {"status", "area_command"}
    forge(a, [("client", made.id, "*", 99)], rows=False)
    up = world.tmp / "forged-clock"
    up.mkdir()
    sync_service.export(a, up)
    [result] = sync_service.import_bundles(coord, [up])
    assert result.refused and "unknown column" in result.message
    with coord.read() as s:
        assert clocks_of(s.connection(), "client", [made.id]) == before
        assert (
            s.execute(
                text("SELECT count(*) FROM field_version WHERE col = '*' AND device = :d"), {"d": a.device_id}
            ).scalar_one()
            == 0
        )
