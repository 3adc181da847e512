"""Consent records and safety plans: the two records a client's confidentiality and safety rest on.

Consents (`add_consent`, `withdraw_consent`, `list_consents`): what a client consented to
(`domain.ConsentKind`: program services, sharing their information with a named provider for a
referral, photos/media, contact by text), the day it was given, how (`domain.ConsentMethod`:
written or verbal), until when, and the day it was withdrawn. A consent is *current* on a day when
it was given on or before it, has not expired and has not been withdrawn.

`sharing_problem(store, client_id, provider_id)`: why a referral may not share the client's
information with a provider (no current *written* consent to share with that provider), or None.
The referral service refuses to send such a referral (`records.create_referral`,
`records.set_referral_status`), and the referral form shows the line under the provider.

Safety plans (`save_safety_plan`, `safety_plan`, `due_safety_reviews`): known threats or conflicts
in general terms, safe contacts and places, places to avoid, the check-in plan and the day it is to
be reviewed; one per client, edited in place. A due review is a task (`services.tasks`).
`safety_plan_prompt(...)`: whether recording an urgent safety need or the retaliation-risk flag
should offer to open the plan (the client has none).

Neither record is ever read by the monthly report or any other aggregate: they hold what a
client said about who threatens them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from vipterm import domain
from vipterm.domain import enum_for_field as _enum
from vipterm.errors import NotFound, ValidationError
from vipterm.services.database import Store
from vipterm.store.models import Client, Consent, Provider, SafetyPlan, Worker

MAX_PLAN_PART = 4000  # = sync.validate.MAX_NOTE_LENGTH: each part of a plan is a note
PLAN_PARTS = ("threats", "safe_contacts", "safe_places", "places_to_avoid", "check_in_plan")
PLAN_LABELS = {
    "threats": "known threats or conflicts (general terms)",
    "safe_contacts": "safe contacts",
    "safe_places": "safe places",
    "places_to_avoid": "places to avoid",
    "check_in_plan": "check-in plan",
}


def _client(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id)
    if client is None or client.deleted_at is not None:
        raise NotFound(f"no client with id {client_id}")
    return client


def _text(value: str | None, field_name: str, what: str) -> str:
    from vipterm.services.records import clean_note

    value = clean_note(value)
    if len(value) > MAX_PLAN_PART:
        raise ValidationError(f"{what} is longer than {MAX_PLAN_PART} characters", field=field_name)
    return value


# --- consents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentRow:
    """A consent as shown: its kind's label, the provider's name (sharing only), and its state."""

    id: str
    client_id: str
    kind: str
    kind_label: str
    provider_id: str | None
    provider: str
    method: str
    given_on: date
    expires_on: date | None
    withdrawn_on: date | None
    note: str
    recorded_by: str  # a staff name ("" when unknown)
    state: str  # current | expired | withdrawn | not yet given

    @property
    def current(self) -> bool:
        return self.state == "current"

    @property
    def summary(self) -> str:
        what = self.kind_label + (f" with {self.provider}" if self.provider else "")
        until = f" until {self.expires_on.isoformat()}" if self.expires_on else ""
        if self.state == "withdrawn":
            withdrawn = self.withdrawn_on.isoformat() if self.withdrawn_on else "?"
            return f"{what}: {self.method}, {self.given_on.isoformat()}; withdrawn {withdrawn}"
        return f"{what}: {self.method}, {self.given_on.isoformat()}{until} ({self.state})"


def consent_state(consent: Consent, today: date) -> str:
    if consent.withdrawn_on is not None and consent.withdrawn_on <= today:
        return "withdrawn"
    if consent.given_on > today:
        return "not yet given"
    if consent.expires_on is not None and consent.expires_on < today:
        return "expired"
    return "current"


def add_consent(
    store: Store,
    client_id: str,
    kind: str,
    *,
    method: str = "written",
    given_on: date | None = None,
    expires_on: date | None = None,
    provider_id: str | None = None,
    note: str = "",
) -> Consent:
    """Record a consent. Sharing names its provider; the other kinds name none."""
    what = _enum(domain.ConsentKind, kind, "kind")
    how = _enum(domain.ConsentMethod, method, "method")
    today = store.clock.today()
    given_on = given_on or today
    if given_on > today:
        raise ValidationError("the day consent was given is in the future", field="given_on")
    if expires_on is not None and expires_on < given_on:
        raise ValidationError("the consent expires before it was given", field="expires_on")
    from vipterm.services.records import _note

    note = _note(note)
    with store.write() as session:
        client = _client(session, client_id)
        if what is domain.ConsentKind.SHARE_PROVIDER:
            if not provider_id:
                raise ValidationError("consent to share names the provider it is shared with", field="provider_id")
            provider = session.get(Provider, provider_id)
            if provider is None or provider.deleted_at is not None:
                raise ValidationError("the provider is not in the directory", field="provider_id")
        elif provider_id:
            raise ValidationError(f"only consent to share names a provider, not {what.label}", field="provider_id")
        consent = Consent(
            client_id=client.id,
            kind=what.value,
            provider_id=provider_id or None,
            method=how.value,
            given_on=given_on,
            expires_on=expires_on,
            note=note,
            recorded_by=store.worker_id,
            created_at=store.clock.utcnow(),
        )
        session.add(consent)
    return consent


def withdraw_consent(store: Store, consent_id: str, on: date | None = None) -> Consent:
    """Mark a consent withdrawn (the record stays: when it held matters for what was shared)."""
    on = on or store.clock.today()
    if on > store.clock.today():
        raise ValidationError("the day consent was withdrawn is in the future", field="withdrawn_on")
    with store.write() as session:
        consent = session.get(Consent, consent_id)
        if consent is None or consent.deleted_at is not None:
            raise NotFound(f"no consent with id {consent_id}")
        _client(session, consent.client_id)
        if consent.withdrawn_on is not None:
            raise ValidationError(
                f"this consent was already withdrawn on {consent.withdrawn_on.isoformat()}", field="withdrawn_on"
            )
        if on < consent.given_on:
            raise ValidationError("the consent cannot be withdrawn before it was given", field="withdrawn_on")
        consent.withdrawn_on = on
        consent.withdrawn_by = store.worker_id
        session.add(consent)
    return consent


def list_consents(store: Store, client_id: str, today: date | None = None) -> list[ConsentRow]:
    """Every consent of the client (withdrawn and expired ones too), current ones first, newest first."""
    today = today or store.clock.today()
    with store.read() as session:
        rows = session.exec(
            select(Consent).where(Consent.client_id == client_id, col(Consent.deleted_at).is_(None))
        ).all()
        providers = {p.id: p.name for p in session.exec(select(Provider)).all()}
        staff = {w.id: w.display_name for w in session.exec(select(Worker)).all()}
    out = []
    for c in rows:
        kind = domain.ConsentKind(c.kind) if c.kind in domain.ConsentKind._value2member_map_ else None
        out.append(
            ConsentRow(
                c.id,
                c.client_id,
                c.kind,
                kind.label if kind else c.kind,
                c.provider_id,
                providers.get(c.provider_id, "") if c.provider_id else "",
                c.method,
                c.given_on,
                c.expires_on,
                c.withdrawn_on,
                c.note,
                staff.get(c.recorded_by or "", ""),
                consent_state(c, today),
            )
        )
    out.sort(key=lambda r: (not r.current, -r.given_on.toordinal(), r.id))
    return out


def sharing_problem(store: Store, client_id: str, provider_id: str | None, today: date | None = None) -> str | None:
    """Why the client's information may not be shared with this provider, or None when a current
    written consent to share with it is on file. Verbal consent is not enough for sharing."""
    if not provider_id:
        return None
    rows = [
        r
        for r in list_consents(store, client_id, today)
        if r.kind == domain.ConsentKind.SHARE_PROVIDER.value and r.provider_id == provider_id
    ]
    if any(r.current and r.method == domain.ConsentMethod.WRITTEN.value for r in rows):
        return None
    if any(r.current for r in rows):
        return "consent to share with this provider is verbal only: written consent is needed before sending"
    if any(r.state == "expired" for r in rows):
        return "the consent to share with this provider has expired: record a new written consent"
    if any(r.state == "withdrawn" for r in rows):
        return "the client withdrew consent to share with this provider"
    return "no written consent to share with this provider: record one (c in the client file) or keep it a draft"


def sharing_consent_line(store: Store, client_id: str, provider_id: str | None) -> str:
    """The referral form's line under the provider: the consent that covers it, or what is missing."""
    if not provider_id:
        return ""
    problem = sharing_problem(store, client_id, provider_id)
    if problem:
        return "⚠ " + problem
    row = next(
        r
        for r in list_consents(store, client_id)
        if r.current
        and r.provider_id == provider_id
        and r.kind == domain.ConsentKind.SHARE_PROVIDER.value
        and r.method == "written"
    )
    until = f" until {row.expires_on.isoformat()}" if row.expires_on else ""
    return f"✓ written consent to share, given {row.given_on.isoformat()}{until}"


