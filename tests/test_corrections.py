"""Correcting or voiding a mistaken fact: a new fact supersedes the old one (which stays in the
history, marked), never an in-place rewrite; the report, the caseload and follow-up closing ignore
corrected facts; corrections sync through real bundles and count only for their own client."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.sync_support import enrolled_program, exchange
from tests.test_report_fixture import program, values  # noqa: F401  (the hand-computed program)
from vipterm.errors import NotFound, ValidationError
from vipterm.services import caseload as caseload_service
from vipterm.services import corrections, records
from vipterm.services.report import build_report


def _client(store, name="Ana"):
    return records.create_client(
        store, records.ClientDraft(first_name=name, last_name="Ruiz", area_command="valley", confirm_duplicate=True)
    )


def _count(store, sql, **params):
    with store.read() as s:
        return s.execute(text(sql), params).scalar_one()


def _row(store, table, row_id):
    with store.read() as s:
        return s.execute(text(f"SELECT * FROM {table} WHERE id = :i"), {"i": row_id}).one()


# --- the hand-computed report -----------------------------------------------------------------


def _contact_id(store, pseudonym, day):
    with store.read() as s:
        return s.execute(
            text(
                "SELECT t.id FROM contact t JOIN client c ON c.id = t.client_id WHERE c.pseudonym = :p "
                "AND date(t.occurred_at) = :d"
            ),
            {"p": pseudonym, "d": day},
        ).scalar_one()


def test_a_voided_reached_contact_no_longer_counts_in_the_hand_computed_report(program):  # noqa: F811
    before = build_report(program, "2022-07")
    assert dict(before.contacts_per_worker.total.values) == {"contacts": 3, "reached": 2, "clients": 2}
    c_reached = _contact_id(program, "VIP-C03", "2022-07-10")  # C, reached by the second worker
    corrections.void_fact(program, "contact", c_reached, "entered for the wrong client")
    after = build_report(program, "2022-07")
    assert dict(after.contacts_per_worker.total.values) == {"contacts": 2, "reached": 1, "clients": 2}
    by_name = {row.label: dict(row.values) for row in after.contacts_per_worker.rows}
    assert by_name["Second Worker"]["contacts"] == 0 and by_name["Test Worker"]["reached"] == 1
    # The contact is still there, untouched: a correction is a new fact.
    assert _row(program, "contact", c_reached).outcome == "reached"
    # Every other section is as before.
    for name in ("notifications_by_area", "age_summary", "services", "funnel", "closed_loop", "after_notification"):
        assert values(getattr(after, name)) == values(getattr(before, name)), name


def test_a_corrected_notification_counts_as_its_correction(program):  # noqa: F811
    before = values(build_report(program, "2022-07").notifications_by_area)
    with program.read() as s:
        attempt = s.execute(
            text(
                "SELECT n.id FROM notification_attempt n JOIN client c ON c.id = n.client_id "
                "WHERE c.pseudonym = 'VIP-C03' AND n.attempted_on = '2022-07-20'"
            )
        ).scalar_one()
    corrections.correct_notification(program, attempt, "it was Southeast", area_command="southeast")
    after = values(build_report(program, "2022-07").notifications_by_area)
    assert after["valley"]["m"] == before["valley"]["m"] - 1
    assert after["southeast"]["m"] == before["southeast"]["m"] + 1
    assert after["total"]["m"] == before["total"]["m"]


# --- contacts ---------------------------------------------------------------------------------------


def test_voiding_a_reached_contact_reopens_what_it_closed_and_leaves_the_caseload(store):
    client = _client(store)
    today = store.clock.today()
    due = records.schedule_follow_up(store, client.id, today, note="check in")
    when = store.clock.utcnow() - timedelta(hours=1)
    contact = records.log_contact(
        store, records.ContactDraft(client_id=client.id, occurred_at=when, outcome="reached", mode="phone")
    )
    assert _row(store, "follow_up", due.id).closed_as == "contact"
    row = caseload_service.caseload(store, include_closed=True, client_ids=[client.id])[0]
    assert row.last_contact == when
    correction = corrections.void_fact(store, "contact", contact.id, "logged by mistake")
    assert correction.replacement_id is None and correction.by_worker == store.worker_id
    assert _row(store, "follow_up", due.id).done_at is None  # open again, due today
    row = caseload_service.caseload(store, client_ids=[client.id])[0]
    assert row.last_contact is None and row.next_due == today
    cf = caseload_service.client_file(store, client.id)
    assert cf.last_contact is None
    [entry] = [e for e in cf.timeline if e.record_id == contact.id]
    assert entry.corrected == "voided: logged by mistake"
    assert ("correction", "voided: logged by mistake") in entry.texts  # the detail view shows it (masked)
    # Closing the follow-up with that contact is refused now.
    with pytest.raises(ValidationError, match="corrected or voided"):
        records.complete_follow_up(store, due.id, closed_as="contact", contact_id=contact.id)


def test_correcting_a_contact_enters_a_new_one_in_its_place(store):
    client = _client(store)
    due = records.schedule_follow_up(store, client.id, store.clock.today())
    when = store.clock.utcnow() - timedelta(hours=2)
    wrong = records.log_contact(
        store,
        records.ContactDraft(
            client_id=client.id, occurred_at=when, outcome="no_answer", mode="phone", note="no answer"
        ),
    )
    correction = corrections.correct_contact(store, wrong.id, "they did pick up", outcome="reached", note="talked")
    new = _row(store, "contact", correction.replacement_id)
    assert (new.outcome, new.mode, new.note, new.client_id) == ("reached", "phone", "talked", client.id)
    assert _row(store, "contact", wrong.id).outcome == "no_answer"  # never rewritten
    assert _row(store, "follow_up", due.id).closed_as == "contact"  # the new one reached them
    cf = caseload_service.client_file(store, client.id)
    marks = {e.record_id: e.corrected for e in cf.timeline}
    assert marks[wrong.id] == "superseded: they did pick up" and marks[new.id] == ""


@pytest.mark.parametrize(
    "reason, table, row, error",
    [
        ("", "contact", "real", ValidationError),
        ("  ", "contact", "real", ValidationError),
        ("why", "contact", "0193c7a0-0000-7000-8000-000000000000", NotFound),
        ("why", "client", "real", ValidationError),
    ],
)
def test_a_refused_correction_writes_nothing(store, reason, table, row, error):
    client = _client(store)
    contact = records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="reached"))
    with pytest.raises(error):
        corrections.void_fact(store, table, contact.id if row == "real" else row, reason)
    assert _count(store, "SELECT count(*) FROM fact_correction") == 0


def test_a_fact_is_corrected_once(store):
    client = _client(store)
    contact = records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="reached"))
    corrections.void_fact(store, "contact", contact.id, "twice?")
    with pytest.raises(ValidationError, match="already corrected"):
        corrections.correct_contact(store, contact.id, "again", outcome="no_answer")
    assert _count(store, "SELECT count(*) FROM contact") == 1


def test_a_bad_correction_value_writes_nothing(store):
    client = _client(store)
    contact = records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="reached"))
    with pytest.raises(ValidationError) as exc:
        corrections.correct_contact(store, contact.id, "typo", mode="pigeon")
    assert exc.value.field == "mode"
    assert (
        _count(store, "SELECT count(*) FROM fact_correction") == 0
        and _count(store, "SELECT count(*) FROM contact") == 1
    )


# --- notifications, outcomes, referral events ------------------------------------------------------------


def test_voiding_the_delivered_notification_moves_the_client_back_on_the_funnel(store):
    client = _client(store)
    today = store.clock.today()
    records.record_notification(
        store, records.NotificationDraft(client_id=client.id, attempted_on=today, outcome="not_found")
    )
    delivered = records.record_notification(
        store,
        records.NotificationDraft(
            client_id=client.id,
            attempted_on=today,
            outcome="delivered",
            team=[("R", "peer_support")],
            confirm_same_day=True,
        ),
    )
    assert _row(store, "client", client.id).status == "notified"
    corrections.void_fact(store, "notification_attempt", delivered.id, "it was someone else")
    assert _row(store, "client", client.id).status == "notification_attempted"


def test_correcting_a_delivered_notification_to_not_found_drops_team_and_messages(store):
    client = _client(store)
    delivered = records.record_notification(
        store,
        records.NotificationDraft(
            client_id=client.id,
            attempted_on=store.clock.today(),
            outcome="delivered",
            team=[("R", "peer_support")],
            messages=["community_cares"],
        ),
    )
    correction = corrections.correct_notification(store, delivered.id, "nobody home", outcome="not_found")
    new = _row(store, "notification_attempt", correction.replacement_id)
    assert (new.outcome, new.team, new.messages) == ("not_found", "[]", "")
    assert _row(store, "client", client.id).status == "notification_attempted"


def test_correcting_an_outcome(store):
    client = _client(store)
    outcome = records.record_outcome(store, client.id, "re_arrest", store.clock.today() - timedelta(days=3))
    correction = corrections.correct_outcome(store, outcome.id, "it was a job", kind="job")
    assert _row(store, "outcome", correction.replacement_id).kind == "job"
    with pytest.raises(ValidationError) as exc:
        corrections.correct_outcome(store, correction.replacement_id, "x", occurred_on=date(2030, 1, 1))
    assert exc.value.field == "occurred_on"


def test_voiding_a_referral_status_change_puts_the_referral_back(store):
    client = _client(store)
    provider = records.add_provider(store, "Casa", "shelter")
    referral = records.create_referral(
        store, records.ReferralDraft(client_id=client.id, need_domain="housing", provider_id=provider.id)
    )
    records.set_referral_status(store, referral.id, "accepted")
    assert _row(store, "client", client.id).status == "engaged"
    latest = corrections.latest_referral_event(store, referral.id)
    corrections.void_fact(store, "referral_event", latest, "they have not accepted yet")
    assert _row(store, "referral", referral.id).status == "sent"
    assert _row(store, "client", client.id).status == "identified"
    entries = [e for e in caseload_service.client_file(store, client.id).timeline if e.kind == "referral_event"]
    assert [e.corrected for e in entries] == ["voided: they have not accepted yet"]
    corrections.void_fact(store, "referral_event", corrections.latest_referral_event(store, referral.id), "not sent")
    with pytest.raises(ValidationError, match="only status"):
        corrections.void_fact(store, "referral_event", corrections.latest_referral_event(store, referral.id), "x")
    assert _row(store, "referral", referral.id).status == "draft"


# --- sync ---------------------------------------------------------------------------------------------


def test_a_correction_on_a_laptop_reaches_the_coordinator_and_its_report(tmp_path):
    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w1.db", "Worker One"))
    try:
        client = _client(laptop)
        contact = records.log_contact(laptop, records.ContactDraft(client_id=client.id, outcome="reached"))
        exchange(coord, [laptop], tmp_path / "r1")
        month = laptop.clock.today().strftime("%Y-%m")
        assert build_report(coord, month).contacts_per_worker.total.values["reached"] == 1
        corrections.void_fact(laptop, "contact", contact.id, "wrong client")
        exchange(coord, [laptop], tmp_path / "r2")
        assert _count(coord, "SELECT count(*) FROM fact_correction WHERE row_id = :r", r=contact.id) == 1
        assert _count(coord, "SELECT count(*) FROM sync_quarantine") == 0
        assert build_report(coord, month).contacts_per_worker.total.values["reached"] == 0
        assert caseload_service.client_file(coord, client.id).last_contact is None
    finally:
        coord.close()
        laptop.close()


def test_a_correction_naming_another_clients_fact_counts_for_nothing(store):
    """A laptop may write corrections about its own clients only; one that names its own client
    but another client's fact (a forged row id) voids nothing."""
    from vipterm.store.models import FactCorrection

    mine, theirs = _client(store, "Ana"), _client(store, "Bea")
    their_contact = records.log_contact(store, records.ContactDraft(client_id=theirs.id, outcome="reached"))
    with store.write() as s:
        s.add(
            FactCorrection(
                client_id=mine.id,
                tbl="contact",
                row_id=their_contact.id,
                reason="forged",
                at=datetime(2026, 11, 23, 15, 0),
            )
        )
    with store.read() as s:
        assert corrections.corrected_ids(s) == set()
    assert caseload_service.client_file(store, theirs.id).last_contact is not None


