"""Read-side use cases: the caseload (who is due, who is overdue) and a client's whole file.

The caseload is one SQL statement with correlated sub-queries on indexed columns, so it stays
fast at a coordinator's 20k clients; rows come back as small frozen dataclasses that the TUI
filters in Python.
"""

from __future__ import annotations

import json
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from vipterm import domain
from vipterm.domain import OPEN_REFERRAL_STATUSES, STALE_REFERRAL_DAYS
from vipterm.errors import NotFound
from vipterm.services.corrections import any_live_correction, corrections_of, live_sql
from vipterm.services.database import Store
from vipterm.services.review import OPEN_PLAN_SQL
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

OVERDUE, DUE_TODAY, UPCOMING = 0, 1, 2
URGENCY_LABEL = {OVERDUE: "overdue", DUE_TODAY: "due today", UPCOMING: ""}


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def display_name(first: str, last: str, aka: str) -> str:
    name = " ".join(p for p in (first, last) if p)
    if aka:
        return f"{name} “{aka}”" if name else f"“{aka}”"
    return name


@dataclass(frozen=True)
class CaseloadRow:
    client_id: str
    pseudonym: str
    name: str
    age_group: str
    area_command: str
    status: str
    risk_flags: tuple[str, ...]
    assigned_worker_id: str | None
    last_contact: datetime | None
    next_due: date | None
    open_referrals: int
    stale_referrals: int
    urgency: int
    search_text: str = field(repr=False, compare=False, default="")
    # A custom notification the weekly review planned and nobody has attempted yet: its day (the
    # row leads the caseload until an attempt is recorded) and what it is (time, setting, team roles).
    planned_on: date | None = None
    planned: str = ""
    worker_name: str = ""  # the assigned worker's name; "" when unassigned

    @property
    def unassigned(self) -> bool:
        return self.assigned_worker_id is None

    @property
    def initials(self) -> str:
        """The name as the privacy mask shows it: initials, the alias hidden."""
        return domain.masked_name(self.name)


_OPEN = ", ".join(f"'{s.value}'" for s in OPEN_REFERRAL_STATUSES)
_LIVE_CONTACT = live_sql("contact", "k")
_CASELOAD_SQL = f"""
SELECT c.id, c.pseudonym, i.first_name, i.last_name, i.aka, c.age_group, c.area_command, c.status,
       c.risk_flags, c.assigned_worker_id,
       (SELECT p.planned_on || '|' || COALESCE(p.planned_time, '') || '|' || p.setting || '|' || p.team_roles
          FROM planned_notification p
         WHERE p.client_id = c.id AND {OPEN_PLAN_SQL}
         ORDER BY p.planned_on LIMIT 1) AS planned,
       (SELECT max(k.occurred_at) FROM contact k
         WHERE k.client_id = c.id AND k.deleted_at IS NULL AND {_LIVE_CONTACT}) AS last_contact,
       (SELECT min(f.due_on) FROM follow_up f
         WHERE f.client_id = c.id AND f.done_at IS NULL AND f.deleted_at IS NULL) AS next_due,
       (SELECT count(*) FROM referral r
         WHERE r.client_id = c.id AND r.deleted_at IS NULL AND r.status IN ({_OPEN})) AS open_referrals,
       (SELECT count(*) FROM referral r
         WHERE r.client_id = c.id AND r.deleted_at IS NULL AND r.status IN ({_OPEN})
           AND r.status_changed_at < :stale_before) AS stale_referrals,
       (SELECT w.display_name FROM worker w WHERE w.id = c.assigned_worker_id) AS worker_name
FROM client c LEFT JOIN client_identity i ON i.client_id = c.id
WHERE c.deleted_at IS NULL
"""


