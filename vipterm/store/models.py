"""SQLModel tables: the program's records (synced) and the device's own bookkeeping (local).

Synced tables have UUIDv7 text keys (rows are created on many laptops), never integer keys,
and are never deleted physically: `deleted_at` is a tombstone that syncs like any field.
Enum-valued columns hold the `vipterm.domain` enum values as plain text. Timestamps are naive UTC
(annotated `NaiveDatetime`, which SQLModel stores without an offset).

`SYNC_POLICY` says, per synced table, how the merge treats it (see docs/sync.md, "Merge rules").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import uuid6
from pydantic import NaiveDatetime as datetime  # naive UTC by design; see the module docstring
from sqlalchemy import Index, LargeBinary, Table, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from vipterm.domain import utcnow


def new_id() -> str:
    """A UUIDv7: time-ordered, so new rows land at the end of the primary-key index."""
    return str(uuid6.uuid7())


# --- synced: the program's records ----------------------------------------------------------


class Worker(SQLModel, table=True):
    """A peer support worker or coordinator. Names here are staff names, not clients'."""

    id: str = Field(default_factory=new_id, primary_key=True)
    display_name: str
    role: str = "worker"
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class Client(SQLModel, table=True):
    """A program participant, pseudonymous: who they are lives in ClientIdentity."""

    id: str = Field(default_factory=new_id, primary_key=True)
    pseudonym: str = Field(index=True)
    age_group: str = "unknown"
    area_command: str = "na"
    referral_source: str = "other"
    status: str = Field(default="identified", index=True)
    risk_flags: str = ""  # comma-separated RiskFlag values
    assigned_worker_id: str | None = Field(default=None, foreign_key="worker.id", index=True)
    identified_on: date = Field(default_factory=lambda: utcnow().date())
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None
    # Why and on which (program-local) day the client was closed (schema 7): a domain.ClosedReason
    # value; both empty while the client is open.
    closed_reason: str | None = None
    closed_on: date | None = None


class ClientIdentity(SQLModel, table=True):
    """Identifying data, one row per client, kept apart so that aggregates never touch it."""

    __tablename__ = "client_identity"
    client_id: str = Field(primary_key=True, foreign_key="client.id")
    first_name: str = ""
    last_name: str = ""
    aka: str = ""
    date_of_birth: date | None = None
    phone: str = ""
    deleted_at: datetime | None = None


class NotificationAttempt(SQLModel, table=True):
    """One attempt at a custom notification; every attempt is kept (add-only)."""

    __tablename__ = "notification_attempt"
    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    attempted_on: date = Field(index=True)
    setting: str = "home"
    area_command: str = "na"
    team: str = "[]"  # JSON list of {"name": ..., "role": TeamRole}
    messages: str = ""  # comma-separated NotificationMessage values
    outcome: str = "delivered"
    note: str = ""
    recorded_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class Contact(SQLModel, table=True):
    """A contact with a client (add-only fact)."""

    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id")
    worker_id: str | None = Field(default=None, foreign_key="worker.id")  # indexed with created_at below
    occurred_at: datetime
    mode: str = "in_person"
    purpose: str = "check_in"
    outcome: str = "reached"
    duration_min: int | None = None
    area_command: str = "na"
    note: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None

    __table_args__ = (
        # deleted_at too: the caseload's last contact is read from the index alone (schema 9)
        Index("ix_contact_client_when", "client_id", "occurred_at", "deleted_at"),
        Index("ix_contact_worker_created", "worker_id", "created_at"),
        Index("ix_contact_occurred", "occurred_at"),  # the monthly report reads contacts by date
    )


class Assessment(SQLModel, table=True):
    """A needs assessment (intake, ~90 days, exit); its levels are AssessmentItem rows."""

    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    kind: str = "intake"
    assessed_on: date
    assessed_by: str | None = Field(default=None, foreign_key="worker.id")
    note: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class AssessmentItem(SQLModel, table=True):
    """One need domain of an assessment: level 0–3 and whether the client names it a priority."""

    __tablename__ = "assessment_item"
    id: str = Field(default_factory=new_id, primary_key=True)
    assessment_id: str = Field(foreign_key="assessment.id", index=True)
    domain: str
    level: int = 0
    client_priority: bool = False
    deleted_at: datetime | None = None


