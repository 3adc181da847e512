"""The weekly review, on the coordinator: the week's incidents, the candidates identified from
them, and the custom notification planned for each candidate (seed 001: "on a weekly basis,
program leaders review shootings for potential intervention subjects").

Provides:
- `week_of(day)`: the Monday of a day's week (a review covers one week, Monday to Sunday);
- `open_review(store, week)`: the review of that week, made on first use;
- `add_incident(store, review_id, IncidentDraft)`: an incident considered (day, area command,
  source); no narrative of the crime is kept;
- `add_candidate(store, CandidateDraft)`: a person identified from an incident: a new client
  (created by `records.create_client`, so the possible-duplicate question is the intake's) or an
  existing one, the age group and risk flags seen, and the planned notification (`PlanDraft`:
  team roles going, day and optional time, setting, the worker who will follow up). The client
  is assigned to that worker; the plan reaches the worker's laptop in its next return bundle;
- `find_review`, `cancel_plan`, `review_view` (the screen's content), `open_plans` (the caseload's top rows),
  `active_workers` (the follow-up worker picker).

A plan is *attempted* once its client has a live notification attempt dated on or after the day
the candidate was identified (`identified_on`): nothing is written when that happens (a laptop
may not write the coordinator's plan), the attempt itself says it, on every device alike.

Every table here is coordinator-owned (sync/scope.py `COORDINATOR_OWNED`), so every function
that writes refuses on a laptop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from vipterm import domain
from vipterm.domain import Role
from vipterm.domain import enum_for_field as _enum
from vipterm.errors import CoordinatorOnly, NotFound, ValidationError
from vipterm.services import assignment
from vipterm.services.assignment import WorkerChoice
from vipterm.services.database import Store
from vipterm.store.models import (
    Client,
    PlannedNotification,
    Review,
    ReviewCandidate,
    ReviewIncident,
    Worker,
)

if TYPE_CHECKING:
    from vipterm.services import records

_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d\Z")
CLOSED_STATUSES = ("closed", "inactive")
# How far ahead a notification may be planned: a typo in the year is refused, not kept for a year.
MAX_PLAN_AHEAD_DAYS = 60


def require_coordinator(store: Store) -> None:
    if store.role is not Role.COORDINATOR:
        raise CoordinatorOnly(
            "the weekly review is kept on the coordinator's database; this laptop receives "
            "its clients' planned notifications in its next return bundle"
        )


def week_of(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


# --- reviews and incidents ------------------------------------------------------------------------


def find_review(store: Store, week: date) -> Review | None:
    """The review of `week` (any day of it), or None when none was held (nothing is written)."""
    with store.read() as session:
        return session.exec(
            select(Review)
            .where(Review.week_of == week_of(week), col(Review.deleted_at).is_(None))
            .order_by(col(Review.created_at))
        ).first()


def open_review(store: Store, week: date | None = None) -> Review:
    """The review of `week` (any day of it; default: this week), made on first use."""
    require_coordinator(store)
    monday = week_of(week or store.clock.today())
    if monday > week_of(store.clock.today()):
        raise ValidationError("a review covers a week that has begun: that week is still ahead", field="week_of")
    found = find_review(store, monday)
    if found is not None:
        return found
    with store.write() as session:
        review = Review(week_of=monday, held_on=store.clock.today(), held_by=store.worker_id)
        session.add(review)
    return review


@dataclass
class IncidentDraft:
    occurred_on: date | None
    area_command: str = "na"
    source: str = "shooting_review"


def add_incident(store: Store, review_id: str, draft: IncidentDraft) -> ReviewIncident:
    """An incident the review considers: its day (not in the future, not more than a year before
    the reviewed week), area command and source."""
    require_coordinator(store)
    if draft.occurred_on is None:
        raise ValidationError("the incident's day is required (YYYY-MM-DD)", field="occurred_on")
    area = _enum(domain.AreaCommand, draft.area_command, "area_command")
    source = _enum(domain.IncidentSource, draft.source, "source")
    if draft.occurred_on > store.clock.today():
        raise ValidationError("the incident's day is in the future", field="occurred_on")
    with store.write() as session:
        review = _review(session, review_id)
        if draft.occurred_on < review.week_of - timedelta(days=366):
            raise ValidationError("the incident is more than a year before the reviewed week", field="occurred_on")
        incident = ReviewIncident(
            review_id=review.id, occurred_on=draft.occurred_on, area_command=area.value, source=source.value
        )
        session.add(incident)
    return incident


def _review(session: Session, review_id: str) -> Review:
    review = session.get(Review, review_id)
    if review is None or review.deleted_at is not None:
        raise NotFound(f"no review with id {review_id}")
    return review


# --- candidates and their planned notifications ----------------------------------------------------


@dataclass
class PlanDraft:
    planned_on: date | None
    worker_id: str | None
    team_roles: list[str] = field(default_factory=list)  # TeamRole values
    planned_time: str = ""  # "HH:MM" or empty
    setting: str = "home"


@dataclass
class CandidateDraft:
    review_id: str
    plan: PlanDraft
    incident_id: str | None = None
    client: records.ClientDraft | None = None  # a new client (its intake fields)
    client_id: str | None = None  # or an existing one
    age_group: str | None = None  # default: the new client's (from the date of birth) or the existing one's
    risk_flags: list[str] = field(default_factory=list)


def parse_time(text: str | None) -> str:
    """A time of day as stored, "HH:MM" (9:30 gives 09:30), or "" for none."""
    time_text = (text or "").strip()
    if len(time_text) == 4 and time_text[1] == ":":
        time_text = "0" + time_text
    if time_text and not _TIME.match(time_text):
        raise ValidationError("the time is not HH:MM (24-hour, e.g. 09:30)", field="planned_time")
    return time_text


def _check_plan(store: Store, plan: PlanDraft, review: Review) -> tuple[list[str], str | None, str]:
    """The plan's team roles, time and setting, checked (nothing written)."""
    if plan.planned_on is None:
        raise ValidationError("the day of the notification is required (YYYY-MM-DD)", field="planned_on")
    if plan.planned_on < review.week_of:
        raise ValidationError("the notification is planned before the reviewed week", field="planned_on")
    if plan.planned_on > store.clock.today() + timedelta(days=MAX_PLAN_AHEAD_DAYS):
        raise ValidationError(
            f"the notification is planned more than {MAX_PLAN_AHEAD_DAYS} days ahead", field="planned_on"
        )
    roles = list(dict.fromkeys(_enum(domain.TeamRole, r, "team_roles").value for r in plan.team_roles))
    if not roles:
        raise ValidationError("choose who goes: at least one team role", field="team_roles")
    time_text = parse_time(plan.planned_time)
    setting = _enum(domain.NotificationSetting, plan.setting, "setting").value
    if not plan.worker_id:
        raise ValidationError("choose the worker who will follow up", field="worker_id")
    return roles, time_text or None, setting