def caseload(
    store: Store,
    *,
    worker_id: str | None = "mine",
    include_closed: bool = False,
    today: date | None = None,
    now: datetime | None = None,
    client_ids: Iterable[str] | None = None,
) -> list[CaseloadRow]:
    """Clients ordered by urgency: overdue follow-ups first, then due today, then the rest.

    `worker_id="mine"` means this device's worker (on the coordinator: its own and the unassigned
    clients, which wait for it); None means every client. Unassigned clients come first.
    Within a group: earliest due first, then longest since the last contact.
    `now` (default: the clock) is what "stale referral" is measured from; the app passes its own.
    `client_ids`, if given, limits the rows to those clients (a probe by primary key, same query and
    same rows as the full caseload would have for them): a client out of scope, closed or deleted
    is simply absent.
    """
    today = today or store.clock.today()
    now = now or store.clock.utcnow()
    sql = _CASELOAD_SQL
    params: dict[str, Any] = {"stale_before": (now - timedelta(days=STALE_REFERRAL_DAYS)).isoformat(sep=" ")}
    if worker_id == "mine" and store.role is domain.Role.COORDINATOR:
        sql += " AND (c.assigned_worker_id = :worker OR c.assigned_worker_id IS NULL)"
        params["worker"] = store.worker_id
    elif worker_id is not None:
        sql += " AND c.assigned_worker_id = :worker"
        params["worker"] = store.worker_id if worker_id == "mine" else worker_id
    if not include_closed:
        sql += " AND c.status NOT IN ('closed', 'inactive')"
    if client_ids is not None:
        ids = list(dict.fromkeys(client_ids))
        if not ids:
            return []
        sql += " AND c.id IN (" + ", ".join(f":id{n}" for n in range(len(ids))) + ")"
        params.update({f"id{n}": value for n, value in enumerate(ids)})
    with store.read() as session:
        if not any_live_correction(session):
            # Every contact counts: the last one is then read from the contact index alone.
            sql = sql.replace(_LIVE_CONTACT, "1")
        raw = session.execute(text(sql), params).all()
    # On the coordinator the filter also finds clients by their worker's name ("unassigned" too):
    # filter by a worker, mark, assign. A laptop's rows are all its own worker's.
    by_worker = store.role is domain.Role.COORDINATOR
    # Labels looked up once per value, not per row: this loop runs inside the unlock's budget.
    area_labels = {a.value: a.label for a in domain.AreaCommand}
    status_labels = {s.value: s.label for s in domain.ClientStatus}
    rows = []
    for (
        client_id,
        pseudonym,
        first_name,
        last_name,
        aka,
        age_group,
        area_command,
        status,
        risk_flags,
        assigned_worker_id,
        planned,
        last_contact,
        next_due_text,
        open_referrals,
        stale_referrals,
        worker_name,
    ) in raw:
        next_due = _date(next_due_text)
        if next_due is None:
            urgency = UPCOMING
        elif next_due < today:
            urgency = OVERDUE
        elif next_due == today:
            urgency = DUE_TODAY
        else:
            urgency = UPCOMING
        name = display_name(first_name or "", last_name or "", aka or "")
        area = area_labels.get(area_command) or domain.AreaCommand(area_command).label
        status_label = status_labels.get(status) or domain.ClientStatus(status).label
        rows.append(
            CaseloadRow(
                client_id=client_id,
                pseudonym=pseudonym,
                name=name,
                age_group=age_group,
                area_command=area_command,
                status=status,
                risk_flags=tuple(f for f in risk_flags.split(",") if f) if risk_flags else (),
                assigned_worker_id=assigned_worker_id,
                last_contact=_datetime(last_contact),
                next_due=next_due,
                open_referrals=open_referrals,
                stale_referrals=stale_referrals,
                urgency=urgency,
                **(_planned(planned) if planned else {}),
                search_text=domain.fold(
                    f"{name} {pseudonym} {client_id} {area} {status_label}"
                    + (f" {worker_name or 'unassigned'}" if by_worker else "")
                ),
                worker_name=worker_name or "",
            )
        )
    rows.sort(key=sort_key)
    return rows


