"""The caseload puts overdue follow-ups first, then due today, then the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from vipterm.domain import utcnow
from vipterm.errors import NotFound
from vipterm.services import caseload, records
from vipterm.store.models import FollowUp


def _client(store, aka):
    return records.create_client(store, records.ClientDraft(aka=aka))


def _due(store, client_id, due_on):
    # Written directly: the service refuses past due dates, but time passes and old ones go overdue.
    with store.write() as s:
        s.add(FollowUp(client_id=client_id, owner_id=store.worker_id, due_on=due_on))


def test_ordering_overdue_then_today_then_rest(store):
    today = utcnow().date()
    later = _client(store, "Later")
    _due(store, later.id, today + timedelta(days=3))
    _client(store, "Nothing")  # no follow-up at all: last
    very_late = _client(store, "VeryLate")
    _due(store, very_late.id, today - timedelta(days=9))
    late = _client(store, "Late")
    _due(store, late.id, today - timedelta(days=1))
    now = _client(store, "Now")
    _due(store, now.id, today)
    rows = caseload.caseload(store, today=today)
    assert [r.name for r in rows] == ["“VeryLate”", "“Late”", "“Now”", "“Later”", "“Nothing”"]
    assert [r.urgency for r in rows] == [0, 0, 1, 2, 2]


def test_row_shows_last_contact_next_due_open_and_stale_referrals(store):
    client = _client(store, "Busy")
    provider = records.add_provider(store, "Pantry", "food")
    records.log_contact(
        store, records.ContactDraft(client.id, occurred_at=utcnow() - timedelta(days=2), outcome="reached")
    )
    records.log_contact(
        store, records.ContactDraft(client.id, occurred_at=utcnow() - timedelta(days=5), outcome="reached")
    )
    open_ref = records.create_referral(store, records.ReferralDraft(client.id, "food", provider.id))
    done = records.create_referral(store, records.ReferralDraft(client.id, "food", provider.id))
    records.set_referral_status(store, done.id, "rejected", reason="full")
    with store.write() as s:  # an old referral nobody touched for three weeks
        s.execute(
            text("UPDATE referral SET status_changed_at = :t WHERE id = :r"),
            {"t": (utcnow() - timedelta(days=21)).isoformat(sep=" "), "r": open_ref.id},
        )
    records.schedule_follow_up(store, client.id, utcnow().date() + timedelta(days=4))
    [row] = caseload.caseload(store)
    assert row.last_contact.date() == (utcnow() - timedelta(days=2)).date()
    assert row.next_due == utcnow().date() + timedelta(days=4)
    assert row.open_referrals == 1 and row.stale_referrals == 1


def test_mine_versus_all_and_closed(demo_store):
    mine = caseload.caseload(demo_store)
    everyone = caseload.caseload(demo_store, worker_id=None)
    with_closed = caseload.caseload(demo_store, worker_id=None, include_closed=True)
    assert 0 < len(mine) < len(everyone) < len(with_closed)
    assert all(r.assigned_worker_id == demo_store.worker_id for r in mine)
    assert all(r.status not in ("closed", "inactive") for r in everyone)


def test_filter_matches_name_alias_id_area_and_status(store):
    a = records.create_client(store, records.ClientDraft(first_name="Mateo", aka="Flaco", area_command="valley"))
    b = records.create_client(store, records.ClientDraft(first_name="Lena", area_command="foothills"))
    rows = caseload.caseload(store)
    assert [r.client_id for r in caseload.filter_rows(rows, "flaco")] == [a.id]
    assert [r.client_id for r in caseload.filter_rows(rows, "foothills")] == [b.id]
    assert [r.client_id for r in caseload.filter_rows(rows, b.pseudonym.lower())] == [b.id]
    assert [r.client_id for r in caseload.filter_rows(rows, "valley mateo")] == [a.id]
    assert caseload.filter_rows(rows, "valley lena") == []
    assert len(caseload.filter_rows(rows, "identified")) == 2


def test_client_file_timeline_and_resolution(store):
    client = records.create_client(store, records.ClientDraft(first_name="Rio"))
    records.record_notification(
        store,
        records.NotificationDraft(client.id, utcnow().date() - timedelta(days=3), team=[("Rosa", "peer_support")]),
    )
    records.log_contact(store, records.ContactDraft(client.id, note="first talk", outcome="reached"))
    cf = caseload.client_file(store, client.id)
    assert [e.kind for e in cf.timeline] == ["contact", "notification"]
    assert cf.client.status == "notified"
    assert caseload.resolve_client_id(store, client.pseudonym.lower()) == client.id
    assert caseload.resolve_client_id(store, client.id[:13]) == client.id
    with pytest.raises(NotFound):
        caseload.resolve_client_id(store, "VIP-NOPE00")
