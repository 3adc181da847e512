"""Every service write lands in the change log in the same transaction; nothing else does."""

from __future__ import annotations

from datetime import date, timedelta

import msgpack
import pytest
from sqlalchemy import text

from vipterm.services import records
from vipterm.store.models import SYNC_POLICY, Client, Contact
from vipterm.sync.capture import PhysicalDelete, UncapturedWrite
from vipterm.sync.field_clocks import WHOLE_RECORD, clocks_of


def _changes(store):
    with store.read() as s:
        return s.execute(
            text("SELECT device, seq, hlc, tbl, row_id, col, value, base_hlc, base_device FROM change_log ORDER BY seq")
        ).all()


def _columns(table: str) -> set[str]:
    model = SYNC_POLICY[table].model
    pk = "client_id" if table == "client_identity" else "id"
    return {c.key for c in model.__table__.columns if c.key != pk}


def test_creating_a_client_captures_every_field_of_client_and_identity(store):
    before = len(_changes(store))
    client = records.create_client(
        store, records.ClientDraft(first_name="Ana", last_name="Test", area_command="valley")
    )
    new = _changes(store)[before:]
    by_table = {}
    for row in new:
        by_table.setdefault(row.tbl, {})[row.col] = msgpack.unpackb(row.value)
        assert row.row_id == client.id and row.device == store.device_id
    assert set(by_table) == {"client", "client_identity"}
    assert set(by_table["client"]) == _columns("client")
    assert set(by_table["client_identity"]) == _columns("client_identity")
    assert by_table["client"]["area_command"] == "valley"
    assert by_table["client_identity"]["first_name"] == "Ana"
    assert len({row.hlc for row in new}) == 1  # one transaction, one clock


def test_an_update_captures_only_the_changed_fields_with_their_base_clock(store):
    client = records.create_client(store, records.ClientDraft(aka="Base"))
    created = {r.col: r for r in _changes(store) if r.tbl == "client"}
    before = len(_changes(store))
    records.update_client(store, client.id, area_command="foothills", status="notified")
    records.update_client(store, client.id, area_command="foothills")  # no change: nothing captured
    new = _changes(store)[before:]
    assert sorted(r.col for r in new) == ["area_command", "status"]
    for row in new:
        assert row.base_hlc == created[row.col].hlc and row.base_device == store.device_id
        assert row.hlc > row.base_hlc
    with store.read() as s:
        versions = {col: stamp for (_r, col), (stamp, _d) in clocks_of(s.connection(), "client", [client.id]).items()}
    assert versions["area_command"] == new[0].hlc
    assert versions["age_group"] == created["age_group"].hlc


def test_a_new_record_keeps_one_clock_for_all_its_fields_until_a_field_changes(store):
    client = records.create_client(store, records.ClientDraft(aka="Whole"))

    def stored_clocks() -> dict[str, int]:
        with store.read() as s:
            return dict(
                s.execute(
                    text("SELECT col, hlc FROM field_version WHERE row_id = :r AND tbl = 'client'"), {"r": client.id}
                ).all()
            )

    created = {r.col: r.hlc for r in _changes(store) if r.tbl == "client" and r.row_id == client.id}
    [stamp] = set(created.values())
    assert stored_clocks() == {WHOLE_RECORD: stamp}  # one row, not one per field
    records.update_client(store, client.id, area_command="foothills")
    [edit] = [r for r in _changes(store) if r.row_id == client.id and r.hlc != stamp]
    assert edit.base_hlc == stamp  # the edit is based on the record's whole clock
    assert stored_clocks() == {WHOLE_RECORD: stamp, "area_command": edit.hlc}
    with store.read() as s:
        read = {col: clock[0] for (_r, col), clock in clocks_of(s.connection(), "client", [client.id]).items()}
    assert read == {**dict.fromkeys(created, stamp), "area_command": edit.hlc}


def test_add_only_facts_keep_no_field_versions(store):
    client = records.create_client(store, records.ClientDraft(aka="Facts"))
    contact = records.log_contact(store, records.ContactDraft(client.id, note="hello", outcome="reached"))
    with store.read() as s:
        assert s.execute(text("SELECT count(*) FROM field_version WHERE tbl = 'contact'")).scalar_one() == 0
        cols = {r for (r,) in s.execute(text("SELECT col FROM change_log WHERE row_id = :r"), {"r": contact.id})}
    assert cols == _columns("contact")


