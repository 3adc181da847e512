"""Enrollment binds identity on the coordinator: the coordinator chooses the worker a laptop serves,
the laptop adopts it from the grant, and ids or keys a laptop declares are never trusted.

Written as the attacker would: an impostor database made with another worker's id, with another
laptop's device id, or with another laptop's keys (its owner knows the passphrase). Real encrypted
databases, real keys, real bundles.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.sync_support import PASSPHRASE, enroll, enrolled_program, new_coordinator
from vipterm.domain import Role
from vipterm.errors import NotFound, ValidationError
from vipterm.services import records
from vipterm.services import sync as sync_service
from vipterm.services.database import create_store, open_store
from vipterm.sync import enrollment


def clients_on(store) -> int:
    with store.read() as s:
        return s.execute(text("SELECT count(*) FROM client")).scalar_one()


def roster_version(store) -> int:
    return sync_service.load_trust(store).roster_version


def request_for(store, folder, keys=None):
    """An enrollment request file; with `keys`, signed with another device's stolen keys."""
    if keys is None:
        folder = folder / "requests"
        folder.mkdir(exist_ok=True)
        return sync_service.enroll_request(store, folder / f"req-{store.device_id}-{os.urandom(4).hex()}.vipreq")
    req = enrollment.EnrollmentRequest.create(keys, device_id=store.device_id, worker_id=store.worker_id)
    path = folder / f"req-{store.device_id}.vipreq"
    path.write_bytes(req.to_bytes())
    return sync_service.EnrollmentFile(path, req.fingerprint, store.device_id)


@pytest.fixture
def program(tmp_path):
    coord, (ana,) = enrolled_program(tmp_path, "coord.db", ("ana.db", "Ana Worker"))
    client = records.create_client(
        ana, records.ClientDraft(first_name="Secret", last_name="Person", area_command="valley", phone="555-0100")
    )
    up, down = tmp_path / "up", tmp_path / "down"
    up.mkdir()
    down.mkdir()
    sync_service.export(ana, up)
    assert not any(r.refused for r in sync_service.import_bundles(coord, [up]))
    yield coord, ana, client, tmp_path
    coord.close()
    ana.close()


def test_laptop_adopts_the_worker_the_coordinator_chose(tmp_path):
    coord = new_coordinator(tmp_path / "coord.db")
    laptop = create_store(tmp_path / "l.db", PASSPHRASE, worker_name="Whatever The Laptop Says", role=Role.WORKER)
    try:
        declared = laptop.worker_id
        # Work done before enrollment keeps its attribution, re-pointed to the chosen worker.
        before = records.create_client(laptop, records.ClientDraft(aka="Early", area_command="valley"))
        enroll(coord, laptop, tmp_path, worker_spec="Bea Chosen")
        with coord.read() as s:
            chosen = s.execute(text("SELECT id FROM worker WHERE display_name = 'Bea Chosen'")).scalar_one()
        assert laptop.worker_id == chosen != declared
        reopened = open_store(tmp_path / "l.db", PASSPHRASE)  # the adoption is in the file, not only in memory
        try:
            assert reopened.worker_id == chosen
            assert sync_service.worker_name(reopened) == "Bea Chosen"
            with reopened.read() as s:
                assert s.execute(text("SELECT count(*) FROM worker WHERE id = :w"), {"w": declared}).scalar_one() == 0
                assert (
                    s.execute(
                        text("SELECT assigned_worker_id FROM client WHERE id = :c"), {"c": before.id}
                    ).scalar_one()
                    == chosen
                )
                seqs = [
                    r[0]
                    for r in s.execute(
                        text("SELECT seq FROM change_log WHERE device = :d ORDER BY seq"), {"d": laptop.device_id}
                    )
                ]
                assert seqs == list(range(1, len(seqs) + 1))  # gapless: the coordinator would wait otherwise
                assert s.execute(text("SELECT count(*) FROM change_log WHERE tbl = 'worker'")).scalar_one() == 0
        finally:
            reopened.close()
        [res] = sync_service.export(laptop, tmp_path)
        [imported] = sync_service.import_bundles(coord, [res.path])
        assert imported.status == "applied", imported.message
        with coord.read() as s:
            assert (
                s.execute(text("SELECT assigned_worker_id FROM client WHERE id = :c"), {"c": before.id}).scalar_one()
                == chosen
            )
            assert s.execute(text("SELECT count(*) FROM worker")).scalar_one() == 2  # coordinator + Bea only
    finally:
        coord.close()
        laptop.close()


