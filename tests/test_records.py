"""Validation of the write use cases: a clear message naming the field, and nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from vipterm.domain import utcnow
from vipterm.errors import NotFound, ValidationError
from vipterm.services import records


def _count(store, table):
    with store.read() as s:
        return s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_client_needs_a_name_or_alias(store):
    with pytest.raises(ValidationError) as info:
        records.create_client(store, records.ClientDraft())
    assert info.value.field == "first_name"
    assert _count(store, "client") == 0


def test_unknown_area_command_lists_the_accepted_ones(store):
    with pytest.raises(ValidationError) as info:
        records.create_client(store, records.ClientDraft(aka="X", area_command="Downtown"))
    assert "southeast" in str(info.value) and info.value.field == "area_command"


def test_area_commands_match_labels_case_insensitively(store):
    client = records.create_client(store, records.ClientDraft(aka="X", area_command="N/A"))
    assert client.area_command == "na"
    client = records.create_client(store, records.ClientDraft(aka="Y", area_command="SOUTHEAST"))
    assert client.area_command == "southeast"


def test_age_group_is_derived_from_date_of_birth(store):
    today = utcnow().date()
    client = records.create_client(
        store, records.ClientDraft(aka="Young", date_of_birth=today.replace(year=today.year - 20) - timedelta(days=1))
    )
    assert client.age_group == "18_24"


def test_contact_in_the_future_is_refused(store):
    client = records.create_client(store, records.ClientDraft(aka="Fut"))
    with pytest.raises(ValidationError) as info:
        records.log_contact(
            store, records.ContactDraft(client.id, occurred_at=utcnow() + timedelta(hours=2), outcome="reached")
        )
    assert info.value.field == "occurred_at"
    assert _count(store, "contact") == 0


def test_follow_up_before_the_contact_is_refused(store):
    client = records.create_client(store, records.ClientDraft(aka="FU"))
    with pytest.raises(ValidationError) as info:
        records.log_contact(
            store,
            records.ContactDraft(client.id, outcome="reached", next_follow_up=utcnow().date() - timedelta(days=3)),
        )
    assert info.value.field == "next_follow_up"


def test_reaching_a_client_closes_their_due_contact_follow_ups(store):
    client = records.create_client(store, records.ClientDraft(aka="Due"))
    fu = records.schedule_follow_up(store, client.id, utcnow().date())
    records.log_contact(store, records.ContactDraft(client.id, outcome="no_answer"))
    with store.read() as s:
        assert s.execute(text("SELECT done_at FROM follow_up WHERE id = :i"), {"i": fu.id}).scalar_one() is None
    records.log_contact(store, records.ContactDraft(client.id, outcome="reached"))
    with store.read() as s:
        assert s.execute(text("SELECT done_at FROM follow_up WHERE id = :i"), {"i": fu.id}).scalar_one() is not None


def test_last_contact_mode_is_remembered(store):
    client = records.create_client(store, records.ClientDraft(aka="Mode"))
    assert records.last_contact_mode(store) == "in_person"
    records.log_contact(store, records.ContactDraft(client.id, mode="text", outcome="reached"))
    assert records.last_contact_mode(store) == "text"


def test_referral_moves_only_along_allowed_transitions(store):
    client = records.create_client(store, records.ClientDraft(aka="Ref"))
    provider = records.add_provider(store, "Clinic", "mental_health")
    referral = records.create_referral(store, records.ReferralDraft(client.id, "mental_health", provider.id))
    assert referral.status == "sent"
    with pytest.raises(ValidationError) as info:
        records.set_referral_status(store, referral.id, "completed")
    assert "allowed" in str(info.value)
    with pytest.raises(ValidationError) as info:
        records.set_referral_status(store, referral.id, "rejected")
    assert info.value.field == "reason"
    records.set_referral_status(store, referral.id, "accepted")
    records.set_referral_status(store, referral.id, "in_progress")
    records.set_referral_status(store, referral.id, "on_hold", reason="client in hospital")
    records.set_referral_status(store, referral.id, "in_progress")
    done = records.set_referral_status(store, referral.id, "completed", feedback="attended all sessions")
    assert done.first_service_on is not None
    with store.read() as s:
        history = [
            r
            for (r,) in s.execute(
                text("SELECT status FROM referral_event WHERE referral_id = :r ORDER BY at, rowid"), {"r": referral.id}
            )
        ]
        status = s.execute(text("SELECT status FROM client WHERE id = :c"), {"c": client.id}).scalar_one()
    assert history == ["draft", "sent", "accepted", "in_progress", "on_hold", "in_progress", "completed"]
    assert status == "engaged"


def test_notification_outcomes_move_the_funnel_forward_only(store):
    client = records.create_client(store, records.ClientDraft(aka="Funnel"))
    today = utcnow().date()
    records.record_notification(store, records.NotificationDraft(client.id, today, outcome="not_found"))
    with store.read() as s:
        assert s.execute(text("SELECT status FROM client")).scalar_one() == "notification_attempted"
    records.record_notification(
        store,
        records.NotificationDraft(
            client.id, today, outcome="delivered", team=[("Officer Ruiz", "police")], confirm_same_day=True
        ),
    )
    records.record_notification(
        store, records.NotificationDraft(client.id, today, outcome="refused", confirm_same_day=True)
    )
    with store.read() as s:
        assert s.execute(text("SELECT status FROM client")).scalar_one() == "notified"


def test_assessment_levels_are_0_to_3(store):
    client = records.create_client(store, records.ClientDraft(aka="Assess"))
    with pytest.raises(ValidationError):
        records.record_assessment(store, records.AssessmentDraft(client.id, levels={"housing": 4}))
    records.record_assessment(
        store, records.AssessmentDraft(client.id, levels={"housing": 3, "food": 1}, priorities={"housing"})
    )
    assert records.latest_assessment_levels(store, client.id) == {"housing": (3, True), "food": (1, False)}


def test_unknown_records_are_not_found(store):
    with pytest.raises(NotFound):
        records.log_contact(store, records.ContactDraft("no-such-client", outcome="reached"))
    with pytest.raises(NotFound):
        records.set_referral_status(store, "no-such-referral", "accepted")


def test_provider_search_puts_providers_for_the_need_first(store):
    records.add_provider(store, "Alpha Legal", "legal")
    records.add_provider(store, "Zeta Shelter", "shelter")
    found = records.search_providers(store, "", need="housing")
    assert [p.name for p in found] == ["Zeta Shelter", "Alpha Legal"]
    assert [p.name for p in records.search_providers(store, "legal")] == ["Alpha Legal"]


def test_a_new_pseudonym_is_never_one_a_client_here_already_has(store):
    first = records.create_client(store, records.ClientDraft(aka="First"))
    client_id = "019fb80b-aa00-70c2-9599-eec752e9e20f"
    assert records.new_pseudonym(client_id) == "VIP-E9E20F"  # the id's random tail
    with store.read() as session:
        assert records.pseudonym_in_use(session, first.pseudonym)
        assert not records.pseudonym_in_use(session, "VIP-E9E20F")
        # The tail repeats another client's (one pair in about 6,000 clients): another is drawn.
        taken = {"VIP-E9E20F", first.pseudonym}
        drawn = records.new_pseudonym(client_id, lambda p: p in taken or records.pseudonym_in_use(session, p))
    assert drawn not in taken and drawn.startswith("VIP-") and len(drawn) == len("VIP-E9E20F")
    int(drawn[4:], 16)  # still six hex digits


def test_an_import_never_gives_two_clients_one_made_pseudonym(store, tmp_path):
    from vipterm.services.csv_import import import_csv

    existing = records.create_client(store, records.ClientDraft(aka="Here"))
    rows = "".join(f"Person{n},Test,2021-01-0{n % 9 + 1}\n" for n in range(40))
    path = tmp_path / "no-case-ids.csv"
    path.write_text("first_name,last_name,identified_on\n" + rows, encoding="utf-8")
    assert import_csv(store, "clients", path).written == 40
    with store.read() as session:
        pseudonyms = [p for (p,) in session.execute(text("SELECT pseudonym FROM client"))]
    assert len(pseudonyms) == len(set(pseudonyms)) == 41 and existing.pseudonym in pseudonyms


def test_the_import_counts_a_pseudonym_taken_by_a_client_here_or_one_it_made(store):
    from vipterm.services.csv_import import _Context

    existing = records.create_client(store, records.ClientDraft(aka="Here"))
    ctx = _Context(store, "clients")
    assert ctx.pseudonym_taken(existing.pseudonym)
    assert not ctx.pseudonym_taken("VIP-ABC123")  # free: now this import's
    assert ctx.pseudonym_taken("VIP-ABC123")
    made = records.new_pseudonym("019fb80b-aa00-70c2-9599-eec752abc123", ctx.pseudonym_taken)
    assert made not in ("VIP-ABC123", existing.pseudonym)
