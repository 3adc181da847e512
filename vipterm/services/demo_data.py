"""Synthetic program data: a deterministic generator for demos, tests and benchmarks.

Everything comes from one seeded `random.Random`, including the record ids (UUIDv7 whose time
part is the record's own date), so a seed and an end date always give the same data. Names are
drawn from short lists of common first and last names combined at random; phone numbers use the
fictional 555-01xx range. No real person's data.

The story it tells follows the program as the city describes it: people identified from
shooting reviews, crime data, hospitals and the community since April 2020; custom notification
attempts (some refused, not found, in custody); roughly weekly contacts with gaps for those who
engage; intake and 90-day assessments; referrals that complete or stall; a few re-arrests and
re-victimizations; follow-ups due around today.

Rows are bulk-inserted. By default they are the baseline of the database (not captured, as if
already synchronised); `capture=True` records every field as a pending change instead, which is
what the sync benchmarks need.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlmodel import SQLModel

from vipterm import domain
from vipterm.domain import (
    AreaCommand,
    ContactMode,
    ContactOutcome,
    ContactPurpose,
    NeedDomain,
    NotificationOutcome,
    ReferralStatus,
    ServiceCategory,
)
from vipterm.progress import NO_PROGRESS, Progress, ProgressTask
from vipterm.services.database import Store, create_store
from vipterm.store.models import (
    PRIMARY_KEY,
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
    table_of,
)
from vipterm.sync.capture import Capture, _db_value, record_changes
from vipterm.timekeeping import DEFAULT_TIME_ZONE, ProgramClock

# The demo program is Albuquerque's: its days and months are cut in America/Denver.
DEMO_CLOCK = ProgramClock(DEFAULT_TIME_ZONE)

T = TypeVar("T")
# When a field event of a given day happened: a random time of field work, program time, stored UTC.
AtTime = Callable[[date], datetime]

PROGRAM_START = date(2020, 4, 1)

FIRST_NAMES = (
    "Adrian Alejandro Andre Angel Anthony Antonio Brandon Carlos Christian Daniel David Diego Dominic "
    "Eduardo Elijah Emilio Eric Gabriel Isaiah Isaac Jacob Jaden Javier Jesse Jonathan Jordan Jose "
    "Joshua Juan Julian Justin Kevin Kyle Luis Marcus Mario Matthew Miguel Nathan Nicholas Oscar "
    "Pablo Rafael Ricardo Robert Ruben Samuel Santiago Sergio Tyler Victor Xavier Zachary "
    "Alicia Amber Ana Andrea Angelica Brianna Carmen Crystal Daniela Destiny Elena Gabriela Isabel "
    "Jasmine Jessica Karina Leticia Maria Monica Natalie Priscilla Rosa Sofia Tiana Valerie Yesenia"
).split()
LAST_NAMES = (
    "Aguilar Alvarez Apodaca Archuleta Baca Benavidez Begay Chavez Cordova Duran Espinoza Gallegos "
    "Garcia Gonzales Gurule Herrera Jaramillo Lopez Lovato Lucero Maestas Marquez Martinez Montoya "
    "Lee Nakai Ortiz Padilla Romero Roybal Salazar Sanchez Sandoval Sena Serna Silva Tafoya Torres "
    "Trujillo Tsosie Valdez Vigil Yazzie Zamora Brown Davis Jackson Johnson Miller Smith Thomas Williams"
).split()
AKAS = "Flaco Chuy Lil Mo Smiley Junior Guero Nene Tiny Boo Sleepy Shorty Kiki Pelon Dre Flash".split()
PROVIDER_NAMES = {
    ServiceCategory.SHELTER: ("Westside Emergency Shelter", "Family Promise House", "Gateway Center"),
    ServiceCategory.RENTAL_ASSISTANCE: ("City Rental Relief Office", "Tenant Support Partnership"),
    ServiceCategory.FOOD: ("Roadrunner Community Pantry", "Southeast Food Box Program", "Storehouse Pantry"),
    ServiceCategory.BENEFITS: ("County Benefits Navigators",),
    ServiceCategory.JOB_TRAINING: ("Workforce Connection Center", "Trades Pre-Apprenticeship", "Youth Build Program"),
    ServiceCategory.EDUCATION: ("Adult GED Program", "Community College Bridge"),
    ServiceCategory.ID_DOCUMENTS: ("ID Recovery Clinic",),
    ServiceCategory.TRANSPORTATION: ("Transit Pass Program",),
    ServiceCategory.MEDICAL: ("Trauma Recovery Clinic", "Community Health Center"),
    ServiceCategory.MENTAL_HEALTH: (
        "Behavioral Health Crisis Team",
        "Trauma Counseling Collective",
        "Peer Recovery Circle",
    ),
    ServiceCategory.SUBSTANCE_USE: ("Outpatient Recovery Services", "Harm Reduction Outreach"),
    ServiceCategory.LEGAL: ("Legal Aid Society", "Record Expungement Clinic"),
    ServiceCategory.FAMILY: ("Family Resource Center", "Childcare Assistance Office"),
    ServiceCategory.RELOCATION: ("Victim Relocation Fund",),
}
STAFF_NAMES = (
    "Rosa Medina",
    "Angel Trujillo",
    "Denise Archuleta",
    "Marcus Lovato",
    "Teresa Nakai",
    "Jerome Baca",
    "Lorena Vigil",
    "Dwayne Yazzie",
    "Patricia Sena",
    "Ramon Duran",
    "Celeste Tafoya",
    "Hector Padilla",
)

_AREA_WEIGHTS = [
    (AreaCommand.SOUTHEAST, 24),
    (AreaCommand.NORTHEAST, 12),
    (AreaCommand.NORTHWEST, 16),
    (AreaCommand.FOOTHILLS, 8),
    (AreaCommand.SOUTHWEST, 14),
    (AreaCommand.VALLEY, 14),
    (AreaCommand.NA, 12),
]
_SOURCE_WEIGHTS = [
    ("shooting_review", 45),
    ("crime_data", 25),
    ("hospital", 15),
    ("community", 10),
    ("self", 3),
    ("other", 2),
]
_MODE_WEIGHTS = [
    (ContactMode.PHONE, 40),
    (ContactMode.IN_PERSON, 35),
    (ContactMode.TEXT, 20),
    (ContactMode.VIA_FAMILY, 5),
]


def _pick(rng: random.Random, weighted: Sequence[tuple[T, int]]) -> T:
    values = [value for value, _weight in weighted]
    weights = [weight for _value, weight in weighted]
    return rng.choices(values, weights)[0]


def _uuid7(rng: random.Random, when: datetime | date) -> str:
    """A UUIDv7 whose time part is `when` and whose random part comes from `rng`."""
    if not isinstance(when, datetime):
        when = datetime.combine(when, time(12))
    ms = int(when.timestamp() * 1000) & ((1 << 48) - 1)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


@dataclass
class DemoSize:
    workers: int = 8
    clients: int = 900
    # Contacts per engaged client-week; 1.0 gives roughly weekly contact while engaged.
    contact_rate: float = 1.0


class _Rows:
    """Rows per table in insertion order (parents before children)."""

    ORDER = (
        Worker,
        Provider,
        Client,
        ClientIdentity,
        NotificationAttempt,
        Contact,
        Assessment,
        AssessmentItem,
        Referral,
        ReferralEvent,
        Outcome,
        FollowUp,
    )

    def __init__(self) -> None:
        self.by_model: dict[type[SQLModel], list[dict[str, Any]]] = {model: [] for model in self.ORDER}

    def add(self, model: type[SQLModel], **values: Any) -> dict[str, Any]:
        self.by_model[model].append(values)
        return values


def generate(
    path: Path,
    passphrase: str,
    *,
    seed: int = 7,
    size: DemoSize = DemoSize(),
    until: date | None = None,
    capture: bool = False,
    force: bool = False,
    role: domain.Role = domain.Role.COORDINATOR,
    progress: Progress = NO_PROGRESS,
) -> dict[str, int]:
    """Create a database at `path` filled with synthetic data; returns row counts per table."""
    rng = random.Random(seed)
    until = until or DEMO_CLOCK.today()
    rows = _Rows()
    start_ts = datetime.combine(PROGRAM_START, time(9))

    worker_ids: list[str] = []
    for n in range(size.workers):
        wid = _uuid7(rng, start_ts)
        name = STAFF_NAMES[n % len(STAFF_NAMES)] + ("" if n < len(STAFF_NAMES) else f" {n // len(STAFF_NAMES) + 1}")
        worker_ids.append(wid)
        if n > 0:  # worker 0 is this device's own worker, created with the store
            rows.add(
                Worker, id=wid, display_name=name, role="worker", active=True, created_at=start_ts, deleted_at=None
            )

    providers: dict[ServiceCategory, list[str]] = {}
    for category, names in PROVIDER_NAMES.items():
        for name in names:
            pid = _uuid7(rng, start_ts)
            providers.setdefault(category, []).append(pid)
            rows.add(
                Provider,
                id=pid,
                name=name,
                category=category.value,
                phone=f"505-555-01{rng.randrange(100):02d}",
                address="",
                note="",
                active=True,
                deleted_at=None,
            )

    total_days = max((until - PROGRAM_START).days, 1)
    with progress.task("making clients' histories", total=size.clients) as task:
        for n in range(size.clients):
            # The program grows: later years identify more people (sqrt skews toward recent days).
            day = PROGRAM_START + timedelta(days=int(total_days * (rng.random() ** 0.8)))
            _client_story(rng, rows, day, until, worker_ids, providers, size)
            if n % 500 == 499:
                task.advance(500)

    store = create_store(
        Path(path),
        passphrase,
        worker_name=STAFF_NAMES[0],
        role=role,
        force=force,
        device_id=_uuid7(rng, start_ts),
        worker_id=worker_ids[0],
        program_id=_uuid7(rng, start_ts),
        time_zone=DEMO_CLOCK.time_zone,
    )
    try:
        with store.write(capture=False) as session:  # the device's own worker: same for every run
            own_worker = session.get(Worker, worker_ids[0])
            assert own_worker is not None  # create_store made it just above, with this id
            own_worker.created_at = start_ts
        with progress.task("writing the database", total=sum(len(r) for r in rows.by_model.values())) as task:
            _bulk_insert(store, rows, capture, task)
        store.database.vacuum()  # bulk loads leave half-full pages; the example file is committed
        counts = {table_of(model).name: len(r) for model, r in rows.by_model.items()}
        counts["worker"] += 1
    finally:
        store.close()
    return counts


def _bulk_insert(store: Store, rows: _Rows, capture: bool, task: ProgressTask) -> None:
    with store.write(capture=False) as session:
        conn = session.connection()
        dialect = conn.dialect
        for model in _Rows.ORDER:
            batch = rows.by_model[model]
            if not batch:
                continue
            table = table_of(model)
            for i in range(0, len(batch), 5000):
                conn.execute(insert(table), batch[i : i + 5000])
                task.advance(len(batch[i : i + 5000]))
            if capture:
                pk = PRIMARY_KEY[table.name]
                columns = [c for c in table.columns if c.key != pk]
                changes = [
                    (table.name, row[pk], c.key, _db_value(dialect, table.name, c, row.get(c.key)))
                    for row in batch
                    for c in columns
                ]
                for i in range(0, len(changes), 50_000):
                    record_changes(session, Capture(store.device_id), changes[i : i + 50_000])


def _client_story(
    rng: random.Random,
    rows: _Rows,
    identified: date,
    until: date,
    worker_ids: list[str],
    providers: dict[ServiceCategory, list[str]],
    size: DemoSize,
) -> None:
    # Field work happens between 9:00 and 20:00 in the program's zone; times are stored UTC.
    def at(d: date, hour: int | None = None) -> datetime:
        return DEMO_CLOCK.to_utc(
            datetime.combine(d, time(hour if hour is not None else rng.randrange(9, 20), rng.randrange(60)))
        )

    cid = _uuid7(rng, identified)
    worker = worker_ids[rng.randrange(len(worker_ids))]
    area = _pick(rng, _AREA_WEIGHTS)
    # Victims aged 18–29 are the program's focus; some are younger or older, a few unknown.
    age = _pick(
        rng, [(16, 6), (17, 6), (rng.randint(18, 24), 45), (rng.randint(25, 29), 28), (rng.randint(30, 45), 15)]
    )
    dob = None if rng.random() < 0.05 else identified - timedelta(days=int(age * 365.25) + rng.randrange(365))
    flags = [f.value for f in domain.RiskFlag if rng.random() < 0.18]
    status = domain.ClientStatus.IDENTIFIED
    client = rows.add(
        Client,
        id=cid,
        pseudonym="VIP-" + cid.replace("-", "")[-6:].upper(),
        age_group=domain.age_group_for(dob, identified).value,
        area_command=area.value,
        referral_source=_pick(rng, _SOURCE_WEIGHTS),
        status=status.value,
        risk_flags=",".join(flags),
        assigned_worker_id=worker,
        identified_on=identified,
        created_at=at(identified),
        deleted_at=None,
    )
    rows.add(
        ClientIdentity,
        client_id=cid,
        first_name=rng.choice(FIRST_NAMES),
        last_name=rng.choice(LAST_NAMES),
        aka=rng.choice(AKAS) if rng.random() < 0.3 else "",
        date_of_birth=dob,
        phone=f"505-555-01{rng.randrange(100):02d}" if rng.random() < 0.7 else "",
        deleted_at=None,
    )

    # Custom notification attempts: a first try within three weeks, retries when it did not land.
    attempt_day = identified + timedelta(days=rng.randrange(1, 21))
    notified_on: date | None = None
    for attempt in range(3):
        if attempt_day > until:
            break
        outcome = _pick(
            rng,
            [
                (NotificationOutcome.DELIVERED, 66),
                (NotificationOutcome.NOT_FOUND, 14),
                (NotificationOutcome.REFUSED, 8),
                (NotificationOutcome.IN_CUSTODY, 7),
                (NotificationOutcome.DEFERRED, 5),
            ],
        )
        setting = (
            "hospital"
            if client["referral_source"] == "hospital" and attempt == 0
            else (
                "jail"
                if outcome is NotificationOutcome.IN_CUSTODY
                else rng.choice(["home", "home", "community", "office"])
            )
        )
        team = [{"name": "Peer support", "role": "peer_support"}, {"name": "Officer", "role": "police"}]
        if rng.random() < 0.4:
            team.append({"name": "Community leader", "role": "community_leader"})
        rows.add(
            NotificationAttempt,
            id=_uuid7(rng, attempt_day),
            client_id=cid,
            attempted_on=attempt_day,
            setting=setting,
            area_command=area.value,
            team=json.dumps(team),
            messages="community_cares,legal_consequences,offer_of_help"
            if outcome is NotificationOutcome.DELIVERED
            else "",
            outcome=outcome.value,
            note="",
            recorded_by=worker,
            created_at=at(attempt_day),
            deleted_at=None,
        )
        status = domain.ClientStatus.NOTIFICATION_ATTEMPTED
        if outcome is NotificationOutcome.DELIVERED:
            notified_on = attempt_day
            status = domain.ClientStatus.NOTIFIED
            break
        if outcome is NotificationOutcome.REFUSED or rng.random() < 0.35:
            break
        attempt_day += timedelta(days=rng.randrange(5, 20))

    if notified_on is not None and rng.random() < 0.62:
        status = _engagement(rng, rows, cid, worker, area, notified_on, until, providers, size, at)
    elif notified_on is not None and rng.random() < 0.4 and notified_on + timedelta(days=3) <= until:
        # Some notified people take a call or two and then go quiet.
        for k in range(rng.randint(1, 2)):
            day = notified_on + timedelta(days=3 + 7 * k)
            if day > until:
                break
            rows.add(
                Contact,
                id=_uuid7(rng, day),
                client_id=cid,
                worker_id=worker,
                occurred_at=at(day),
                mode=ContactMode.PHONE.value,
                purpose=ContactPurpose.CHECK_IN.value,
                outcome=rng.choice([ContactOutcome.NO_ANSWER, ContactOutcome.REACHED]).value,
                duration_min=rng.choice([5, 10]),
                area_command=area.value,
                note="",
                created_at=at(day),
                deleted_at=None,
            )

    if notified_on is not None:
        # A few re-arrests and re-victimizations after notification (the city reports ~3% reoffending).
        for kind, p in (
            (domain.OutcomeKind.RE_ARREST, 0.035),
            (domain.OutcomeKind.RE_VICTIMIZATION, 0.012),
            (domain.OutcomeKind.INCARCERATION, 0.01),
        ):
            if rng.random() < p:
                day = notified_on + timedelta(days=rng.randrange(20, 400))
                if day <= until:
                    rows.add(
                        Outcome,
                        id=_uuid7(rng, day),
                        client_id=cid,
                        kind=kind.value,
                        occurred_on=day,
                        source=domain.OutcomeSource.POLICE_RECORD.value,
                        note="",
                        recorded_by=worker,
                        created_at=at(day),
                        deleted_at=None,
                    )
    # People the program could not reach or engage for months drop out of the active caseload.
    quiet_since = notified_on or identified
    if (
        status
        in (domain.ClientStatus.IDENTIFIED, domain.ClientStatus.NOTIFICATION_ATTEMPTED, domain.ClientStatus.NOTIFIED)
        and (until - quiet_since).days > 120
    ):
        status = domain.ClientStatus.INACTIVE
    client["status"] = status.value


def _engagement(
    rng: random.Random,
    rows: _Rows,
    cid: str,
    worker: str,
    area: AreaCommand,
    notified_on: date,
    until: date,
    providers: dict[ServiceCategory, list[str]],
    size: DemoSize,
    at: AtTime,
) -> domain.ClientStatus:
    """Contacts, assessments, referrals and outcomes of someone who engages after notification."""
    weeks = rng.randint(8, 120)
    end = min(notified_on + timedelta(weeks=weeks), until)
    still_active = end == until
    first = notified_on + timedelta(days=rng.randrange(1, 10))
    day = first
    last_reached: date | None = None
    while day <= end:
        if rng.random() < 0.85 * size.contact_rate or size.contact_rate > 1:
            for _ in range(max(1, int(size.contact_rate + rng.random() - 0.5))):
                outcome = _pick(
                    rng,
                    [
                        (ContactOutcome.REACHED, 74),
                        (ContactOutcome.NO_ANSWER, 22),
                        (ContactOutcome.REFUSED, 3),
                        (ContactOutcome.UNSAFE, 1),
                    ],
                )
                mode = _pick(rng, _MODE_WEIGHTS)
                rows.add(
                    Contact,
                    id=_uuid7(rng, day),
                    client_id=cid,
                    worker_id=worker,
                    occurred_at=at(day),
                    mode=mode.value,
                    purpose=rng.choice(list(ContactPurpose)).value,
                    outcome=outcome.value,
                    duration_min=rng.choice([5, 10, 15, 30, 45, 60]) if outcome is ContactOutcome.REACHED else None,
                    area_command=area.value,
                    note="",
                    created_at=at(day),
                    deleted_at=None,
                )
                if outcome is ContactOutcome.REACHED:
                    last_reached = day
        # Roughly weekly, with the gaps of real life: a missed week, a month in custody.
        day += timedelta(days=rng.choice([5, 6, 7, 7, 7, 8, 10, 14]) + (21 if rng.random() < 0.04 else 0))

    status = domain.ClientStatus.ACTIVE if still_active else domain.ClientStatus.INACTIVE
    if last_reached is None:
        return domain.ClientStatus.NOTIFIED

    # Intake assessment, and a 90-day one for those still around.
    needs = rng.sample(list(NeedDomain), rng.randint(2, 6))
    for kind, offset in ((domain.AssessmentKind.INTAKE, 7), (domain.AssessmentKind.NINETY_DAY, 90)):
        aday = first + timedelta(days=offset)
        if aday > end:
            break
        aid = _uuid7(rng, aday)
        rows.add(
            Assessment,
            id=aid,
            client_id=cid,
            kind=kind.value,
            assessed_on=aday,
            assessed_by=worker,
            note="",
            created_at=at(aday),
            deleted_at=None,
        )
        for need in NeedDomain:
            level = rng.randint(2, 3) if need in needs else rng.choice([0, 0, 0, 1])
            if kind is domain.AssessmentKind.NINETY_DAY and need in needs:
                level = max(0, level - rng.randint(0, 2))
            if level or need in needs[:2]:  # domains with no need and no priority are not stored
                rows.add(
                    AssessmentItem,
                    id=_uuid7(rng, aday),
                    assessment_id=aid,
                    domain=need.value,
                    level=level,
                    client_priority=need in needs[:2],
                    deleted_at=None,
                )

    engaged = False
    for need in needs[: rng.randint(1, min(4, len(needs)))]:
        rday = first + timedelta(days=rng.randrange(7, 30))
        if rday > until:
            continue
        categories = domain.CATEGORIES_FOR_NEED[need]
        provider = rng.choice(providers[rng.choice(categories)])
        rid = _uuid7(rng, rday)
        path = [ReferralStatus.DRAFT, ReferralStatus.SENT]
        roll = rng.random()
        if roll < 0.10:
            path.append(ReferralStatus.REJECTED)
        elif roll < 0.20:
            pass  # stalled at "sent": the stale-referral nudge
        else:
            path += [ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS]
            roll = rng.random()
            if roll < 0.6:
                path.append(ReferralStatus.COMPLETED)
            elif roll < 0.75:
                path.append(ReferralStatus.FAILED)
            elif roll < 0.85:
                path.append(ReferralStatus.ON_HOLD)
        when = at(rday)
        events: list[tuple[ReferralStatus, datetime]] = []
        first_service: date | None = None
        for k, st in enumerate(path):
            if k > 1:
                when = when + timedelta(days=rng.randrange(2, 20), hours=rng.randrange(8))
            if DEMO_CLOCK.local_day(when) > until:
                break
            events.append((st, when))
            if st is ReferralStatus.IN_PROGRESS:
                first_service = DEMO_CLOCK.local_day(when)
        for st, when_ in events:
            rows.add(
                ReferralEvent,
                id=_uuid7(rng, when_),
                referral_id=rid,
                status=st.value,
                at=when_,
                by_worker=worker,
                reason="no openings" if st in (ReferralStatus.REJECTED, ReferralStatus.FAILED) else "",
                deleted_at=None,
            )
        final, final_at = events[-1]
        rows.by_model[Referral].append(
            dict(
                id=rid,
                client_id=cid,
                need_domain=need.value,
                provider_id=provider,
                status=final.value,
                status_changed_at=final_at,
                first_service_on=first_service,
                feedback="client attended" if final is ReferralStatus.COMPLETED else "",
                created_by=worker,
                created_at=at(rday),
                deleted_at=None,
            )
        )
        engaged |= final in domain.ENGAGED_REFERRAL_STATUSES or ReferralStatus.ACCEPTED in [e[0] for e in events]
        if final is ReferralStatus.COMPLETED and need in (
            NeedDomain.EMPLOYMENT,
            NeedDomain.HOUSING,
            NeedDomain.EDUCATION,
        ):
            outcome_kind = {
                NeedDomain.EMPLOYMENT: "job",
                NeedDomain.HOUSING: "housing",
                NeedDomain.EDUCATION: "school",
            }[need]
            rows.add(
                Outcome,
                id=_uuid7(rng, final_at),
                client_id=cid,
                kind=outcome_kind,
                occurred_on=DEMO_CLOCK.local_day(final_at),
                source=domain.OutcomeSource.SELF_REPORT.value,
                note="",
                recorded_by=worker,
                created_at=final_at,
                deleted_at=None,
            )

    if still_active:
        # Follow-ups due around today: some overdue, some today, most in the coming week.
        due = until + timedelta(days=rng.choice([-9, -4, -2, -1, 0, 0, 1, 2, 3, 5, 6, 7]))
        rows.add(
            FollowUp,
            id=_uuid7(rng, until),
            client_id=cid,
            owner_id=worker,
            due_on=due,
            kind="contact",
            note="",
            done_at=None,
            done_by=None,
            created_at=at(until - timedelta(days=7)),
            deleted_at=None,
        )
    if engaged and status is domain.ClientStatus.ACTIVE:
        return domain.ClientStatus.ACTIVE
    if engaged:
        return domain.ClientStatus.INACTIVE if rng.random() < 0.7 else domain.ClientStatus.CLOSED
    return domain.ClientStatus.NOTIFIED if still_active else domain.ClientStatus.INACTIVE