def test_impostor_claiming_another_workers_id_gets_nothing_of_theirs(program):
    coord, ana, client, tmp_path = program
    # The impostor's database declares Ana's worker id.
    impostor = create_store(
        tmp_path / "impostor.db", PASSPHRASE, worker_name="Ana Worker", role=Role.WORKER, worker_id=ana.worker_id
    )
    try:
        req = request_for(impostor, tmp_path)
        # Binding it to Ana needs an explicit replacement of Ana's laptop: refused without it.
        before = roster_version(coord)
        with pytest.raises(ValidationError, match="already has an enrolled laptop.*--replaces"):
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, worker="Ana Worker"
            )
        with pytest.raises(ValidationError, match="already has an enrolled laptop"):
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, worker=ana.worker_id
            )
        assert roster_version(coord) == before and not list(tmp_path.glob(f"grant-{impostor.device_id}*"))
        # Approved as who the coordinator sees in person: a new worker. The declared id is ignored.
        grant = sync_service.enroll_approve(
            coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, worker="Mallory"
        )
        assert grant.plan.new_worker and grant.plan.worker_id != ana.worker_id
        sync_service.enroll_accept(impostor, grant.path.read_bytes())
        assert impostor.worker_id == grant.plan.worker_id != ana.worker_id
        returns = {r.for_device: r for r in sync_service.export(coord, tmp_path / "down")}
        [got] = sync_service.import_bundles(impostor, [returns[impostor.device_id].path])
        assert got.status == "applied", got.message
        assert clients_on(impostor) == 0
        with impostor.read() as s:
            assert s.execute(text("SELECT count(*) FROM client_identity")).scalar_one() == 0
        # Ana's laptop is untouched: still on the roster, still receives her own return bundle.
        [ana_back] = sync_service.import_bundles(ana, [returns[ana.device_id].path])
        assert ana_back.status == "applied", ana_back.message
    finally:
        impostor.close()


def test_impostor_claiming_another_devices_id_is_refused(program):
    coord, ana, _client, tmp_path = program
    impostor = create_store(
        tmp_path / "impostor.db", PASSPHRASE, worker_name="X", role=Role.WORKER, device_id=ana.device_id
    )
    try:
        req = request_for(impostor, tmp_path)
        before = sync_service.load_trust(coord).roster_blob
        with pytest.raises(sync_service.SyncRefused, match="reuses the device id of an enrolled device") as err:
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, worker="Mallory"
            )
        assert err.value.code == "enroll-reuse" and err.value.exit_code == 7
        # Nothing changed: same roster, no new worker, Ana's keys still the ones on the roster.
        assert sync_service.load_trust(coord).roster_blob == before
        with coord.read() as s:
            assert s.execute(text("SELECT count(*) FROM worker WHERE display_name = 'Mallory'")).scalar_one() == 0
        roster = sync_service.load_trust(coord).roster()
        assert (
            roster.entry_for_device(ana.device_id).signing_public
            == sync_service.load_trust(ana).device_keys.signing_public
        )
        # Not even with --replaces pointing at the very device it impersonates.
        with pytest.raises(sync_service.SyncRefused, match="reuses the device id"):
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, replaces=ana.device_id
            )
        [back] = sync_service.export(coord, tmp_path / "down")
        assert sync_service.import_bundles(ana, [back.path])[0].status == "applied"
    finally:
        impostor.close()


def test_impostor_reusing_another_devices_keys_is_refused(program):
    coord, ana, _client, tmp_path = program
    stolen = sync_service.load_trust(ana).device_keys  # Ana's own laptop, whose owner knows the passphrase
    impostor = create_store(tmp_path / "impostor.db", PASSPHRASE, worker_name="X", role=Role.WORKER)
    try:
        req = request_for(impostor, tmp_path, keys=stolen)
        with pytest.raises(sync_service.SyncRefused, match="reuses the signing key of device") as err:
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, worker="Mallory"
            )
        assert err.value.code == "enroll-reuse"
    finally:
        impostor.close()


def test_revoked_device_id_cannot_come_back(program):
    coord, ana, _client, tmp_path = program
    sync_service.revoke(coord, ana.device_id)
    impostor = create_store(tmp_path / "impostor.db", PASSPHRASE, role=Role.WORKER, device_id=ana.device_id)
    try:
        req = request_for(impostor, tmp_path)
        with pytest.raises(sync_service.SyncRefused, match="revoked device"):
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, worker="Ana Worker"
            )
    finally:
        impostor.close()


def test_replacing_a_laptop_is_explicit_and_revokes_the_old_one(program):
    coord, ana, client, tmp_path = program
    new_laptop = create_store(tmp_path / "new.db", PASSPHRASE, worker_name="New Laptop", role=Role.WORKER)
    try:
        req = request_for(new_laptop, tmp_path)
        plan = sync_service.preview_approval(
            coord, req.path.read_bytes(), fingerprint=req.fingerprint, replaces=ana.device_id
        )
        assert (plan.worker_id, plan.worker_name, plan.replaces) == (ana.worker_id, "Ana Worker", ana.device_id)
        with pytest.raises(NotFound):
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, replaces="no-such-device"
            )
        grant = sync_service.enroll_approve(
            coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, replaces=ana.device_id
        )
        sync_service.enroll_accept(new_laptop, grant.path.read_bytes())
        assert new_laptop.worker_id == ana.worker_id
        assert sync_service.worker_name(new_laptop) == "Ana Worker"
        roster = sync_service.load_trust(coord).roster()
        assert roster.entry_for_device(ana.device_id).revoked
        returns = {r.for_device: r for r in sync_service.export(coord, tmp_path / "down")}
        assert ana.device_id not in returns  # a revoked laptop receives nothing more
        assert sync_service.import_bundles(new_laptop, [returns[new_laptop.device_id].path])[0].status == "applied"
        with new_laptop.read() as s:
            assert s.execute(text("SELECT id FROM client")).scalars().all() == [client.id]
        records.create_client(ana, records.ClientDraft(aka="After the swap"))
        [late] = sync_service.export(ana, tmp_path / "up", only_new=True)
        [refused] = sync_service.import_bundles(coord, [late.path])
        assert refused.refused and refused.code == "revoked"
    finally:
        new_laptop.close()


