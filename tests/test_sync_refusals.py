"""Every bad bundle is refused with its own message and leaves the database byte-for-byte unchanged.

Real encrypted databases, real keys, real bundles; the database file and its WAL are hashed before
and after, and the whole content (records, log, cursors, keys) is compared as a dump.
"""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from sqlalchemy import text

from tests.sync_support import (
    PASSPHRASE,
    dump_store,
    enrolled_program,
    file_state,
    new_coordinator,
    new_enrolled_worker,
)
from vipterm.domain import Role
from vipterm.services import records
from vipterm.services import sync as sync_service
from vipterm.services.database import create_store
from vipterm.store.migrations import SCHEMA_VERSION
from vipterm.sync import bundle as bundle_format
from vipterm.sync import keys as trust


@pytest.fixture
def program(tmp_path):
    coord, (worker, other) = enrolled_program(tmp_path, "coord.db", ("w1.db", "Worker One"), ("w2.db", "Worker Two"))
    records.create_client(worker, records.ClientDraft(first_name="Test", last_name="Person", area_command="valley"))
    out = tmp_path / "out"
    out.mkdir()
    yield coord, worker, other, out
    for s in (coord, worker, other):
        s.close()


def assert_refused_unchanged(store, path, code, words=()):
    before_bytes, before_dump = file_state(store), dump_store(store)
    [result] = sync_service.import_bundles(store, [path])
    assert result.status == "refused", result.message
    assert result.code == code, (result.code, result.message)
    assert "\n" not in result.message
    for w in words:
        assert w in result.message
    assert file_state(store) == before_bytes
    assert dump_store(store) == before_dump
    return result


def test_not_a_bundle(program, tmp_path):
    coord, *_ = program
    junk = tmp_path / "notes.vipb"
    junk.write_bytes(b"this is a shopping list, not a bundle\n" * 40)
    assert_refused_unchanged(coord, junk, "not-a-bundle", ["not a vipterm bundle"])


def test_unknown_signer(program, tmp_path):
    coord, worker, _other, out = program
    stranger = trust.DeviceKeys.generate()
    path = bundle_format.write_bundle(
        out,
        header_fields={
            "program_id": coord.identity.program_id,
            "schema_version": SCHEMA_VERSION,
            "kind": "worker",
            "source_device": "stranger-device",
            "created_hlc": 1,
            "seq_first": 1,
            "seq_last": 1,
        },
        payload={
            "changes": [["stranger-device", 1, 1, "worker", "x", "set", "display_name", b"\xa1x", None, None]],
            "ack": 0,
        },
        signer=stranger,
        recipients=[sync_service.load_trust(coord).device_keys.age_recipient],
    )
    assert_refused_unchanged(coord, path, "unknown-signer", ["not on the roster"])


def test_revoked_device_later_bundles_refused_earlier_data_stays(program):
    coord, worker, _other, out = program
    [first] = sync_service.export(worker, out)
    assert sync_service.import_bundles(coord, [first.path])[0].status == "applied"
    records.create_client(worker, records.ClientDraft(aka="Later"))
    [later] = sync_service.export(worker, out, only_new=True)
    sync_service.revoke(coord, worker.device_id)
    assert_refused_unchanged(coord, later.path, "revoked", ["revoked"])
    with coord.read() as s:
        assert s.execute(text("SELECT count(*) FROM client")).scalar_one() == 1  # what it sent before stays


def test_altered_bundle(program):
    coord, worker, _other, out = program
    [res] = sync_service.export(worker, out)
    data = bytearray(res.path.read_bytes())
    marker = data.find(b"age-encryption.org")
    data[marker + 300] ^= 0x01  # one bit inside the encrypted payload
    res.path.write_bytes(bytes(data))
    assert_refused_unchanged(coord, res.path, "bad-signature", ["altered"])


def test_truncated_bundle(program):
    coord, worker, _other, out = program
    [res] = sync_service.export(worker, out)
    data = res.path.read_bytes()
    res.path.write_bytes(data[: data.find(b"age-encryption.org") + 200])  # cut inside the payload
    result = assert_refused_unchanged(coord, res.path, "truncated", ["truncated"])
    assert "not a readable tar file" not in result.message


def test_foreign_program(program, tmp_path):
    coord, *_ = program
    other_coord = new_coordinator(tmp_path / "other-coord.db")
    foreign_worker = new_enrolled_worker(other_coord, tmp_path / "foreign.db")
    try:
        [res] = sync_service.export(foreign_worker, tmp_path / "out")
        assert_refused_unchanged(coord, res.path, "wrong-program", ["another program"])
    finally:
        other_coord.close()
        foreign_worker.close()


def test_return_bundle_for_another_laptop(program):
    coord, worker, other, out = program
    [up] = sync_service.export(worker, out)
    sync_service.import_bundles(coord, [up.path])
    returns = {r.for_device: r for r in sync_service.export(coord, out)}
    assert_refused_unchanged(other, returns[worker.device_id].path, "not-for-us", ["another coordinator or device"])


def test_newer_schema(program):
    coord, worker, _other, out = program
    keys = sync_service.load_trust(worker).device_keys
    path = bundle_format.write_bundle(
        out,
        header_fields={
            "program_id": coord.identity.program_id,
            "schema_version": SCHEMA_VERSION + 1,
            "kind": "worker",
            "source_device": worker.device_id,
            "created_hlc": 1,
        },
        payload={"changes": [], "ack": 0},
        signer=keys,
        recipients=[sync_service.load_trust(coord).device_keys.age_recipient],
    )
    assert_refused_unchanged(coord, path, "newer-schema", ["newer vipterm"])