class Provider(SQLModel, table=True):
    """An entry of the service directory (kept by the coordinator, sent to every laptop)."""

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    category: str
    phone: str = ""
    address: str = ""
    note: str = ""
    active: bool = True
    deleted_at: datetime | None = None


class Referral(SQLModel, table=True):
    """A referral from a need to a provider; `status` mirrors its latest ReferralEvent."""

    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    need_domain: str
    provider_id: str | None = Field(default=None, foreign_key="provider.id")
    status: str = "draft"
    status_changed_at: datetime = Field(default_factory=utcnow)
    first_service_on: date | None = None
    feedback: str = ""
    created_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None
    # Whether the referral shares the client's identifying information with the provider (schema 8):
    # sending such a referral needs a current written consent (services.consent). Empty before.
    shares_info: bool | None = None


class ReferralEvent(SQLModel, table=True):
    """One status change of a referral: who set it, when and why (add-only history)."""

    __tablename__ = "referral_event"
    id: str = Field(default_factory=new_id, primary_key=True)
    referral_id: str = Field(foreign_key="referral.id", index=True)
    status: str
    at: datetime = Field(default_factory=utcnow)
    by_worker: str | None = Field(default=None, foreign_key="worker.id")
    reason: str = ""
    deleted_at: datetime | None = None
    # Position in its referral's history, 1 for the first event: the order the events were
    # entered in, even when two share a time. Empty on events from before schema 4 (ordered by id).
    seq: int | None = None


class Outcome(SQLModel, table=True):
    """Something that happened to a client after notification, with its source (add-only)."""

    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    kind: str
    occurred_on: date
    source: str = "worker"
    note: str = ""
    recorded_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class FollowUp(SQLModel, table=True):
    """A task due on a date; overdue ones lead the caseload."""

    __tablename__ = "follow_up"
    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    owner_id: str | None = Field(default=None, foreign_key="worker.id")
    due_on: date
    kind: str = "contact"
    note: str = ""
    done_at: datetime | None = None
    done_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None
    # Scheduled by a contact or a delivered notification (the "next follow-up"), not by hand:
    # a newer automatic follow-up replaces the open one. Nullable so older bundles still merge.
    auto: bool | None = None
    # How it was closed: FollowUpClosed values (a contact, done without one, replaced).
    closed_as: str | None = None
    # An optional time of day (schema 7): "HH:MM", program-local wall time (court at 09:00).
    due_time: str | None = None

    __table_args__ = (Index("ix_follow_up_open", "client_id", "done_at", "due_on"),)