# --- safety plans -----------------------------------------------------------------------------


def safety_plan(store: Store, client_id: str) -> SafetyPlan | None:
    """The client's safety plan (the newest, should two laptops each have started one), or None."""
    with store.read() as session:
        return session.exec(
            select(SafetyPlan)
            .where(SafetyPlan.client_id == client_id, col(SafetyPlan.deleted_at).is_(None))
            .order_by(col(SafetyPlan.created_at).desc(), col(SafetyPlan.id).desc())
            .limit(1)
        ).first()


def save_safety_plan(store: Store, client_id: str, *, review_on: date | None = None, **parts: str) -> SafetyPlan:
    """Create or update the client's plan. `parts`: any of PLAN_PARTS; a part not given is kept.
    The review date defaults to `domain.SAFETY_PLAN_REVIEW_DAYS` from today; it may not be past."""
    unknown = set(parts) - set(PLAN_PARTS)
    if unknown:
        raise ValidationError(f"a safety plan has no part {sorted(unknown)[0]}", field=sorted(unknown)[0])
    cleaned = {name: _text(value, name, PLAN_LABELS[name]) for name, value in parts.items() if value is not None}
    today = store.clock.today()
    review_on = review_on or today + timedelta(days=domain.SAFETY_PLAN_REVIEW_DAYS)
    if review_on < today:
        raise ValidationError("the review date is past: set the day of the next review", field="review_on")
    current = safety_plan(store, client_id)
    with store.write() as session:
        _client(session, client_id)
        plan = session.get(SafetyPlan, current.id) if current is not None else None
        merged = {name: cleaned.get(name, getattr(plan, name) if plan else "") for name in PLAN_PARTS}
        if not any(merged.values()):
            raise ValidationError("the safety plan is empty: write at least one part", field="threats")
        now = store.clock.utcnow()
        if plan is None:
            plan = SafetyPlan(client_id=client_id, created_by=store.worker_id, created_at=now)
        for name, value in merged.items():
            if getattr(plan, name) != value:
                setattr(plan, name, value)
        if plan.review_on != review_on:
            plan.review_on = review_on
        plan.updated_by = store.worker_id
        plan.updated_at = now
        session.add(plan)
    return plan


