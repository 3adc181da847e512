"""Consent records, the referral's consent-to-share check, and safety plans: the services, their
sync (in scope and out of it), and their absence from the aggregate report."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.sync_support import PASSPHRASE
from tests.test_sync_malicious_worker import World, count, forge, held, new_row, vip  # noqa: F401
from vipterm.errors import NotFound, ValidationError
from vipterm.services import consent, records, tasks

TODAY = date(2026, 11, 23)  # the suite's frozen program day


def _count(store, table):
    with store.read() as s:
        return s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture
def client_and_provider(store):
    client = records.create_client(store, records.ClientDraft(first_name="Rosa", last_name="Quintana"))
    provider = records.add_provider(store, "Legal Aid Society", "legal")
    other = records.add_provider(store, "Westside Shelter", "shelter")
    return client, provider, other


def test_a_sharing_referral_without_written_consent_is_refused_and_nothing_is_written(store, client_and_provider):
    client, provider, other = client_and_provider
    draft = records.ReferralDraft(client.id, "legal", provider.id, shares_info=True)
    with pytest.raises(ValidationError) as info:
        records.create_referral(store, draft)
    assert info.value.field == "provider_id" and "no written consent to share" in info.value.message
    assert _count(store, "referral") == 0

    # Verbal consent is not enough; consent for another provider does not cover this one.
    verbal = consent.add_consent(store, client.id, "share_provider", method="verbal", provider_id=provider.id)
    consent.add_consent(store, client.id, "share_provider", method="written", provider_id=other.id)
    with pytest.raises(ValidationError, match="verbal only"):
        records.create_referral(store, draft)
    assert _count(store, "referral") == 0

    # Kept as a draft it shares nothing yet; sending it later is checked again.
    kept = records.create_referral(
        store, records.ReferralDraft(client.id, "legal", provider.id, send_now=False, shares_info=True)
    )
    with pytest.raises(ValidationError, match="verbal only"):
        records.set_referral_status(store, kept.id, "sent")
    written = consent.add_consent(
        store, client.id, "share_provider", provider_id=provider.id, expires_on=TODAY + timedelta(days=180)
    )
    assert records.set_referral_status(store, kept.id, "sent").status == "sent"
    assert records.create_referral(store, draft).status == "sent"

    # Withdrawn: refused again, and said so.
    consent.withdraw_consent(store, written.id)
    consent.withdraw_consent(store, verbal.id)
    with pytest.raises(ValidationError, match="withdrew"):
        records.create_referral(store, draft)
    # A referral that shares nothing identifying is not checked.
    assert records.create_referral(store, records.ReferralDraft(client.id, "legal", provider.id)).status == "sent"


def test_an_expired_consent_is_not_current(store, client_and_provider):
    client, provider, _ = client_and_provider
    consent.add_consent(
        store,
        client.id,
        "share_provider",
        provider_id=provider.id,
        given_on=TODAY - timedelta(days=400),
        expires_on=TODAY - timedelta(days=35),
    )
    assert "expired" in consent.sharing_problem(store, client.id, provider.id)
    [row] = consent.list_consents(store, client.id)
    assert row.state == "expired" and not row.current and "Legal Aid Society" in row.summary


def test_consent_input_is_checked_and_nothing_is_written(store, client_and_provider):
    client, provider, _ = client_and_provider
    cases = [
        (dict(kind="gossip"), "kind"),
        (dict(kind="media", method="by smoke signal"), "method"),
        (dict(kind="share_provider"), "provider_id"),
        (dict(kind="text_contact", provider_id=provider.id), "provider_id"),
        (dict(kind="share_provider", provider_id="no-such-provider"), "provider_id"),
        (dict(kind="services", given_on=TODAY + timedelta(days=1)), "given_on"),
        (dict(kind="services", given_on=TODAY, expires_on=TODAY - timedelta(days=1)), "expires_on"),
    ]
    for kwargs, field in cases:
        kind = kwargs.pop("kind")
        with pytest.raises(ValidationError) as info:
            consent.add_consent(store, client.id, kind, **kwargs)
        assert info.value.field == field, (kind, kwargs)
    with pytest.raises(NotFound):
        consent.add_consent(store, "missing", "services")
    assert _count(store, "consent") == 0
    c = consent.add_consent(store, client.id, "text_contact", method="verbal")
    with pytest.raises(ValidationError):
        consent.withdraw_consent(store, c.id, on=TODAY + timedelta(days=2))
    consent.withdraw_consent(store, c.id)
    with pytest.raises(ValidationError, match="already withdrawn"):
        consent.withdraw_consent(store, c.id)


def test_safety_plan_is_kept_up_to_date_and_its_review_becomes_a_task(store):
    client = records.create_client(store, records.ClientDraft(first_name="Ana", last_name="Ruiz"))
    with pytest.raises(ValidationError, match="empty"):
        consent.save_safety_plan(store, client.id)
    with pytest.raises(ValidationError, match="past"):
        consent.save_safety_plan(store, client.id, threats="x", review_on=TODAY - timedelta(days=1))
    assert consent.safety_plan_prompt(store, client.id)
    plan = consent.save_safety_plan(
        store,
        client.id,
        threats="conflict with a westside group",
        safe_places="aunt's house",
        review_on=TODAY + timedelta(days=3),
    )
    again = consent.save_safety_plan(
        store, client.id, check_in_plan="text every evening", review_on=TODAY + timedelta(days=3)
    )
    assert again.id == plan.id and _count(store, "safety_plan") == 1
    current = consent.safety_plan(store, client.id)
    assert current.threats == "conflict with a westside group" and current.check_in_plan == "text every evening"
    assert not consent.safety_plan_prompt(store, client.id)
    listed = tasks.open_tasks(store, today=TODAY)
    [review] = [t for t in listed.tasks if t.kind == "safety_plan"]
    assert review.client_id == client.id and review.due_on == TODAY + timedelta(days=3)
    assert review.group == tasks.THIS_WEEK and "review" in review.what
    # Reviewed (a new date) and it leaves the week; closed clients have no tasks.
    consent.save_safety_plan(store, client.id, review_on=TODAY + timedelta(days=30))
    assert not [t for t in tasks.open_tasks(store, today=TODAY).tasks if t.kind == "safety_plan"]


def test_consents_and_safety_plans_sync_in_scope_and_a_forged_one_is_held(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)
    world = World(tmp_path)
    try:
        coord, a, b = world.coord, world.a, world.b
        provider = records.add_provider(coord, "Legal Aid Society", "legal")
        world.round()
        given = consent.add_consent(a, world.ca.id, "share_provider", provider_id=provider.id, note="signed form")
        consent.save_safety_plan(a, world.ca.id, threats="PLANTED-THREAT", review_on=TODAY + timedelta(days=2))
        world.upload(a)
        assert count(coord, "SELECT count(*) FROM consent WHERE id = ?", given.id) == 1
        assert consent.safety_plan(coord, world.ca.id).threats == "PLANTED-THREAT"
        consent.withdraw_consent(a, given.id)
        world.upload(a)
        assert count(coord, "SELECT count(*) FROM consent WHERE withdrawn_on IS NOT NULL") == 1

        # Worker A forges a consent about worker B's client, and one in B's name about its own.
        forged = "01930000-0000-7000-8000-00000000c0a1"
        forge(
            a,
            new_row(
                "consent",
                forged,
                client_id=world.cb.id,
                kind="media",
                method="written",
                given_on="2026-11-20",
                note="",
                recorded_by=a.worker_id,
                created_at="2026-11-20 10:00:00.000000",
            ),
            rows=False,
        )
        forged2 = "01930000-0000-7000-8000-00000000c0a2"
        forge(
            a,
            new_row(
                "safety_plan",
                forged2,
                client_id=world.ca.id,
                threats="x",
                safe_contacts="",
                safe_places="",
                places_to_avoid="",
                check_in_plan="",
                created_by=b.worker_id,
                updated_by=b.worker_id,
                created_at="2026-11-20 10:00:00.000000",
                updated_at="2026-11-20 10:00:00.000000",
            ),
            rows=False,
        )
        result = world.upload(a)
        assert result.summary["quarantined_by_reason"] == {"scope": 2}
        reasons = sorted(q.reason for q in held(coord))
        assert reasons == [
            "a record about a client assigned to another worker",
            "safety plan attributed to another worker (created_by)",
        ]
        assert count(coord, "SELECT count(*) FROM consent WHERE id = ?", forged) == 0
        assert count(coord, "SELECT count(*) FROM safety_plan WHERE id = ?", forged2) == 0

        # Never in an aggregate report.
        code, out, err = vip(capsys, coord, "report", "--month", "2026-11", "--format", "json")
        assert code == 0, err
        assert "PLANTED-THREAT" not in out and "signed form" not in out
        assert "consent" not in json.loads(out) and "safety_plan" not in json.loads(out)

        # A retention purge erases them with their client, at the coordinator and on the laptop.
        from vipterm.services import sync as sync_service

        counts = sync_service.purge_client(coord, world.ca.id)
        assert counts.get("consent") == 1 and counts.get("safety_plan") == 1
        world.round()
        for s in (coord, a):
            assert count(s, "SELECT count(*) FROM consent WHERE client_id = ?", world.ca.id) == 0
            assert count(s, "SELECT count(*) FROM safety_plan WHERE client_id = ?", world.ca.id) == 0
    finally:
        world.close()
