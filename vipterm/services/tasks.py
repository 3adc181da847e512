"""The task view's list: every open follow-up, and every planned custom notification not yet
attempted, of a caseload, grouped overdue / today / this week by the program's days.

`open_tasks(store, worker_id="mine")` reads the worker's own caseload; on the coordinator
`worker_id=None` reads every worker's, or a worker's id reads theirs. Clients that are closed,
inactive or deleted have no tasks (closing keeps their follow-ups, for a reopening). Tasks due
later than this week are counted, not listed (`TaskList.later`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from vipterm import domain
from vipterm.services.caseload import display_name
from vipterm.services.database import Store

OVERDUE, TODAY, THIS_WEEK = "overdue", "today", "this week"
GROUPS = (OVERDUE, TODAY, THIS_WEEK)
WEEK_DAYS = 7  # "this week": today and the six days after it


@dataclass(frozen=True)
class Task:
    kind: str  # follow_up | planned_notification | safety_plan (its review)
    id: str  # the follow-up's or the plan's id
    client_id: str
    pseudonym: str
    name: str
    area_command: str
    worker_id: str | None
    worker_name: str
    due_on: date
    due_time: str | None  # "HH:MM", program-local
    what: str  # what is to be done: the follow-up's kind, or the planned notification
    note: str  # the follow-up's note; for a plan, its setting and team roles (no names)
    group: str  # OVERDUE, TODAY or THIS_WEEK

    @property
    def when(self) -> str:
        return self.due_on.isoformat() + (f" {self.due_time}" if self.due_time else "")


@dataclass(frozen=True)
class TaskList:
    tasks: tuple[Task, ...]
    later: int  # open tasks due after this week, not listed
    today: date

    def count(self, group: str) -> int:
        return sum(1 for t in self.tasks if t.group == group)


_FOLLOW_UPS = """
SELECT f.id, f.client_id, c.pseudonym, i.first_name, i.last_name, i.aka, c.area_command, c.assigned_worker_id,
       COALESCE(w.display_name, ''), f.due_on, f.due_time, f.kind, f.note
FROM follow_up f
JOIN client c ON c.id = f.client_id AND c.deleted_at IS NULL AND c.status NOT IN ('closed', 'inactive')
LEFT JOIN client_identity i ON i.client_id = c.id
LEFT JOIN worker w ON w.id = c.assigned_worker_id
WHERE f.done_at IS NULL AND f.deleted_at IS NULL
"""


def _group(day: date, today: date) -> str | None:
    if day < today:
        return OVERDUE
    if day == today:
        return TODAY
    if day < today + timedelta(days=WEEK_DAYS):
        return THIS_WEEK
    return None


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def open_tasks(store: Store, *, worker_id: str | None = "mine", today: date | None = None) -> TaskList:
    """The open tasks of `worker_id`'s clients ("mine": this device's worker; None: everyone's),
    overdue first, then today, then this week; within a day, timed ones by time, then the rest."""
    today = today or store.clock.today()
    worker = store.worker_id if worker_id == "mine" else worker_id
    sql, params = _FOLLOW_UPS, {}
    if worker is not None:
        sql += " AND c.assigned_worker_id = :worker"
        params["worker"] = worker
    with store.read() as session:
        rows = session.execute(text(sql), params).all()
    tasks: list[Task] = []
    later = 0
    for r in rows:
        due = _day(r[9])
        group = _group(due, today)
        if group is None:
            later += 1
            continue
        kind = domain.FollowUpKind.label_of(r[11])
        tasks.append(
            Task(
                "follow_up",
                r[0],
                r[1],
                r[2],
                display_name(r[3] or "", r[4] or "", r[5] or ""),
                r[6],
                r[7],
                r[8],
                due,
                r[10],
                kind,
                r[12] or "",
                group,
            )
        )
    for plan in _open_plans(store, worker):
        group = _group(plan.planned_on, today)
        if group is None:
            later += 1
            continue
        roles = ", ".join(domain.TeamRole(x).label for x in plan.team_roles if x in domain.TeamRole._value2member_map_)
        setting = domain.NotificationSetting.label_of(plan.setting)
        tasks.append(
            Task(
                "planned_notification",
                plan.id,
                plan.client_id,
                plan.pseudonym,
                _name(store, plan.client_id),
                "",
                plan.worker_id,
                plan.worker_name,
                plan.planned_on,
                plan.planned_time or None,
                "custom notification (planned)",
                f"{setting} · {roles}" if roles else setting,
                group,
            )
        )
    tasks.extend(_safety_reviews(store, worker, today))
    order = {g: n for n, g in enumerate(GROUPS)}
    tasks.sort(
        key=lambda t: (
            order[t.group],
            t.due_on,
            t.due_time or "99:99",
            t.kind != "planned_notification",
            t.pseudonym,
            t.id,
        )
    )
    return TaskList(tuple(tasks), later, today)


def _open_plans(store: Store, worker: str | None) -> list[Any]:
    """Planned custom notifications not yet attempted (the weekly review's, when it exists)."""
    try:
        from vipterm.services.review import open_plans
    except ImportError:  # pragma: no cover - a vipterm without the weekly review
        return []
    return open_plans(store, worker_id=worker)


_CLIENTS = """
SELECT c.id, c.pseudonym, i.first_name, i.last_name, i.aka, c.area_command, c.assigned_worker_id,
       COALESCE(w.display_name, '')
FROM client c LEFT JOIN client_identity i ON i.client_id = c.id LEFT JOIN worker w ON w.id = c.assigned_worker_id
WHERE c.id IN ({marks})
"""


def _safety_reviews(store: Store, worker: str | None, today: date) -> list[Task]:
    """Safety plans whose review falls due this week or is overdue (services.consent). Later
    reviews are not counted in `later`: a plan always has one, and it would only swell the count."""
    from vipterm.services.consent import due_safety_reviews

    due = due_safety_reviews(store, worker, today + timedelta(days=WEEK_DAYS - 1))
    if not due:
        return []
    with store.read() as session:
        marks = ", ".join(f":c{n}" for n in range(len(due)))
        rows = {
            r[0]: r
            for r in session.execute(
                text(_CLIENTS.format(marks=marks)), {f"c{n}": d.client_id for n, d in enumerate(due)}
            ).all()
        }
    out = []
    for d in due:
        r = rows.get(d.client_id)
        group = _group(d.review_on, today) if d.review_on is not None else None
        if r is None or d.review_on is None or group is None:  # due reviews fall within the week
            continue
        out.append(
            Task(
                "safety_plan",
                d.plan_id,
                d.client_id,
                r[1],
                display_name(r[2] or "", r[3] or "", r[4] or ""),
                r[5],
                r[6],
                r[7],
                d.review_on,
                None,
                "safety plan review",
                "",
                group,
            )
        )
    return out


def _name(store: Store, client_id: str) -> str:
    with store.read() as session:
        row = session.execute(
            text("SELECT first_name, last_name, aka FROM client_identity WHERE client_id = :c"), {"c": client_id}
        ).first()
    return display_name(*(v or "" for v in row)) if row else ""
