"""Which facts are corrected: a contact, notification attempt, outcome or referral event that a
`FactCorrection` supersedes (a new fact entered in its place) or voids.

Facts are add-only and never edited; a correction is a new fact of its own, synced like any other.
Every count and list that reads facts (the report, the caseload's last contact, the client's
funnel, follow-up closing) leaves corrected ones out; the client file shows them, marked.

A correction counts only when it names the same client as the fact it corrects: a laptop may
write corrections about its own clients only (the write scope), and so cannot void another
worker's client's fact by naming its id.

Provides `corrected_ids` (for Python readers), `live_sql` (a SQL condition for SQL readers) and
`any_live_correction` (whether those conditions can be false at all),
`corrections_of` (what the client file shows), and the use cases `void_fact`, `correct_contact`,
`correct_notification`, `correct_outcome` (each in one transaction: the new fact, if any, the
correction, and what the old fact had done taken back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from vipterm import domain
from vipterm.errors import NotFound, ValidationError
from vipterm.services.database import Store
from vipterm.store.models import FactCorrection

# How each correctable fact reaches its client (the correction must name the same one).
_CLIENT_OF = {
    "contact": "{a}.client_id",
    "notification_attempt": "{a}.client_id",
    "outcome": "{a}.client_id",
    "referral_event": "(SELECT r.client_id FROM referral r WHERE r.id = {a}.referral_id)",
}


# A correction that lost: another live correction of the same fact came first (two devices
# corrected it before seeing each other's). Its replacement does not count, so a fact corrected
# twice is still counted once.
_LOST = (
    "EXISTS (SELECT 1 FROM fact_correction y WHERE y.row_id = x.row_id AND y.tbl = x.tbl "
    "AND y.client_id = x.client_id AND y.deleted_at IS NULL AND (y.at < x.at OR (y.at = x.at AND y.id < x.id)))"
)


def live_sql(table: str, alias: str) -> str:
    """A SQL condition true when the fact `alias` (a row of `table`) has no live correction, and
    is not the replacement entered by a correction that lost to an earlier one of the same fact."""
    client = _CLIENT_OF[table].format(a=alias)
    return (
        f"NOT EXISTS (SELECT 1 FROM fact_correction x WHERE x.row_id = {alias}.id "
        f"AND x.tbl = '{table}' AND x.deleted_at IS NULL AND x.client_id = {client}) "
        f"AND NOT EXISTS (SELECT 1 FROM fact_correction x WHERE x.replacement_id = {alias}.id "
        f"AND x.tbl = '{table}' AND x.deleted_at IS NULL AND {_LOST})"
    )


def any_live_correction(session: OrmSession) -> bool:
    """Whether any correction is live. With none (the usual case) every `live_sql` condition is
    true, and a reader may leave them out: the same rows, without two index probes per fact."""
    return bool(
        session.execute(text("SELECT EXISTS (SELECT 1 FROM fact_correction WHERE deleted_at IS NULL)")).scalar()
    )


def _lost_replacements(session: Session, client_id: str | None) -> dict[str, tuple[Any, ...]]:
    """Replacement id -> (correction id, table, at) of corrections that lost to an earlier one."""
    sql = (
        f"SELECT x.replacement_id, x.id, x.tbl, x.at FROM fact_correction x WHERE x.replacement_id IS NOT NULL "
        f"AND x.deleted_at IS NULL AND {_LOST}"
    )
    params = {}
    if client_id is not None:
        sql += " AND x.client_id = :client"
        params["client"] = client_id
    return {r[0]: (r[1], r[2], r[3]) for r in session.execute(text(sql), params)}


def corrected_ids(session: Session, client_id: str | None = None) -> set[str]:
    """Ids of the facts (of `client_id`, or of everyone) that a live correction supersedes or voids."""
    out: set[str] = set()
    for table, client in _CLIENT_OF.items():
        sql = (
            f"SELECT f.id FROM {table} f JOIN fact_correction x ON x.row_id = f.id AND x.tbl = '{table}' "
            f"AND x.deleted_at IS NULL AND x.client_id = {client.format(a='f')}"
        )
        params = {}
        if client_id is not None:
            sql += " WHERE x.client_id = :client"
            params["client"] = client_id
        out.update(r[0] for r in session.execute(text(sql), params))
    out.update(_lost_replacements(session, client_id))
    return out


@dataclass(frozen=True)
class CorrectionView:
    """How a fact was corrected: superseded by `replacement_id`, or voided (no replacement)."""

    correction_id: str
    tbl: str
    row_id: str
    replacement_id: str | None
    reason: str
    at: datetime

    @property
    def voided(self) -> bool:
        return self.replacement_id is None


def corrections_of(session: Session, client_id: str) -> dict[str, CorrectionView]:
    """The live corrections of the client's facts, by the corrected fact's id (the first one
    made wins when two laptops corrected the same fact)."""
    ids = corrected_ids(session, client_id)
    rows = session.execute(
        text(
            "SELECT id, tbl, row_id, replacement_id, reason, at FROM fact_correction "
            "WHERE client_id = :client AND deleted_at IS NULL ORDER BY at, id"
        ),
        {"client": client_id},
    ).all()
    out: dict[str, CorrectionView] = {}
    for cid, tbl, row_id, replacement, reason, at in rows:
        if row_id in ids and row_id not in out:
            out[row_id] = CorrectionView(cid, tbl, row_id, replacement, reason or "", _when(at))
    for replacement, (cid, tbl, at) in _lost_replacements(session, client_id).items():
        out.setdefault(
            replacement,
            CorrectionView(cid, tbl, replacement, None, "another correction of the same entry came first", _when(at)),
        )
    return out


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# --- making corrections --------------------------------------------------------------------------


def _fact_client(session: Session, table: str, row_id: str) -> tuple[object, str]:
    """The live fact and its client's id; NotFound when there is no such live fact."""
    from vipterm.store.models import Contact, NotificationAttempt, Outcome, Referral, ReferralEvent

    model = {
        "contact": Contact,
        "notification_attempt": NotificationAttempt,
        "outcome": Outcome,
        "referral_event": ReferralEvent,
    }[table]
    fact: Any = session.get(model, row_id)  # one of four models
    if fact is None or fact.deleted_at is not None:
        raise NotFound(f"no {domain.CorrectableFact(table).label} with id {row_id}")
    if table == "referral_event":
        referral = session.get(Referral, fact.referral_id)
        if referral is None or referral.deleted_at is not None:
            raise NotFound(f"no {domain.CorrectableFact(table).label} with id {row_id}")
        return fact, referral.client_id
    return fact, fact.client_id


