"""Change capture: every write to a synced table appends to the change log, in the same transaction.

It sits in one place, a SQLAlchemy `before_flush` hook on every Session, so no screen or service
can forget it. A session opts in by carrying a `Capture` in `session.info["capture"]`
(`vipterm.services.database.Store.write()` does that); a session that writes a synced table
without one is refused, except bulk loaders that say `capture=False` on purpose (demo baseline).

Per flush: one hybrid-clock timestamp, one sequence number per field change (no gaps: the
counter lives in `sync_state` and is bumped inside the same BEGIN IMMEDIATE transaction), the
field's previous clock as the base clock, and the field clock moved to the new timestamp.
A rolled-back transaction takes its change rows and counter bump with it.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, Dialect, event, inspect, select, text
from sqlalchemy.orm import Session
from sqlmodel import SQLModel
from sqlmodel import col as column

from vipterm.store.models import PRIMARY_KEY, SYNC_POLICY, SyncState, table_of
from vipterm.sync import clock as hlc
from vipterm.sync.field_clocks import WHOLE_RECORD, Clock, clocks_of
from vipterm.sync.values import pack

_SYNCED_BY_CLASS = {policy.model: name for name, policy in SYNC_POLICY.items()}


class UncapturedWrite(RuntimeError):
    """A synced table was written through a session that does not capture changes."""


class PhysicalDelete(RuntimeError):
    """Synced rows are never deleted physically: set `deleted_at` (a tombstone) instead."""


@dataclass
class Capture:
    """What a capturing session needs: whose device writes, and a wall clock."""

    device_id: str
    wall: Callable[[], int] = hlc.wall_ms
    written: list[tuple[str, str]] = field(default_factory=list)  # (table, row id) of this session


_processors: dict[tuple[str, str], Callable[[Any], Any] | None] = {}


def value_processor(dialect: Dialect, table: str, column: Column[Any]) -> Callable[[Any], Any] | None:
    """What turns a column's Python value into the value SQLite stores (None: nothing to do)."""
    key = (table, column.key)
    if key not in _processors:
        _processors[key] = column.type.dialect_impl(dialect).bind_processor(dialect)
    return _processors[key]


def stored_value(dialect: Dialect, table: str, column: Column[Any], value: Any) -> Any:
    """The value as SQLite stores it (dates as ISO text, booleans as 0/1): what a change carries."""
    if value is None:
        return None
    proc = value_processor(dialect, table, column)
    return proc(value) if proc else value


_db_value = stored_value  # the name the demo-data generator imports it by


def _row_changes(session: Session, obj: SQLModel, is_new: bool) -> list[tuple[str, Any]]:
    state = inspect(obj)
    table = table_of(obj)
    pk = PRIMARY_KEY[table.name]
    dialect = session.get_bind().dialect
    out = []
    for table_column in table.columns:
        if table_column.key == pk:
            continue
        if is_new:
            value = getattr(obj, table_column.key)
        else:
            hist = state.attrs[table_column.key].history
            if not hist.added:
                continue
            value = hist.added[0]
            if hist.deleted and hist.deleted[0] == value:
                continue
        out.append((table_column.key, stored_value(dialect, table.name, table_column, value)))
    return out


@event.listens_for(Session, "before_flush")
def _capture_flush(session: Session, flush_context: Any, instances: Any) -> None:
    synced_new = [o for o in session.new if type(o) in _SYNCED_BY_CLASS]
    synced_dirty = [o for o in session.dirty if type(o) in _SYNCED_BY_CLASS and session.is_modified(o)]
    if any(type(o) in _SYNCED_BY_CLASS for o in session.deleted):
        raise PhysicalDelete("synced records are kept as tombstones: set deleted_at instead of deleting")
    if not synced_new and not synced_dirty:
        return
    capture = session.info.get("capture", None)
    if capture is False:
        return  # a bulk load that is deliberately not captured (the demo baseline)
    if not isinstance(capture, Capture):
        raise UncapturedWrite("synced tables must be written through Store.write()")

    pending: list[tuple[str, str, str, Any]] = []  # (table, row id, column, db value)
    created: set[tuple[str, str]] = set()
    for obj, is_new in [(o, True) for o in synced_new] + [(o, False) for o in synced_dirty]:
        table = table_of(obj).name
        row_id = getattr(obj, PRIMARY_KEY[table])
        for col, value in _row_changes(session, obj, is_new):
            pending.append((table, row_id, col, value))
        capture.written.append((table, row_id))
        if is_new:
            created.add((table, row_id))
    if pending:
        record_changes(session, capture, pending, created=created)


