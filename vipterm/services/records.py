"""Use cases that write the program's records: clients, notifications, contacts, assessments,
referrals, outcomes and follow-ups. The TUI, the CLI and the importers all come through here, so
validation and the client-status funnel live in one place.

Every function takes the `Store`, validates first (raising `ValidationError` naming the field,
nothing written), then writes in one captured transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from vipterm import domain
from vipterm.domain import (
    FUNNEL_ORDER,
    ClientStatus,
    NotificationOutcome,
    ReferralStatus,
)
from vipterm.errors import NeedsConfirmation, NotFound, ValidationError
from vipterm.services.caseload import event_order
from vipterm.services.database import Store
from vipterm.store.models import (
    Assessment,
    AssessmentItem,
    Client,
    ClientIdentity,
    Contact,
    FollowUp,
    NotificationAttempt,
    Outcome,
    Provider,
    Referral,
    ReferralEvent,
    Worker,
)

MAX_NOTE_LENGTH = 4000


# --- validation helpers ---------------------------------------------------------------------


_enum = domain.enum_for_field


def _required(value: str, field_name: str, label: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{label} is required", field=field_name)
    return value


def clean_note(value: str | None) -> str:
    """A note as it is stored: what was written, byte for byte (every line, inner spaces, tabs),
    less the blank lines before it and the whitespace after it (a paste often ends in a line break).
    The first line keeps its indentation. A note of whitespace only is empty.
    """
    text = (value or "").rstrip()
    first = len(text) - len(text.lstrip())  # where the first non-blank character is
    line_start = max(text.rfind("\n", 0, first), text.rfind("\r", 0, first)) + 1
    return text[line_start:]


def _note(value: str, field_name: str = "note") -> str:
    value = clean_note(value)
    if len(value) > MAX_NOTE_LENGTH:
        raise ValidationError(f"the note is longer than {MAX_NOTE_LENGTH} characters", field=field_name)
    return value


def _not_future(store: Store, when: date | datetime, field_name: str, what: str) -> None:
    """The one "not in the future" rule. A time is stored UTC; a date is a day in the program zone."""
    if isinstance(when, datetime):
        # A few minutes of slack: a laptop clock a little behind the phone in the worker's hand.
        if when > store.clock.utcnow() + timedelta(minutes=5):
            raise ValidationError(f"{what} is in the future", field=field_name)
    elif when > store.clock.today():
        raise ValidationError(f"{what} is in the future", field=field_name)


@contextmanager
def _transaction(store: Store, session: Session | None) -> Iterator[Session]:
    """The caller's transaction when given (the spreadsheet import writes every row of a file in
    one, through these same functions), else a new captured one."""
    if session is not None:
        yield session
        return
    with store.write() as new:
        yield new


def _client(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id)
    if client is None or client.deleted_at is not None:
        raise NotFound(f"no client with id {client_id}")
    return client


def _advance_status(client: Client, status: ClientStatus) -> None:
    """Move a client forward along the funnel, never back (inactive/closed are set explicitly)."""
    current = ClientStatus(client.status)
    if current in (ClientStatus.INACTIVE, ClientStatus.CLOSED):
        return
    if FUNNEL_ORDER[status] > FUNNEL_ORDER[current]:
        client.status = status.value


# --- clients --------------------------------------------------------------------------------


@dataclass
class ClientDraft:
    first_name: str = ""
    last_name: str = ""
    aka: str = ""
    date_of_birth: date | None = None
    phone: str = ""
    age_group: str | None = None  # derived from date of birth when not given
    area_command: str = "na"
    referral_source: str = "other"
    risk_flags: list[str] = field(default_factory=list)
    assigned_worker_id: str | None = None
    identified_on: date | None = None
    pseudonym: str | None = None
    # Intake refuses a possible duplicate (NeedsConfirmation listing them) until the person
    # entering it has seen the matches and chosen to create the client anyway.
    confirm_duplicate: bool = False


@dataclass(frozen=True)
class DuplicateCandidate:
    """An existing client who may be the person being entered, and why."""

    client_id: str
    pseudonym: str
    name: str
    date_of_birth: date | None
    status: str
    reasons: tuple[str, ...]  # "name", "alias", "date of birth", "phone"


def _phone_key(phone: str) -> str:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-10:] if len(digits) >= 7 else ""  # the national number; too short says nothing


def _name_key(*parts: str) -> str:
    return " ".join(domain.fold(" ".join(p for p in parts if p)).replace("-", " ").split())


def possible_duplicates(store: Store, draft: ClientDraft, limit: int = 20) -> list[DuplicateCandidate]:
    """Live clients who may be the same person as `draft`: the same name (first and last, folded
    for case and accents), the same alias, the same date of birth or the same phone number.
    Those matching on more counts come first."""
    name = _name_key(draft.first_name, draft.last_name) if draft.first_name.strip() and draft.last_name.strip() else ""
    alias = _name_key(draft.aka)
    phone = _phone_key(draft.phone)
    dob = draft.date_of_birth
    if not (name or alias or phone or dob):
        return []
    with store.read() as session:
        rows = session.exec(
            select(ClientIdentity, Client)
            .join(Client, col(Client.id) == col(ClientIdentity.client_id))
            .where(col(Client.deleted_at).is_(None), col(ClientIdentity.deleted_at).is_(None))
        ).all()
    found = []
    for identity, client in rows:
        reasons = []
        if name and _name_key(identity.first_name, identity.last_name) == name:
            reasons.append("name")
        if alias and (_name_key(identity.aka) == alias or _name_key(identity.first_name, identity.last_name) == alias):
            reasons.append("alias")
        if dob and identity.date_of_birth == dob:
            reasons.append("date of birth")
        if phone and _phone_key(identity.phone) == phone:
            reasons.append("phone")
        if reasons:
            shown = " ".join(p for p in (identity.first_name, identity.last_name) if p)
            if identity.aka:
                shown = f"{shown} “{identity.aka}”".strip()
            found.append(
                DuplicateCandidate(
                    client.id, client.pseudonym, shown, identity.date_of_birth, client.status, tuple(reasons)
                )
            )
    found.sort(key=lambda c: (-len(c.reasons), c.pseudonym))
    return found[:limit]


def new_pseudonym(client_id: str, taken: Callable[[str], bool] = lambda candidate: False) -> str:
    """A new client's pseudonym: the random tail of its UUIDv7 (the head is a timestamp shared by
    records made together), or another random one while `taken` says it is a client's already.
    Six hex digits repeat by chance (about one pair per 6,000 clients): a second client under the
    same pseudonym would make it name two people here."""
    candidate = "VIP-" + client_id.replace("-", "")[-6:].upper()
    while taken(candidate):
        candidate = "VIP-" + secrets.token_hex(3).upper()
    return candidate


def pseudonym_in_use(session: Session, pseudonym: str) -> bool:
    return session.exec(select(Client.id).where(Client.pseudonym == pseudonym)).first() is not None


def create_client(store: Store, draft: ClientDraft) -> Client:
    if not (draft.first_name.strip() or draft.last_name.strip() or draft.aka.strip()):
        raise ValidationError("a name or an alias is required", field="first_name")
    area = _enum(domain.AreaCommand, draft.area_command, "area_command")
    source = _enum(domain.ReferralSource, draft.referral_source, "referral_source")
    flags = [_enum(domain.RiskFlag, f, "risk_flags").value for f in draft.risk_flags]
    identified_on = draft.identified_on or store.clock.today()
    _not_future(store, identified_on, "identified_on", "the identification date")
    if draft.date_of_birth is not None:
        if draft.date_of_birth > store.clock.today():
            raise ValidationError("the date of birth is in the future", field="date_of_birth")
        if draft.date_of_birth.year < 1900:
            raise ValidationError("the date of birth is before 1900", field="date_of_birth")
    if draft.age_group:
        age_group = _enum(domain.AgeGroup, draft.age_group, "age_group")
    else:
        age_group = domain.age_group_for(draft.date_of_birth, identified_on)
    if not draft.confirm_duplicate:
        matches = possible_duplicates(store, draft)
        if matches:
            # The message names no one: it may reach a log; the matches go to the screen only.
            raise NeedsConfirmation(
                f"{len(matches)} existing client{'s' if len(matches) > 1 else ''} may be this person",
                field="first_name",
                matches=tuple(matches),
            )
    with store.write() as session:
        # On the coordinator a new client waits unassigned (first in its caseload) until the
        # coordinator assigns them; a laptop's new client is its own worker's.
        worker_id = draft.assigned_worker_id or (None if store.role is domain.Role.COORDINATOR else store.worker_id)
        if worker_id is not None and session.get(Worker, worker_id) is None:
            raise ValidationError("the assigned worker is unknown", field="assigned_worker_id")
        client = Client(
            age_group=age_group.value,
            area_command=area.value,
            referral_source=source.value,
            risk_flags=",".join(flags),
            assigned_worker_id=worker_id,
            identified_on=identified_on,
            pseudonym="",
        )
        client.pseudonym = draft.pseudonym or new_pseudonym(client.id, lambda p: pseudonym_in_use(session, p))
        session.add(client)
        session.add(
            ClientIdentity(
                client_id=client.id,
                first_name=draft.first_name.strip(),
                last_name=draft.last_name.strip(),
                aka=draft.aka.strip(),
                date_of_birth=draft.date_of_birth,
                phone=draft.phone.strip(),
            )
        )
    return client


CLIENT_FIELDS = {"age_group", "area_command", "referral_source", "status", "risk_flags", "assigned_worker_id"}
IDENTITY_FIELDS = {"first_name", "last_name", "aka", "date_of_birth", "phone"}
_FIELD_ENUMS = {
    "age_group": domain.AgeGroup,
    "area_command": domain.AreaCommand,
    "referral_source": domain.ReferralSource,
    "status": domain.ClientStatus,
}


# What the edit form and `vipterm clients update` may change: who the client is and the program
# fields. The status moves with the funnel or by closing/reopening; assignment is the coordinator's.
EDITABLE_FIELDS = (
    "first_name",
    "last_name",
    "aka",
    "date_of_birth",
    "phone",
    "area_command",
    "age_group",
    "referral_source",
    "risk_flags",
)
_SHORT_TEXT = 200  # = sync.validate.MAX_SHORT_TEXT: names and phones arrive at other devices checked by it


def edit_client(store: Store, client_id: str, **changes: Any) -> Client:
    """Edit a client's identity and program fields (`EDITABLE_FIELDS`); every change is captured
    and syncs like any other, so each field keeps its history in the change log."""
    other = sorted(set(changes) - set(EDITABLE_FIELDS))
    if other:
        raise ValidationError(f"{other[0].replace('_', ' ')} cannot be edited here", field=other[0])
    return update_client(store, client_id, **changes)


def update_client(store: Store, client_id: str, **changes: Any) -> Client:
    """Change some fields of a client or its identity; only what differs is captured."""
    unknown = set(changes) - CLIENT_FIELDS - IDENTITY_FIELDS
    if unknown:
        raise ValidationError(f"unknown field: {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    for name in ("first_name", "last_name", "aka", "phone"):
        if name in changes:
            value = (changes[name] or "").strip()
            if len(value) > _SHORT_TEXT:
                raise ValidationError(
                    f"the {name.replace('_', ' ')} is longer than {_SHORT_TEXT} characters", field=name
                )
            if not value.isprintable():
                raise ValidationError(f"the {name.replace('_', ' ')} holds control characters", field=name)
            changes[name] = value
    if changes.get("date_of_birth") is not None:
        dob = changes["date_of_birth"]
        if not isinstance(dob, date):
            raise ValidationError("the date of birth is not a date", field="date_of_birth")
        if dob > store.clock.today():
            raise ValidationError("the date of birth is in the future", field="date_of_birth")
        if dob.year < 1900:
            raise ValidationError("the date of birth is before 1900", field="date_of_birth")
    for name, enum_cls in _FIELD_ENUMS.items():
        if name in changes:
            changes[name] = _enum(enum_cls, changes[name], name).value
    if "risk_flags" in changes:
        flags = changes["risk_flags"]
        if isinstance(flags, str):
            flags = [f for f in flags.split(",") if f.strip()]
        changes["risk_flags"] = ",".join(_enum(domain.RiskFlag, f, "risk_flags").value for f in flags)
    with store.write() as session:
        client = _client(session, client_id)
        identity = session.get(ClientIdentity, client_id)
        if identity is None and set(changes) & IDENTITY_FIELDS:
            identity = ClientIdentity(client_id=client.id)
            session.add(identity)
        for name, value in changes.items():
            target = client if name in CLIENT_FIELDS else identity
            if getattr(target, name) != value:
                setattr(target, name, value)
        if identity is not None and not (identity.first_name or identity.last_name or identity.aka):
            raise ValidationError("a name or an alias is required", field="first_name")
    return client


def close_client(store: Store, client_id: str, reason: str) -> Client:
    """Close a client, saying why (`domain.ClosedReason`), on the program's today. The client
    leaves the caseload (and the task view) and stays in the report; open follow-ups are kept, so
    reopening brings them back."""
    why = _enum(domain.ClosedReason, reason, "reason")
    with store.write() as session:
        client = _client(session, client_id)
        if client.status == ClientStatus.CLOSED.value:
            raise ValidationError(f"{client.pseudonym} is already closed", field="reason")
        client.status = ClientStatus.CLOSED.value
        client.closed_reason = why.value
        client.closed_on = store.clock.today()
    return client


def reopen_client(store: Store, client_id: str) -> Client:
    """Reopen a closed (or inactive) client: the status is where the client's records put them
    on the funnel (engaged, notified, notification attempted or identified); the reason is cleared."""
    with store.write() as session:
        client = _client(session, client_id)
        if client.status not in (ClientStatus.CLOSED.value, ClientStatus.INACTIVE.value):
            raise ValidationError(f"{client.pseudonym} is not closed", field="status")
        client.status = _funnel_status(session, client.id).value
        client.closed_reason = None
        client.closed_on = None
    return client


def _funnel_status(session: Session, client_id: str, also_gone: AbstractSet[str] = frozenset()) -> ClientStatus:
    """How far the client's live records take them along the funnel (corrected facts, and those
    in `also_gone` being corrected now, not counted)."""
    from vipterm.services.corrections import corrected_ids

    gone = corrected_ids(session, client_id) | set(also_gone)
    events = session.exec(
        select(ReferralEvent.id, ReferralEvent.status)
        .join(Referral, col(Referral.id) == col(ReferralEvent.referral_id))
        .where(
            Referral.client_id == client_id, col(Referral.deleted_at).is_(None), col(ReferralEvent.deleted_at).is_(None)
        )
    ).all()
    if any(status in {s.value for s in domain.ENGAGED_REFERRAL_STATUSES} and eid not in gone for eid, status in events):
        return ClientStatus.ENGAGED
    attempts = session.exec(
        select(NotificationAttempt.id, NotificationAttempt.outcome).where(
            NotificationAttempt.client_id == client_id, col(NotificationAttempt.deleted_at).is_(None)
        )
    ).all()
    outcomes = [outcome for aid, outcome in attempts if aid not in gone]
    if NotificationOutcome.DELIVERED.value in outcomes:
        return ClientStatus.NOTIFIED
    if outcomes:
        return ClientStatus.NOTIFICATION_ATTEMPTED
    return ClientStatus.IDENTIFIED


def record_audit(
    store: Store,
    action: domain.AuditAction,
    client_id: str | None = None,
    detail: str = "",
    session: Session | None = None,
) -> None:
    """Append an audit entry (see services/audit.py, where the log lives)."""
    from vipterm.services import audit

    audit.record_audit(store, action, client_id, detail, session=session)


# --- custom notifications ----------------------------------------------------------------------


@dataclass
class NotificationDraft:
    client_id: str
    attempted_on: date
    outcome: str = "delivered"
    setting: str = "home"
    area_command: str | None = None  # defaults to the client's
    team: list[tuple[str, str]] = field(default_factory=list)  # (name, TeamRole)
    messages: list[str] = field(default_factory=list)
    note: str = ""
    # A second attempt for the same client on the same day is refused (NeedsConfirmation) unless
    # the person recording it has been asked and said yes.
    confirm_same_day: bool = False
    recorded_by: str | None = None  # this device's worker unless given (imported history)
    # Imported history: the first follow-up falls due when it did then (a week after the attempt),
    # not today, so a program's past does not fill today's caseload.
    as_recorded: bool = False


def record_notification(
    store: Store,
    draft: NotificationDraft,
    *,
    session: Session | None = None,
    open_contact: list[FollowUp] | None = None,
) -> NotificationAttempt:
    """Record a custom notification attempt.

    Messages and team members belong to a delivered notification only, and a delivered one names
    at least one team member. A delivered notification schedules the first follow-up (an automatic
    contact follow-up `FIRST_FOLLOW_UP_DAYS` later), replacing an open automatic one.
    `open_contact`: as for `log_contact`.
    """
    outcome = _enum(NotificationOutcome, draft.outcome, "outcome")
    setting = _enum(domain.NotificationSetting, draft.setting, "setting")
    _not_future(store, draft.attempted_on, "attempted_on", "the attempt date")
    team = []
    for name, role in draft.team:
        if not name.strip():
            raise ValidationError("a team member's name is empty", field="team")
        team.append({"name": name.strip(), "role": _enum(domain.TeamRole, role, "team").value})
    messages = [_enum(domain.NotificationMessage, m, "messages").value for m in draft.messages]
    delivered = outcome is NotificationOutcome.DELIVERED
    if not delivered and messages:
        raise ValidationError(
            f"messages are recorded only for a delivered notification (this one was {outcome.label}): untick them",
            field="messages",
        )
    if not delivered and team:
        raise ValidationError(
            f"team members are recorded only for a delivered notification (this one was "
            f"{outcome.label}): clear their names",
            field="team",
        )
    if delivered and not team:
        raise ValidationError("a delivered notification names at least one team member", field="team")
    with _transaction(store, session) as session:
        client = _client(session, draft.client_id)
        if not draft.confirm_same_day:
            from vipterm.services.corrections import corrected_ids

            gone = corrected_ids(session, client.id)
            same_day = [
                a
                for a in session.exec(
                    select(NotificationAttempt.id).where(
                        NotificationAttempt.client_id == client.id,
                        NotificationAttempt.attempted_on == draft.attempted_on,
                        col(NotificationAttempt.deleted_at).is_(None),
                    )
                ).all()
                if a not in gone
            ]
            if same_day:
                raise NeedsConfirmation(
                    f"{client.pseudonym} already has {len(same_day)} notification attempt"
                    f"{'s' if len(same_day) > 1 else ''} on {draft.attempted_on.isoformat()}: record another?",
                    field="attempted_on",
                )
        area = _enum(domain.AreaCommand, draft.area_command or client.area_command, "area_command")
        attempt = NotificationAttempt(
            client_id=client.id,
            attempted_on=draft.attempted_on,
            setting=setting.value,
            area_command=area.value,
            team=json.dumps(team),
            messages=",".join(messages),
            outcome=outcome.value,
            note=_note(draft.note),
            recorded_by=draft.recorded_by or store.worker_id,
        )
        session.add(attempt)
        _advance_status(
            client,
            ClientStatus.NOTIFIED if outcome is NotificationOutcome.DELIVERED else ClientStatus.NOTIFICATION_ATTEMPTED,
        )
        if delivered:
            # Entered late, the first contact is due today rather than already overdue.
            due = draft.attempted_on + timedelta(days=domain.FIRST_FOLLOW_UP_DAYS)
            if not draft.as_recorded:
                due = max(due, store.clock.today())
            _schedule_automatic(
                session,
                store,
                client.id,
                due,
                replace=True,
                note="first contact after the custom notification",
                open_contact=open_contact,
            )
    return attempt


# --- contacts -----------------------------------------------------------------------------------


@dataclass
class ContactDraft:
    client_id: str
    occurred_at: datetime | None = None  # now when not given
    mode: str = "in_person"
    purpose: str = "check_in"
    outcome: str = ""  # no default: "reached" is said, never assumed (ContactOutcome)
    duration_min: int | None = None
    area_command: str | None = None  # defaults to the client's
    note: str = ""
    next_follow_up: date | None = None
    worker_id: str | None = None  # who made it: this device's worker unless given (imported history)


def log_contact(
    store: Store,
    draft: ContactDraft,
    *,
    session: Session | None = None,
    open_contact: list[FollowUp] | None = None,
) -> Contact:
    """Log a contact or an attempt at one.

    The outcome must be given. Only a contact that reached the client closes its due contact
    follow-ups; its next follow-up (automatic) replaces the open automatic one. An attempt that
    did not reach the client closes nothing and moves nothing: its next follow-up is added only
    when no contact follow-up is open at all.

    `open_contact`: the client's open contact follow-ups, when the caller has just read them
    in `session` (`open_contact_follow_ups`: an import reads a whole batch's at once).
    """
    if not (draft.outcome or "").strip():
        raise ValidationError(
            "say what happened: " + ", ".join(o.label for o in domain.ContactOutcome), field="outcome"
        )
    occurred_at = draft.occurred_at or store.clock.utcnow()
    _not_future(store, occurred_at, "occurred_at", "the contact time")
    contact_day = store.clock.local_day(occurred_at)
    mode = _enum(domain.ContactMode, draft.mode, "mode")
    purpose = _enum(domain.ContactPurpose, draft.purpose, "purpose")
    outcome = _enum(domain.ContactOutcome, draft.outcome, "outcome")
    if draft.duration_min is not None and not (0 <= draft.duration_min <= 24 * 60):
        raise ValidationError("the duration must be between 0 and 1440 minutes", field="duration_min")
    if draft.next_follow_up is not None and draft.next_follow_up < contact_day:
        raise ValidationError("the next follow-up is before the contact", field="next_follow_up")
    note = _note(draft.note)
    worker_id = draft.worker_id or store.worker_id
    with _transaction(store, session) as session:
        client = _client(session, draft.client_id)
        area = _enum(domain.AreaCommand, draft.area_command or client.area_command, "area_command")
        contact = Contact(
            client_id=client.id,
            worker_id=worker_id,
            occurred_at=occurred_at,
            mode=mode.value,
            purpose=purpose.value,
            outcome=outcome.value,
            duration_min=draft.duration_min,
            area_command=area.value,
            note=note,
        )
        # The client's open contact follow-ups, read once (before the contact joins the session,
        # so this read flushes nothing of it): the save is then written in one flush at commit,
        # one pass of change capture. Reached closes those due by the contact's day; the rest
        # decide the next automatic follow-up.
        still_open: list[FollowUp] = []
        if open_contact is None:
            open_contact = open_contact_follow_ups(session, [client.id]).get(client.id, [])
        for open_follow_up in open_contact:
            if outcome is domain.ContactOutcome.REACHED and open_follow_up.due_on <= contact_day:
                open_follow_up.done_at = occurred_at
                open_follow_up.done_by = worker_id
                open_follow_up.closed_as = domain.FollowUpClosed.CONTACT.value
            else:
                still_open.append(open_follow_up)
        session.add(contact)
        if draft.next_follow_up is not None:
            _schedule_automatic(
                session,
                store,
                client.id,
                draft.next_follow_up,
                replace=outcome is domain.ContactOutcome.REACHED,
                open_contact=still_open,
            )
    return contact


def open_contact_follow_ups(session: Session, client_ids: list[str]) -> dict[str, list[FollowUp]]:
    """The open contact follow-ups of these clients, by client, in one query (a client with none
    is absent). The objects are the session's own: what a service changes on them is saved."""
    found: dict[str, list[FollowUp]] = {}
    for start in range(0, len(client_ids), 500):  # below SQLite's limit on bound parameters
        for follow_up in session.exec(
            select(FollowUp).where(
                col(FollowUp.client_id).in_(client_ids[start : start + 500]),
                FollowUp.kind == domain.FollowUpKind.CONTACT.value,
                col(FollowUp.done_at).is_(None),
                col(FollowUp.deleted_at).is_(None),
            )
        ).all():
            found.setdefault(follow_up.client_id, []).append(follow_up)
    return found


def _schedule_automatic(
    session: Session,
    store: Store,
    client_id: str,
    due_on: date,
    *,
    replace: bool,
    note: str = "",
    open_contact: list[FollowUp] | None = None,
) -> FollowUp | None:
    """Add an automatic contact follow-up. With `replace`, it replaces the client's open automatic
    follow-ups (closed as replaced, so they don't pile up); without, it is added only if no contact
    follow-up is open (an unanswered call never pushes a due follow-up later). `open_contact`: the
    client's open contact follow-ups when the caller has just read them (else they are read here)."""
    if open_contact is None:
        open_contact = open_contact_follow_ups(session, [client_id]).get(client_id, [])
    if not replace and open_contact:
        return None
    now = store.clock.utcnow()
    for old in open_contact:
        if old.auto:
            old.done_at = now
            old.done_by = store.worker_id
            old.closed_as = domain.FollowUpClosed.REPLACED.value
    follow_up = FollowUp(
        client_id=client_id,
        owner_id=store.worker_id,
        due_on=due_on,
        kind=domain.FollowUpKind.CONTACT.value,
        note=note,
        auto=True,
    )
    session.add(follow_up)
    return follow_up


def log_attempt(
    store: Store,
    client_id: str,
    outcome: str,
    *,
    mode: str = "phone",
    note: str = "",
    occurred_at: datetime | None = None,
) -> Contact:
    """The one-key attempt log: a contact that did not reach the client (no answer, voicemail,
    wrong number, refused). It never closes a due follow-up; when none is open, it adds one for
    tomorrow so the client is tried again."""
    attempt = _enum(domain.ContactOutcome, outcome, "outcome")
    if attempt not in domain.ATTEMPT_OUTCOMES:
        raise ValidationError(
            "an attempt is one of: " + ", ".join(o.label for o in domain.ATTEMPT_OUTCOMES), field="outcome"
        )
    occurred_at = occurred_at or store.clock.utcnow()
    return log_contact(
        store,
        ContactDraft(
            client_id=client_id,
            occurred_at=occurred_at,
            mode=mode,
            purpose=domain.ContactPurpose.CHECK_IN.value,
            outcome=attempt.value,
            note=note,
            next_follow_up=store.clock.local_day(occurred_at) + timedelta(days=1),
        ),
    )


def last_contact_mode(store: Store) -> str:
    """The mode this worker used last: the quick-entry form's default."""
    with store.read() as session:
        mode = session.exec(
            select(Contact.mode)
            .where(Contact.worker_id == store.worker_id)
            .order_by(col(Contact.created_at).desc(), col(Contact.id).desc())
            .limit(1)
        ).first()
    return mode or domain.ContactMode.IN_PERSON.value


# --- needs assessments ----------------------------------------------------------------------------


@dataclass
class AssessmentDraft:
    client_id: str
    kind: str = "intake"
    assessed_on: date | None = None
    levels: dict[str, int] = field(default_factory=dict)  # NeedDomain value -> 0..3
    priorities: set[str] = field(default_factory=set)
    note: str = ""


def record_assessment(store: Store, draft: AssessmentDraft) -> Assessment:
    kind = _enum(domain.AssessmentKind, draft.kind, "kind")
    assessed_on = draft.assessed_on or store.clock.today()
    _not_future(store, assessed_on, "assessed_on", "the assessment date")
    levels = {}
    for name, level in draft.levels.items():
        need = _enum(domain.NeedDomain, name, "levels")
        if level not in domain.NEED_LEVELS:
            raise ValidationError(f"the level of {need.label} must be 0, 1, 2 or 3", field="levels")
        levels[need.value] = level
    priorities = {_enum(domain.NeedDomain, p, "priorities").value for p in draft.priorities}
    if not levels and not priorities:
        raise ValidationError("the assessment has no levels", field="levels")
    with store.write() as session:
        client = _client(session, draft.client_id)
        assessment = Assessment(
            client_id=client.id,
            kind=kind.value,
            assessed_on=assessed_on,
            assessed_by=store.worker_id,
            note=_note(draft.note),
        )
        session.add(assessment)
        for need in domain.NeedDomain:
            if need.value in levels or need.value in priorities:
                session.add(
                    AssessmentItem(
                        assessment_id=assessment.id,
                        domain=need.value,
                        level=levels.get(need.value, 0),
                        client_priority=need.value in priorities,
                    )
                )
    return assessment


def latest_assessment_levels(store: Store, client_id: str, before: date | None = None) -> dict[str, tuple[int, bool]]:
    """Levels and priorities of the client's latest assessment (the grid shows them beside)."""
    with store.read() as session:
        query = select(Assessment).where(Assessment.client_id == client_id, col(Assessment.deleted_at).is_(None))
        if before is not None:
            query = query.where(Assessment.assessed_on <= before)
        latest = session.exec(
            query.order_by(col(Assessment.assessed_on).desc(), col(Assessment.id).desc()).limit(1)
        ).first()
        if latest is None:
            return {}
        items = session.exec(select(AssessmentItem).where(AssessmentItem.assessment_id == latest.id)).all()
    return {item.domain: (item.level, item.client_priority) for item in items}


# --- service directory and referrals -----------------------------------------------------------


def add_provider(
    store: Store, name: str, category: str, phone: str = "", address: str = "", note: str = ""
) -> Provider:
    name = _required(name, "name", "the provider name")
    cat = _enum(domain.ServiceCategory, category, "category")
    with store.write() as session:
        provider = Provider(
            name=name, category=cat.value, phone=phone.strip(), address=address.strip(), note=note.strip()
        )
        session.add(provider)
    return provider


def search_providers(store: Store, text: str = "", need: str | None = None, limit: int = 50) -> list[Provider]:
    """Active providers matching `text`; those serving `need` first."""
    with store.read() as session:
        providers = session.exec(
            select(Provider)
            .where(col(Provider.active).is_(True), col(Provider.deleted_at).is_(None))
            .order_by(Provider.name)
        ).all()
    words = text.lower().split()
    serving = set()
    if need:
        serving = {c.value for c in domain.CATEGORIES_FOR_NEED.get(domain.NeedDomain(need), ())}
    matches = [
        p
        for p in providers
        if all(w in f"{p.name} {p.category} {domain.ServiceCategory(p.category).label}".lower() for w in words)
    ]
    matches.sort(key=lambda p: (p.category not in serving, p.name.lower()))
    return matches[:limit]


@dataclass
class ReferralDraft:
    client_id: str
    need_domain: str
    provider_id: str | None
    send_now: bool = True  # most referrals are sent as they are made
    reason: str = ""
    # The referral passes the client's identifying information to the provider: sending it needs a
    # current written consent to share with that provider (services.consent.sharing_problem).
    shares_info: bool = False


def _check_sharing(store: Store, client_id: str, provider_id: str | None) -> None:
    """Refuse to send a referral that shares information without written consent to share.

    A refusal, not a question: confidentiality rules require informed, written, time-limited
    consent before identifying information is released, so there is nobody to override it in the
    moment; the referral can be kept as a draft until the consent is recorded."""
    from vipterm.services.consent import sharing_problem

    problem = sharing_problem(store, client_id, provider_id)
    if problem:
        raise ValidationError(problem, field="provider_id")


def create_referral(store: Store, draft: ReferralDraft) -> Referral:
    need = _enum(domain.NeedDomain, draft.need_domain, "need_domain")
    if draft.send_now and not draft.provider_id:
        raise ValidationError("choose a provider before sending the referral", field="provider_id")
    if draft.send_now and draft.shares_info:
        _check_sharing(store, draft.client_id, draft.provider_id)
    with store.write() as session:
        client = _client(session, draft.client_id)
        if draft.provider_id and session.get(Provider, draft.provider_id) is None:
            raise ValidationError("the provider is not in the directory", field="provider_id")
        now = store.clock.utcnow()
        referral = Referral(
            client_id=client.id,
            need_domain=need.value,
            provider_id=draft.provider_id,
            status=ReferralStatus.DRAFT.value,
            status_changed_at=now,
            created_by=store.worker_id,
            shares_info=bool(draft.shares_info),
        )
        session.add(referral)
        session.add(
            ReferralEvent(
                referral_id=referral.id,
                status=ReferralStatus.DRAFT.value,
                at=now,
                by_worker=store.worker_id,
                reason=_note(draft.reason, "reason"),
                seq=1,
            )
        )
        if draft.send_now:
            referral.status = ReferralStatus.SENT.value
            session.add(
                ReferralEvent(
                    referral_id=referral.id, status=ReferralStatus.SENT.value, at=now, by_worker=store.worker_id, seq=2
                )
            )
    return referral


def set_referral_status(
    store: Store,
    referral_id: str,
    status: str,
    reason: str = "",
    *,
    first_service_on: date | None = None,
    feedback: str | None = None,
    at: datetime | None = None,
) -> Referral:
    """Move a referral along its allowed transitions; engagement moves the client's funnel.

    Events of a referral are strictly ordered as entered: each gets the next `seq`, keeps its
    seconds, and is never earlier than the referral's previous event (an explicit earlier `at` is
    refused; the clock's "now" behind a previous event, e.g. another laptop's, is lifted to it).
    """
    new = _enum(ReferralStatus, status, "status")
    explicit_at = at is not None
    at = at or store.clock.utcnow()
    _not_future(store, at, "at", "the status time")
    if first_service_on is not None:
        _not_future(store, first_service_on, "first_service_on", "the first-service date")
    with store.write() as session:
        referral = session.get(Referral, referral_id)
        if referral is None or referral.deleted_at is not None:
            raise NotFound(f"no referral with id {referral_id}")
        current = ReferralStatus(referral.status)
        if new is ReferralStatus.SENT and referral.shares_info:
            _check_sharing(store, referral.client_id, referral.provider_id)
        if not domain.can_transition(current, new):
            allowed = ", ".join(s.value for s in domain.REFERRAL_TRANSITIONS[current]) or "none (it is closed)"
            raise ValidationError(
                f"a {current.label} referral cannot become {new.label}; allowed: {allowed}", field="status"
            )
        if new in (ReferralStatus.REJECTED, ReferralStatus.FAILED, ReferralStatus.CANCELLED) and not reason.strip():
            raise ValidationError(f"say why the referral is {new.label}", field="reason")
        history = session.exec(
            select(ReferralEvent).where(
                ReferralEvent.referral_id == referral.id, col(ReferralEvent.deleted_at).is_(None)
            )
        ).all()
        last = max(history, key=event_order, default=None)
        seq = max((e.seq or 0 for e in history), default=0)
        seq = max(seq, len(history)) + 1
        if last is not None and at < last.at:
            if explicit_at:
                raise ValidationError(
                    f"the status time is before the referral's last change ({last.at.isoformat(sep=' ')} UTC)",
                    field="at",
                )
            at = last.at
        referral.status = new.value
        referral.status_changed_at = at
        if first_service_on is not None:
            referral.first_service_on = first_service_on
        elif new in (ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED) and referral.first_service_on is None:
            referral.first_service_on = store.clock.local_day(at)
        if feedback is not None:
            referral.feedback = _note(feedback, "feedback")
        session.add(
            ReferralEvent(
                referral_id=referral.id,
                status=new.value,
                at=at,
                by_worker=store.worker_id,
                reason=_note(reason, "reason"),
                seq=seq,
            )
        )
        if new in domain.ENGAGED_REFERRAL_STATUSES:
            _advance_status(_client(session, referral.client_id), ClientStatus.ENGAGED)
    return referral


# --- outcomes and follow-ups ----------------------------------------------------------------------


def record_outcome(
    store: Store,
    client_id: str,
    kind: str,
    occurred_on: date,
    source: str = "worker",
    note: str = "",
    *,
    recorded_by: str | None = None,
    session: Session | None = None,
) -> Outcome:
    kind_ = _enum(domain.OutcomeKind, kind, "kind")
    source_ = _enum(domain.OutcomeSource, source, "source")
    _not_future(store, occurred_on, "occurred_on", "the outcome date")
    with _transaction(store, session) as session:
        client = _client(session, client_id)
        outcome = Outcome(
            client_id=client.id,
            kind=kind_.value,
            occurred_on=occurred_on,
            source=source_.value,
            note=_note(note),
            recorded_by=recorded_by or store.worker_id,
        )
        session.add(outcome)
    return outcome


def time_of_day(text: str | None, field_name: str = "due_time") -> str | None:
    """A time of day as stored, "HH:MM" in the program's wall time ("9:00", "9" and "0900" give
    "09:00"), or None for none."""
    value = (text or "").strip().replace(".", ":")
    if not value:
        return None
    if value.isdigit() and len(value) <= 2:
        value += ":00"
    elif value.isdigit() and len(value) in (3, 4):
        value = f"{value[:-2]}:{value[-2:]}"
    hours, sep, minutes = value.partition(":")
    if not (
        sep
        and hours.isdigit()
        and minutes.isdigit()
        and len(minutes) == 2
        and len(hours) <= 2
        and int(hours) < 24
        and int(minutes) < 60
    ):
        raise ValidationError(f"{text!r} is not a time of day (HH:MM, 24-hour, e.g. 09:00)", field=field_name)
    return f"{int(hours):02d}:{minutes}"


def schedule_follow_up(
    store: Store,
    client_id: str,
    due_on: date,
    kind: str = "contact",
    note: str = "",
    owner_id: str | None = None,
    due_time: str | None = None,
) -> FollowUp:
    """A follow-up due on a day, optionally at a time of day (court at 09:00)."""
    kind_ = _enum(domain.FollowUpKind, kind, "kind")
    if due_on < store.clock.today():
        raise ValidationError("the due date is in the past", field="due_on")
    at = time_of_day(due_time)
    with store.write() as session:
        client = _client(session, client_id)
        follow_up = FollowUp(
            client_id=client.id,
            owner_id=owner_id or store.worker_id,
            due_on=due_on,
            kind=kind_.value,
            note=_note(note),
            due_time=at,
        )
        session.add(follow_up)
    return follow_up


_KEEP = object()


def reschedule_follow_up(store: Store, follow_up_id: str, due_on: date, due_time: Any = _KEEP) -> FollowUp:
    """Move an open follow-up to another day (and time: None clears it; not given keeps it)."""
    if due_on < store.clock.today():
        raise ValidationError("the new date is in the past", field="due_on")
    at = time_of_day(due_time) if due_time is not _KEEP else _KEEP
    with store.write() as session:
        follow_up = session.get(FollowUp, follow_up_id)
        if follow_up is None or follow_up.deleted_at is not None:
            raise NotFound(f"no follow-up with id {follow_up_id}")
        _client(session, follow_up.client_id)
        if follow_up.done_at is not None:
            raise ValidationError("this follow-up is closed already", field="due_on")
        if follow_up.due_on != due_on:
            follow_up.due_on = due_on
        if at is not _KEEP and follow_up.due_time != at:
            follow_up.due_time = at
    return follow_up


def complete_follow_up(
    store: Store,
    follow_up_id: str,
    when: datetime | None = None,
    *,
    closed_as: str = "no_contact",
    contact_id: str | None = None,
) -> FollowUp:
    """Close one follow-up, saying how: `no_contact` (done without a contact) or `contact` (then
    `contact_id` names a logged contact of the same client that reached them)."""
    how = _enum(domain.FollowUpClosed, closed_as, "closed_as")
    if how is domain.FollowUpClosed.REPLACED:
        raise ValidationError("a follow-up is replaced only by a newer automatic one", field="closed_as")
    with store.write() as session:
        follow_up = session.get(FollowUp, follow_up_id)
        if follow_up is None or follow_up.deleted_at is not None:
            raise NotFound(f"no follow-up with id {follow_up_id}")
        if how is domain.FollowUpClosed.CONTACT:
            contact = session.get(Contact, contact_id) if contact_id else None
            if contact is None or contact.client_id != follow_up.client_id or contact.deleted_at is not None:
                raise ValidationError("no contact with this client was logged", field="contact_id")
            if contact.outcome != domain.ContactOutcome.REACHED.value:
                raise ValidationError(
                    "that contact did not reach the client: the follow-up stays open", field="contact_id"
                )
            from vipterm.services.corrections import corrected_ids

            if contact.id in corrected_ids(session, contact.client_id):
                raise ValidationError(
                    "that contact was corrected or voided: the follow-up stays open", field="contact_id"
                )
        if follow_up.done_at is None:
            follow_up.done_at = when or store.clock.utcnow()
            follow_up.done_by = store.worker_id
            follow_up.closed_as = how.value
    return follow_up


def reopen_follow_up(store: Store, follow_up_id: str) -> FollowUp:
    """Undo a "done": the follow-up is open again (a correction, captured like any change)."""
    with store.write() as session:
        follow_up = session.get(FollowUp, follow_up_id)
        if follow_up is None or follow_up.deleted_at is not None:
            raise NotFound(f"no follow-up with id {follow_up_id}")
        follow_up.done_at = None
        follow_up.done_by = None
        follow_up.closed_as = None
    return follow_up


def open_follow_ups(store: Store, client_id: str) -> list[FollowUp]:
    """The client's open follow-ups, earliest due first."""
    with store.read() as session:
        client = _client(session, client_id)
        return list(
            session.exec(
                select(FollowUp)
                .where(
                    FollowUp.client_id == client.id, col(FollowUp.done_at).is_(None), col(FollowUp.deleted_at).is_(None)
                )
                .order_by(col(FollowUp.due_on), col(FollowUp.id))
            )
        )


def complete_next_follow_up(store: Store, client_id: str, when: datetime | None = None) -> FollowUp:
    """Mark the client's earliest open follow-up done: the caseload's one-key "done"."""
    with store.write() as session:
        client = _client(session, client_id)
        follow_up = session.exec(
            select(FollowUp)
            .where(FollowUp.client_id == client.id, col(FollowUp.done_at).is_(None), col(FollowUp.deleted_at).is_(None))
            .order_by(col(FollowUp.due_on), col(FollowUp.id))
            .limit(1)
        ).first()
        if follow_up is None:
            raise NotFound("this client has no open follow-up")
        follow_up.done_at = when or store.clock.utcnow()
        follow_up.done_by = store.worker_id
        follow_up.closed_as = domain.FollowUpClosed.NO_CONTACT.value
    return follow_up
