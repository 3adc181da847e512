"""Provenance of records: which device made each one, and which bundle brought it here.

`sync_origin` (local, never synced) holds one line per record: capture writes it for a record made
on this device (bundle ""), an import for each record it inserts (the bundle's id). A coordinator
learns a record's device from the laptop's bundle that carried it; a laptop learns it from the
coordinator's return bundle, which lists the device each of its records was made on (`origins`:
the coordinator signs the bundle, so the list is as trusted as the records).

Provides `record_arrivals` (after an import's merge), `origins_for` (what a return bundle tells)
and `origins_of` (read back: (tbl, row id) → `Origin`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from vipterm.store.models import PRIMARY_KEY

CHUNK = 500
_MAX_ID = 64  # a device id is a UUID; anything longer in a bundle's list is not one


@dataclass(frozen=True)
class Origin:
    device: str
    bundle_id: str  # "" when made on this device
    at: datetime | None  # when it was made here, or when its bundle brought it


def record_arrivals(
    conn: Connection,
    inserts: dict[str, list[dict[str, Any]]],
    sender: str,
    bundle_id: str,
    now: datetime,
    origins: Any = None,
) -> int:
    """Note where each record an import inserted came from. `sender`: the bundle's source device
    (the maker of everything in a laptop's bundle); `origins`: a return bundle's list of
    [table, row id, device] naming the device that made each record (others: the sender)."""
    told: dict[tuple[str, str], str] = {}
    if isinstance(origins, list):
        for item in origins:
            if (
                isinstance(item, (list, tuple))
                and len(item) == 3
                and all(isinstance(x, str) for x in item)
                and 0 < len(item[2]) <= _MAX_ID
            ):
                told[(item[0], item[1])] = item[2]
    rows = []
    for tbl, items in inserts.items():
        pk = PRIMARY_KEY.get(tbl)
        if pk is None:
            continue
        for row in items:
            row_id = row.get(pk)
            if isinstance(row_id, str):
                rows.append((tbl, row_id, told.get((tbl, row_id), sender), bundle_id, now.isoformat(sep=" ")))
    if rows:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO sync_origin (tbl, row_id, device, bundle_id, at) VALUES (?, ?, ?, ?, ?)", rows
        )
    return len(rows)


def origins_for(conn: Connection, keys: Iterable[tuple[str, str]]) -> list[list[str]]:
    """[table, row id, device] for these records, where known (what a return bundle tells)."""
    by_table: dict[str, set[str]] = {}
    for tbl, row_id in keys:
        by_table.setdefault(tbl, set()).add(row_id)
    out: list[list[str]] = []
    for tbl, ids in sorted(by_table.items()):
        ordered = sorted(ids)
        for i in range(0, len(ordered), CHUNK):
            chunk = ordered[i : i + CHUNK]
            marks = ",".join("?" * len(chunk))
            out.extend(
                [tbl, r, d]
                for r, d in conn.exec_driver_sql(
                    f"SELECT row_id, device FROM sync_origin WHERE tbl = ? AND row_id IN ({marks})", (tbl, *chunk)
                )
            )
    return out


def origins_of(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Origin]:
    """(table, row id) → where it came from, for those of `keys` this device knows."""
    by_table: dict[str, set[str]] = {}
    for tbl, row_id in keys:
        by_table.setdefault(tbl, set()).add(row_id)
    out: dict[tuple[str, str], Origin] = {}
    for tbl, ids in by_table.items():
        ordered = sorted(ids)
        for i in range(0, len(ordered), CHUNK):
            chunk = ordered[i : i + CHUNK]
            marks = ",".join("?" * len(chunk))
            for r, d, b, at in conn.exec_driver_sql(
                f"SELECT row_id, device, bundle_id, at FROM sync_origin WHERE tbl = ? AND row_id IN ({marks})",
                (tbl, *chunk),
            ):
                out[(tbl, r)] = Origin(d, b, _parse(at))
    return out


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
