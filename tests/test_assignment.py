"""Assignment, handover and replacement laptops, end to end with real enrolled laptops.

Real encrypted stores, real keys, real bundles (tests.sync_support): the coordinator assigns by
the command line (`vipterm.cli.main`, in process), every laptop exports, the coordinator imports
and returns, and what each laptop then holds is read from its own database.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.sync_support import PASSPHRASE, enrolled_program, exchange
from vipterm.cli import main
from vipterm.domain import Role
from vipterm.services import assignment, records
from vipterm.services import sync as sync_service
from vipterm.services.database import create_store
from vipterm.services.resolve import resolve_client


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def held(store, sql: str, *params) -> list[tuple]:
    with store.database.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql, params)]


def client_ids(store) -> set[str]:
    return {r[0] for r in held(store, "SELECT id FROM client")}


def with_history(worker, first_name: str) -> str:
    """A client created on a laptop, with a reached contact (which schedules a follow-up) and an attempt."""
    client = records.create_client(worker, records.ClientDraft(first_name=first_name, last_name="Testcase"))
    now = worker.clock.utcnow()
    records.log_contact(
        worker,
        records.ContactDraft(
            client_id=client.id, occurred_at=now - timedelta(hours=2), outcome="reached", note="first meeting"
        ),
    )
    records.log_attempt(worker, client.id, "no_answer")
    return client.id


@pytest.fixture
def program(tmp_path: Path):
    coord, (ana, ben) = enrolled_program(tmp_path, "coord.db", ("ana.db", "Ana Ruiz"), ("ben.db", "Ben Okafor"))
    yield tmp_path, coord, ana, ben
    for s in (coord, ana, ben):
        s.close()


def test_assign_one_client_moves_it_with_its_history_and_the_old_laptop_erases_it(program, capsys):
    folder, coord, ana, ben = program
    moving = with_history(ana, "Moving")
    staying = with_history(ana, "Staying")
    exchange(coord, [ana, ben], folder / "r1")
    assert client_ids(ana) == {moving, staying} and client_ids(ben) == set()
    pseudonym = held(coord, "SELECT pseudonym FROM client WHERE id = ?", moving)[0][0]

    code, out, err = cli(capsys, "clients", "assign", pseudonym.lower(), "--to", "ben okafor", "--db", coord.path)
    assert code == 0, err
    assert "1 client assigned to Ben Okafor" in out and "open follow-up" in out
    assert held(coord, "SELECT assigned_worker_id FROM client WHERE id = ?", moving) == [(ben.worker_id,)]
    # The open follow-up is the caseload's task: it moved with the client.
    assert {
        r[0] for r in held(coord, "SELECT owner_id FROM follow_up WHERE client_id = ? AND done_at IS NULL", moving)
    } == {ben.worker_id}

    exchange(coord, [ana, ben], folder / "r2")
    assert client_ids(ben) == {moving}
    assert client_ids(ana) == {staying}, "the old laptop must erase the reassigned client"
    assert held(ana, "SELECT count(*) FROM client_identity WHERE client_id = ?", moving) == [(0,)]
    assert held(ana, "SELECT count(*) FROM contact WHERE client_id = ?", moving) == [(0,)]
    # The new laptop has the whole history: the contact with its note, the attempt, the follow-up.
    assert held(ben, "SELECT note, outcome FROM contact WHERE client_id = ? ORDER BY occurred_at", moving) == [
        ("first meeting", "reached"),
        ("", "no_answer"),
    ]
    assert held(ben, "SELECT first_name FROM client_identity WHERE client_id = ?", moving) == [("Moving",)]
    assert held(ben, "SELECT owner_id FROM follow_up WHERE client_id = ? AND done_at IS NULL", moving) == [
        (ben.worker_id,)
    ]

    # The new laptop can work the client: its contact reaches the coordinator, not the quarantine.
    records.log_contact(
        ben,
        records.ContactDraft(
            client_id=moving, occurred_at=ben.clock.utcnow(), outcome="reached", note="handover visit"
        ),
    )
    exchange(coord, [ana, ben], folder / "r3")
    assert ("handover visit",) in held(coord, "SELECT note FROM contact WHERE client_id = ?", moving)
    assert held(coord, "SELECT count(*) FROM sync_quarantine WHERE status = 'open'") == [(0,)]


def test_handover_moves_every_open_client_of_a_departing_worker(program, capsys):
    folder, coord, ana, ben = program
    mine = {with_history(ana, f"Client{n}") for n in range(3)}
    closed = with_history(ana, "Closedone")
    records.update_client(ana, closed, status="closed")
    exchange(coord, [ana, ben], folder / "r1")

    code, out, err = cli(
        capsys, "clients", "assign", "--from", "Ana Ruiz", "--to", ben.worker_id, "--json", "--db", coord.path
    )
    assert code == 0, err
    data = json.loads(out)
    assert set(data["assigned"]) == mine and data["worker"] == "Ben Okafor"
    # A closed client stays with the worker who closed it (the report still counts them there).
    assert held(coord, "SELECT assigned_worker_id FROM client WHERE id = ?", closed) == [(ana.worker_id,)]

    exchange(coord, [ana, ben], folder / "r2")
    assert client_ids(ben) == mine
    assert client_ids(ana) == {closed}

    # Nothing left to hand over: said plainly, nothing written.
    code, _, err = cli(capsys, "clients", "assign", "--from", "Ana Ruiz", "--to", "Ben Okafor", "--db", coord.path)
    assert code == 2 and "no open clients" in err


def test_a_laptop_is_refused_and_nothing_changes(program, capsys):
    folder, coord, ana, ben = program
    client = with_history(ana, "Refused")
    before = held(ana, "SELECT count(*) FROM change_log")
    code, out, err = cli(capsys, "clients", "assign", client, "--to", "Ben Okafor", "--db", ana.path)
    assert code == 2
    assert "coordinator" in err and "Traceback" not in err and "Refused" not in err
    assert held(ana, "SELECT assigned_worker_id FROM client WHERE id = ?", client) == [(ana.worker_id,)]
    assert held(ana, "SELECT count(*) FROM change_log") == before
    with pytest.raises(assignment.CoordinatorOnly):
        assignment.assign_clients(ana, [client], ben.worker_id)


def test_bad_references_are_refused_with_a_clear_message(program, capsys):
    folder, coord, ana, ben = program
    clients = [with_history(ana, f"Ref{n}") for n in range(3)]
    exchange(coord, [ana, ben], folder / "r1")
    before = held(coord, "SELECT id, assigned_worker_id FROM client ORDER BY id")

    shared = clients[0][:4]  # UUIDv7 ids made in the same second share their leading digits
    assert all(c.startswith(shared) for c in clients)
    code, _, err = cli(capsys, "clients", "assign", shared, "--to", "Ben Okafor", "--db", coord.path)
    assert code == 2 and "matches 3 clients" in err

    code, _, err = cli(capsys, "clients", "assign", clients[1], "--to", "Nobody Here", "--db", coord.path)
    assert code == 9 and "no worker named 'Nobody Here'" in err

    code, _, err = cli(
        capsys, "clients", "assign", clients[1], "ffffffff-0000", "--to", "Ben Okafor", "--db", coord.path
    )
    assert code == 9 and "no single client" in err  # all or nothing: the good id was not moved either

    code, _, err = cli(capsys, "clients", "assign", clients[1], "--to", "Coordinator", "--db", coord.path)
    assert code == 2 and "peer support workers" in err

    code, _, err = cli(capsys, "clients", "assign", "--to", "Ben Okafor", "--db", coord.path)
    assert code == 2 and "say which clients" in err
    assert held(coord, "SELECT id, assigned_worker_id FROM client ORDER BY id") == before

    # A unique prefix works (the table's cut id).
    unique = clients[2][:30]
    assert resolve_client(coord, unique) == clients[2]
    code, out, err = cli(capsys, "clients", "assign", unique, "--to", "Ben", "--db", coord.path)
    assert code == 9  # "Ben" is no worker's name: names are matched whole, never by prefix
    code, out, err = cli(capsys, "clients", "assign", unique, "--to", "BEN OKAFOR", "--db", coord.path)
    assert code == 0 and "1 client assigned to Ben Okafor" in out


def test_a_client_made_on_the_coordinator_waits_unassigned_first_in_its_caseload(program, capsys):
    from vipterm.services.caseload import caseload

    folder, coord, ana, ben = program
    with_history(ana, "Laptops")
    exchange(coord, [ana, ben], folder / "r1")
    waiting = records.create_client(coord, records.ClientDraft(first_name="Waiting", last_name="Candidate"))
    assert waiting.assigned_worker_id is None
    rows = caseload(coord, worker_id=None)
    assert rows[0].client_id == waiting.id and rows[0].unassigned and rows[0].worker_name == ""
    assert [r.worker_name for r in rows[1:]] == ["Ana Ruiz"]
    mine = caseload(coord)  # the coordinator's own view holds the clients waiting for it
    assert [r.client_id for r in mine] == [waiting.id]
    # No laptop receives an unassigned client.
    exchange(coord, [ana, ben], folder / "r2")
    assert waiting.id not in client_ids(ana) | client_ids(ben)
    assignment.assign_clients(coord, [waiting.id], ana.worker_id)
    exchange(coord, [ana, ben], folder / "r3")
    assert waiting.id in client_ids(ana)


def test_a_replacement_laptop_receives_the_whole_caseload_with_history_in_its_first_return(program, capsys):
    folder, coord, ana, ben = program
    mine = {with_history(ana, f"Kept{n}") for n in range(3)}
    records.update_client(ana, sorted(mine)[0], status="closed")  # closed clients are the caseload's too
    bens = with_history(ben, "Other")
    exchange(coord, [ana, ben], folder / "r1")
    contacts = held(coord, "SELECT id, note FROM contact WHERE client_id IN (?, ?, ?) ORDER BY id", *sorted(mine))
    assert len(contacts) == 6

    # Ana's laptop is lost: a new one is enrolled in person with --replaces (a prefix of the old id).
    new = create_store(folder / "ana-new.db", PASSPHRASE, worker_name="Ana laptop 2", role=Role.WORKER)
    request = sync_service.enroll_request(new, folder / "new.vipreq")
    code, out, err = cli(
        capsys,
        "enroll",
        "approve",
        request.path,
        "--fingerprint",
        request.fingerprint,
        "--replaces",
        ana.device_id[:24],
        "--out",
        folder / "new.vipgrant",
        "--yes",
        "--db",
        coord.path,
    )
    assert code == 0, err
    assert f"replaces    device {ana.device_id}" in out
    sync_service.enroll_accept(new, (folder / "new.vipgrant").read_bytes())
    assert new.worker_id == ana.worker_id
    try:
        # The first return bundle the new laptop imports holds every client with their history.
        down = folder / "down"
        down.mkdir()
        results = sync_service.export(coord, down)
        assert {r.for_device for r in results} == {new.device_id, ben.device_id}  # the old laptop: revoked
        mine_bundle = next(r.path for r in results if r.for_device == new.device_id)
        applied = sync_service.import_bundles(new, [mine_bundle])
        assert not any(r.refused for r in applied), [r.message for r in applied]
        assert client_ids(new) == mine
        assert held(new, "SELECT id, note FROM contact ORDER BY id") == contacts
        assert held(new, "SELECT count(*) FROM client_identity") == [(3,)]
        assert held(new, "SELECT count(*) FROM follow_up WHERE done_at IS NULL") == held(
            coord, "SELECT count(*) FROM follow_up WHERE done_at IS NULL AND client_id IN (?, ?, ?)", *sorted(mine)
        )
        assert bens not in client_ids(new)

        # The new laptop works on; the old one is refused.
        records.log_contact(
            new,
            records.ContactDraft(
                client_id=sorted(mine)[1], occurred_at=new.clock.utcnow(), outcome="reached", note="new laptop"
            ),
        )
        exchange(coord, [new, ben], folder / "r2")
        assert ("new laptop",) in held(coord, "SELECT note FROM contact")
        records.log_contact(
            ana,
            records.ContactDraft(
                client_id=sorted(mine)[1], occurred_at=ana.clock.utcnow(), outcome="reached", note="old laptop"
            ),
        )
        up = folder / "old-up"
        up.mkdir()
        sync_service.export(ana, up)
        refused = sync_service.import_bundles(coord, [up])
        assert all(r.refused for r in refused)
        assert ("old laptop",) not in held(coord, "SELECT note FROM contact")
    finally:
        new.close()


def test_every_id_taking_command_accepts_a_unique_prefix_and_refuses_an_ambiguous_one(program, capsys):
    from vipterm.errors import NotFound, ValidationError
    from vipterm.services.resolve import resolve_device, resolve_id

    folder, coord, ana, ben = program
    # Conflicts as the merge records them (ids shaped like the real ones), to resolve by prefix.
    with coord.database.engine.begin() as conn:
        for cid in ("0a1b2c3d-aaaa-0000-0000-000000000001", "0a1b2c3d-bbbb-0000-0000-000000000002"):
            conn.exec_driver_sql(
                "INSERT INTO sync_conflict (id, tbl, row_id, col, kept_value, kept_hlc, kept_device, lost_value, "
                "lost_hlc, lost_device, bundle_id, detected_at, status, resolution) "
                "VALUES (?, 'client', 'x', 'status', NULL, 1, 'd', NULL, 0, 'e', 'b', '2026-11-20 10:00:00', 'open', '')",
                (cid,),
            )
    assert resolve_id(coord, "conflict", "0A1B2C3D-BBBB") == "0a1b2c3d-bbbb-0000-0000-000000000002"
    with pytest.raises(ValidationError, match="matches 2 conflicts"):
        resolve_id(coord, "conflict", "0a1b2c3d")
    with pytest.raises(ValidationError, match="too short"):
        resolve_id(coord, "conflict", "0a1")
    with pytest.raises(NotFound, match="no conflict with an id starting"):
        resolve_id(coord, "conflict", "0a1b2c3d-cccc")
    code, _, err = cli(capsys, "conflicts", "resolve", "0a1b2c3d", "--keep", "current", "--db", coord.path)
    assert code == 2 and "matches 2 conflicts" in err
    code, _, err = cli(capsys, "sync", "quarantine", "show", "ffff0000", "--db", coord.path)
    assert code == 9 and "no quarantine with an id starting" in err

    # Devices: revoke by the prefix the status table shows.
    assert resolve_device(coord, ben.device_id[:13]) == ben.device_id
    code, out, err = cli(capsys, "revoke", ben.device_id[:13], "--db", coord.path)
    assert code == 0, err
    assert f"revoked device {ben.device_id}" in out
    roster = {e.device_id: e.revoked_at for e in sync_service.roster_entries(coord)}
    assert roster[ben.device_id] is not None and roster[ana.device_id] is None
    # Laptops made in the same second share a prefix: the command says how many match, revokes none.
    shared = next(n for n in range(36, 0, -1) if ana.device_id[:n] == coord.device_id[:n] or n < 4)
    if shared >= 4:
        code, _, err = cli(capsys, "revoke", ana.device_id[:shared], "--db", coord.path)
        assert code == 2 and "matches" in err
        assert {e.device_id: e.revoked_at for e in sync_service.roster_entries(coord)}[ana.device_id] is None

    # A pseudonym or prefix for `clients show`.
    client = with_history(ana, "Shown")
    exchange(coord, [ana], folder / "r1")
    pseudonym = held(coord, "SELECT pseudonym FROM client WHERE id = ?", client)[0][0]
    for ref in (pseudonym.lower(), client[:20], client):
        code, out, err = cli(capsys, "clients", "show", ref, "--json", "--db", coord.path)
        assert code == 0, err
        assert json.loads(out)["id"] == client


def test_clients_list_shows_the_worker_and_filters_by_worker(program, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the table on a wide terminal: whole names, no wrapping
    folder, coord, ana, ben = program
    anas = {with_history(ana, f"Anas{n}") for n in range(2)}
    bens = {with_history(ben, "Bens")}
    exchange(coord, [ana, ben], folder / "r1")
    waiting = records.create_client(coord, records.ClientDraft(first_name="Waiting", last_name="Listed")).id

    code, out, err = cli(capsys, "clients", "list", "--all", "--json", "--db", coord.path)
    assert code == 0, err
    rows = json.loads(out)["clients"]
    assert rows[0]["id"] == waiting and rows[0]["worker"] is None and rows[0]["worker_id"] is None
    assert {r["id"]: r["worker"] for r in rows[1:]} == {
        **{c: "Ana Ruiz" for c in anas},
        **{c: "Ben Okafor" for c in bens},
    }

    code, out, err = cli(capsys, "clients", "list", "--worker", "ana ruiz", "--json", "--db", coord.path)
    assert code == 0, err
    assert {r["id"] for r in json.loads(out)["clients"]} == anas
    code, out, err = cli(capsys, "clients", "list", "--worker", ben.worker_id[:20], "--json", "--db", coord.path)
    assert {r["id"] for r in json.loads(out)["clients"]} == bens
    code, out, err = cli(capsys, "clients", "list", "--unassigned", "--json", "--db", coord.path)
    assert [r["id"] for r in json.loads(out)["clients"]] == [waiting]
    code, out, err = cli(capsys, "clients", "list", "--worker", "Nobody", "--db", coord.path)
    assert code == 9 and "no worker named 'Nobody'" in err

    code, out, err = cli(capsys, "clients", "list", "--all", "--db", coord.path)
    assert code == 0 and "unassigned" in out and "Ana Ruiz" in out and "4 client(s)" in err


def test_an_open_planned_notification_follows_the_client_to_its_new_worker(program):
    from vipterm.store.models import PlannedNotification

    folder, coord, ana, ben = program
    client = with_history(ana, "Planned")
    exchange(coord, [ana, ben], folder / "r1")
    today = coord.clock.today()
    with coord.write() as session:
        open_plan = PlannedNotification(
            client_id=client,
            identified_on=today,
            planned_on=today + timedelta(days=2),
            worker_id=ana.worker_id,
            created_by=coord.worker_id,
        )
        called_off = PlannedNotification(
            client_id=client,
            identified_on=today,
            planned_on=today + timedelta(days=1),
            worker_id=ana.worker_id,
            status="cancelled",
            created_by=coord.worker_id,
        )
        session.add(open_plan)
        session.add(called_off)
    result = assignment.assign_clients(coord, [client], ben.worker_id)
    assert result.plans_moved == 1 and result.moved == (client,)
    assert held(coord, "SELECT worker_id FROM planned_notification WHERE id = ?", open_plan.id) == [(ben.worker_id,)]
    assert held(coord, "SELECT worker_id FROM planned_notification WHERE id = ?", called_off.id) == [(ana.worker_id,)]
    exchange(coord, [ana, ben], folder / "r2")
    assert held(ben, "SELECT worker_id FROM planned_notification WHERE id = ?", open_plan.id) == [(ben.worker_id,)]
    assert held(ana, "SELECT count(*) FROM planned_notification") == [(0,)]
