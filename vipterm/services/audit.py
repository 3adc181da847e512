"""The audit log: who viewed, unmasked or exported identifiable data, and who enrolled, revoked,
reassigned, purged or decided a held change, on which device, when.

Provides `record_audit` (the one function every use case calls; append-only: there is no update or
delete here, and the write scope refuses a laptop's entry in another worker's or device's name, or
any change to an entry already held) and `list_entries` / `AuditRow` (what `vipterm audit` and the
coordinator's audit screen show: a coordinator sees every device's entries, a laptop its own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from vipterm import domain
from vipterm.services.database import Store
from vipterm.store.models import AuditEntry

# `detail` is free text written by vipterm itself (format, output kind, counts): never a
# client's name. A cap keeps a mistaken caller from filling the log.
_DETAIL_MAX = 500


def record_audit(
    store: Store,
    action: domain.AuditAction | str,
    client_id: str | None = None,
    detail: str = "",
    session: Session | None = None,
) -> None:
    """Append one audit entry for this device and its current worker.

    `action`: a `domain.AuditAction` (or its value); `client_id`: the client concerned, if one;
    `detail`: what was done, in vipterm's words (e.g. "report csv", "clients list --json, 138
    clients"), never identifying data. Pass `session` to write it in the caller's transaction
    (the entry then stands or falls with the change it records); otherwise it is its own.
    """
    action = domain.AuditAction(action)
    entry = AuditEntry(
        at=store.clock.utcnow(),
        worker_id=store.worker_id,
        device_id=store.device_id,
        action=action.value,
        client_id=client_id,
        detail=(detail or "")[:_DETAIL_MAX],
    )
    if session is not None:
        session.add(entry)
        return
    with store.write() as new:
        new.add(entry)


@dataclass
class AuditRow:
    """One audit entry as shown: time in UTC (ISO), the worker's and device's names."""

    id: str
    at: str
    action: str
    action_label: str
    worker_id: str | None
    worker: str
    device_id: str
    device: str
    client_id: str | None
    client: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_entries(
    store: Store,
    since: date | None = None,
    worker_id: str | None = None,
    client_id: str | None = None,
    limit: int | None = None,
) -> list[AuditRow]:
    """Audit entries, newest first. A coordinator sees every device's (they arrive with the
    laptops' bundles); a laptop sees only its own device's. `since`: a program-local day."""
    from vipterm.store.models import Client, Worker

    with store.read() as session:
        q = select(AuditEntry)
        if store.role != domain.Role.COORDINATOR:
            q = q.where(AuditEntry.device_id == store.device_id)
        if since is not None:
            start = store.clock.to_utc(datetime.combine(since, datetime.min.time()))
            q = q.where(AuditEntry.at >= start)
        if worker_id is not None:
            q = q.where(AuditEntry.worker_id == worker_id)
        if client_id is not None:
            q = q.where(AuditEntry.client_id == client_id)
        q = q.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        if limit is not None:
            q = q.limit(limit)
        entries = session.exec(q).all()
        workers = {w.id: w.display_name for w in session.exec(select(Worker)).all()}
        client_ids = {e.client_id for e in entries if e.client_id}
        clients = {}
        if client_ids:
            clients = {
                c.id: c.pseudonym for c in session.exec(select(Client).where(col(Client.id).in_(client_ids))).all()
            }
    devices = device_names(store)
    rows = []
    for e in entries:
        label = domain.AuditAction.label_of(e.action)
        rows.append(
            AuditRow(
                id=e.id,
                at=e.at.isoformat(),
                action=e.action,
                action_label=label,
                worker_id=e.worker_id,
                worker=workers.get(e.worker_id, "") if e.worker_id else "",
                device_id=e.device_id,
                device=device_name(devices, e.device_id),
                client_id=e.client_id,
                client=clients.get(e.client_id, "") if e.client_id else "",
                detail=e.detail,
            )
        )
    return rows


def device_names(store: Store) -> dict[str, str]:
    """Device id → how it is shown: "this device" for our own, "coordinator" or
    "laptop" + the last 8 characters of its id (the random part of a UUIDv7) for the others on the
    roster. An id not on the roster is shown as "device" + the same 8 characters."""
    names: dict[str, str] = {}
    try:
        from vipterm.services.sync import roster_entries

        for e in roster_entries(store):
            role = getattr(e.role, "value", e.role)
            names[e.device_id] = "coordinator" if role == "coordinator" else f"laptop {e.device_id[-8:]}"
    except Exception:  # not enrolled yet (no roster): ids are shown shortened
        pass
    names[store.device_id] = "this device"
    return names


def device_name(names: dict[str, str], device_id: str | None) -> str:
    """One device's name from `device_names`, or a shortened id for one the roster does not list."""
    if not device_id:
        return "unknown device"
    return names.get(device_id) or f"device {device_id[-8:]}"
