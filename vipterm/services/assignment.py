"""Assignment and handover, on the coordinator: which worker serves which client.

Provides:
- `assign_clients`: give clients (by id) to a worker; their open follow-ups move with them.
- `handover`: every open client of one worker to another (a worker leaves or goes on leave).
- `assignable_workers`: the active peer support workers, with their open clients, for a picker.
- `unassign_clients`: take clients off every caseload (they wait, first in the coordinator's list).

Assignment is coordinator-owned (sync/scope.py: a laptop never writes `assigned_worker_id`), so
every function here refuses on a laptop. The write is an ordinary captured change: the new
worker's laptop receives the clients whole, with their history, in its next return bundle, and
the old laptop is told to erase them there (sync/outbox.py, the caseload boundary).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session, col, select

from vipterm import domain
from vipterm.domain import Role
from vipterm.errors import CoordinatorOnly, NotFound, ValidationError
from vipterm.services.database import Store
from vipterm.services.resolve import resolve_worker
from vipterm.store.models import Client, FollowUp, PlannedNotification, Worker

CLOSED_STATUSES = ("closed", "inactive")


def require_coordinator(store: Store, what: str) -> None:
    if store.role is not Role.COORDINATOR:
        raise CoordinatorOnly(
            f"{what} is the coordinator's work: do it on the coordinator's database "
            "(this laptop receives the result in its next return bundle)"
        )


@dataclass(frozen=True)
class AssignResult:
    worker_id: str | None
    worker_name: str
    moved: tuple[str, ...]  # client ids now assigned to the worker
    already: tuple[str, ...]  # client ids that were assigned to them already
    follow_ups_moved: int = 0
    plans_moved: int = 0  # planned custom notifications not yet made, now the new worker's to follow up

    @property
    def count(self) -> int:
        return len(self.moved)


@dataclass(frozen=True)
class WorkerChoice:
    id: str
    name: str
    open_clients: int


def _active_worker(session: Session, worker_id: str) -> Worker:
    worker = session.get(Worker, worker_id)
    if worker is None or worker.deleted_at is not None:
        raise NotFound(f"no worker with id {worker_id}")
    if worker.role != "worker":
        raise ValidationError(
            f"{worker.display_name!r} is a {worker.role}'s staff row: clients are assigned to peer support workers",
            field="worker",
        )
    if not worker.active:
        raise ValidationError(f"worker {worker.display_name!r} is not active: choose an active worker", field="worker")
    return worker


def assign_clients(store: Store, client_ids: list[str], worker_id: str) -> AssignResult:
    """Assign these clients to the worker (all or nothing; unknown ids refuse the whole call).

    Open follow-ups of a moved client move to the new worker too: they are the caseload's tasks;
    so does a planned custom notification not yet made (its follow-up worker).
    Closed clients can be assigned (a later reopen finds them with their worker).
    """
    require_coordinator(store, "assigning clients")
    ids = list(dict.fromkeys(client_ids))
    if not ids:
        raise ValidationError("no clients to assign", field="client")
    with store.write() as session:
        worker = _active_worker(session, worker_id)
        moved, already = [], []
        clients = {c.id: c for c in session.exec(select(Client).where(col(Client.id).in_(ids)))}
        for client_id in ids:
            client = clients.get(client_id)
            if client is None or client.deleted_at is not None:
                raise NotFound(f"no client with id {client_id}")
        follow_ups = plans = 0
        for client_id in ids:
            client = clients[client_id]
            if client.assigned_worker_id == worker.id:
                already.append(client_id)
                continue
            client.assigned_worker_id = worker.id
            moved.append(client_id)
        if moved:
            for fu in session.exec(
                select(FollowUp).where(
                    col(FollowUp.client_id).in_(moved),
                    col(FollowUp.done_at).is_(None),
                    col(FollowUp.deleted_at).is_(None),
                )
            ):
                if fu.owner_id != worker.id:
                    fu.owner_id = worker.id
                    follow_ups += 1
            for plan in session.exec(
                select(PlannedNotification).where(
                    col(PlannedNotification.client_id).in_(moved),
                    PlannedNotification.status == "planned",
                    col(PlannedNotification.deleted_at).is_(None),
                )
            ):
                if plan.worker_id != worker.id:
                    plan.worker_id = worker.id
                    plans += 1
        # Each reassignment is audited, in the same transaction: it stands or falls with it.
        from vipterm.services.audit import record_audit

        for client_id in moved:
            record_audit(
                store, domain.AuditAction.REASSIGN, client_id, f"assigned to {worker.display_name}", session=session
            )
        name = worker.display_name
    return AssignResult(worker_id, name, tuple(moved), tuple(already), follow_ups, plans)


def open_clients_of(store: Store, worker_id: str) -> list[str]:
    """The worker's clients that are not closed or inactive."""
    with store.read() as session:
        rows = session.execute(
            text(
                "SELECT id FROM client WHERE assigned_worker_id = :w AND deleted_at IS NULL "
                "AND status NOT IN ('closed', 'inactive') ORDER BY id"
            ),
            {"w": worker_id},
        ).all()
    return [r[0] for r in rows]


def handover(store: Store, from_worker: str, to_worker: str) -> AssignResult:
    """Every open client of `from_worker` to `to_worker` (ids; see `resolve_worker`)."""
    require_coordinator(store, "handing over a caseload")
    if from_worker == to_worker:
        raise ValidationError("--from and --to name the same worker", field="worker")
    ids = open_clients_of(store, from_worker)
    if not ids:
        with store.read() as session:
            worker = session.get(Worker, from_worker)
        name = worker.display_name if worker else from_worker
        raise ValidationError(f"{name!r} has no open clients to hand over", field="worker")
    return assign_clients(store, ids, to_worker)


def unassign_clients(store: Store, client_ids: list[str]) -> int:
    """Take clients off every caseload: their laptops erase them; the coordinator lists them first."""
    require_coordinator(store, "unassigning clients")
    ids = list(dict.fromkeys(client_ids))
    count = 0
    with store.write() as session:
        for client_id in ids:
            client = session.get(Client, client_id)
            if client is None or client.deleted_at is not None:
                raise NotFound(f"no client with id {client_id}")
            if client.assigned_worker_id is not None:
                client.assigned_worker_id = None
                count += 1
                from vipterm.services.audit import record_audit

                record_audit(
                    store, domain.AuditAction.REASSIGN, client_id, "unassigned (off every caseload)", session=session
                )
    return count


def assignable_workers(store: Store) -> list[WorkerChoice]:
    """Active peer support workers, by name, with how many open clients each has."""
    with store.read() as session:
        rows = session.execute(
            text(
                "SELECT w.id, w.display_name, (SELECT count(*) FROM client c WHERE c.assigned_worker_id = w.id "
                "AND c.deleted_at IS NULL AND c.status NOT IN ('closed', 'inactive')) "
                "FROM worker w WHERE w.deleted_at IS NULL AND w.active = 1 AND w.role = 'worker' "
                "ORDER BY w.display_name, w.id"
            )
        ).all()
    return [WorkerChoice(r[0], r[1], int(r[2])) for r in rows]


def resolve_assignable(store: Store, ref: str) -> str:
    """`resolve_worker`, for a worker who can take clients (active, a peer support worker)."""
    worker_id = resolve_worker(store, ref)
    with store.read() as session:
        _active_worker(session, worker_id)
    return worker_id