# --- the CLI ------------------------------------------------------------------------------------------


def test_cli_void_and_correct(tmp_path):
    import json

    from tests.conftest import FROZEN_NOW_ISO, PASSPHRASE
    from tests.test_cli import vipterm as run
    from vipterm.services.database import create_store

    def vipterm(*args):  # the program's frozen day, not the machine's
        return run(*args, env={"VIPTERM_NOW": FROZEN_NOW_ISO})

    path = tmp_path / "cli.db"
    store = create_store(path, PASSPHRASE, worker_name="Rosa")
    client = _client(store)
    wrong = records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="no_answer", mode="phone"))
    mistaken = records.record_outcome(store, client.id, "re_arrest", store.clock.today())
    store.close()
    db = ("--db", str(path))
    fixed = vipterm(
        "clients",
        "correct",
        "contact",
        wrong.id[:13],
        *db,
        "--reason",
        "they picked up",
        "--outcome",
        "reached",
        "--when",
        "2026-11-23 08:15",
        "--note",
        "talked",
    )
    assert fixed.returncode == 0, fixed.stderr
    assert "superseded by" in fixed.stdout
    voided = vipterm("clients", "void", "outcome", mistaken.id, *db, "--reason", "not this client")
    assert voided.returncode == 0, voided.stderr
    shown = json.loads(vipterm("clients", "show", client.pseudonym, *db, "--json").stdout)
    kinds = sorted((e["kind"], e["summary"].split(" · ")[-1]) for e in shown["timeline"])
    assert ("contact", "reached — talked") in kinds
    assert shown["last_contact"] == "2026-11-23T08:15:00-07:00"  # 08:15 in Albuquerque, with its offset
    # Refusals: a field of another kind, nothing to correct, a short id, a corrected fact, no reason.
    for args, words in (
        (("correct", "outcome", mistaken.id, "--reason", "x", "--mode", "phone"), "not a field"),
        (("correct", "contact", wrong.id, "--reason", "x"), "nothing to correct"),
        (("void", "contact", wrong.id[:4], "--reason", "x"), "first 8 characters"),
        (("void", "contact", wrong.id, "--reason", "again"), "already corrected"),
        (("void", "contact", wrong.id, "--reason", " "), "say why"),
        (("void", "client", wrong.id, "--reason", "x"), "not one of"),
    ):
        result = vipterm("clients", *args, *db)
        assert result.returncode == 2 and words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


