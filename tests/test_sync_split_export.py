"""A laptop's outbox larger than one bundle is written as several bundles in sequence.

Real encrypted stores, real keys, real bundles (tests.sync_support). The bundle size is made small
(`Limits(bundle_changes=…)`, `sync export --bundle-changes`) so that a few clients' changes need
several bundles. As a user: `vipterm sync export` lists every file it wrote and the coordinator
imports the folder. In any order: parts that arrive early wait in the inbox and the coordinator
ends with the same records. As an attacker: a part replayed (under any name), a part whose header
claims another range, a payload moved under another part's header, a laptop signing records
outside a part's range, and a withheld part are each refused or wait, changing nothing else.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import tarfile
from pathlib import Path

import msgpack
import pytest

from tests.sync_support import PASSPHRASE, file_state, new_coordinator, new_enrolled_worker
from vipterm.cli import main
from vipterm.errors import ExitCode
from vipterm.services import records
from vipterm.services import sync as sync_service
from vipterm.services.database import open_store_with_key
from vipterm.store.migrations import SCHEMA_VERSION
from vipterm.sync import bundle as bundle_format
from vipterm.sync import merge as merge_engine

RECORD_TABLES = ("client", "client_identity")


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)


def records_of(store) -> dict:
    with store.database.engine.connect() as conn:
        dump = merge_engine.canonical_dump(conn)
    return {t: dump[t] for t in RECORD_TABLES}


def pending(store) -> int:
    with store.database.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM change_log WHERE device = ?", (store.device_id,)).scalar_one()


def last_seq(store) -> int:
    with store.database.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT next_seq FROM sync_state").scalar_one() - 1


@pytest.fixture
def world(tmp_path):
    """A coordinator (closed: tests open copies of it) and an enrolled laptop with 12 new clients."""
    coord = new_coordinator(tmp_path / "coordinator.db")
    laptop = new_enrolled_worker(coord, tmp_path / "laptop.db", name="Peer Worker")
    for n in range(12):
        records.create_client(laptop, records.ClientDraft(aka=f"Split {n}"))
    raw = coord.database.raw
    coord.close()
    yield tmp_path, raw, laptop
    laptop.close()


def coordinator_copy(tmp_path: Path, raw, name: str):
    path = tmp_path / f"{name}.db"
    shutil.copyfile(tmp_path / "coordinator.db", path)
    return open_store_with_key(path, raw)


def split_export(laptop, out: Path, per_bundle: int) -> list[sync_service.ExportResult]:
    out.mkdir(exist_ok=True)
    return sync_service.export(laptop, out, limits=bundle_format.Limits(bundle_changes=per_bundle))


def test_a_long_outbox_is_written_as_bundles_in_sequence(world):
    tmp_path, _raw, laptop = world
    total, top = pending(laptop), last_seq(laptop)
    with laptop.database.engine.connect() as conn:
        clock_of = dict(conn.exec_driver_sql("SELECT seq, hlc FROM change_log").all())
    parts = split_export(laptop, tmp_path / "out", per_bundle=40)
    assert len(parts) >= 3 and sum(p.changes for p in parts) == total
    # Each bundle is full before the next starts, and ends between two saves (never inside one:
    # a new record's fields arrive together).
    assert all(p.changes >= 40 for p in parts[:-1])
    for before, after in itertools.pairwise(parts):
        assert clock_of[before.seq_last] != clock_of[after.seq_first]
    # Contiguous ranges from the first pending number to the last one this laptop gave out.
    assert parts[0].seq_first == 1 and parts[-1].seq_last == top
    for before, after in itertools.pairwise(parts):
        assert after.seq_first == before.seq_last + 1
    assert sorted(p.path.name for p in parts) == sorted(f.name for f in (tmp_path / "out").iterdir())
    # Each file is a whole bundle of its own: header, signature, its share of the changes.
    for part in parts:
        header = bundle_format.peek_header(part.path)
        assert (header["seq_first"], header["seq_last"], header["change_count"]) == (
            part.seq_first,
            part.seq_last,
            part.changes,
        )
    # The laptop counts them all as exported (not pending twice).
    status = sync_service.sync_status(laptop)
    assert status.pending_changes == 0 and status.exported_unacknowledged == total


def test_the_parts_imported_in_any_order_give_the_same_records(world):
    tmp_path, raw, laptop = world
    parts = split_export(laptop, tmp_path / "out", per_bundle=40)
    assert len(parts) >= 3
    expected = records_of(laptop)
    orders = [list(reversed(parts)), parts[1:] + parts[:1], parts]
    dumps = []
    for n, order in enumerate(orders):
        coord = coordinator_copy(tmp_path, raw, f"order{n}")
        try:
            statuses = []
            for part in order:
                [result] = sync_service.import_bundles(coord, [part.path])
                assert not result.refused, result.message
                statuses.append(result.status)
                statuses.extend(r.status for r in result.released)
            # Every part was applied once: directly, or released from the inbox by its predecessor.
            assert statuses.count("applied") == len(parts), statuses
            assert sync_service.sync_status(coord).inbox == []
            got = records_of(coord)
            dumps.append(got)
        finally:
            coord.close()
        assert got == expected
    assert dumps[0] == dumps[1] == dumps[2]


def test_export_and_import_by_the_command_line(world, capsys):
    tmp_path, raw, laptop = world
    total = pending(laptop)
    stick = tmp_path / "stick"
    stick.mkdir()
    laptop_path, laptop_raw = laptop.path, laptop.database.raw
    laptop.close()
    code = main(["sync", "export", "--db", str(laptop_path), "--to", str(stick), "--bundle-changes", "50"])
    out = capsys.readouterr()
    assert code == ExitCode.OK, out.err
    wrote = [line for line in out.out.splitlines() if line.startswith("wrote ")]
    files = sorted(stick.glob("*.vipb"))
    assert len(files) == len(wrote) >= 2
    for line in wrote:  # the user sees every file written, with its count
        assert any(str(f) in line for f in files) and "change record(s)" in line
    counts = [int(re.search(r"([\d,]+) change record", line).group(1).replace(",", "")) for line in wrote]
    assert sum(counts) == total  # every pending change is in one of the parts
    assert f"{len(files)} bundles in sequence" in out.err
    coord = coordinator_copy(tmp_path, raw, "cli-coordinator")
    coord_path = coord.path
    coord.close()
    code = main(["sync", "import", "--db", str(coord_path), str(stick), "--json"])
    out = capsys.readouterr()
    assert code == ExitCode.OK, out.err
    results = json.loads(out.out)
    results = results["results"] if isinstance(results, dict) else results
    statuses = [r["status"] for r in results] + [x["status"] for r in results for x in r["released"]]
    assert statuses.count("applied") == len(files)
    laptop = open_store_with_key(laptop_path, laptop_raw)
    coord = open_store_with_key(coord_path, raw)
    try:
        assert records_of(coord) == records_of(laptop)
    finally:
        coord.close()
        laptop.close()


def test_a_replayed_part_changes_nothing(world):
    tmp_path, raw, laptop = world
    parts = split_export(laptop, tmp_path / "out", per_bundle=40)
    coord = coordinator_copy(tmp_path, raw, "replay")
    try:
        for part in parts:
            sync_service.import_bundles(coord, [part.path])
        before = file_state(coord)
        renamed = tmp_path / "copy (1).vipb"
        shutil.copyfile(parts[0].path, renamed)
        for source in (parts[0].path, renamed, parts[1].path):
            [again] = sync_service.import_bundles(coord, [source])
            assert again.status == "already imported" and not again.refused
        assert file_state(coord) == before
    finally:
        coord.close()


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf}


def repack(found: dict[str, bytes], path: Path) -> Path:
    path.write_bytes(bundle_format.pack_members(list(found.items())))
    return path


def test_a_part_cannot_be_given_another_range_or_another_payload(world):
    tmp_path, raw, laptop = world
    parts = split_export(laptop, tmp_path / "out", per_bundle=40)
    coord = coordinator_copy(tmp_path, raw, "forged")
    try:
        before = file_state(coord)
        # Part 2 claiming to start where part 1 starts (to be applied without part 1).
        found = members(parts[1].path)
        header = json.loads(found["header.json"])
        header["seq_first"] = 1
        found["header.json"] = (json.dumps(header, indent=2) + "\n").encode()
        [result] = sync_service.import_bundles(coord, [repack(found, tmp_path / "range.vipb")])
        assert result.status == "refused" and result.code == "bad-signature"
        # Part 2's encrypted changes under part 1's signed header.
        first, second = members(parts[0].path), members(parts[1].path)
        first["payload.age"] = second["payload.age"]
        [result] = sync_service.import_bundles(coord, [repack(first, tmp_path / "swap.vipb")])
        assert result.refused and result.code in ("bad-signature", "tampered")
        # Part 2's payload and signature under part 1's header: the signature binds the header.
        first = members(parts[0].path)
        first["payload.age"], first["payload.age.minisig"] = second["payload.age"], second["payload.age.minisig"]
        [result] = sync_service.import_bundles(coord, [repack(first, tmp_path / "swap2.vipb")])
        assert result.refused and result.code == "bad-signature"
        assert file_state(coord) == before
    finally:
        coord.close()


def test_a_laptop_cannot_sign_changes_outside_a_parts_range(world):
    """An enrolled laptop (its own keys) signs a part whose changes lie outside its header's range."""
    tmp_path, raw, laptop = world
    state, roster = sync_service._enrolled(laptop)
    with laptop.database.engine.connect() as conn:
        rows = [
            list(r)
            for r in conn.exec_driver_sql(
                "SELECT device, seq, hlc, tbl, row_id, op, col, value, base_hlc, base_device FROM change_log "
                "WHERE device = ? ORDER BY seq",
                (laptop.device_id,),
            )
        ]
    out = tmp_path / "forged"
    out.mkdir()
    path = bundle_format.write_bundle(
        out,
        header_fields={
            "program_id": laptop.identity.program_id,
            "schema_version": SCHEMA_VERSION,
            "kind": "worker",
            "source_device": laptop.device_id,
            "created_hlc": max(r[2] for r in rows),
            "seq_first": 1,
            "seq_last": 10,
        },
        payload={"changes": rows[:20], "ack": 0},
        signer=state.device_keys,
        recipients=roster.coordinator_recipients(),
    )
    coord = coordinator_copy(tmp_path, raw, "outside")
    try:
        before = file_state(coord)
        [result] = sync_service.import_bundles(coord, [path])
        assert result.status == "refused" and result.code == "bad-format"
        assert file_state(coord) == before
    finally:
        coord.close()