def _reason(reason: str) -> str:
    from vipterm.services.records import _note

    text_ = _note(reason, "reason")
    if not text_.strip():
        raise ValidationError("say why (the reason stays in the history)", field="reason")
    return text_


def _take_effects_back(session: Session, store: Store, table: str, fact: Any, client_id: str) -> None:
    """Undo what the fact did to mutable records: follow-ups a reached contact closed open again;
    a referral's status goes back to its latest live event; the client's funnel status is where
    the remaining facts put it."""
    from vipterm.services import records
    from vipterm.services.caseload import event_order
    from vipterm.store.models import Client, Contact, FollowUp, Referral, ReferralEvent

    gone = corrected_ids(session, client_id) | {fact.id}
    if table == "contact" and fact.outcome == domain.ContactOutcome.REACHED.value:
        # log_contact closes due follow-ups with done_at = the contact's time and closed_as contact;
        # another live reached contact at the same time keeps them closed.
        twins = [
            c
            for c in session.exec(
                select(Contact).where(
                    Contact.client_id == client_id,
                    Contact.occurred_at == fact.occurred_at,
                    Contact.outcome == domain.ContactOutcome.REACHED.value,
                    col(Contact.deleted_at).is_(None),
                )
            )
            if c.id not in gone
        ]
        if not twins:
            for f in session.exec(
                select(FollowUp).where(
                    FollowUp.client_id == client_id,
                    col(FollowUp.deleted_at).is_(None),
                    FollowUp.closed_as == domain.FollowUpClosed.CONTACT.value,
                    FollowUp.done_at == fact.occurred_at,
                )
            ):
                f.done_at = None
                f.done_by = None
                f.closed_as = None
    if table == "referral_event":
        referral = session.get(Referral, fact.referral_id)
        assert referral is not None  # an event's referral is never removed (tombstones only)
        live = [
            e
            for e in session.exec(
                select(ReferralEvent).where(
                    ReferralEvent.referral_id == referral.id, col(ReferralEvent.deleted_at).is_(None)
                )
            )
            if e.id not in gone
        ]
        if not live:
            raise ValidationError(
                "this is the referral's only status: it cannot be voided (move the referral to cancelled instead)",
                field="row_id",
            )
        latest = max(live, key=event_order)
        referral.status = latest.status
        referral.status_changed_at = latest.at
    client = session.get(Client, client_id)
    funnel = {
        s.value
        for s in (
            domain.ClientStatus.IDENTIFIED,
            domain.ClientStatus.NOTIFICATION_ATTEMPTED,
            domain.ClientStatus.NOTIFIED,
            domain.ClientStatus.ENGAGED,
        )
    }
    if client is not None and client.status in funnel:
        session.flush()
        status = records._funnel_status(session, client_id, also_gone={fact.id}).value
        if status != client.status:
            client.status = status


def _correct(
    store: Store, table: str, row_id: str, reason: str, replace: Callable[[Session, str], Any] | None = None
) -> FactCorrection:
    """Void the fact, or (with `replace(session)`, which enters the new fact and returns it)
    supersede it, in one transaction."""
    try:
        kind = domain.CorrectableFact.parse(table)
    except ValueError as exc:
        raise ValidationError(str(exc), field="tbl") from None
    why = _reason(reason)
    with store.write() as session:
        fact, client_id = _fact_client(session, kind.value, row_id)
        if row_id in corrected_ids(session, client_id):
            raise ValidationError(f"this {kind.label} was already corrected or voided", field="row_id")
        _take_effects_back(session, store, kind.value, fact, client_id)
        new = replace(session, client_id) if replace is not None else None
        correction = FactCorrection(
            client_id=client_id,
            tbl=kind.value,
            row_id=row_id,
            replacement_id=new.id if new is not None else None,
            reason=why,
            by_worker=store.worker_id,
            at=store.clock.utcnow(),
        )
        session.add(correction)
    return correction