def test_same_request_approved_twice_rewrites_the_grant_only(program):
    coord, _ana, _client, tmp_path = program
    laptop = create_store(tmp_path / "b.db", PASSPHRASE, role=Role.WORKER)
    try:
        req = request_for(laptop, tmp_path)
        first = sync_service.enroll_approve(
            coord, req.path.read_bytes(), tmp_path / "g1.vipgrant", fingerprint=req.fingerprint, worker="Bea"
        )
        version = roster_version(coord)
        again = sync_service.enroll_approve(
            coord,
            req.path.read_bytes(),
            tmp_path / "g2.vipgrant",
            fingerprint=req.fingerprint,
            worker=first.plan.worker_id,
        )
        assert again.plan.reissue and roster_version(coord) == version
        with pytest.raises(sync_service.SyncRefused, match="reuses the device id"):  # not for another worker
            sync_service.enroll_approve(
                coord,
                req.path.read_bytes(),
                tmp_path / "g3.vipgrant",
                fingerprint=req.fingerprint,
                worker="Someone Else",
            )
        sync_service.enroll_accept(laptop, again.path.read_bytes())
        assert laptop.worker_id == first.plan.worker_id
    finally:
        laptop.close()


def test_coordinator_staff_row_cannot_be_chosen(program):
    coord, _ana, _client, tmp_path = program
    laptop = create_store(tmp_path / "b.db", PASSPHRASE, role=Role.WORKER)
    try:
        req = request_for(laptop, tmp_path)
        with pytest.raises(ValidationError, match="coordinator's staff row"):
            sync_service.enroll_approve(
                coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint, worker=coord.worker_id
            )
        with pytest.raises(NotFound, match="no worker with id"):
            sync_service.enroll_approve(
                coord,
                req.path.read_bytes(),
                tmp_path,
                fingerprint=req.fingerprint,
                worker="01234567-89ab-cdef-0123-456789abcdef",
            )
        with pytest.raises(ValidationError, match="say which worker"):
            sync_service.enroll_approve(coord, req.path.read_bytes(), tmp_path, fingerprint=req.fingerprint)
    finally:
        laptop.close()


def vip(*args, stdin=None):
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE}
    env.pop("VIPTERM_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "vipterm", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL if stdin is None else stdin,
    )


def test_cli_approve_shows_worker_and_fingerprint_and_needs_yes_in_scripts(tmp_path):
    coord_db, laptop_db, stick = tmp_path / "coord.db", tmp_path / "laptop.db", tmp_path / "stick"
    stick.mkdir()
    assert vip("coordinator", "init", "--db", coord_db).returncode == 0
    assert vip("init", "--db", laptop_db, "--worker-name", "Self Declared").returncode == 0
    out = vip("enroll", "request", "--db", laptop_db, "--out", stick).stdout
    fingerprint = next(line.split()[1] for line in out.splitlines() if line.startswith("fingerprint:"))
    req = next(stick.glob("*.vipreq"))
    no_yes = vip(
        "enroll",
        "approve",
        "--db",
        coord_db,
        req,
        "--fingerprint",
        fingerprint,
        "--worker",
        "Dee Chosen",
        "--out",
        stick,
    )
    assert no_yes.returncode == 2 and "--yes" in no_yes.stderr
    assert "serves      Dee Chosen (new worker)" in no_yes.stderr and fingerprint in no_yes.stderr
    assert not list(stick.glob("*.vipgrant"))  # shown, nothing written
    no_worker = vip("enroll", "approve", "--db", coord_db, req, "--fingerprint", fingerprint, "--yes", "--out", stick)
    assert no_worker.returncode == 2 and "--worker" in no_worker.stderr
    ok = vip(
        "enroll",
        "approve",
        "--db",
        coord_db,
        req,
        "--fingerprint",
        fingerprint,
        "--worker",
        "Dee Chosen",
        "--yes",
        "--out",
        stick,
    )
    assert ok.returncode == 0, ok.stderr
    accepted = vip("enroll", "accept", "--db", laptop_db, next(stick.glob("*.vipgrant")))
    assert accepted.returncode == 0 and "this laptop serves Dee Chosen" in accepted.stdout
    again = vip(
        "enroll",
        "approve",
        "--db",
        coord_db,
        req,
        "--fingerprint",
        fingerprint,
        "--worker",
        "Other",
        "--yes",
        "--out",
        tmp_path,
    )
    assert again.returncode == 7 and "reuses the device id" in again.stderr and "Traceback" not in again.stderr