def _planned(packed: str | None) -> dict[str, Any]:
    """A row's planned notification from the query's 'day|time|setting|roles' (see review.PlanView)."""
    if not packed:
        return {}
    day, time_text, setting, roles = packed.split("|", 3)
    labels = ", ".join(domain.TeamRole(r).label for r in roles.split(",") if r in domain.TeamRole._value2member_map_)
    when = day[:10] + (f" {time_text}" if time_text else "")
    setting_label = domain.NotificationSetting.label_of(setting)
    return {"planned_on": date.fromisoformat(day[:10]), "planned": f"{when} · {setting_label} · {labels}"}


def sort_key(row: CaseloadRow) -> tuple[Any, ...]:
    """The caseload's order: unassigned clients first (they wait for the coordinator), then
    urgency, then earliest due, then longest since the last contact."""
    # A planned notification not yet attempted leads, soonest first (the weekly review's plans).
    return (
        row.planned_on is None,
        row.planned_on or date.max,
        row.assigned_worker_id is not None,
        row.urgency,
        row.next_due or date.max,
        row.last_contact or datetime.min,
        row.pseudonym,
    )


def replace_rows(rows: list[CaseloadRow], client_ids: Iterable[str], fresh: list[CaseloadRow]) -> list[CaseloadRow]:
    """A new sorted list: `rows` (sorted by `sort_key`) without `client_ids`, plus `fresh` in place."""
    drop = set(client_ids)
    result = [row for row in rows if row.client_id not in drop] if drop else list(rows)
    for row in fresh:
        insort(result, row, key=sort_key)
    return result


# Urgency tokens of the filter: `!overdue` (or `!!`, the caseload's mark), `!today` (or `!`),
# `!due` (either) and `!later` (neither). A prefix is enough (`!o`), so the filter narrows as
# the token is typed.
URGENCY_TOKENS = {"overdue": {OVERDUE}, "today": {DUE_TODAY}, "due": {OVERDUE, DUE_TODAY}, "later": {UPCOMING}}


def _urgency_token(word: str) -> set[int] | None:
    """The urgencies a `!…` word selects; None when the word is not an urgency token."""
    if word == "!!":
        return {OVERDUE}
    if word == "!":
        return {DUE_TODAY}
    if not word.startswith("!") or word.startswith("!!"):
        return None
    prefix = word[1:]
    chosen: set[int] = set()
    for token, urgencies in URGENCY_TOKENS.items():
        if token.startswith(prefix):
            chosen |= urgencies
    return chosen  # empty for an unknown token: nothing matches, which the screen says


def filter_rows(rows: list[CaseloadRow], query: str) -> list[CaseloadRow]:
    """Every word of `query` must appear in the row's name, alias, id, area or status (on the
    coordinator, also the assigned worker's name, or "unassigned").

    Matching ignores case and accents both ways (`domain.fold`): `nunez` finds "Núñez" and
    `José` finds "Jose". Words starting with `!` select by urgency instead (`URGENCY_TOKENS`);
    several of them widen each other (`!overdue !today`), and plain words narrow as usual.
    """
    words = domain.fold(query).split()
    if not words:
        return rows
    urgencies: set[int] | None = None
    plain = []
    for word in words:
        selected = _urgency_token(word)
        if selected is None:
            plain.append(word)
        else:
            urgencies = selected if urgencies is None else urgencies | selected
    return [
        row
        for row in rows
        if (urgencies is None or row.urgency in urgencies) and all(w in row.search_text for w in plain)
    ]