@dataclass(frozen=True)
class DueReview:
    plan_id: str
    client_id: str
    review_on: date | None


def due_safety_reviews(store: Store, worker_id: str | None, until: date) -> list[DueReview]:
    """Safety plans of open clients (of `worker_id`, or everyone's) whose review falls on or before `until`."""
    sql = (
        "SELECT p.id, p.client_id, p.review_on, p.created_at FROM safety_plan p "
        "JOIN client c ON c.id = p.client_id AND c.deleted_at IS NULL AND c.status NOT IN ('closed', 'inactive') "
        "WHERE p.deleted_at IS NULL"
    )
    params: tuple[Any, ...] = ()
    if worker_id is not None:
        sql += " AND c.assigned_worker_id = ?"
        params += (worker_id,)
    with store.read() as session:
        rows = (
            session.connection()
            .exec_driver_sql(sql + " ORDER BY p.client_id, p.created_at DESC, p.id DESC", params)
            .all()
        )
    newest: dict[str, DueReview] = {}
    for plan_id, client_id, review_on, _created in rows:
        if client_id not in newest:  # the newest plan is the client's plan
            newest[client_id] = DueReview(
                plan_id, client_id, date.fromisoformat(str(review_on)[:10]) if review_on else None
            )
    return [r for r in newest.values() if r.review_on is not None and r.review_on <= until]


def safety_plan_prompt(store: Store, client_id: str) -> bool:
    """Whether to offer the safety plan form: the client has no plan yet."""
    return safety_plan(store, client_id) is None


def urgent_safety(levels: dict[str, int]) -> bool:
    """An assessment that records the safety/retaliation need at urgent level."""
    return levels.get(domain.NeedDomain.SAFETY.value, 0) >= max(domain.NEED_LEVELS)
