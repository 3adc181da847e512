"""The quarantine, for the coordinator: changes (and whole bundles) that were neither applied nor
dropped, each with its reason, the device that sent it and the bundle it came in.

Provides `list_quarantine`, `show`, `accept`, `discard` (the CLI's `vipterm sync quarantine` and
the conflicts screen call these), `quarantine_bundle` (hold a whole bundle, e.g. one whose clock
is ahead or from a revoked device) and `BUNDLE_ACCEPTORS` (how an accepted held bundle is brought
in, per reason code; the enrollment/recovery code registers them).

What the decisions do:
- a held **change** (out of the sending device's write scope, a value that fails the rules, a
  reference to a missing record, a duplicate pseudonym): `accept` applies it as the coordinator's
  own decision after checking its values again (a value that still breaks the rules cannot be
  accepted: fix the record instead), so it reaches the laptops like any coordinator change;
  `discard` leaves the coordinator's records as they are (the laptop was already sent the
  coordinator's value back; a new client it made is erased there at its next sync).
- a worker's **delete** (applied: the record is hidden, its data kept): `accept` confirms it;
  `discard` restores the record, here and, at the next return bundle, on the laptop.
- a held **bundle**: `accept` hands it to the acceptor registered for its code; `discard` drops
  the file.
Only a coordinator's retention purge is terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uuid6
from sqlalchemy import Connection
from sqlmodel import Session

from vipterm.domain import Role
from vipterm.errors import NotFound, ValidationError
from vipterm.services import records
from vipterm.services.database import Store
from vipterm.store.models import SYNC_POLICY
from vipterm.sync import clock as hlc_clock
from vipterm.sync import merge as merge_engine
from vipterm.sync import quarantine as held_store
from vipterm.sync import validate as rules
from vipterm.sync.capture import Capture, record_changes
from vipterm.sync.values import pack, unpack


@dataclass
class QuarantineView:
    id: str
    kind: str  # change | delete | bundle
    code: str
    reason: str
    bundle_id: str
    device: str
    sent_by: str  # the worker the device serves (staff name), or the device id's tail
    record: str  # "client VIP-1A2B3C", "contact of VIP-…", without names
    tbl: str
    row_id: str
    col: str
    status: str
    detected_at: Any
    decision: str = ""
    decided_at: Any = None
    fields: list[tuple[str, Any]] = field(default_factory=list)  # show(): the held values

    def as_dict(self) -> dict[str, Any]:
        out = {
            k: getattr(self, k)
            for k in (
                "id",
                "kind",
                "code",
                "reason",
                "bundle_id",
                "device",
                "sent_by",
                "record",
                "tbl",
                "row_id",
                "col",
                "status",
                "detected_at",
                "decision",
                "decided_at",
            )
        }
        if self.fields:
            out["fields"] = {c: v if not isinstance(v, bytes) else f"<{len(v)} bytes>" for c, v in self.fields}
        return out


# code -> acceptor(store, bundle bytes, entry) -> a one-line result. Registered by the code that
# holds bundles (clock ahead, revoked device).
BUNDLE_ACCEPTORS: dict[str, Callable[[Store, bytes, QuarantineView], str]] = {}

_COLS = (
    "id, kind, code, reason, bundle_id, device, worker_id, tbl, row_id, col, status, detected_at, decision, decided_at"
)


def _labels(conn: Connection, store: Store) -> tuple[Any, Any]:
    from vipterm.services import sync as sync_service

    state = sync_service._trust(conn)
    try:
        roster = state.roster() if state.roster_blob else None
    except Exception:  # a roster that does not verify must not hide the quarantine
        roster = None
    return sync_service, roster


def _record(conn: Connection, sync_service: Any, tbl: str, row_id: str, changes: list[Any]) -> str:
    if not tbl:
        return "whole bundle"
    pk = merge_engine.tables()[tbl].pk
    if conn.exec_driver_sql(f'SELECT 1 FROM "{tbl}" WHERE "{pk}" = ?', (row_id,)).first() is not None:
        return str(sync_service._record_label(conn, tbl, row_id))
    # A record held whole (not here): name it by its client's pseudonym when the client is here.
    for ch in changes:
        if ch.col == "client_id":
            client_id = unpack(ch.value) if ch.value is not None else None
            pseudonym = (
                conn.exec_driver_sql("SELECT pseudonym FROM client WHERE id = ?", (client_id,)).scalar()
                if isinstance(client_id, str)
                else None
            )
            if pseudonym:
                return f"new {tbl.replace('_', ' ')} of {pseudonym}"
    return f"new {tbl.replace('_', ' ')} {row_id[-8:]}"


def _view(conn: Connection, store: Store, row: Any, *, with_fields: bool = False) -> QuarantineView:
    sync_service, roster = _labels(conn, store)
    (
        id_,
        kind,
        code,
        reason,
        bundle_id,
        device,
        worker_id,
        tbl,
        row_id,
        col,
        status,
        detected_at,
        decision,
        decided_at,
    ) = row
    changes = []
    if kind != "bundle":
        blob = conn.exec_driver_sql("SELECT changes FROM sync_quarantine WHERE id = ?", (id_,)).scalar()
        changes = held_store.unpack_changes(blob)
    view = QuarantineView(
        id_,
        kind,
        code,
        reason,
        bundle_id,
        device,
        sync_service._who(conn, roster, device) if device else "—",
        _record(conn, sync_service, tbl, row_id, changes),
        tbl,
        row_id,
        col,
        status,
        detected_at,
        decision,
        decided_at,
    )
    if with_fields:
        latest: dict[str, Any] = {}
        for ch in sorted(changes, key=lambda c: (c.hlc, c.device)):
            latest[ch.col] = unpack(ch.value) if ch.value is not None else None
        view.fields = sorted(latest.items())
    return view


def list_quarantine(store: Store, *, include_decided: bool = False) -> list[QuarantineView]:
    """Open entries (with `include_decided`, also those accepted or discarded), oldest first."""
    where = "" if include_decided else "WHERE status = 'open'"
    with store.database.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {_COLS} FROM sync_quarantine {where} ORDER BY detected_at, id").all()
        return [_view(conn, store, r) for r in rows]


def count_open(store: Store) -> int:
    with store.database.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM sync_quarantine WHERE status = 'open'").scalar_one())


def _entry(conn: Connection, entry_id: str) -> Any:
    row = conn.exec_driver_sql(f"SELECT {_COLS} FROM sync_quarantine WHERE id = ?", (entry_id,)).first()
    if row is None:
        raise NotFound(f"no quarantine entry with id {entry_id}")
    return row


def show(store: Store, entry_id: str) -> QuarantineView:
    """One entry with the values it holds (they may identify a person: shown on request only)."""
    with store.database.engine.connect() as conn:
        return _view(conn, store, _entry(conn, entry_id), with_fields=True)


def _decide(conn: Connection, store: Store, entry_id: str, status: str, decision: str) -> None:
    conn.exec_driver_sql(
        "UPDATE sync_quarantine SET status = ?, decision = ?, decided_at = ? WHERE id = ?",
        (status, decision, store.clock.utcnow().isoformat(sep=" "), entry_id),
    )


def _require_open(row: Any) -> None:
    if row[10] != "open":
        raise ValidationError(f"this entry is already {row[10]}", field="quarantine")


def _set_field(session: Session, store: Store, tbl: str, row_id: str, col: str, value: Any) -> bool:
    """Write one field as the coordinator's own change (captured, so it reaches the laptops)."""
    conn = session.connection()
    pk = merge_engine.tables()[tbl].pk
    current = conn.exec_driver_sql(f'SELECT "{col}" FROM "{tbl}" WHERE "{pk}" = ?', (row_id,)).first()
    if current is None:
        raise NotFound("the record of this entry no longer exists")
    conn.exec_driver_sql(f'UPDATE "{tbl}" SET "{col}" = ? WHERE "{pk}" = ?', (value, row_id))
    record_changes(session, Capture(store.device_id), [(tbl, row_id, col, value)])
    return bool(current[0] != value)


