"""What goes into a bundle, and the cursors that say what each side already holds.

Provides:
- `pending_changes` / `iter_pending` / `prune_outbox`: a worker's outbox is its own rows of `change_log` after the
  sequence number the coordinator acknowledged; acknowledged rows are pruned.
- `sequence_verdict`: for a worker's bundle at the coordinator (per-device sequence numbers) and a
  return bundle at a worker (coordinator watermarks): apply, replay (nothing new) or gap (wait).
- `peer_cursors` / `update_peer`: the per-device version vector in `sync_peer`.
- `caseload_client_ids` and `return_changes`: the coordinator's return bundle for one worker —
  the whole file of each client newly in that worker's caseload, the current state of every
  caseload record changed since the worker's acknowledged watermark (by the coordinator or by
  the worker), the staff list, the service directory and the purges since then. Records are sent
  whole with each field's clock, so the worker's merge is the same order-independent rule as the
  coordinator's. The caseload is the clients assigned to the worker, nothing else: a contact once
  logged does not keep a client on a laptop.
- `erase_notices`: the clients that left a laptop's caseload (reassigned, unassigned), which its
  return bundles tell it to erase until it acknowledges one of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.engine import Connection

from vipterm.sync.field_clocks import clocks_of
from vipterm.sync.merge import CHUNK, Change, _chunks, _q, tables
from vipterm.sync.values import pack

Verdict = Literal["apply", "replay", "gap"]

# How each client-related table reaches its client: (column, via table or None).
CLIENT_LINK: dict[str, tuple[str, str | None]] = {
    "client": ("id", None),
    "client_identity": ("client_id", None),
    "notification_attempt": ("client_id", None),
    "contact": ("client_id", None),
    "assessment": ("client_id", None),
    "assessment_item": ("assessment_id", "assessment"),
    "referral": ("client_id", None),
    "referral_event": ("referral_id", "referral"),
    "outcome": ("client_id", None),
    "follow_up": ("client_id", None),
    "fact_correction": ("client_id", None),
    "consent": ("client_id", None),
    "safety_plan": ("client_id", None),
    # the custom notifications the weekly review planned for the client (coordinator-owned)
    "planned_notification": ("client_id", None),
}
ALWAYS_SENT = ("worker", "provider")  # the staff list and the service directory go to every laptop


# --- the worker's outbox -----------------------------------------------------------------------


_OUTBOX_SQL = (
    "SELECT device, seq, hlc, tbl, row_id, op, col, value, base_hlc, base_device FROM change_log "
    "WHERE device = ? AND seq > ? ORDER BY seq"
)
OUTBOX_CHUNK = 5_000  # rows read at a time when streaming the outbox into bundles


def pending_changes(conn: Connection, device_id: str, after_seq: int) -> list[Change]:
    return [Change(*r) for r in conn.exec_driver_sql(_OUTBOX_SQL, (device_id, after_seq))]


def iter_pending(
    conn: Connection, device_id: str, after_seq: int, chunk: int = OUTBOX_CHUNK
) -> Iterator[list[tuple[Any, ...]]]:
    """The outbox in sequence order, `chunk` rows at a time (rows in `Change` order): an export
    of a million changes never holds them all."""
    result = conn.exec_driver_sql(_OUTBOX_SQL, (device_id, after_seq))
    try:
        while rows := result.fetchmany(chunk):
            yield [tuple(r) for r in rows]
    finally:
        result.close()


def prune_outbox(conn: Connection, device_id: str, upto_seq: int) -> int:
    """Drop own changes the coordinator acknowledged (it holds them; field clocks stay)."""
    return conn.exec_driver_sql("DELETE FROM change_log WHERE device = ? AND seq <= ?", (device_id, upto_seq)).rowcount


def count_pending(conn: Connection, device_id: str, after_seq: int) -> int:
    return int(
        conn.exec_driver_sql(
            "SELECT count(*) FROM change_log WHERE device = ? AND seq > ?", (device_id, after_seq)
        ).scalar_one()
    )


# --- cursors ---------------------------------------------------------------------------------------


def peer_cursors(conn: Connection, device_id: str) -> dict[str, Any]:
    row = conn.exec_driver_sql(
        "SELECT received_upto, acked_upto, exported_upto, last_import_at, last_export_at FROM sync_peer "
        "WHERE device_id = ?",
        (device_id,),
    ).first()
    if row is None:
        return {"received_upto": 0, "acked_upto": 0, "exported_upto": 0, "last_import_at": None, "last_export_at": None}
    return dict(zip(("received_upto", "acked_upto", "exported_upto", "last_import_at", "last_export_at"), row))


def update_peer(
    conn: Connection,
    device_id: str,
    *,
    received_upto: int | None = None,
    acked_upto: int | None = None,
    exported_upto: int | None = None,
    imported_at: datetime | None = None,
    exported_at: datetime | None = None,
) -> None:
    """Move cursors forward only (a late, older bundle never moves them back)."""
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO sync_peer (device_id, received_upto, acked_upto, exported_upto) VALUES (?, 0, 0, 0)",
        (device_id,),
    )
    for col, value in (("received_upto", received_upto), ("acked_upto", acked_upto), ("exported_upto", exported_upto)):
        if value is not None:
            conn.exec_driver_sql(
                f"UPDATE sync_peer SET {col} = max({col}, ?) WHERE device_id = ?", (int(value), device_id)
            )
    for col, when in (("last_import_at", imported_at), ("last_export_at", exported_at)):
        if when is not None:
            conn.exec_driver_sql(
                f"UPDATE sync_peer SET {col} = ? WHERE device_id = ?", (when.isoformat(sep=" "), device_id)
            )


def sequence_verdict(held_upto: int, first: int | None, last: int | None) -> Verdict:
    """Worker bundles carry seq first..last; return bundles carry (since, upto] watermarks,
    passed here as first = since + 1, last = upto."""
    if first is None or last is None:
        return "apply"  # nothing sequenced (an acknowledgement only)
    if last <= held_upto:
        return "replay"
    if first > held_upto + 1:
        return "gap"
    return "apply"


# --- the coordinator's return bundle -----------------------------------------------------------


def caseload_client_ids(conn: Connection, worker_id: str) -> set[str]:
    """Clients assigned to the worker: all a laptop ever receives (the caseload boundary)."""
    return {r[0] for r in conn.exec_driver_sql("SELECT id FROM client WHERE assigned_worker_id = ?", (worker_id,))}


def erase_notices(conn: Connection, *, for_device: str, caseload: set[str], since: int, watermark: int) -> list[str]:
    """Clients the laptop holds that are no longer in its caseload: it must erase them.

    A client sent to the laptop (`sync_sent_client`) that left the caseload is noted in
    `sync_erase` and no longer counted as sent (if it comes back, it is sent whole again). The
    note stays in every return bundle until the laptop acknowledges one made after it.
    """
    conn.exec_driver_sql("DELETE FROM sync_erase WHERE device_id = ? AND sent_wm <= ?", (for_device, since))
    sent = {
        r[0] for r in conn.exec_driver_sql("SELECT client_id FROM sync_sent_client WHERE device_id = ?", (for_device,))
    }
    left = sorted(sent - caseload)
    if left:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO sync_erase (device_id, client_id, sent_wm) VALUES (?, ?, ?)",
            [(for_device, c, watermark) for c in left],
        )
        for chunk in _chunks(left):
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(
                f"DELETE FROM sync_sent_client WHERE device_id = ? AND client_id IN ({marks})", (for_device, *chunk)
            )
    erase = [
        r[0]
        for r in conn.exec_driver_sql(
            "SELECT client_id FROM sync_erase WHERE device_id = ? ORDER BY client_id", (for_device,)
        )
    ]
    back = [c for c in erase if c in caseload]  # reassigned back: sent whole again instead
    if back:
        conn.exec_driver_sql(
            "DELETE FROM sync_erase WHERE device_id = ? AND client_id = ?", [(for_device, c) for c in back]
        )
    return [c for c in erase if c not in caseload]


def _touched(conn: Connection, coordinator_device: str, since: int) -> set[tuple[str, str]]:
    rows = set(
        conn.exec_driver_sql(
            "SELECT DISTINCT tbl, row_id FROM change_log WHERE device = ? AND hlc > ?", (coordinator_device, since)
        )
    )
    rows.update(conn.exec_driver_sql("SELECT tbl, row_id FROM sync_touch WHERE tick > ?", (since,)))
    return {tuple(r) for r in rows}


def _rows_as_changes(conn: Connection, tbl: str, rows: list[tuple[Any, ...]], coordinator_device: str) -> list[Change]:
    ti = tables()[tbl]
    # Facts carry a clock only on their tombstone (set or reset after creation).
    versions = clocks_of(conn, tbl, [r[0] for r in rows])
    out = []
    for row in rows:
        row_id = row[0]
        for col, value in zip(ti.columns[1:], row[1:]):
            # A field never edited since a bulk load has no clock: (0, coordinator) loses to any edit.
            stamp, device = versions.get((row_id, col), (0, coordinator_device))
            out.append(Change(device, 0, stamp, tbl, row_id, "set", col, pack(value), None, None))
    return out


def _client_rows(conn: Connection, tbl: str, client_ids: list[str]) -> list[tuple[str, tuple[Any, ...]]]:
    """(client id, full row) of `tbl` for these clients."""
    ti = tables()[tbl]
    link, via = CLIENT_LINK[tbl]
    cols = ", ".join(f"t.{_q(c)}" for c in ti.columns)
    out: list[tuple[str, tuple[Any, ...]]] = []
    for chunk in _chunks(client_ids, CHUNK):
        marks = ",".join("?" * len(chunk))
        if via is None:
            sql = f"SELECT t.{_q(link)}, {cols} FROM {_q(tbl)} t WHERE t.{_q(link)} IN ({marks})"
        else:
            sql = (
                f"SELECT p.client_id, {cols} FROM {_q(tbl)} t JOIN {_q(via)} p ON p.id = t.{_q(link)} "
                f"WHERE p.client_id IN ({marks})"
            )
        out.extend((r[0], tuple(r[1:])) for r in conn.exec_driver_sql(sql, tuple(chunk)))
    return out


def return_changes(
    conn: Connection, *, for_device: str, worker_id: str, since: int, coordinator_device: str
) -> tuple[list[Change], list[str]]:
    """The records for one worker's return bundle, and the clients sent whole for the first time."""
    caseload = sorted(caseload_client_ids(conn, worker_id))
    confirmed = {
        r[0]
        for r in conn.exec_driver_sql(
            "SELECT client_id FROM sync_sent_client WHERE device_id = ? AND first_wm <= ?", (for_device, since)
        )
    }
    known = {
        r[0] for r in conn.exec_driver_sql("SELECT client_id FROM sync_sent_client WHERE device_id = ?", (for_device,))
    }
    whole = {c for c in caseload if c not in confirmed}
    touched = _touched(conn, coordinator_device, since)
    changes: list[Change] = []
    for tbl in ALWAYS_SENT:
        ti = tables()[tbl]
        rows = [
            tuple(r)
            for r in conn.exec_driver_sql(
                f"SELECT {', '.join(_q(c) for c in ti.columns)} FROM {_q(tbl)} ORDER BY {_q(ti.pk)}"
            )
        ]
        changes.extend(_rows_as_changes(conn, tbl, rows, coordinator_device))
    if caseload:
        for tbl in CLIENT_LINK:
            picked = [
                row
                for client_id, row in _client_rows(conn, tbl, caseload)
                if client_id in whole or (tbl, row[0]) in touched
            ]
            changes.extend(_rows_as_changes(conn, tbl, picked, coordinator_device))
    purged = conn.exec_driver_sql(
        "SELECT row_id, hlc, device FROM sync_purged WHERE tbl = 'client' AND hlc > ? ORDER BY row_id", (since,)
    )
    changes.extend(
        Change(device, 0, stamp, "client", row_id, "purge", "", None, None, None) for row_id, stamp, device in purged
    )
    new_whole = sorted(c for c in whole if c not in known)
    return changes, new_whole


def mark_sent(conn: Connection, for_device: str, client_ids: list[str], watermark: int) -> None:
    if client_ids:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO sync_sent_client (device_id, client_id, first_wm) VALUES (?, ?, ?)",
            [(for_device, c, watermark) for c in client_ids],
        )


def group_counts(changes: list[Change]) -> dict[str, int]:
    counts: dict[str, set[str]] = defaultdict(set)
    for ch in changes:
        counts[ch.tbl].add(ch.row_id)
    return {t: len(ids) for t, ids in counts.items()}