def _check_worker(session: Session, worker_id: str | None) -> Worker:
    worker = session.get(Worker, worker_id)
    if worker is None or worker.deleted_at is not None:
        raise ValidationError("the follow-up worker is unknown", field="worker_id")
    if not worker.active:
        raise ValidationError(f"{worker.display_name} is no longer active: choose another worker", field="worker_id")
    if worker.role != domain.Role.WORKER.value:
        # As for every assignment (services.assignment): clients are peer support workers' caseloads.
        raise ValidationError(
            f"{worker.display_name} is the {worker.role}: the follow-up is a peer support worker's", field="worker_id"
        )
    return worker


@dataclass(frozen=True)
class CandidateResult:
    candidate: ReviewCandidate
    plan: PlannedNotification
    client_id: str
    pseudonym: str
    worker_name: str
    new_client: bool


def add_candidate(store: Store, draft: CandidateDraft) -> CandidateResult:
    """Add a candidate and their planned notification, and assign the client to the follow-up worker.

    A new client goes through `records.create_client` (its rules and its possible-duplicate
    question: `NeedsConfirmation` until `draft.client.confirm_duplicate`). An existing client who
    is closed or inactive is refused (reopen first); their older plans still open are called off
    (the new plan replaces them). Risk flags the review saw are added to the client's; the age
    group fills the client's only when it was unknown.
    """
    from vipterm.services import records  # here: records imports the caseload, which imports this module

    require_coordinator(store)
    if (draft.client is None) == (draft.client_id is None):
        raise ValidationError("a candidate is a new client or an existing one", field="client_id")
    flags = list(dict.fromkeys(_enum(domain.RiskFlag, f, "risk_flags").value for f in draft.risk_flags))
    age = _enum(domain.AgeGroup, draft.age_group, "age_group").value if draft.age_group else None
    today = store.clock.today()
    with store.read() as session:
        review = _review(session, draft.review_id)
        roles, time_text, setting = _check_plan(store, draft.plan, review)
        worker = _check_worker(session, draft.plan.worker_id)
        if draft.incident_id is not None:
            incident = session.get(ReviewIncident, draft.incident_id)
            if incident is None or incident.deleted_at is not None or incident.review_id != review.id:
                raise ValidationError("the incident is not one of this review's", field="incident_id")
        if draft.client_id is not None:
            existing = session.get(Client, draft.client_id)
            if existing is None or existing.deleted_at is not None:
                raise NotFound(f"no client with id {draft.client_id}")
            if existing.status in CLOSED_STATUSES:
                raise ValidationError(
                    f"{existing.pseudonym} is {existing.status}: reopen the client first", field="client_id"
                )
    new_client = draft.client is not None
    if draft.client is not None:
        intake = draft.client
        intake.assigned_worker_id = worker.id
        intake.identified_on = today
        intake.risk_flags = list(dict.fromkeys([*intake.risk_flags, *flags]))
        if age and not intake.age_group:
            intake.age_group = age
        client_id = records.create_client(store, intake).id  # NeedsConfirmation: the intake's question
    else:
        assert draft.client_id is not None  # checked above: one or the other
        client_id = draft.client_id
        # An ordinary assignment: the client's open follow-ups go to the worker too.
        assignment.assign_clients(store, [client_id], worker.id)
    with store.write() as session:
        client = session.get(Client, client_id)
        assert client is not None  # created or checked above, in this same call
        if flags:
            merged = ",".join(dict.fromkeys([*(f for f in client.risk_flags.split(",") if f), *flags]))
            if merged != client.risk_flags:
                client.risk_flags = merged
        if age and client.age_group == domain.AgeGroup.UNKNOWN.value:
            client.age_group = age
        for older in session.exec(
            select(PlannedNotification).where(
                PlannedNotification.client_id == client_id,
                PlannedNotification.status == "planned",
                col(PlannedNotification.deleted_at).is_(None),
            )
        ):
            older.status = domain.PlanStatus.CANCELLED.value
        assert draft.plan.planned_on is not None  # _check_plan refuses a plan without a day
        plan = PlannedNotification(
            client_id=client_id,
            identified_on=today,
            planned_on=draft.plan.planned_on,
            planned_time=time_text,
            setting=setting,
            team_roles=",".join(roles),
            worker_id=worker.id,
            created_by=store.worker_id,
        )
        session.add(plan)
        candidate = ReviewCandidate(
            review_id=draft.review_id,
            incident_id=draft.incident_id,
            client_id=client_id,
            new_client=new_client,
            age_group=age or client.age_group,
            risk_flags=",".join(flags),
            identified_on=today,
            plan_id=plan.id,
        )
        session.add(candidate)
        pseudonym = client.pseudonym
    return CandidateResult(candidate, plan, client_id, pseudonym, worker.display_name, new_client)