def _audit_decision(store: Store, entry_id: str, decision: str) -> None:
    """A quarantine decision leaves an audit entry: which entry, what kind, from which device."""
    from vipterm.domain import AuditAction
    from vipterm.services.audit import record_audit

    with store.database.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT kind, code, tbl, row_id, device FROM sync_quarantine WHERE id = ?", (entry_id,)
        ).first()
    kind, code, tbl, row_id, device = row if row is not None else ("entry", "?", "", "", "")
    what = f"{decision} held {kind} ({code})" + (f" of {tbl.replace('_', ' ')}" if tbl else "")
    record_audit(
        store,
        AuditAction.QUARANTINE,
        row_id if tbl == "client" else None,
        f"{what} from device {device[-8:] if device else '?'}, entry {entry_id}",
    )


def accept(store: Store, entry_id: str) -> str:
    """Apply a held change as the coordinator's decision, confirm a delete, or bring in a held bundle
    (audited)."""
    said = _accept(store, entry_id)
    _keep_origin(store, entry_id)
    _audit_decision(store, entry_id, "accepted")
    return said


def _keep_origin(store: Store, entry_id: str) -> None:
    """A held new record, once accepted, was still made on the laptop that sent it, in that bundle
    (the coordinator's acceptance writes it here, which would otherwise name this device)."""
    with store.database.engine.begin() as conn:
        row = conn.exec_driver_sql(
            "SELECT kind, tbl, row_id, col, device, bundle_id, detected_at FROM sync_quarantine WHERE id = ?",
            (entry_id,),
        ).first()
        if row is None or row[0] != "change" or not row[1] or row[3] != "" or not row[4]:
            return
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO sync_origin (tbl, row_id, device, bundle_id, at) VALUES (?, ?, ?, ?, ?)",
            (row[1], row[2], row[4], row[5], row[6]),
        )