# --- a laptop that forges corrections -------------------------------------------------------------------


def test_a_laptop_cannot_void_another_workers_fact(tmp_path):
    """Worker A's laptop sends corrections voiding B's client's contact: one naming B's client (out
    of scope: held for the coordinator), one naming A's own client with B's fact id (in scope, and
    counted for nothing). B's contact still counts everywhere."""
    from tests.test_sync_malicious_worker import World, forge, held
    from vipterm.sync import merge as merge_engine

    def new_row(pk, values):  # every column of a new record (its `tbl` column clashes with the helper's)
        return [
            ("fact_correction", pk, col, values.get(col))
            for col in merge_engine.tables()["fact_correction"].columns[1:]
        ]

    world = World(tmp_path)
    try:
        contact = records.log_contact(world.b, records.ContactDraft(client_id=world.cb.id, outcome="reached"))
        world.round()
        month = world.coord.clock.today().strftime("%Y-%m")
        assert build_report(world.coord, month).contacts_per_worker.total.values["reached"] == 1
        common = dict(
            tbl="contact",
            row_id=contact.id,
            replacement_id=None,
            reason="forged",
            by_worker=world.a.worker_id,
            at="2026-11-23 15:00:00.000000",
            deleted_at=None,
        )
        forge(
            world.a,
            new_row("01a20000-0000-7000-8000-00000000f001", dict(common, client_id=world.cb.id))
            + new_row("01a20000-0000-7000-8000-00000000f002", dict(common, client_id=world.ca.id)),
            rows=False,
        )
        world.upload(world.a)
        reasons = [h.reason for h in held(world.coord) if h.tbl == "fact_correction"]
        assert any("another worker" in r for r in reasons), reasons
        assert _count(world.coord, "SELECT count(*) FROM fact_correction WHERE client_id = :c", c=world.ca.id) == 1
        assert build_report(world.coord, month).contacts_per_worker.total.values["reached"] == 1
        assert caseload_service.client_file(world.coord, world.cb.id).last_contact is not None
    finally:
        world.close()


