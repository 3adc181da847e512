"""The program's staff on the coordinator: peer support workers and their laptops.

Provides:
- `worker_summaries`: per worker its laptops (enrolled, last bundle received, revoked) and what is
  pending from them (bundles waiting for a gap, changes held in the quarantine), open clients,
  overdue follow-ups and contacts this month (the program's month, `store.clock`).
- `add_worker`, `rename_worker`, `deactivate_worker`: staff rows are coordinator-owned
  (sync/scope.py); each edit is a captured change that reaches every laptop's staff list.
- `device_workers`: device id → worker name, for the sync status and screen.

A deactivated worker keeps their history and their name on it; they can take no new clients,
and a laptop cannot be enrolled for them. Deactivating a worker with open clients is refused:
hand the clients over first (services.assignment.handover), so nobody is left without a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from vipterm.errors import ValidationError
from vipterm.services.assignment import open_clients_of, require_coordinator
from vipterm.services.database import Store
from vipterm.store.models import Worker

__all__ = [
    "require_coordinator",
    "worker_summaries",
    "summary_as_dict",
    "add_worker",
    "rename_worker",
    "deactivate_worker",
    "device_workers",
]

MAX_NAME = 120


@dataclass(frozen=True)
class DeviceLine:
    device_id: str
    role: str
    enrolled_at: str
    revoked_at: str | None
    last_bundle_at: datetime | None  # last bundle received from it (UTC)
    waiting_bundles: int  # held in the inbox until a gap is filled
    held_changes: int  # open quarantine items from it

    @property
    def pending(self) -> int:
        return self.waiting_bundles + self.held_changes


@dataclass(frozen=True)
class WorkerSummary:
    id: str
    name: str
    role: str
    active: bool
    open_clients: int
    overdue_follow_ups: int
    contacts_this_month: int
    devices: tuple[DeviceLine, ...] = field(default_factory=tuple)

    @property
    def enrolled_devices(self) -> tuple[DeviceLine, ...]:
        return tuple(d for d in self.devices if d.revoked_at is None)

    def devices_line(self) -> str:
        live = self.enrolled_devices
        if not live:
            return "none"
        parts = []
        for d in live:
            parts.append(d.device_id[:8] + (f" ({d.pending} pending)" if d.pending else ""))
        revoked = len(self.devices) - len(live)
        return ", ".join(parts) + (f" +{revoked} revoked" if revoked else "")

    def last_bundle(self) -> datetime | None:
        return max((d.last_bundle_at for d in self.devices if d.last_bundle_at), default=None)

    def last_bundle_line(self, today: date) -> str:
        last = self.last_bundle()
        if last is None:
            return "never"
        days = (today - last.date()).days
        return "today" if days <= 0 else f"{days}d ago"


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def worker_summaries(store: Store, *, include_inactive: bool = False) -> list[WorkerSummary]:
    """Every staff member (peer support workers first, by name), with their laptops and numbers."""
    from vipterm.services.sync import roster_entries

    today = store.clock.today()
    month_start_local = datetime(today.year, today.month, 1)
    next_month = (month_start_local + timedelta(days=32)).replace(day=1)
    start_utc, end_utc = store.clock.to_utc(month_start_local), store.clock.to_utc(next_month)
    entries = roster_entries(store)
    with store.read() as session:
        rows = session.execute(
            text(
                "SELECT w.id, w.display_name, w.role, w.active, "
                " (SELECT count(*) FROM client c WHERE c.assigned_worker_id = w.id AND c.deleted_at IS NULL "
                "   AND c.status NOT IN ('closed', 'inactive')), "
                " (SELECT count(DISTINCT f.client_id) FROM follow_up f JOIN client c ON c.id = f.client_id "
                "   WHERE c.assigned_worker_id = w.id AND c.deleted_at IS NULL AND c.status NOT IN ('closed', 'inactive') "
                "   AND f.done_at IS NULL AND f.deleted_at IS NULL AND f.due_on < :today), "
                " (SELECT count(*) FROM contact k WHERE k.worker_id = w.id AND k.deleted_at IS NULL "
                "   AND k.occurred_at >= :start AND k.occurred_at < :end) "
                "FROM worker w WHERE w.deleted_at IS NULL"
            ),
            {"today": today.isoformat(), "start": start_utc.isoformat(sep=" "), "end": end_utc.isoformat(sep=" ")},
        ).all()
        peers = {r[0]: _dt(r[1]) for r in session.execute(text("SELECT device_id, last_import_at FROM sync_peer"))}
        waiting = dict(
            session.execute(text("SELECT source_device, count(*) FROM sync_inbox GROUP BY source_device")).all()
        )
        held = dict(
            session.execute(
                text("SELECT device, count(*) FROM sync_quarantine WHERE status = 'open' GROUP BY device")
            ).all()
        )
    by_worker: dict[str, list[DeviceLine]] = {}
    for e in entries:
        by_worker.setdefault(e.worker_id, []).append(
            DeviceLine(
                e.device_id,
                e.role,
                e.enrolled_at,
                e.revoked_at,
                peers.get(e.device_id),
                int(waiting.get(e.device_id, 0)),
                int(held.get(e.device_id, 0)),
            )
        )
    out = [
        WorkerSummary(r[0], r[1], r[2], bool(r[3]), int(r[4]), int(r[5]), int(r[6]), tuple(by_worker.get(r[0], ())))
        for r in rows
    ]
    if not include_inactive:
        out = [w for w in out if w.active]
    out.sort(key=lambda w: (w.role != "worker", w.name.casefold(), w.id))
    return out


def summary_as_dict(w: WorkerSummary) -> dict[str, Any]:
    """The JSON shape of `vipterm workers list --json`."""
    return {
        "id": w.id,
        "name": w.name,
        "role": w.role,
        "active": w.active,
        "open_clients": w.open_clients,
        "overdue_follow_ups": w.overdue_follow_ups,
        "contacts_this_month": w.contacts_this_month,
        "last_bundle_at": last.isoformat() if (last := w.last_bundle()) else None,
        "devices": [
            {
                "device_id": d.device_id,
                "role": d.role,
                "enrolled_at": d.enrolled_at,
                "revoked_at": d.revoked_at,
                "last_bundle_at": d.last_bundle_at.isoformat() if d.last_bundle_at else None,
                "waiting_bundles": d.waiting_bundles,
                "held_changes": d.held_changes,
            }
            for d in w.devices
        ],
    }


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("a worker's name cannot be empty", field="name")
    if len(name) > MAX_NAME:
        raise ValidationError(f"a worker's name is at most {MAX_NAME} characters", field="name")
    return name


def _name_taken(session: Session, name: str, except_id: str | None = None) -> bool:
    from vipterm import domain

    for wid, other in session.execute(text("SELECT id, display_name FROM worker WHERE deleted_at IS NULL")):
        if wid != except_id and domain.fold(" ".join((other or "").split())) == domain.fold(name):
            return True
    return False


def add_worker(store: Store, name: str) -> Worker:
    """A new peer support worker (a laptop is enrolled for them with `enroll approve --worker`)."""
    require_coordinator(store, "adding a worker")
    name = _clean_name(name)
    with store.write() as session:
        if _name_taken(session, name):
            raise ValidationError(
                f"a staff member is already named {name!r}: choose a distinguishing name", field="name"
            )
        worker = Worker(display_name=name, role="worker")
        session.add(worker)
    return worker


def rename_worker(store: Store, worker_id: str, new_name: str) -> tuple[str, str]:
    """(old name, new name)."""
    require_coordinator(store, "renaming a worker")
    name = _clean_name(new_name)
    with store.write() as session:
        worker = session.get(Worker, worker_id)
        if worker is None or worker.deleted_at is not None:
            from vipterm.errors import NotFound

            raise NotFound(f"no worker with id {worker_id}")
        if _name_taken(session, name, except_id=worker_id):
            raise ValidationError(f"a staff member is already named {name!r}", field="name")
        old = worker.display_name
        worker.display_name = name
    return old, name


@dataclass(frozen=True)
class DeactivateResult:
    name: str
    active_devices: tuple[str, ...]  # laptops still on the roster (revoke them when handed back)


def deactivate_worker(store: Store, worker_id: str) -> DeactivateResult:
    """Mark a worker inactive. Refused while they have open clients (hand them over first)."""
    from vipterm.errors import NotFound
    from vipterm.services.sync import roster_entries

    require_coordinator(store, "deactivating a worker")
    with store.read() as session:
        worker = session.get(Worker, worker_id)
    if worker is None or worker.deleted_at is not None:
        raise NotFound(f"no worker with id {worker_id}")
    if worker.role != "worker":
        raise ValidationError(
            f"{worker.display_name!r} is the {worker.role}'s staff row, not a peer support worker", field="worker"
        )
    if not worker.active:
        raise ValidationError(f"{worker.display_name!r} is already inactive", field="worker")
    still = open_clients_of(store, worker_id)
    if still:
        raise ValidationError(
            f"{worker.display_name!r} has {len(still)} open client(s): hand them over first "
            f"(`vipterm workers deactivate WORKER --to OTHER`, or `vipterm clients assign --from WORKER --to OTHER`)",
            field="worker",
        )
    with store.write() as session:
        row = session.get(Worker, worker_id)
        assert row is not None  # found above; staff rows are never removed
        row.active = False
        name = row.display_name
    devices = tuple(e.device_id for e in roster_entries(store) if e.worker_id == worker_id and e.revoked_at is None)
    return DeactivateResult(name, devices)


def device_workers(store: Store) -> dict[str, str]:
    """Device id → the name of the worker it serves (every device on the roster, revoked too)."""
    from vipterm.services.sync import roster_entries

    entries = roster_entries(store)
    with store.read() as session:
        names = dict(session.execute(text("SELECT id, display_name FROM worker")).all())
    return {e.device_id: names.get(e.worker_id, f"worker {e.worker_id[-8:]}") for e in entries}