def discard(store: Store, entry_id: str) -> str:
    """Leave the records as they are, restore a deleted record, or drop a held bundle (audited)."""
    said = _discard(store, entry_id)
    _audit_decision(store, entry_id, "discarded")
    return said


def _accept(store: Store, entry_id: str) -> str:
    """Apply a held change as the coordinator's decision, confirm a delete, or bring in a held bundle."""
    if store.role is not Role.COORDINATOR:
        raise ValidationError("quarantine entries are accepted on the coordinator's database", field="quarantine")
    with store.database.engine.connect() as conn:
        row = _entry(conn, entry_id)
        _require_open(row)
        kind, code = row[1], row[2]
        if kind == "bundle":
            data = conn.exec_driver_sql("SELECT data FROM sync_quarantine WHERE id = ?", (entry_id,)).scalar()
            view = _view(conn, store, row)
    if kind == "bundle":
        acceptor = BUNDLE_ACCEPTORS.get(code)
        if acceptor is None or data is None:
            raise ValidationError(f"a held bundle ({code}) cannot be accepted here", field="quarantine")
        message = acceptor(store, data, view)
        with store.write() as session:
            _decide(session.connection(), store, entry_id, "accepted", "bundle imported")
        return message
    with store.write() as session:
        conn = session.connection()
        row = _entry(conn, entry_id)
        _require_open(row)
        tbl, row_id, col = row[7], row[8], row[9]
        changes = held_store.unpack_changes(
            conn.exec_driver_sql("SELECT changes FROM sync_quarantine WHERE id = ?", (entry_id,)).scalar()
        )
        if kind == "delete":
            _decide(conn, store, entry_id, "accepted", "delete confirmed")
            return f"{tbl.replace('_', ' ')} delete confirmed; the record stays hidden"
        fresh = None
        if not col and tbl == "client" and code == "duplicate":
            # Two laptops drew the same pseudonym: the new client gets another one, which reaches
            # its laptop as the coordinator's change.
            fresh = records.new_pseudonym(str(uuid6.uuid7()), lambda p: records.pseudonym_in_use(session, p))
            changes = [c._replace(value=pack(fresh)) if c.col == "pseudonym" else c for c in changes]
        if not col:  # a whole new record: the merge checks it again (values, references, pseudonym)
            plan = merge_engine.plan_merge(
                conn, changes, merge_engine.MergeOptions(record_conflicts=True, touch=True, bundle_id=row[4])
            )
            if plan.held:
                raise ValidationError(f"cannot be accepted: {plan.held[0].reason}", field="quarantine")
            tick = merge_engine.observe_clock(conn, plan.max_hlc)
            merge_engine.apply_plan(conn, plan, tick=tick)
            if tbl == "client" and row[5]:
                from vipterm.sync import outbox

                # The sending laptop holds this client: if it is not in that laptop's caseload, it is told to erase it.
                outbox.mark_sent(conn, row[5], plan.new_clients, 0)
            if fresh is not None:
                _set_field(session, store, "client", row_id, "pseudonym", fresh)
                _decide(conn, store, entry_id, "accepted", "record added with a new pseudonym")
                return f"accepted: the new client was added as {fresh} (its pseudonym was another client's)"
            _decide(conn, store, entry_id, "accepted", "record added")
            return f"accepted: the new {tbl.replace('_', ' ')} record was added"
        if SYNC_POLICY[tbl].add_only and col != "deleted_at":
            raise ValidationError("facts are never edited: this change cannot be accepted", field="quarantine")
        ch = max(changes, key=lambda c: (c.hlc, c.device))
        value = unpack(ch.value)
        problem = rules.check_value(tbl, col, value, hlc_clock.physical_ms(ch.hlc))
        if problem is None:
            for ref_col, parent in merge_engine._references(tbl):
                if ref_col == col and value is not None and merge_engine._lookup(conn, parent, (), [value]) == {}:
                    problem = rules.Problem("missing-reference", f"{tbl}.{col} refers to a record that does not exist")
        if (
            problem is None
            and (tbl, col) == ("client", "pseudonym")
            and conn.exec_driver_sql("SELECT 1 FROM client WHERE pseudonym = ? AND id != ?", (value, row_id)).first()
        ):
            problem = rules.Problem("duplicate", "client.pseudonym is already another client's")
        if problem is not None:
            raise ValidationError(f"cannot be accepted: {problem.reason}", field="quarantine")
        _set_field(session, store, tbl, row_id, col, value)
        _decide(conn, store, entry_id, "accepted", "value applied")
    return f"accepted: {tbl}.{col} now holds the laptop's value; it reaches the laptops at the next sync"