def test_replay_is_a_notice_and_changes_nothing(program):
    coord, worker, _other, out = program
    [res] = sync_service.export(worker, out)
    assert sync_service.import_bundles(coord, [res.path])[0].status == "applied"
    before_bytes, before_dump = file_state(coord), dump_store(coord)
    [again] = sync_service.import_bundles(coord, [res.path])
    assert again.status == "already imported" and not again.refused
    assert file_state(coord) == before_bytes and dump_store(coord) == before_dump


def test_clock_far_ahead_is_held_for_review_not_applied(program, monkeypatch):
    from vipterm.sync import clock as hlc_clock

    coord, worker, _other, out = program
    with worker.database.engine.begin() as conn:  # the laptop's clock jumped two days ahead
        conn.exec_driver_sql(
            "UPDATE sync_state SET last_hlc = ?", ((int(__import__("time").time() * 1000) + 2 * 86_400_000) << 16,)
        )
    records.create_client(worker, records.ClientDraft(aka="Future"))
    real = hlc_clock.wall_ms
    monkeypatch.setattr(hlc_clock, "wall_ms", lambda: real() + 2 * 86_400_000)  # exported while the date was wrong
    [res] = sync_service.export(worker, out)
    monkeypatch.undo()
    before = dump_store(coord)
    [result] = sync_service.import_bundles(coord, [res.path])
    assert result.status == "quarantined" and result.refused and result.code == "clock-ahead", result.message
    assert "ahead" in result.message and "sync quarantine show" in result.message
    after = dump_store(coord)
    for table in ("client", "client_identity", "sync_bundle", "sync_peer", "change_log", "field_version"):
        assert after[table] == before[table], table  # held whole: nothing of it applied
    # The other way to see it: a laptop is refused (a laptop holds nothing for review).
    [dry] = sync_service.import_bundles(coord, [res.path], dry_run=True)
    assert dry.refused and dry.code == "clock-ahead"


def test_too_many_changes_refused_before_inflating(program):
    coord, worker, _other, out = program
    [res] = sync_service.export(worker, out)
    before = file_state(coord)
    [result] = sync_service.import_bundles(coord, [res.path], limits=bundle_format.Limits(max_changes=3))
    assert result.refused and result.code == "too-large"
    assert file_state(coord) == before


def test_worker_bundle_given_to_a_laptop_is_refused(program, tmp_path):
    coord, worker, other, out = program
    [res] = sync_service.export(worker, out)
    # Encrypted only to the coordinator: a laptop cannot even open it.
    [result] = sync_service.import_bundles(other, [res.path])
    assert result.refused and result.code == "not-for-us"


def test_gap_waits_in_the_inbox_until_filled(program, tmp_path):
    coord, worker, _other, out = program
    [first] = sync_service.export(worker, out)
    records.create_client(worker, records.ClientDraft(aka="Second"))
    [second] = sync_service.export(worker, out, only_new=True)
    assert second.seq_first == first.seq_last + 1
    [waiting] = sync_service.import_bundles(coord, [second.path])
    assert waiting.status == "waiting (gap)" and not waiting.refused
    status = sync_service.sync_status(coord)
    assert [b.bundle_id for b in status.inbox] == [second.bundle_id]
    with coord.read() as s:  # the waiting bundle is kept whole and encrypted: no plaintext of it
        blob = s.execute(text("SELECT data FROM sync_inbox")).scalar_one()
        assert blob == second.path.read_bytes()
        assert s.execute(text("SELECT count(*) FROM client")).scalar_one() == 0
    [applied] = sync_service.import_bundles(coord, [first.path])
    assert applied.status == "applied"
    assert [r.status for r in applied.released] == ["applied"]
    assert sync_service.sync_status(coord).inbox == []
    with coord.read() as s:
        assert s.execute(text("SELECT count(*) FROM client")).scalar_one() == 2


def test_not_enrolled_laptop_gets_a_clear_message(tmp_path, program):
    coord, worker, _other, out = program
    [res] = sync_service.export(worker, out)
    loner = create_store(tmp_path / "loner.db", PASSPHRASE, role=Role.WORKER)
    try:
        with pytest.raises(sync_service.NotEnrolled, match="not enrolled"):
            sync_service.import_bundles(loner, [res.path])
        with pytest.raises(sync_service.NotEnrolled):
            sync_service.export(loner, out)
    finally:
        loner.close()


def test_dry_run_previews_and_writes_nothing(program):
    coord, worker, _other, out = program
    records.create_client(worker, records.ClientDraft(aka="Second", identified_on=date(2026, 1, 2)))
    [res] = sync_service.export(worker, out)
    before_bytes, before_dump = file_state(coord), dump_store(coord)
    [preview] = sync_service.import_bundles(coord, [res.path], dry_run=True)
    assert preview.status == "would apply"
    assert preview.summary["new_clients"] == 2 and len(preview.summary["new_client_ids"]) == 2
    assert preview.summary["new_rows"]["client_identity"] == 2
    assert file_state(coord) == before_bytes and dump_store(coord) == before_dump
    [applied] = sync_service.import_bundles(coord, [res.path])
    assert applied.summary["new_rows"] == preview.summary["new_rows"]


def test_copied_file_is_archived_only_after_commit(program, tmp_path):
    coord, worker, _other, out = program
    [res] = sync_service.export(worker, out)
    bad = out / "broken.vipb"
    shutil.copy(res.path, bad)
    bad.write_bytes(bad.read_bytes()[:100])
    results = sync_service.import_bundles(coord, [out], archive_dir=tmp_path / "archive")
    by_name = {r.source: r for r in results}
    assert by_name[res.path.name].status == "applied" and by_name["broken.vipb"].refused
    assert (tmp_path / "archive" / res.path.name).exists() and not res.path.exists()
    assert bad.exists()  # a refused file stays where it was
