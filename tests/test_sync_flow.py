"""Sync use cases end to end on real encrypted databases: conflicts kept for review and resolved,
coordinator-owned fields, caseloads returned to laptops, purges, record sync states, and the
monthly report of a coordinator after merging equal to the report of one database holding the
same data."""

from __future__ import annotations

import shutil
from datetime import timedelta

from sqlalchemy import text

from tests.sync_support import enrolled_program, exchange, new_coordinator, new_enrolled_worker
from vipterm.domain import utcnow
from vipterm.services import records, report
from vipterm.services import sync as sync_service
from vipterm.services.database import open_store
from vipterm.sync import merge as merge_engine


def _client_field(store, client_id, col):
    with store.read() as s:
        return s.execute(text(f"SELECT {col} FROM client WHERE id = :c"), {"c": client_id}).scalar_one()


def test_concurrent_edit_is_queued_resolved_and_synced_back(tmp_path):
    coord, (w1,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Shared", area_command="valley"))
        exchange(coord, [w1], tmp_path / "r1")
        records.update_client(w1, client.id, area_command="foothills")
        records.update_client(coord, client.id, area_command="southeast")  # later clock: it wins
        exchange(coord, [w1], tmp_path / "r2")
        [conflict] = sync_service.list_conflicts(coord)
        assert conflict.col == "area_command" and conflict.record.startswith("client VIP-")
        assert conflict.current_value == "southeast" and conflict.other_value == "foothills"
        assert conflict.other_by == "Worker One" and conflict.current_by == "Coordinator"
        assert _client_field(w1, client.id, "area_command") == "southeast"  # the winner everywhere
        assert sync_service.record_sync_states(coord, "client", [client.id]) == {client.id: "conflict"}
        sync_service.resolve_conflict(coord, conflict.id, "other")
        assert sync_service.list_conflicts(coord) == []
        exchange(coord, [w1], tmp_path / "r3")
        assert _client_field(w1, client.id, "area_command") == "foothills"  # the resolution synced back
        assert _client_field(coord, client.id, "area_command") == "foothills"
    finally:
        coord.close()
        w1.close()


def test_worker_change_to_an_assignment_is_refused_and_undone_on_the_laptop(tmp_path):
    coord, (w1, w2) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"), ("w2.db", "Worker Two"))
    try:
        client = records.create_client(w1, records.ClientDraft(aka="Mine"))  # creating: assigned to w1, accepted
        exchange(coord, [w1, w2], tmp_path / "r1")
        assert _client_field(coord, client.id, "assigned_worker_id") == w1.worker_id
        records.update_client(w1, client.id, assigned_worker_id=w2.worker_id)
        up = tmp_path / "up"
        up.mkdir()
        sync_service.export(w1, up)
        [result] = sync_service.import_bundles(coord, [up])
        assert result.summary["refused_fields"] == {"client.assigned_worker_id": 1}
        assert "outside the laptop's write scope refused" in result.message
        assert _client_field(coord, client.id, "assigned_worker_id") == w1.worker_id
        exchange(coord, [w1, w2], tmp_path / "r2")
        assert _client_field(w1, client.id, "assigned_worker_id") == w1.worker_id
        # The coordinator reassigns: the client reaches the second laptop with its whole file.
        records.update_client(coord, client.id, assigned_worker_id=w2.worker_id)
        exchange(coord, [w1, w2], tmp_path / "r3")
        assert _client_field(w2, client.id, "assigned_worker_id") == w2.worker_id
        with w2.read() as s:
            assert (
                s.execute(text("SELECT aka FROM client_identity WHERE client_id = :c"), {"c": client.id}).scalar_one()
                == "Mine"
            )
    finally:
        for s in (coord, w1, w2):
            s.close()


def test_purge_is_terminal_and_reaches_the_laptops(tmp_path):
    coord = new_coordinator(tmp_path / "c.db")
    w1 = new_enrolled_worker(coord, tmp_path / "w1.db")
    try:
        client = records.create_client(w1, records.ClientDraft(first_name="Gone", last_name="Soon"))
        records.log_contact(w1, records.ContactDraft(client_id=client.id, note="met at the park", outcome="reached"))
        exchange(coord, [w1], tmp_path / "r1")
        records.log_contact(
            w1, records.ContactDraft(client_id=client.id, note="second visit", outcome="reached")
        )  # crosses the purge
        counts = sync_service.purge_client(coord, client.id)
        assert counts["client"] == 1 and counts["client_identity"] == 1 and counts["contact"] == 1
        up = tmp_path / "up"
        up.mkdir()
        sync_service.export(w1, up)
        [result] = sync_service.import_bundles(coord, [up])
        assert result.summary["dropped_for_purged_rows"] > 0
        exchange(coord, [w1], tmp_path / "r2")
        for store in (coord, w1):
            with store.read() as s:
                for tbl, col in (("client", "id"), ("client_identity", "client_id"), ("contact", "client_id")):
                    assert (
                        s.execute(text(f"SELECT count(*) FROM {tbl} WHERE {col} = :c"), {"c": client.id}).scalar_one()
                        == 0
                    )
                # the erased values are gone from the logs too
                assert (
                    s.execute(
                        text("SELECT count(*) FROM change_log WHERE row_id = :c AND op = 'set'"), {"c": client.id}
                    ).scalar_one()
                    == 0
                )
    finally:
        coord.close()
        w1.close()


def test_record_sync_states_on_a_laptop(tmp_path):
    coord = new_coordinator(tmp_path / "c.db")
    w1 = new_enrolled_worker(coord, tmp_path / "w1.db")
    try:
        client = records.create_client(w1, records.ClientDraft(aka="State"))
        assert sync_service.record_sync_states(w1, "client", [client.id]) == {client.id: "pending"}
        up = tmp_path / "up"
        up.mkdir()
        [res] = sync_service.export(w1, up)
        assert sync_service.record_sync_states(w1, "client", [client.id]) == {client.id: "exported"}
        assert sync_service.sync_status(w1).exported_unacknowledged > 0
        sync_service.import_bundles(coord, [res.path])
        down = tmp_path / "down"
        down.mkdir()
        sync_service.export(coord, down)
        sync_service.import_bundles(w1, [down])
        assert sync_service.record_sync_states(w1, "client", [client.id]) == {client.id: "synced"}
        status = sync_service.sync_status(w1)
        assert status.pending_changes == 0 and status.exported_unacknowledged == 0
        with w1.read() as s:  # the acknowledged outbox was pruned
            assert s.execute(text("SELECT count(*) FROM change_log")).scalar_one() == 0
    finally:
        coord.close()
        w1.close()


def _copy_rows_into(source, target) -> None:
    """Plain union of records (no merge engine): how one database holding the same data looks."""
    with source.database.engine.connect() as src, target.database.engine.begin() as dst:
        dst.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        for tbl, ti in merge_engine.tables().items():
            rows = [tuple(r) for r in src.exec_driver_sql(f"SELECT {', '.join(ti.columns)} FROM {tbl}")]
            if not rows:
                continue
            sets = ", ".join(f"{c} = excluded.{c}" for c in ti.columns[1:])
            dst.exec_driver_sql(
                f"INSERT INTO {tbl} ({', '.join(ti.columns)}) VALUES ({', '.join('?' * len(ti.columns))}) "
                f"ON CONFLICT ({ti.pk}) DO UPDATE SET {sets}",
                rows,
            )


def test_coordinator_report_after_merging_equals_one_database(tmp_path, demo_path):
    from tests.conftest import DEMO_PASSPHRASE

    coord = open_store(demo_path, DEMO_PASSPHRASE)  # a coordinator with the program's history
    sync_service.coordinator_init(demo_path, store=coord)
    laptops = [new_enrolled_worker(coord, tmp_path / f"w{i}.db", f"Laptop {i}") for i in range(2)]
    try:
        exchange(coord, laptops, tmp_path / "r0")  # the laptops' staff rows reach the coordinator
        with coord.read() as s:
            open_clients = [
                r[0]
                for r in s.execute(
                    text("SELECT id FROM client WHERE status IN ('engaged', 'active', 'notified') ORDER BY id LIMIT 6")
                )
            ]
        for i, client_id in enumerate(open_clients):
            records.update_client(coord, client_id, assigned_worker_id=laptops[i % 2].worker_id)
        exchange(coord, laptops, tmp_path / "r1")
        reference_path = tmp_path / "reference.db"
        coord.close()
        shutil.copy(demo_path, reference_path)
        coord = open_store(demo_path, DEMO_PASSPHRASE)
        for i, laptop in enumerate(laptops):
            with laptop.read() as s:
                held = [
                    r[0]
                    for r in s.execute(
                        text("SELECT id FROM client WHERE assigned_worker_id = :w"), {"w": laptop.worker_id}
                    )
                ]
            assert sorted(held) == sorted(open_clients[i::2])  # each laptop got its own caseload only
            now = utcnow() - timedelta(minutes=1)
            for client_id in held:
                records.log_contact(
                    laptop, records.ContactDraft(client_id=client_id, occurred_at=now, outcome="reached")
                )
            new = records.create_client(laptop, records.ClientDraft(aka=f"New {i}", area_command="valley"))
            records.record_notification(
                laptop,
                records.NotificationDraft(client_id=new.id, attempted_on=now.date(), team=[("Peer", "peer_support")]),
            )
        exchange(coord, laptops, tmp_path / "r2")
        reference = open_store(reference_path, DEMO_PASSPHRASE)
        try:
            for laptop in laptops:
                _copy_rows_into(laptop, reference)
            month = utcnow().date().replace(day=1)
            assert report.build_report(coord, month) == report.build_report(reference, month)
            with coord.database.engine.connect() as a, reference.database.engine.connect() as b:
                assert merge_engine.canonical_dump(a) == merge_engine.canonical_dump(b)
        finally:
            reference.close()
    finally:
        coord.close()
        for laptop in laptops:
            laptop.close()