def test_sequence_numbers_have_no_gaps_across_many_writes(store):
    client = records.create_client(store, records.ClientDraft(aka="Seq"))
    for n in range(5):
        records.log_contact(
            store,
            records.ContactDraft(
                client.id, note=f"n{n}", outcome="reached", next_follow_up=date(2026, 11, 23) + timedelta(days=n + 1)
            ),
        )
    with pytest.raises(Exception):
        records.log_contact(
            store, records.ContactDraft(client.id, occurred_at=None, mode="carrier pigeon", outcome="reached")
        )
    seqs = [r.seq for r in _changes(store)]
    assert seqs == list(range(1, len(seqs) + 1))
    with store.read() as s:
        assert s.execute(text("SELECT next_seq FROM sync_state")).scalar_one() == len(seqs) + 1


def test_a_rolled_back_write_leaves_no_change_rows(store):
    client = records.create_client(store, records.ClientDraft(aka="Rollback"))
    before = _changes(store)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with store.write() as session:
            c = session.get(Client, client.id)
            c.area_command = "southwest"
            session.flush()  # the change rows are written here...
            raise Boom()  # ...and must vanish with the transaction
    assert _changes(store) == before
    with store.read() as s:
        assert s.get(Client, client.id).area_command == "na"
        assert s.execute(text("SELECT next_seq FROM sync_state")).scalar_one() == len(before) + 1


def test_hlc_never_goes_backwards_between_transactions(store):
    client = records.create_client(store, records.ClientDraft(aka="Clock"))
    for _ in range(20):
        records.log_contact(store, records.ContactDraft(client.id, outcome="reached"))
    clocks = [r.hlc for r in _changes(store)]
    assert clocks == sorted(clocks)


def test_writes_outside_a_capturing_session_are_refused(store):
    client = records.create_client(store, records.ClientDraft(aka="Guard"))
    with store.read() as session:
        c = session.get(Client, client.id)
        c.status = "closed"
        with pytest.raises(UncapturedWrite):
            session.commit()


def test_physical_deletes_of_synced_rows_are_refused(store):
    client = records.create_client(store, records.ClientDraft(aka="Tomb"))
    contact = records.log_contact(store, records.ContactDraft(client.id, outcome="reached"))
    with pytest.raises(PhysicalDelete):
        with store.write() as session:
            session.delete(session.get(Contact, contact.id))
    with store.read() as s:
        assert s.get(Contact, contact.id) is not None


@pytest.mark.parametrize(
    "action, tables",
    [
        ("notify", {"notification_attempt", "client"}),
        ("contact", {"contact", "follow_up"}),
        ("assess", {"assessment", "assessment_item"}),
        ("refer", {"referral", "referral_event", "client"}),
        ("outcome", {"outcome"}),
        ("follow_up", {"follow_up"}),
    ],
)
def test_every_service_write_yields_change_rows_for_its_tables(store, action, tables):
    client = records.create_client(store, records.ClientDraft(aka="Every"))
    provider = records.add_provider(store, "Pantry", "food")
    referral = records.create_referral(store, records.ReferralDraft(client.id, "food", provider.id))
    before = len(_changes(store))
    today = date(2026, 11, 23)
    if action == "notify":
        records.record_notification(store, records.NotificationDraft(client.id, today, outcome="not_found"))
    elif action == "contact":
        records.log_contact(
            store, records.ContactDraft(client.id, outcome="reached", next_follow_up=today + timedelta(days=7))
        )
    elif action == "assess":
        records.record_assessment(store, records.AssessmentDraft(client.id, levels={"housing": 3}))
    elif action == "refer":
        records.set_referral_status(store, referral.id, "accepted")
    elif action == "outcome":
        records.record_outcome(store, client.id, "job", today)
    elif action == "follow_up":
        records.schedule_follow_up(store, client.id, today + timedelta(days=3))
    assert {r.tbl for r in _changes(store)[before:]} == tables
