"""A client's own record: `clients export` (JSON and a self-contained HTML page) holds every value
planted about the client and nothing of any other client; it is audited; `--redact-staff` hides
staff names. `clients show --json` carries the phone, levels, referral history and outcome notes.
`clients consent` and `clients safety-plan` on the command line."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

import pytest

from tests.conftest import PASSPHRASE
from vipterm import cli
from vipterm.services import consent, corrections, records

TODAY = date(2026, 11, 23)
STAFF = "Quetzal Staffworker"


def _plant(store, tag: str, provider_id: str) -> tuple[str, list[str]]:
    """A client with a unique value (holding `tag`) in every kind of record; returns its id and the values."""
    v = lambda what: f"{tag}-{what}"  # noqa: E731
    c = records.create_client(
        store,
        records.ClientDraft(
            first_name=v("First"),
            last_name=v("Last"),
            aka=v("Aka"),
            phone=f"505-555-{tag[-4:]}",
            date_of_birth=date(1990 + int(tag[-1]), 3, 4),
        ),
    )
    records.edit_client(store, c.id, phone=f"505-777-{tag[-4:]}")  # the old phone stays in the field history
    records.record_notification(
        store,
        records.NotificationDraft(
            c.id, TODAY - timedelta(days=9), team=[(v("TeamMate"), "peer_support")], note=v("notification-note")
        ),
    )
    contact = records.log_contact(
        store,
        records.ContactDraft(
            c.id, outcome="reached", note=v("contact-note"), occurred_at=datetime(2026, 11, 20, 17, 0)
        ),
    )
    corrections.void_fact(store, "contact", contact.id, v("void-reason"))
    records.record_assessment(
        store, records.AssessmentDraft(c.id, levels={"housing": 3, "legal": 2}, note=v("assessment-note"))
    )
    consent.add_consent(
        store,
        c.id,
        "share_provider",
        provider_id=provider_id,
        note=v("consent-note"),
        expires_on=TODAY + timedelta(days=90),
    )
    ref = records.create_referral(
        store, records.ReferralDraft(c.id, "legal", provider_id, reason=v("referral-reason"), shares_info=True)
    )
    records.set_referral_status(store, ref.id, "accepted", feedback=v("referral-feedback"))
    records.record_outcome(store, c.id, "job", TODAY - timedelta(days=2), note=v("outcome-note"))
    records.schedule_follow_up(store, c.id, TODAY + timedelta(days=4), note=v("followup-note"))
    consent.save_safety_plan(
        store,
        c.id,
        threats=v("threats"),
        safe_contacts=v("safe-contacts"),
        safe_places=v("safe-places"),
        places_to_avoid=v("avoid"),
        check_in_plan=v("check-in"),
    )
    values = [
        v(w)
        for w in (
            "First",
            "Last",
            "Aka",
            "TeamMate",
            "notification-note",
            "contact-note",
            "void-reason",
            "assessment-note",
            "consent-note",
            "referral-reason",
            "referral-feedback",
            "outcome-note",
            "followup-note",
            "threats",
            "safe-contacts",
            "safe-places",
            "avoid",
            "check-in",
        )
    ]
    return c.id, values + [
        f"505-555-{tag[-4:]}",
        f"505-777-{tag[-4:]}",
        f"{1990 + int(tag[-1])}-03-04",
        c.id,
        c.pseudonym,
    ]


def vip(capsys, db, *args):
    capsys.readouterr()
    code = cli.main(["--db", str(db), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def planted(store, monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)
    with store.write() as s:
        from vipterm.store.models import Worker

        s.get(Worker, store.worker_id).display_name = STAFF
    provider = records.add_provider(store, "Legal Aid Society", "legal")
    mine = _plant(store, "PLANTA1234", provider.id)
    other = _plant(store, "OTHERB5678", provider.id)
    path = store.path
    store.close()
    return path, mine, other


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_the_subject_export_holds_every_planted_value_and_nothing_of_another_client(planted, capsys, tmp_path, fmt):
    db, (client_id, values), (other_id, other_values) = planted
    out = tmp_path / f"record.{fmt}"
    code, stdout, err = vip(capsys, db, "clients", "export", client_id[:12], "--format", fmt, "--out", str(out))
    assert code == 0, err
    assert "PLANTA" not in stdout  # the terminal is told the pseudonym and the file, never a name
    text = out.read_text("utf-8")
    missing = [v for v in values if v not in text]
    assert not missing
    leaked = [v for v in other_values if v in text]
    assert not leaked
    assert "OTHERB" not in text
    assert STAFF in text
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>")
        assert not re.search(r"<script|<link|src=|url\(|https?://", text, re.I), "no network resource, no script"
    else:
        data = json.loads(text)
        assert data["client"]["id"] == client_id and data["safety_plan"][0]["threats"] == "PLANTA1234-threats"
        assert data["consents"][0]["provider"] == "Legal Aid Society"
        assert any(h["field"] == "phone" for h in data["field_history"])
    # Audited, naming the client and the format; a second export needs --force.
    code, stdout, err = vip(capsys, db, "clients", "export", client_id, "--format", fmt, "--out", str(out))
    assert code == 2 and "already exists" in err
    from vipterm.services.database import open_store

    s = open_store(db, PASSPHRASE)
    try:
        with s.read() as session:
            rows = (
                session.connection()
                .exec_driver_sql(
                    "SELECT action, client_id, detail FROM audit_entry WHERE detail LIKE 'subject export%'"
                )
                .all()
            )
    finally:
        s.close()
    assert [(r[1], r[2]) for r in rows] == [(client_id, f"subject export {fmt}")]
    assert rows[0][0] in ("subject_export", "export")


def test_redact_staff_replaces_every_staff_name(planted, capsys, tmp_path):
    db, (client_id, values), _ = planted
    out = tmp_path / "record.json"
    code, _, err = vip(
        capsys, db, "clients", "export", client_id, "--format", "json", "--out", str(out), "--redact-staff"
    )
    assert code == 0, err
    text = out.read_text("utf-8")
    assert STAFF not in text and "PLANTA1234-TeamMate" not in text
    assert "staff member 1" in text
    assert all(v in text for v in values if "TeamMate" not in v)


def test_clients_show_json_has_the_phone_levels_referral_history_and_outcome_notes(planted, capsys):
    db, (client_id, _), _ = planted
    code, out, err = vip(capsys, db, "clients", "show", client_id, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["phone"] == "505-777-1234"
    assert data["assessments"][0]["levels"] == {"housing": 3, "legal": 2}
    [ref] = data["referral_history"]
    assert [e["status"] for e in ref["events"]] == ["draft", "sent", "accepted"]
    assert (
        ref["events"][0]["reason"] == "PLANTA1234-referral-reason" and ref["feedback"] == "PLANTA1234-referral-feedback"
    )
    assert data["outcomes"][0]["note"] == "PLANTA1234-outcome-note"
    assert data["consents"][0]["kind"] == "share_provider"
    assert data["safety_plan"]["check_in_plan"] == "PLANTA1234-check-in"
    assert "OTHERB" not in out


def test_consent_and_safety_plan_on_the_command_line(planted, capsys):
    db, (client_id, _), _ = planted
    code, out, err = vip(capsys, db, "clients", "consent", client_id, "add", "text_contact", "--method", "verbal")
    assert code == 0 and "contact by text" in out, err
    code, out, err = vip(capsys, db, "clients", "consent", client_id, "add", "share_provider")
    assert code == 2 and "names the provider" in err
    code, out, err = vip(capsys, db, "clients", "consent", client_id, "add", "media", "--given", "someday")
    assert code == 2 and "not a date" in err
    code, out, err = vip(capsys, db, "clients", "consent", client_id, "list", "--json")
    rows = json.loads(out)["consents"]
    assert {r["kind"] for r in rows} == {"share_provider", "text_contact"} and all(
        r["state"] == "current" for r in rows
    )
    text_id = next(r["id"] for r in rows if r["kind"] == "text_contact")
    code, out, err = vip(capsys, db, "clients", "consent", client_id, "withdraw", text_id[:13])
    assert code == 0, err
    code, out, err = vip(capsys, db, "clients", "consent", client_id, "list")
    assert "withdrawn 2026-11-23" in out
    code, out, err = vip(
        capsys, db, "clients", "safety-plan", client_id, "--review", "2026-11-27", "--avoid", "the park on 4th"
    )
    assert code == 0 and "2026-11-27" in out and "park" not in out, err
    code, out, err = vip(capsys, db, "clients", "safety-plan", client_id, "--json")
    plan = json.loads(out)["safety_plan"]
    assert plan["places_to_avoid"] == "the park on 4th" and plan["threats"] == "PLANTA1234-threats"
    code, out, err = vip(capsys, db, "tasks", "--json")
    assert code == 0, err
    assert client_id in out and "safety plan review" in out
