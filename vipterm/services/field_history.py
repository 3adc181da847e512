"""A client's field history: every value each identity and program field has held, when, who set
it, from which device, and whether it won or lost a concurrent edit (the coordinator's
`sync_conflict`), read from the change log (every edit is captured there and syncs like any change).

The coordinator keeps every change it receives, so its history is whole; a laptop drops its own
changes once the coordinator has acknowledged them, so there it shows what is not yet sent and
what came back from the coordinator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from vipterm.errors import NotFound
from vipterm.services.audit import device_name, device_names
from vipterm.services.database import Store

# The fields the history covers (a client's identity and program fields, and its standing).
FIELDS = {
    "client": (
        "age_group",
        "area_command",
        "referral_source",
        "risk_flags",
        "status",
        "closed_reason",
        "closed_on",
        "assigned_worker_id",
    ),
    "client_identity": ("first_name", "last_name", "aka", "date_of_birth", "phone"),
}
IDENTIFYING = frozenset(FIELDS["client_identity"])  # masked on screen while the privacy mask is on


@dataclass(frozen=True)
class FieldChange:
    at: datetime  # naive UTC, from the change's own clock
    field: str
    value: Any
    device: str
    by: str  # the worker the device serves, "this device", or the device id's tail
    # Who set it (the worker the device serves; "" when the roster does not name the device), the
    # device as shown ("this device", "coordinator", "laptop 1a2b3c4d"), and the concurrent edit it
    # met, if any: "won" (its value was kept), "lost" (the other was kept), from sync_conflict;
    # `conflict_open` while the coordinator has not reviewed it.
    worker: str = ""
    device_name: str = ""
    conflict: str = ""
    conflict_open: bool = False

    @property
    def conflict_text(self) -> str:
        if not self.conflict:
            return ""
        return f"{self.conflict} a conflict" + (" (to review)" if self.conflict_open else "")


def field_history(store: Store, client_id: str, field: str | None = None) -> list[FieldChange]:
    """Every recorded value of the client's fields (or of `field`), newest first."""
    from vipterm.sync.clock import physical_ms
    from vipterm.sync.values import unpack

    if field is not None and not any(field in cols for cols in FIELDS.values()):
        from vipterm.errors import ValidationError

        known = ", ".join(c for cols in FIELDS.values() for c in cols)
        raise ValidationError(f"{field!r} is not a field with a history: {known}", field="field")
    with store.read() as session:
        if (
            session.execute(text("SELECT 1 FROM client WHERE id = :c AND deleted_at IS NULL"), {"c": client_id}).first()
            is None
        ):
            raise NotFound(f"no client with id {client_id}")
        rows: list[Any] = list(
            session.execute(
                text(
                    "SELECT device, hlc, tbl, col, value FROM change_log WHERE op = 'set' AND row_id = :c "
                    "AND tbl IN ('client', 'client_identity') ORDER BY hlc DESC, device, seq DESC"
                ),
                {"c": client_id},
            ).all()
        )
        workers = dict(session.execute(text("SELECT id, display_name FROM worker")).all())
        # Concurrent edits the merge settled (the coordinator's review queue): which value was
        # kept and which lost. The losing value is listed even where the change log lacks it.
        conflicts = session.execute(
            text(
                "SELECT tbl, col, kept_hlc, kept_device, lost_hlc, lost_device, lost_value, status FROM sync_conflict "
                "WHERE row_id = :c AND tbl IN ('client', 'client_identity')"
            ),
            {"c": client_id},
        ).all()
    names = _device_names(store)
    labels = device_names(store)
    outcome: dict[tuple[str, int, str], tuple[str, bool]] = {}
    seen = {(col, hlc, device) for device, hlc, _tbl, col, _blob in rows}
    for tbl, col, kept_hlc, kept_device, lost_hlc, lost_device, lost_value, status in conflicts:
        open_ = status == "open"
        outcome[(col, int(kept_hlc), kept_device)] = ("won", open_)
        outcome[(col, int(lost_hlc), lost_device)] = ("lost", open_)
        if (col, lost_hlc, lost_device) not in seen:
            rows.append((lost_device, lost_hlc, tbl, col, lost_value))
            seen.add((col, lost_hlc, lost_device))
    rows.sort(key=lambda r: r[1], reverse=True)  # stable: ties keep the change log's order
    me = workers.get(store.worker_id, "")
    out = []
    for device, hlc, tbl, col, blob in rows:
        if col not in FIELDS.get(tbl, ()) or (field is not None and col != field):
            continue
        value = unpack(blob)
        if col == "assigned_worker_id" and value is not None:
            value = workers.get(value, value)
        by = "this device" if device == store.device_id else names.get(device, f"device …{device[-8:]}")
        worker = me if device == store.device_id else names.get(device, "")
        at = datetime(1970, 1, 1) + timedelta(milliseconds=physical_ms(hlc))
        won, open_ = outcome.get((col, int(hlc), device), ("", False))
        out.append(
            FieldChange(
                at.replace(microsecond=0),
                col,
                value,
                device,
                by,
                worker=worker,
                device_name=device_name(labels, device),
                conflict=won,
                conflict_open=open_,
            )
        )
    return out


def _device_names(store: Store) -> dict[str, str]:
    try:
        from vipterm.services.workers import device_workers

        return device_workers(store)
    except Exception:  # a database with no sync roster yet: devices are named by id
        return {}