def cancel_plan(store: Store, plan_id: str) -> PlannedNotification:
    """Call off a planned notification (it leaves the worker's caseload top at the next bundle)."""
    require_coordinator(store)
    with store.write() as session:
        plan = session.get(PlannedNotification, plan_id)
        if plan is None or plan.deleted_at is not None:
            raise NotFound(f"no planned notification with id {plan_id}")
        if plan.status != domain.PlanStatus.CANCELLED.value:
            plan.status = domain.PlanStatus.CANCELLED.value
    return plan


# --- reading --------------------------------------------------------------------------------------

# A plan still waiting: planned, live, and no live attempt for its client since identification.
OPEN_PLAN_SQL = """
    p.deleted_at IS NULL AND p.status = 'planned'
    AND NOT EXISTS (SELECT 1 FROM notification_attempt n
                    WHERE n.client_id = p.client_id AND n.deleted_at IS NULL AND n.attempted_on >= p.identified_on)
"""


@dataclass(frozen=True)
class PlanView:
    id: str
    client_id: str
    pseudonym: str
    planned_on: date
    planned_time: str | None
    setting: str
    team_roles: tuple[str, ...]
    worker_id: str | None
    worker_name: str
    identified_on: date
    state: str  # planned | attempted | cancelled
    # Who serves the client now: the plan travels with its client, so after a reassignment or a
    # handover it is this worker's to carry out, whoever the review chose (`worker_name`).
    serving_name: str = ""

    @property
    def when(self) -> str:
        return self.planned_on.isoformat() + (f" {self.planned_time}" if self.planned_time else "")

    @property
    def summary(self) -> str:
        """'2026-11-27 14:00 · home · peer support worker, police officer' (no names)."""
        roles = ", ".join(domain.TeamRole(r).label for r in self.team_roles)
        return f"{self.when} · {domain.NotificationSetting(self.setting).label} · {roles}"


_PLAN_COLUMNS = """p.id, p.client_id, c.pseudonym, p.planned_on, p.planned_time, p.setting, p.team_roles,
    p.worker_id, COALESCE(w.display_name, ''), p.identified_on, p.status,
    EXISTS (SELECT 1 FROM notification_attempt n WHERE n.client_id = p.client_id AND n.deleted_at IS NULL
            AND n.attempted_on >= p.identified_on) AS attempted,
    COALESCE((SELECT cw.display_name FROM worker cw WHERE cw.id = c.assigned_worker_id), '') AS serving"""


