"""The quarantine table, low level: hold a change (or a whole bundle) for the coordinator's review.

Provides `Held` (one item to hold: what, why, from which device and bundle, the change records),
`hold` (write items inside the caller's transaction), `pack_changes` / `unpack_changes` (the
change records as stored) and `KINDS` / `CODES`. The use cases that read and decide items
(list, show, accept, discard) are `vipterm.services.quarantine`.

Reasons are one line and never carry a value or a name: the values stay inside the encrypted
database, in `changes`, for `show`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import uuid6
from sqlalchemy.engine import Connection

from vipterm.sync.values import pack, unpack_records

if TYPE_CHECKING:
    from vipterm.sync.merge import Change

KINDS = ("change", "delete", "bundle")
# Machine-readable reason codes (the reason text says the rest).
CODES = {
    "scope": "outside the sending device's write scope",
    "invalid": "a value fails the rules",
    "missing-reference": "refers to a record that does not exist",
    "duplicate": "a pseudonym already in use",
    "delete": "a worker's delete, waiting for confirmation",
    "clock-ahead": "a bundle whose clock is ahead",
    "revoked": "a bundle from a revoked device",
}


@dataclass
class Held:
    kind: str
    code: str
    reason: str
    tbl: str = ""
    row_id: str = ""
    col: str = ""  # "" when a whole new record is held
    changes: list[Any] = field(default_factory=list)  # merge.Change records
    device: str = ""
    worker_id: str = ""


def pack_changes(changes: Iterable[Change]) -> bytes:
    return pack([list(c) for c in changes])


def unpack_changes(blob: bytes | None) -> list[Change]:
    from vipterm.sync.merge import Change  # merge imports this module

    return [Change(*item) for item in unpack_records(blob)]


def hold(
    conn: Connection, items: list[Held], *, bundle_id: str, now: str, device: str = "", worker_id: str = ""
) -> list[str]:
    """Write `items` as open quarantine entries; returns their ids."""
    ids = [str(uuid6.uuid7()) for _ in items]
    if items:
        conn.exec_driver_sql(
            "INSERT INTO sync_quarantine (id, kind, code, reason, bundle_id, device, worker_id, tbl, row_id, col, "
            "changes, data, detected_at, status, decision, decided_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 'open', '', NULL)",
            [
                (
                    i,
                    h.kind,
                    h.code,
                    h.reason[:300],
                    bundle_id,
                    h.device or device,
                    h.worker_id or worker_id,
                    h.tbl,
                    h.row_id,
                    h.col,
                    pack_changes(h.changes),
                    now,
                )
                for i, h in zip(ids, items)
            ],
        )
    return ids


def hold_bundle(
    conn: Connection, raw: bytes, *, code: str, reason: str, bundle_id: str, device: str, worker_id: str = "", now: str
) -> str:
    """Keep a whole bundle file (still encrypted) for review; returns the entry id."""
    entry = str(uuid6.uuid7())
    conn.exec_driver_sql(
        "INSERT INTO sync_quarantine (id, kind, code, reason, bundle_id, device, worker_id, tbl, row_id, col, "
        "changes, data, detected_at, status, decision, decided_at) "
        "VALUES (?, 'bundle', ?, ?, ?, ?, ?, '', '', '', NULL, ?, ?, 'open', '', NULL)",
        (entry, code, reason[:300], bundle_id, device, worker_id, raw, now),
    )
    return entry