class CaseloadIndex:
    """The loaded caseload rows, in order, with the filter answered from memory.

    Built once from a `caseload()` query; each key typed in the filter is `filter(query)`, which
    gives the same rows as `filter_rows` but narrows the previous answer when the new text only
    adds to it (typing on), and remembers recent answers (backspace gives one back at once).
    `replace` puts re-read rows in place (after a save) and forgets the answers.
    """

    MEMO = 64  # recent filter answers kept

    def __init__(self, rows: list[CaseloadRow]) -> None:
        self.rows = rows
        self._memo: dict[str, list[CaseloadRow]] = {}
        self._last: tuple[str, list[CaseloadRow]] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def filter(self, query: str) -> list[CaseloadRow]:
        folded = " ".join(domain.fold(query).split())
        if not folded:
            return self.rows
        hit = self._memo.get(folded)
        if hit is None:
            base = self.rows
            if self._last is not None and _narrows(self._last[0], folded):
                base = self._last[1]
            hit = filter_rows(base, folded)
            if len(self._memo) >= self.MEMO:
                self._memo.pop(next(iter(self._memo)))
            self._memo[folded] = hit
        self._last = (folded, hit)
        return hit

    def replace(self, client_ids: Iterable[str], fresh: list[CaseloadRow]) -> None:
        """These clients' rows as re-read (`fresh`; a client missing from it left the caseload)."""
        self.rows = replace_rows(self.rows, client_ids, fresh)
        self._memo.clear()
        self._last = None


def _narrows(old: str, new: str) -> bool:
    """True when every row matching the folded filter `new` also matches `old`, so `new` can be
    answered from `old`'s rows: `new` only lengthens the last word or adds words ("mar" → "mart",
    "mar t"). Urgency tokens never narrow: `!` (today) then `!!` (overdue) selects other rows."""
    return new.startswith(old) and "!" not in new


# --- the client file --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    kind: str  # notification | contact | assessment | referral | outcome | follow_up
    summary: str  # what happened, without the note (the privacy mask hides notes, not summaries)
    record_id: str
    note: str = ""  # the worker's own words, as written
    recorded_by: str = ""  # the worker who recorded it (display name)
    timed: bool = False  # `when` is a moment (naive UTC); otherwise a day (midnight of that date)
    # Everything else recorded, for the detail view: (label, value) in reading order. Free text
    # written by a worker (a referral event's reason) is in `texts`, which the privacy mask hides.
    fields: tuple[tuple[str, str], ...] = ()
    texts: tuple[tuple[str, str], ...] = ()

    # "superseded: REASON" or "voided: REASON" when a correction took this fact back (it stays
    # in the history, marked, and nothing counts it).
    corrected: str = ""
    # Provenance (sync/origin.py): the device it was recorded on ("this device", "coordinator",
    # "laptop 1a2b3c4d"; "" when not known: a record older than schema 8, or bulk-loaded),
    # that device's id, and the bundle that brought it here ("" when it was recorded here).
    device: str = ""
    device_id: str = ""
    bundle_id: str = ""
    received_at: datetime | None = None

    @property
    def line(self) -> str:
        """The summary with its note, on one line."""
        return f"{self.summary} — {self.note}" if self.note else self.summary


@dataclass(frozen=True)
class ReferralView:
    id: str
    need_domain: str
    provider_name: str
    status: str
    status_changed_at: datetime
    stale: bool
    first_service_on: date | None
    history: tuple[tuple[datetime, str, str], ...]  # (at, status, reason)


@dataclass(frozen=True)
class FollowUpView:
    id: str
    due_on: date
    kind: str
    note: str
    overdue: bool
    auto: bool = False  # scheduled by a contact or a notification (a newer one replaces it)
    due_time: str | None = None  # "HH:MM", program-local, when it has a time of day


@dataclass(frozen=True)
class ClientFile:
    client: Client
    identity: ClientIdentity | None
    name: str
    worker_name: str
    timeline: tuple[TimelineEntry, ...]
    referrals: tuple[ReferralView, ...]
    follow_ups: tuple[FollowUpView, ...]
    last_contact: datetime | None
    # Custom notifications the weekly review planned and nobody has attempted yet ("2026-11-24
    # 10:00 · home · peer support worker, police officer"), soonest first.
    planned: tuple[str, ...] = ()

    @property
    def next_follow_up(self) -> FollowUpView | None:
        return self.follow_ups[0] if self.follow_ups else None