class FactCorrection(SQLModel, table=True):
    """A correction of a fact (schema 7), itself an add-only fact: the contact, notification
    attempt, outcome or referral event `row_id` of table `tbl` is superseded by `replacement_id`
    (the fact entered in its place) or, without one, voided. The corrected fact is never edited;
    it stays in the history, marked, and every count ignores it (`services.corrections`)."""

    __tablename__ = "fact_correction"
    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    tbl: str  # domain.CorrectableFact value
    row_id: str = Field(index=True)
    replacement_id: str | None = Field(default=None, index=True)
    reason: str = ""
    by_worker: str | None = Field(default=None, foreign_key="worker.id")
    at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class Review(SQLModel, table=True):
    """A weekly review of the week's incidents (schema 7), held on the coordinator: the week it
    covers (its Monday) and who held it. Coordinator-owned: only the coordinator's device writes it."""

    id: str = Field(default_factory=new_id, primary_key=True)
    week_of: date = Field(index=True)  # the Monday of the week reviewed
    held_on: date
    held_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class ReviewIncident(SQLModel, table=True):
    """An incident the review considered: its day, area command and where it was learned of.
    No narrative of the crime is kept (schema 7, coordinator-owned)."""

    __tablename__ = "review_incident"
    id: str = Field(default_factory=new_id, primary_key=True)
    review_id: str = Field(foreign_key="review.id", index=True)
    occurred_on: date
    area_command: str = "na"
    source: str = "shooting_review"  # IncidentSource
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class PlannedNotification(SQLModel, table=True):
    """A custom notification the review planned for a client (schema 7, coordinator-owned): the
    team roles going, the day and optional time (program-local "HH:MM"), the setting and the
    worker who will follow up. It reaches that worker's laptop with the client; it counts as
    attempted once the client has a notification attempt dated on or after `identified_on`."""

    __tablename__ = "planned_notification"
    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    identified_on: date
    planned_on: date
    planned_time: str | None = None  # "HH:MM", or none
    setting: str = "home"
    team_roles: str = ""  # comma-separated TeamRole values
    worker_id: str | None = Field(default=None, foreign_key="worker.id")
    status: str = "planned"  # PlanStatus
    created_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class ReviewCandidate(SQLModel, table=True):
    """A person a review identified from one of its incidents (schema 7, coordinator-owned): the
    client (new or existing), the age group and risk flags the review saw, and the plan made."""

    __tablename__ = "review_candidate"
    id: str = Field(default_factory=new_id, primary_key=True)
    review_id: str = Field(foreign_key="review.id", index=True)
    incident_id: str | None = Field(default=None, foreign_key="review_incident.id")
    client_id: str = Field(foreign_key="client.id", index=True)
    new_client: bool = False
    age_group: str = "unknown"
    risk_flags: str = ""  # comma-separated RiskFlag values
    identified_on: date
    plan_id: str | None = Field(default=None, foreign_key="planned_notification.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class Consent(SQLModel, table=True):
    """What a client consented to (schema 8): services, sharing their information with a named
    provider for a referral, photos/media, contact by text; on which day, how (verbal, written),
    until when, and the day it was withdrawn. Current: given, not expired, not withdrawn."""

    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    kind: str  # domain.ConsentKind
    provider_id: str | None = Field(default=None, foreign_key="provider.id")  # share_provider only
    method: str = "written"  # domain.ConsentMethod
    given_on: date
    expires_on: date | None = None
    withdrawn_on: date | None = None
    note: str = ""
    recorded_by: str | None = Field(default=None, foreign_key="worker.id")
    withdrawn_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class SafetyPlan(SQLModel, table=True):
    """A client's safety plan (schema 8), kept up to date in place: known threats or conflicts in
    general terms, safe contacts, safe places, places to avoid, the check-in plan and the day it is
    to be reviewed. One per client; should two laptops each start one, the newest is the plan."""

    __tablename__ = "safety_plan"
    id: str = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(foreign_key="client.id", index=True)
    threats: str = ""
    safe_contacts: str = ""
    safe_places: str = ""
    places_to_avoid: str = ""
    check_in_plan: str = ""
    review_on: date | None = None
    created_by: str | None = Field(default=None, foreign_key="worker.id")
    updated_by: str | None = Field(default=None, foreign_key="worker.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """Who viewed or exported identifiable data, and when (add-only)."""

    __tablename__ = "audit_entry"
    id: str = Field(default_factory=new_id, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    worker_id: str | None = Field(default=None, foreign_key="worker.id")
    device_id: str = ""
    action: str
    client_id: str | None = None
    detail: str = ""
    deleted_at: datetime | None = None


# --- local: this device's bookkeeping (never synced) ----------------------------------------


class Meta(SQLModel, table=True):
    """Key/value facts about this database: schema version, device id, role, current worker."""

    key: str = Field(primary_key=True)
    value: str


class SyncState(SQLModel, table=True):
    """This device's clock and sequence counter (one row)."""

    __tablename__ = "sync_state"
    id: int = Field(default=1, primary_key=True)
    device_id: str
    last_hlc: int = 0
    next_seq: int = 1


class ChangeLog(SQLModel, table=True):
    """Every field change, local (the outbox) or received from another device.

    `value` is the msgpack of the column's database value (what SQLite stores), so a merge
    can write it back without knowing the column's Python type.
    """

    __tablename__ = "change_log"
    id: int | None = Field(default=None, primary_key=True)
    device: str
    seq: int
    hlc: int
    tbl: str
    row_id: str
    op: str = "set"  # set | purge
    col: str = ""
    value: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    base_hlc: int | None = None
    base_device: str | None = None

    __table_args__ = (
        UniqueConstraint("device", "seq", name="uq_change_device_seq"),
        Index("ix_change_row", "tbl", "row_id"),
    )


class FieldVersion(SQLModel, table=True):
    """The clock of the value each mutable field holds now; the merge compares against it."""

    __tablename__ = "field_version"
    tbl: str = Field(primary_key=True)
    row_id: str = Field(primary_key=True)
    col: str = Field(primary_key=True)
    hlc: int
    device: str


class FormDraft(SQLModel, table=True):
    """What a worker typed into a form and has not saved yet (schema 4), so that a killed terminal
    loses nothing: offered back at the next unlock. Local only: never synced, never in the change
    log; the database file is encrypted, so a draft is never in plain text on disk."""

    __tablename__ = "form_draft"
    key: str = Field(primary_key=True)  # the form and its record, e.g. "contact:<client id>"
    form: str  # which form: contact, notification, outcome, follow_up, assessment, referral, …
    client_id: str | None = None  # no foreign key: a draft must not stop a purge; it is erased with it
    worker_id: str
    fields: str  # JSON: field id -> what the field held
    updated_at: datetime


# --- sync policy --------------------------------------------------------------------------


@dataclass(frozen=True)
class TablePolicy:
    model: type[SQLModel]
    add_only: bool = False  # facts: inserted once, never edited, never in conflict
    coordinator_fields: frozenset[str] = frozenset()  # a worker's change to these is refused

    @property
    def table(self) -> Table:
        """The model's SQLAlchemy table (SQLModel sets `__table__` without declaring its type)."""
        return table_of(self.model)


def table_of(model: SQLModel | type[SQLModel]) -> Table:
    """The SQLAlchemy table of a table model class or instance."""
    table: Table = getattr(model, "__table__")  # noqa: B009  (SQLModel does not declare __table__)
    return table


SYNC_POLICY: dict[str, TablePolicy] = {
    "worker": TablePolicy(Worker, coordinator_fields=frozenset({"role", "active"})),
    "client": TablePolicy(Client, coordinator_fields=frozenset({"assigned_worker_id"})),
    "client_identity": TablePolicy(ClientIdentity),
    "notification_attempt": TablePolicy(NotificationAttempt, add_only=True),
    "contact": TablePolicy(Contact, add_only=True),
    "assessment": TablePolicy(Assessment, add_only=True),
    "assessment_item": TablePolicy(AssessmentItem, add_only=True),
    "provider": TablePolicy(
        Provider, coordinator_fields=frozenset({"name", "category", "phone", "address", "note", "active"})
    ),
    "referral": TablePolicy(Referral),
    "referral_event": TablePolicy(ReferralEvent, add_only=True),
    "outcome": TablePolicy(Outcome, add_only=True),
    "follow_up": TablePolicy(FollowUp),
    "audit_entry": TablePolicy(AuditEntry, add_only=True),
    # The weekly review (schema 7): coordinator-owned (sync.scope refuses them from a laptop).
    "review": TablePolicy(Review),
    "review_incident": TablePolicy(ReviewIncident),
    "planned_notification": TablePolicy(PlannedNotification),
    "review_candidate": TablePolicy(ReviewCandidate),
    "fact_correction": TablePolicy(FactCorrection, add_only=True),
    # Issue 12 (schema 8): consents (withdrawal edits one) and the safety plan (edited in place).
    "consent": TablePolicy(Consent),
    "safety_plan": TablePolicy(SafetyPlan),
}

# The primary-key column of each synced table (client_identity is keyed by its client).
PRIMARY_KEY = {name: ("client_id" if name == "client_identity" else "id") for name in SYNC_POLICY}