def test_a_withheld_part_leaves_the_later_ones_waiting_until_the_laptop_sends_again(world):
    tmp_path, raw, laptop = world
    parts = split_export(laptop, tmp_path / "out", per_bundle=40)
    coord = coordinator_copy(tmp_path, raw, "withheld")
    try:
        [first] = sync_service.import_bundles(coord, [parts[0].path])
        assert first.status == "applied"
        late = [sync_service.import_bundles(coord, [p.path])[0] for p in parts[2:]]
        assert all(r.status == "waiting (gap)" for r in late)
        held = records_of(coord)
        assert len(held["client"]) < len(records_of(laptop)["client"])
        # The laptop exports again (nothing was acknowledged: everything is sent once more).
        again = split_export(laptop, tmp_path / "again", per_bundle=40)
        results = sync_service.import_bundles(coord, [tmp_path / "again"])
        assert not any(r.refused for r in results)
        assert records_of(coord) == records_of(laptop)
        assert len(again) == len(parts)
    finally:
        coord.close()


def test_packed_changes_are_the_bytes_of_the_listed_payload(world):
    """Streaming the changes in gives the very plaintext a payload holding the list gives."""
    tmp_path, _raw, laptop = world
    state, roster = sync_service._enrolled(laptop)
    with laptop.database.engine.connect() as conn:
        rows = [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT device, seq, hlc, tbl, row_id, op, col, value, base_hlc, base_device FROM change_log "
                "ORDER BY seq"
            )
        ]
    fields = {
        "program_id": laptop.identity.program_id,
        "schema_version": SCHEMA_VERSION,
        "kind": "worker",
        "source_device": laptop.device_id,
        "created_hlc": 1,
    }
    packed = bundle_format.PackedChanges()
    for row in rows:
        packed.add(row)
    _, streamed = bundle_format.build_bundle(
        header_fields=fields,
        payload={"ack": 7},
        changes=packed,
        signer=state.device_keys,
        recipients=roster.coordinator_recipients(),
    )
    _, listed = bundle_format.build_bundle(
        header_fields=fields,
        payload={"changes": [list(r) for r in rows], "ack": 7},
        signer=state.device_keys,
        recipients=roster.coordinator_recipients(),
    )
    a, b = bundle_format.peek_header(streamed), bundle_format.peek_header(listed)
    assert (a["plaintext_sha256"], a["plaintext_size"], a["change_count"]) == (
        b["plaintext_sha256"],
        b["plaintext_size"],
        b["change_count"],
    ) and a["change_count"] == len(rows)
    plaintext = msgpack.packb({"changes": [list(r) for r in rows], "ack": 7}, use_bin_type=True)
    assert a["plaintext_size"] == len(plaintext)