def event_order(event: ReferralEvent) -> tuple[Any, ...]:
    """The order of a referral's events: as entered (`seq`), then time and id. Events without a
    `seq` (made by a vipterm before schema 4 and synced later) come after the numbered ones."""
    return (event.seq if event.seq is not None else 1 << 30, event.at, event.id)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def client_file(store: Store, client_id: str, *, today: date | None = None, now: datetime | None = None) -> ClientFile:
    """Everything about one client; `today`/`now` (default: the clock) decide overdue and stale."""
    now = now or store.clock.utcnow()
    today = today or store.clock.today()
    stale_before = now - timedelta(days=STALE_REFERRAL_DAYS)
    with store.read() as s:
        client = s.get(Client, client_id)
        if client is None or client.deleted_at is not None:
            raise NotFound(f"no client with id {client_id}")
        identity = s.get(ClientIdentity, client_id)
        worker = s.get(Worker, client.assigned_worker_id) if client.assigned_worker_id else None

        def alive(model: Any) -> Any:
            return col(model.deleted_at).is_(None)

        notes = s.exec(
            select(NotificationAttempt).where(NotificationAttempt.client_id == client_id, alive(NotificationAttempt))
        ).all()
        contacts = s.exec(select(Contact).where(Contact.client_id == client_id, alive(Contact))).all()
        assessments = s.exec(select(Assessment).where(Assessment.client_id == client_id, alive(Assessment))).all()
        items: dict[str, Any] = {}
        if assessments:
            for item in s.exec(
                select(AssessmentItem).where(col(AssessmentItem.assessment_id).in_([a.id for a in assessments]))
            ):
                items.setdefault(item.assessment_id, []).append(item)
        referrals = s.exec(select(Referral).where(Referral.client_id == client_id, alive(Referral))).all()
        providers = {p.id: p.name for p in s.exec(select(Provider))}
        events: dict[str, Any] = {}
        if referrals:
            for ev in s.exec(
                select(ReferralEvent).where(col(ReferralEvent.referral_id).in_([r.id for r in referrals]))
            ):
                events.setdefault(ev.referral_id, []).append(ev)
            for history in events.values():
                history.sort(key=event_order)  # as entered, not by a time that may be cut to the minute
        outcomes = s.exec(select(Outcome).where(Outcome.client_id == client_id, alive(Outcome))).all()
        corrections = corrections_of(s, client_id)
        open_plans = (
            s.execute(
                text(
                    "SELECT p.planned_on || '|' || COALESCE(p.planned_time, '') || '|' || p.setting || '|' || p.team_roles "
                    f"FROM planned_notification p WHERE p.client_id = :c AND {OPEN_PLAN_SQL} ORDER BY p.planned_on"
                ),
                {"c": client_id},
            )
            .scalars()
            .all()
        )
        follow_ups = s.exec(
            select(FollowUp)
            .where(FollowUp.client_id == client_id, alive(FollowUp), col(FollowUp.done_at).is_(None))
            .order_by(col(FollowUp.due_on))
        ).all()
        # A follow-up scheduled by hand with a note is something a worker wrote: it is in the
        # timeline, open or done (every open one, automatic ones included, is listed above it too).
        planned = s.exec(
            select(FollowUp).where(
                FollowUp.client_id == client_id, alive(FollowUp), FollowUp.note != "", col(FollowUp.auto).is_not(True)
            )
        ).all()
        staff = {w.id: w.display_name for w in s.exec(select(Worker))}

    def who(worker_id: str | None) -> str:
        return staff.get(worker_id or "", "unknown worker") if worker_id else "unknown worker"

    def local(moment: datetime, seconds: bool = False) -> str:
        """A stored UTC moment as the program's wall time (what the worker's clock said)."""
        return store.clock.to_local(moment).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    timeline: list[TimelineEntry] = []
    fields: tuple[tuple[str, str], ...]
    for n in notes:
        team = ", ".join(m["role"].replace("_", " ") for m in json.loads(n.team or "[]"))
        summary = f"custom notification {domain.NotificationOutcome.label_of(n.outcome)} · {domain.NotificationSetting.label_of(n.setting)}"
        members = json.loads(n.team or "[]")
        fields = (
            ("attempted on", n.attempted_on.isoformat()),
            ("outcome", domain.NotificationOutcome.label_of(n.outcome)),
            ("setting", domain.NotificationSetting.label_of(n.setting)),
            ("area", domain.AreaCommand.label_of(n.area_command)),
            (
                "team",
                "; ".join(f"{m.get('name', '')} ({domain.TeamRole.label_of(m.get('role', ''))})" for m in members)
                or "—",
            ),
            ("messages", ", ".join(domain.NotificationMessage.label_of(m) for m in n.messages.split(",") if m) or "—"),
        )
        timeline.append(
            TimelineEntry(
                _at(n.attempted_on),
                "notification",
                summary + (f" · team: {team}" if team else ""),
                n.id,
                n.note or "",
                who(n.recorded_by),
                fields=fields,
            )
        )
    for c in contacts:
        summary = f"contact {domain.ContactMode.label_of(c.mode)} · {domain.ContactPurpose.label_of(c.purpose)} · {domain.ContactOutcome.label_of(c.outcome)}"
        fields = (
            ("mode", domain.ContactMode.label_of(c.mode)),
            ("purpose", domain.ContactPurpose.label_of(c.purpose)),
            ("outcome", domain.ContactOutcome.label_of(c.outcome)),
            ("minutes", str(c.duration_min) if c.duration_min is not None else "—"),
            ("area", domain.AreaCommand.label_of(c.area_command)),
        )
        timeline.append(
            TimelineEntry(
                c.occurred_at, "contact", summary, c.id, c.note or "", who(c.worker_id), timed=True, fields=fields
            )
        )
    for a in assessments:
        urgent = [domain.NeedDomain.label_of(i.domain) for i in items.get(a.id, []) if i.level >= 2]
        summary = f"{domain.AssessmentKind.label_of(a.kind)} assessment" + (
            f" · needs: {', '.join(urgent)}" if urgent else ""
        )
        levels = sorted(
            items.get(a.id, []),
            key=lambda i: (
                list(domain.NeedDomain).index(domain.NeedDomain(i.domain))
                if i.domain in domain.NeedDomain._value2member_map_
                else 99
            ),
        )
        fields = (
            ("kind", domain.AssessmentKind.label_of(a.kind)),
            ("assessed on", a.assessed_on.isoformat()),
            *(
                (
                    domain.NeedDomain.label_of(i.domain),
                    f"{i.level} {domain.NEED_LEVELS.get(i.level, '')}"
                    + (" · client's priority" if i.client_priority else ""),
                )
                for i in levels
            ),
        )
        timeline.append(
            TimelineEntry(
                _at(a.assessed_on), "assessment", summary, a.id, a.note or "", who(a.assessed_by), fields=fields
            )
        )
    views = []
    for r in referrals:
        provider = providers.get(r.provider_id, "no provider yet") if r.provider_id else "no provider yet"
        stale = r.status in {s.value for s in OPEN_REFERRAL_STATUSES} and r.status_changed_at < stale_before
        history = tuple((e.at, e.status, e.reason) for e in events.get(r.id, []))
        views.append(
            ReferralView(
                r.id, r.need_domain, provider, r.status, r.status_changed_at, stale, r.first_service_on, history
            )
        )
        history_events = events.get(r.id, [])
        # The note written with the referral is its first event's reason; later reasons are shown
        # with their status change (when, who, why).
        first_note = history_events[0].reason if history_events else ""
        fields = (
            ("need", domain.NeedDomain.label_of(r.need_domain)),
            ("provider", provider),
            ("status", domain.ReferralStatus.label_of(r.status) + (" (stale)" if stale else "")),
            ("first service", r.first_service_on.isoformat() if r.first_service_on else "—"),
        )
        texts = tuple(
            (
                f"{domain.ReferralStatus.label_of(e.status)} · {local(e.at, seconds=True)} · {who(e.by_worker)}",
                e.reason or "",
            )
            for e in history_events
        )
        if r.feedback:
            texts += (("provider's feedback", r.feedback),)
        timeline.append(
            TimelineEntry(
                r.created_at,
                "referral",
                f"referral {domain.NeedDomain.label_of(r.need_domain)} → {provider} · now {domain.ReferralStatus.label_of(r.status)}"
                + (" · STALE" if stale else ""),
                r.id,
                first_note or "",
                who(r.created_by),
                timed=True,
                fields=fields,
                texts=texts,
            )
        )
    for o in outcomes:
        timeline.append(
            TimelineEntry(
                _at(o.occurred_on),
                "outcome",
                f"outcome {domain.OutcomeKind.label_of(o.kind)} ({domain.OutcomeSource.label_of(o.source)})",
                o.id,
                o.note or "",
                who(o.recorded_by),
                fields=(
                    ("what", domain.OutcomeKind.label_of(o.kind)),
                    ("on", o.occurred_on.isoformat()),
                    ("source", domain.OutcomeSource.label_of(o.source)),
                ),
            )
        )
    for f in planned:
        state = "open" if f.done_at is None else f"done {local(f.done_at)}"
        timeline.append(
            TimelineEntry(
                f.created_at,
                "follow_up",
                f"follow-up {domain.FollowUpKind.label_of(f.kind)} due {f.due_on.isoformat()} · "
                + ("open" if f.done_at is None else "done"),
                f.id,
                f.note or "",
                who(f.owner_id),
                timed=True,
                fields=(
                    ("kind", domain.FollowUpKind.label_of(f.kind)),
                    ("due", f.due_on.isoformat()),
                    ("state", state),
                    ("closed by", who(f.done_by) if f.done_by else "—"),
                ),
            )
        )
    timeline = _mark_corrected(timeline, corrections, events)
    timeline = _with_origins(store, timeline)
    timeline.sort(key=lambda e: e.when, reverse=True)
    views.sort(key=lambda v: v.status_changed_at, reverse=True)
    name = display_name(identity.first_name, identity.last_name, identity.aka) if identity else client.pseudonym
    return ClientFile(
        client=client,
        identity=identity,
        name=name,
        worker_name=worker.display_name if worker else "unassigned",
        timeline=tuple(timeline),
        referrals=tuple(views),
        follow_ups=tuple(
            FollowUpView(f.id, f.due_on, f.kind, f.note, f.due_on < today, bool(f.auto), f.due_time) for f in follow_ups
        ),
        last_contact=max((c.occurred_at for c in contacts if c.id not in corrections), default=None),
        planned=tuple(_planned(p)["planned"] for p in open_plans),
    )