def _versioned(table: str, row_id: str, col: str, created: AbstractSet[tuple[str, str]]) -> bool:
    """Mutable fields carry a clock; of a fact only the tombstone does, once it is set or reset
    (a new fact needs none: it is inserted once)."""
    if not SYNC_POLICY[table].add_only:
        return True
    return col == "deleted_at" and (table, row_id) not in created


def record_changes(
    session: Session,
    capture: Capture,
    changes: list[tuple[str, str, str, Any]],
    created: AbstractSet[tuple[str, str]] = frozenset(),
) -> int:
    """Append `changes` (table, row id, column, db value) to the change log; returns their hlc.

    Also used by writers that bypass the ORM (bulk imports), so capture rules stay in one place.
    `created`: the (table, row id) of records new in this flush.
    """
    conn = session.connection()
    state = conn.execute(
        select(column(SyncState.next_seq), column(SyncState.last_hlc)).where(column(SyncState.id) == 1)
    ).one()
    stamp = hlc.tick(state.last_hlc, capture.wall())
    seq = state.next_seq

    # A record new in this flush has no field clocks to base on yet (its id was just made): only
    # the others are looked up, which keeps a bulk import from querying once per new row.
    mutable_keys = [(t, r, c) for t, r, c, _ in changes if (t, r) not in created and _versioned(t, r, c, created)]
    bases = _field_versions(conn, mutable_keys)
    # Plain tuples through the driver's executemany: a bulk import logs about a million of these.
    device = capture.device_id
    rows: list[tuple[str, int, int, str, str, str, str, bytes, int | None, str | None]] = []
    versions = []
    packed: dict[tuple[type, Any], bytes] = {}  # values repeat (None, areas, days): packed once
    record: tuple[str, str] | None = None  # a record's changes come together: looked up once
    new_record = False
    for table, row_id, col, value in changes:
        key = (type(value), value)
        blob = packed.get(key)
        if blob is None:
            blob = packed[key] = pack(value)
        if record != (table, row_id):
            record = (table, row_id)
            new_record = record in created
        # A new record has no clocks to base on; its fields share the one clock written below.
        base = None if new_record else bases.get((table, row_id, col))
        rows.append(
            (device, seq, stamp, table, row_id, "set", col, blob, base[0] if base else None, base[1] if base else None)
        )
        seq += 1
        if not new_record and _versioned(table, row_id, col, created):
            versions.append((table, row_id, col, stamp, device))
    # A new record's values all carry this flush's clock: one `*` clock stands for every field
    # (both writers log every column of a new record). Facts are inserted once and need none.
    versions.extend(
        (table, row_id, WHOLE_RECORD, stamp, device)
        for table, row_id in sorted(created)
        if not SYNC_POLICY[table].add_only
    )
    conn.exec_driver_sql(
        "INSERT INTO change_log (device, seq, hlc, tbl, row_id, op, col, value, base_hlc, base_device) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    if created:
        # Provenance: a record made here was made on this device and came in no bundle.
        made_at = hlc.physical_ms(stamp)
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO sync_origin (tbl, row_id, device, bundle_id, at) "
            "VALUES (?, ?, ?, '', datetime(? / 1000, 'unixepoch'))",
            [(t, r, device, made_at) for t, r in sorted(created)],
        )
    if versions:
        conn.exec_driver_sql(
            "INSERT INTO field_version (tbl, row_id, col, hlc, device) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tbl, row_id, col) DO UPDATE SET hlc = excluded.hlc, device = excluded.device",
            versions,
        )
    conn.execute(
        text("UPDATE sync_state SET next_seq = :seq, last_hlc = :hlc WHERE id = 1"),
        {"seq": seq, "hlc": stamp},
    )
    return stamp


def _field_versions(conn: Connection, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], Clock]:
    rows_by_table: dict[str, set[str]] = {}
    for t, r, _c in keys:
        rows_by_table.setdefault(t, set()).add(r)
    found: dict[tuple[str, str, str], Clock] = {}
    for t, row_ids in rows_by_table.items():
        for (r, c), clock in clocks_of(conn, t, sorted(row_ids)).items():
            found[(t, r, c)] = clock
    return {key: found[key] for key in keys if key in found}