def test_a_bundle_over_the_limits_is_a_clear_refusal_and_leaves_no_file(world, tmp_path):
    world_path, raw, laptop = world
    coord = coordinator_copy(world_path, raw, "too-big")
    try:
        # The laptop's clients reach the coordinator, so its return bundle holds their records.
        split_export(laptop, world_path / "up", per_bundle=1000)
        assert not any(r.refused for r in sync_service.import_bundles(coord, [world_path / "up"]))
        out = tmp_path / "down"
        out.mkdir()
        with pytest.raises(sync_service.ExportFailed) as caught:
            sync_service.export(coord, out, limits=bundle_format.Limits(max_changes=5))
        assert "could not be written" in caught.value.message and caught.value.exit_code == ExitCode.ERROR
        assert list(out.iterdir()) == []
        with coord.database.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM sync_bundle WHERE direction = 'out'").scalar_one() == 0
    finally:
        coord.close()


def test_export_and_import_report_progress_per_chunk_of_changes(world):
    from vipterm.progress import Progress, ProgressTask

    class Seen(Progress):
        def __init__(self):
            self.tasks: list[ProgressTask] = []

        def task(self, label, total=None):
            self.tasks.append(ProgressTask(label, total))
            return self.tasks[-1]

    tmp_path, raw, laptop = world
    total = pending(laptop)
    seen = Seen()
    out = tmp_path / "out"
    out.mkdir()
    parts = sync_service.export(laptop, out, limits=bundle_format.Limits(bundle_changes=40), progress=seen)
    [task] = seen.tasks
    assert task.total == total and task.completed == total
    coord = coordinator_copy(tmp_path, raw, "progress")
    try:
        seen = Seen()
        sync_service.import_bundles(coord, [out], progress=seen)
        [task] = seen.tasks
        assert task.total == task.completed == sum(p.changes for p in parts) == total
    finally:
        coord.close()