# The table each timeline kind is recorded in (its provenance is looked up there).
KIND_TABLES = {
    "notification": "notification_attempt",
    "contact": "contact",
    "assessment": "assessment",
    "referral": "referral",
    "outcome": "outcome",
    "follow_up": "follow_up",
    "referral_event": "referral_event",
}


def _with_origins(store: Store, timeline: list[TimelineEntry]) -> list[TimelineEntry]:
    """Each entry with the device it was recorded on and the bundle that brought it here."""
    from dataclasses import replace

    from vipterm.services.audit import device_name, device_names
    from vipterm.sync.origin import origins_of

    if not timeline:
        return timeline
    keys = [(KIND_TABLES.get(e.kind, e.kind), e.record_id) for e in timeline]
    with store.read() as s:
        known = origins_of(s.connection(), keys)
    names = device_names(store)
    out = []
    for entry, key in zip(timeline, keys):
        o = known.get(key)
        if o is None:
            out.append(entry)  # made before schema 8, or bulk-loaded: no device is known
        else:
            out.append(
                replace(
                    entry,
                    device=device_name(names, o.device),
                    device_id=o.device,
                    bundle_id=o.bundle_id,
                    received_at=o.at,
                )
            )
    return out


def _mark_corrected(
    timeline: list[TimelineEntry], corrections: dict[Any, Any], events: dict[Any, Any]
) -> list[TimelineEntry]:
    """Corrected facts stay in the timeline, marked with how and why; a voided referral status
    change (not an entry of its own otherwise) is added as one."""
    from dataclasses import replace

    if not corrections:
        return timeline
    out = []
    for entry in timeline:
        c = corrections.get(entry.record_id)
        if c is not None and entry.kind != "referral":
            mark = f"{'voided' if c.voided else 'superseded'}: {c.reason}"
            # The reason is a worker's words: with the texts, which the detail view shows and masks.
            entry = replace(entry, corrected=mark, texts=entry.texts + (("correction", mark),))
        out.append(entry)
    for history in events.values():
        for e in history:
            c = corrections.get(e.id)
            if c is not None:
                mark = f"{'voided' if c.voided else 'superseded'}: {c.reason}"
                out.append(
                    TimelineEntry(
                        e.at,
                        "referral_event",
                        f"referral status {domain.ReferralStatus.label_of(e.status)}",
                        e.id,
                        timed=True,
                        texts=(("correction", mark),),
                        corrected=mark,
                    )
                )
    return out