def _plan_view(r: Any) -> PlanView:
    state = "cancelled" if r[10] == "cancelled" else ("attempted" if r[11] else "planned")
    return PlanView(
        r[0],
        r[1],
        r[2],
        date.fromisoformat(str(r[3])[:10]),
        r[4],
        r[5],
        tuple(x for x in (r[6] or "").split(",") if x),
        r[7],
        r[8],
        date.fromisoformat(str(r[9])[:10]),
        state,
        r[12] or "",
    )


def open_plans(store: Store, *, worker_id: str | None = "mine") -> list[PlanView]:
    """Planned notifications not attempted yet and not called off, soonest first, of the clients
    assigned to `worker_id` ("mine": this device's worker; None: everyone's)."""
    sql = (
        f"SELECT {_PLAN_COLUMNS} FROM planned_notification p JOIN client c ON c.id = p.client_id "
        f"LEFT JOIN worker w ON w.id = p.worker_id WHERE c.deleted_at IS NULL AND {OPEN_PLAN_SQL}"
    )
    params = {}
    if worker_id is not None:
        sql += " AND c.assigned_worker_id = :worker"
        params["worker"] = store.worker_id if worker_id == "mine" else worker_id
    sql += " ORDER BY p.planned_on, COALESCE(p.planned_time, '99:99'), c.pseudonym"
    with store.read() as session:
        return [_plan_view(r) for r in session.execute(text(sql), params)]


@dataclass(frozen=True)
class CandidateView:
    id: str
    incident_id: str | None
    client_id: str
    pseudonym: str
    name: str
    new_client: bool
    age_group: str
    risk_flags: tuple[str, ...]
    plan: PlanView | None


@dataclass(frozen=True)
class ReviewView:
    review: Review
    held_by_name: str
    incidents: tuple[ReviewIncident, ...]
    candidates: tuple[CandidateView, ...]


def review_view(store: Store, review_id: str) -> ReviewView:
    """A review with its incidents (in day order) and candidates (as entered), each with its plan."""
    with store.read() as session:
        review = _review(session, review_id)
        held_by = session.get(Worker, review.held_by) if review.held_by else None
        incidents = tuple(
            session.exec(
                select(ReviewIncident)
                .where(ReviewIncident.review_id == review_id, col(ReviewIncident.deleted_at).is_(None))
                .order_by(col(ReviewIncident.occurred_on), col(ReviewIncident.id))
            )
        )
        rows = session.execute(
            text(
                "SELECT k.id, k.incident_id, k.client_id, c.pseudonym, i.first_name, i.last_name, i.aka, k.new_client, "
                "k.age_group, k.risk_flags, k.plan_id FROM review_candidate k JOIN client c ON c.id = k.client_id "
                "LEFT JOIN client_identity i ON i.client_id = k.client_id "
                "WHERE k.review_id = :r AND k.deleted_at IS NULL AND c.deleted_at IS NULL ORDER BY k.id"
            ),
            {"r": review_id},
        ).all()
        plan_ids = [r[10] for r in rows if r[10]]
        plans = {}
        if plan_ids:
            marks = ", ".join(f":p{n}" for n in range(len(plan_ids)))
            for r in session.execute(
                text(
                    f"SELECT {_PLAN_COLUMNS} FROM planned_notification p JOIN client c ON c.id = p.client_id "
                    f"LEFT JOIN worker w ON w.id = p.worker_id WHERE p.id IN ({marks}) AND p.deleted_at IS NULL"
                ),
                {f"p{n}": v for n, v in enumerate(plan_ids)},
            ):
                plans[r[0]] = _plan_view(r)
    from vipterm.services.caseload import display_name

    candidates = tuple(
        CandidateView(
            r[0],
            r[1],
            r[2],
            r[3],
            display_name(r[4] or "", r[5] or "", r[6] or "") or r[3],
            bool(r[7]),
            r[8],
            tuple(f for f in (r[9] or "").split(",") if f),
            plans.get(r[10]),
        )
        for r in rows
    )
    return ReviewView(review, held_by.display_name if held_by else "", incidents, candidates)


def reviews(store: Store, limit: int = 12) -> list[Review]:
    """The latest reviews, newest week first."""
    with store.read() as session:
        return list(
            session.exec(
                select(Review).where(col(Review.deleted_at).is_(None)).order_by(col(Review.week_of).desc()).limit(limit)
            )
        )


def active_workers(store: Store) -> list[WorkerChoice]:
    """The peer support workers who can follow up (active), with their open clients, by name."""
    return assignment.assignable_workers(store)