def test_two_corrections_of_one_fact_count_it_once(store):
    """Two devices corrected the same contact before seeing each other's correction (as a merge
    leaves them): the first correction's replacement counts, the other's is voided, marked."""
    from vipterm.store.models import Contact, FactCorrection

    client = _client(store)
    when = store.clock.utcnow() - timedelta(hours=3)
    wrong = records.log_contact(store, records.ContactDraft(client_id=client.id, occurred_at=when, outcome="no_answer"))
    first = corrections.correct_contact(store, wrong.id, "reached after all", outcome="reached")
    with store.write() as s:  # the other device's correction, made a minute later
        other = Contact(
            client_id=client.id,
            worker_id=store.worker_id,
            occurred_at=when,
            outcome="reached",
            mode="phone",
            purpose="check_in",
            area_command="valley",
        )
        s.add(other)
        s.add(
            FactCorrection(
                client_id=client.id,
                tbl="contact",
                row_id=wrong.id,
                replacement_id=other.id,
                reason="they picked up",
                by_worker=store.worker_id,
                at=first.at + timedelta(minutes=1),
            )
        )
    month = store.clock.today().strftime("%Y-%m")
    assert build_report(store, month).contacts_per_worker.total.values == {"contacts": 1, "reached": 1, "clients": 1}
    marks = {e.record_id: e.corrected for e in caseload_service.client_file(store, client.id).timeline}
    assert marks[first.replacement_id] == ""
    assert marks[other.id] == "voided: another correction of the same entry came first"
    assert marks[wrong.id] == "superseded: reached after all"