def client_as_dict(cf: ClientFile) -> dict[str, Any]:
    """The JSON shape of `vipterm clients show --json`."""
    c, i = cf.client, cf.identity
    return {
        "id": c.id,
        "pseudonym": c.pseudonym,
        "name": cf.name,
        "first_name": i.first_name if i else "",
        "last_name": i.last_name if i else "",
        "aka": i.aka if i else "",
        "date_of_birth": i.date_of_birth.isoformat() if i and i.date_of_birth else None,
        "age_group": c.age_group,
        "area_command": c.area_command,
        "referral_source": c.referral_source,
        "status": c.status,
        "risk_flags": [f for f in c.risk_flags.split(",") if f],
        "assigned_worker": cf.worker_name,
        "identified_on": c.identified_on.isoformat(),
        "last_contact": cf.last_contact.isoformat() if cf.last_contact else None,
        "planned_notifications": list(cf.planned),
        "follow_ups": [
            {
                "id": f.id,
                "due_on": f.due_on.isoformat(),
                "due_time": f.due_time,
                "kind": f.kind,
                "note": f.note,
                "automatic": f.auto,
                "overdue": f.overdue,
            }
            for f in cf.follow_ups
        ],
        "referrals": [
            {"id": r.id, "need": r.need_domain, "provider": r.provider_name, "status": r.status, "stale": r.stale}
            for r in cf.referrals
        ],
        "timeline": [
            {
                "when": e.when.isoformat(),
                "timed": e.timed,
                "kind": e.kind,
                "summary": e.line,
                "note": e.note,
                "recorded_by": e.recorded_by,
                "recorded_on": e.device or None,
                "device_id": e.device_id or None,
                "bundle_id": e.bundle_id or None,
                "fields": dict(e.fields),
                "history": [{"what": what, "reason": text} for what, text in e.texts],
                "id": e.record_id,
            }
            for e in cf.timeline
        ],
    }


def workers(store: Store) -> list[Worker]:
    with store.read() as session:
        return list(session.exec(select(Worker).where(col(Worker.deleted_at).is_(None)).order_by(Worker.display_name)))


def resolve_client_id(store: Store, ref: str) -> str:
    """A client id from an id, a pseudonym (case-insensitive) or a unique id prefix (services.resolve)."""
    from vipterm.services.resolve import resolve_client

    return resolve_client(store, ref)