def _discard(store: Store, entry_id: str) -> str:
    """Leave the records as they are (a held change), restore the record (a delete), drop a held bundle."""
    if store.role is not Role.COORDINATOR:
        raise ValidationError("quarantine entries are decided on the coordinator's database", field="quarantine")
    with store.write() as session:
        conn = session.connection()
        row = _entry(conn, entry_id)
        _require_open(row)
        kind, tbl, row_id = row[1], row[7], row[8]
        if kind == "delete":
            _set_field(session, store, tbl, row_id, "deleted_at", None)
            _decide(conn, store, entry_id, "discarded", "record restored")
            return f"delete discarded: the {tbl.replace('_', ' ')} record is restored here and, at the next sync, on the laptop"
        if kind == "bundle":
            conn.exec_driver_sql("UPDATE sync_quarantine SET data = NULL WHERE id = ?", (entry_id,))
        if kind == "change" and tbl == "client" and not row[9] and row[5]:
            # A new client the coordinator will not take: the laptop that made it is told to erase it
            # (with its records) at its next return bundle, like a client that left its caseload.
            last = int(conn.exec_driver_sql("SELECT last_hlc FROM sync_state WHERE id = 1").scalar_one())
            conn.exec_driver_sql(
                "INSERT OR REPLACE INTO sync_erase (device_id, client_id, sent_wm) VALUES (?, ?, ?)",
                (row[5], row_id, last + 1),
            )
            _decide(conn, store, entry_id, "discarded", "not applied; the laptop erases it")
            return "discarded: nothing was applied; the laptop that made this client erases it at its next sync"
        _decide(conn, store, entry_id, "discarded", "not applied")
    return "discarded: nothing was applied"


def quarantine_bundle(
    store: Store, raw: bytes, *, code: str, reason: str, bundle_id: str, device: str, worker_id: str = ""
) -> str:
    """Hold a whole bundle file (still encrypted) for review; returns the entry id. Idempotent per
    bundle id: the same bundle held twice is one open entry."""
    with store.database.engine.execution_options(immediate=True).begin() as conn:
        existing = conn.exec_driver_sql(
            "SELECT id FROM sync_quarantine WHERE kind = 'bundle' AND bundle_id = ? AND status = 'open'", (bundle_id,)
        ).scalar()
        if existing:
            return str(existing)
        return held_store.hold_bundle(
            conn,
            raw,
            code=code,
            reason=reason,
            bundle_id=bundle_id,
            device=device,
            worker_id=worker_id,
            now=store.clock.utcnow().isoformat(sep=" "),
        )


def when(value: Any) -> str:
    """A stored timestamp for display."""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value or "—")[:16]
