"""A client's field history: every value each identity and program field has held, when, and on
whose device, read from the change log (every edit is captured there and syncs like any change).

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
from vipterm.services.database import Store

# The fields the history covers (a client's identity and program fields, and its standing).
FIELDS = {
    "client": ("age_group", "area_command", "referral_source", "risk_flags", "status", "closed_reason", "closed_on",
               "assigned_worker_id"),
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


def field_history(store: Store, client_id: str, field: str | None = None) -> list[FieldChange]:
    """Every recorded value of the client's fields (or of `field`), newest first."""
    from vipterm.sync.clock import physical_ms
    from vipterm.sync.merge import unpack

    if field is not None and not any(field in cols for cols in FIELDS.values()):
        from vipterm.errors import ValidationError

        known = ", ".join(c for cols in FIELDS.values() for c in cols)
        raise ValidationError(f"{field!r} is not a field with a history: {known}", field="field")
    with store.read() as session:
        if session.execute(text("SELECT 1 FROM client WHERE id = :c AND deleted_at IS NULL"),
                           {"c": client_id}).first() is None:
            raise NotFound(f"no client with id {client_id}")
        rows = session.execute(text(
            "SELECT device, hlc, tbl, col, value FROM change_log WHERE op = 'set' AND row_id = :c "
            "AND tbl IN ('client', 'client_identity') ORDER BY hlc DESC, device, seq DESC"), {"c": client_id}).all()
        workers = dict(session.execute(text("SELECT id, display_name FROM worker")).all())
    names = _device_names(store)
    out = []
    for device, hlc, tbl, col, blob in rows:
        if col not in FIELDS.get(tbl, ()) or (field is not None and col != field):
            continue
        value = unpack(blob)
        if col == "assigned_worker_id" and value is not None:
            value = workers.get(value, value)
        by = "this device" if device == store.device_id else names.get(device, f"device …{device[-8:]}")
        at = datetime(1970, 1, 1) + timedelta(milliseconds=physical_ms(hlc))
        out.append(FieldChange(at.replace(microsecond=0), col, value, device, by))
    return out


def _device_names(store: Store) -> dict[str, str]:
    try:
        from vipterm.services.workers import device_workers

        return device_workers(store)
    except Exception:  # a database with no sync roster yet: devices are named by id
        return {}