def void_fact(store: Store, table: str, row_id: str, reason: str) -> FactCorrection:
    """Void a mistaken fact: it stays in the history, marked voided with the reason, and no count,
    list or follow-up reads it any more (what it closed or moved is taken back)."""
    return _correct(store, table, row_id, reason)


def correct_contact(store: Store, contact_id: str, reason: str, **changes: Any) -> FactCorrection:
    """Enter a contact in place of `contact_id`: the old one's values, with `changes` (fields of
    `records.ContactDraft`); the old one is superseded. Follow-ups follow the new one."""
    from vipterm.services import records
    from vipterm.store.models import Contact

    def replace(session: Session, client_id: str) -> Any:
        old = session.get(Contact, contact_id)
        assert old is not None  # _correct found it live in this session
        draft = records.ContactDraft(
            client_id=client_id,
            occurred_at=old.occurred_at,
            mode=old.mode,
            purpose=old.purpose,
            outcome=old.outcome,
            duration_min=old.duration_min,
            area_command=old.area_command,
            note=old.note,
            worker_id=store.worker_id,
        )
        for name, value in changes.items():
            if not hasattr(draft, name) or name in ("client_id", "worker_id"):
                raise ValidationError(f"{name.replace('_', ' ')} cannot be corrected", field=name)
            setattr(draft, name, value)
        return records.log_contact(store, draft, session=session)

    return _correct(store, "contact", contact_id, reason, replace)


def correct_notification(store: Store, attempt_id: str, reason: str, **changes: Any) -> FactCorrection:
    """Enter a notification attempt in place of `attempt_id` (its values, with `changes`: fields of
    `records.NotificationDraft`). Team and messages belong to a delivered one only: a correction
    to another outcome drops them."""
    import json

    from vipterm.services import records
    from vipterm.store.models import NotificationAttempt

    def replace(session: Session, client_id: str) -> Any:
        old = session.get(NotificationAttempt, attempt_id)
        assert old is not None  # _correct found it live in this session
        draft = records.NotificationDraft(
            client_id=client_id,
            attempted_on=old.attempted_on,
            outcome=old.outcome,
            setting=old.setting,
            area_command=old.area_command,
            team=[(m["name"], m["role"]) for m in json.loads(old.team or "[]")],
            messages=[m for m in (old.messages or "").split(",") if m],
            note=old.note,
            confirm_same_day=True,
        )  # the attempt it replaces is on that day
        for name, value in changes.items():
            if not hasattr(draft, name) or name in ("client_id", "recorded_by", "as_recorded", "confirm_same_day"):
                raise ValidationError(f"{name.replace('_', ' ')} cannot be corrected", field=name)
            setattr(draft, name, value)
        if str(draft.outcome) != domain.NotificationOutcome.DELIVERED.value:
            if "team" not in changes:
                draft.team = []
            if "messages" not in changes:
                draft.messages = []
        return records.record_notification(store, draft, session=session)

    return _correct(store, "notification_attempt", attempt_id, reason, replace)


def correct_outcome(store: Store, outcome_id: str, reason: str, **changes: Any) -> FactCorrection:
    """Record an outcome in place of `outcome_id` (its kind, date, source and note, with `changes`)."""
    from vipterm.services import records
    from vipterm.store.models import Outcome

    def replace(session: Session, client_id: str) -> Any:
        old = session.get(Outcome, outcome_id)
        assert old is not None  # _correct found it live in this session
        values: dict[str, Any] = dict(kind=old.kind, occurred_on=old.occurred_on, source=old.source, note=old.note)
        for name, value in changes.items():
            if name not in values:
                raise ValidationError(f"{name.replace('_', ' ')} cannot be corrected", field=name)
            values[name] = value
        return records.record_outcome(store, client_id, session=session, **values)

    return _correct(store, "outcome", outcome_id, reason, replace)


def latest_referral_event(store: Store, referral_id: str) -> str:
    """The id of the referral's latest live status change (what `void` on a referral takes back)."""
    from vipterm.services.caseload import event_order
    from vipterm.store.models import Referral, ReferralEvent

    with store.read() as session:
        referral = session.get(Referral, referral_id)
        if referral is None or referral.deleted_at is not None:
            raise NotFound(f"no referral with id {referral_id}")
        gone = corrected_ids(session, referral.client_id)
        live = [
            e
            for e in session.exec(
                select(ReferralEvent).where(
                    ReferralEvent.referral_id == referral_id, col(ReferralEvent.deleted_at).is_(None)
                )
            )
            if e.id not in gone
        ]
    if not live:
        raise NotFound("this referral has no status change left to void")
    return max(live, key=event_order).id
