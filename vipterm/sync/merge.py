"""The field merge: apply change records from other devices, order-independent and idempotent.

Provides `plan_merge` (read-only: what a batch of changes would do — used by `--dry-run`),
`apply_plan` (the writes, set-based with executemany), `merge` (both), `canonical_dump` (the
synced data of a database as sorted rows, to compare replicas) and `Change`, the record format.

Rules (DESIGN.md §5, docs/sync.md):
- Per field of a mutable table the highest `(hlc, device)` wins. Applying the same change twice,
  or changes in any order, ends in the same state.
- A concurrent edit — the winner's base clock is not the field's current clock, or a new change
  loses to the current value — with different values keeps the winner and, when
  `record_conflicts` (the coordinator), queues the other value in `sync_conflict`.
- A row the receiver does not have is inserted whole from its creation changes (they carry every
  column), so NOT NULL columns never see a half row; foreign keys are checked at commit
  (`defer_foreign_keys`), so the order inside a batch does not matter.
- Add-only facts (SYNC_POLICY add_only) are inserted once and never conflict; later edits to them
  are ignored and counted, except the tombstone `deleted_at`, whose earliest value wins.
- `purge` is terminal: the row, its dependants (a client's identity, contacts, referrals, ...)
  and every logged change and conflict about them are erased and remembered in `sync_purged`;
  later changes to a purged row are dropped and counted. Only a coordinator may purge.
- `from_worker`: a worker's changes to SYNC_POLICY coordinator fields of a row the receiver
  already has are refused field by field (counted); creating a row is allowed whole.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

import msgpack
import uuid6
from sqlalchemy.engine import Connection

from vipterm.domain import utcnow
from vipterm.store.models import PRIMARY_KEY, SYNC_POLICY
from vipterm.sync import clock as hlc_clock

CHUNK = 500  # ids per IN (...) list: well under SQLite's variable limit

_ALLOWED_VALUE_TYPES = (type(None), bool, int, float, str, bytes)


class Change(NamedTuple):
    """One field change as logged and as carried in bundles (a 10-item list on the wire)."""

    device: str
    seq: int
    hlc: int
    tbl: str
    row_id: str
    op: str  # set | purge
    col: str
    value: bytes | None  # msgpack of the database value
    base_hlc: int | None
    base_device: str | None


class InvalidChanges(ValueError):
    """The change records are malformed (unknown table or column, incomplete new row, ...)."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    pk: str
    columns: tuple[str, ...]  # every column, primary key first
    required: frozenset[str]  # NOT NULL, non-key
    parents: tuple[tuple[str, str], ...]  # (column, parent table) for purge cascades
    add_only: bool
    coordinator_fields: frozenset[str]


def _table_info() -> dict[str, TableInfo]:
    info = {}
    for name, policy in SYNC_POLICY.items():
        table = policy.model.__table__
        pk = PRIMARY_KEY[name]
        cols = [pk] + [c.name for c in table.columns if c.name != pk]
        required = frozenset(c.name for c in table.columns if c.name != pk and not c.nullable)
        parents = []
        for c in table.columns:
            for fk in c.foreign_keys:
                parent = fk.column.table.name
                if parent in PURGE_CASCADE_ROOTS:
                    parents.append((c.name, parent))
        info[name] = TableInfo(name, pk, tuple(cols), required, tuple(parents), policy.add_only,
                               policy.coordinator_fields)
    return info


# Tables whose rows can be purged and whose purge erases their dependants.
PURGE_CASCADE_ROOTS = {"client", "assessment", "referral"}
TABLES: dict[str, TableInfo] = {}
# Dependants, parents before children (purge deletes in reverse).
CASCADE_ORDER = ["client", "client_identity", "notification_attempt", "contact", "assessment",
                 "assessment_item", "referral", "referral_event", "outcome", "follow_up"]
PURGEABLE = frozenset(CASCADE_ORDER)


def tables() -> dict[str, TableInfo]:
    if not TABLES:
        TABLES.update(_table_info())
    return TABLES


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def unpack(blob: bytes | None) -> Any:
    """A change value as the database stores it; refuses anything but a plain scalar."""
    if blob is None:
        return None
    try:
        value = msgpack.unpackb(blob, raw=False)
    except Exception:
        raise InvalidChanges("a change value is malformed") from None
    if not isinstance(value, _ALLOWED_VALUE_TYPES):
        raise InvalidChanges("a change value is malformed")
    return value


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


# --- reading changes from the wire ------------------------------------------------------------


def parse_changes(items: Iterable[Any], *, source_device: str | None = None,
                  seq_range: tuple[int, int] | None = None) -> list[Change]:
    """Check wire records (lists of 10) and make them `Change`s; raises InvalidChanges.

    With `source_device`/`seq_range` (a worker's bundle) every record must be that device's own
    `set` change numbered inside the range. Values are decoded later, where they are used.
    """
    columns = {t: frozenset(ti.columns[1:]) for t, ti in tables().items()}
    make = Change._make
    out = []
    append = out.append
    lo, hi = seq_range if seq_range is not None else (None, None)
    for item in items:
        if type(item) is not list or len(item) != 10:
            raise InvalidChanges("a change record is malformed")
        device, seq, stamp, tbl, row_id, op, col, value, base_hlc, base_device = item
        if type(device) is not str or type(row_id) is not str or type(seq) is not int or type(stamp) is not int \
                or stamp < 0 or not device or not row_id:
            raise InvalidChanges("a change record is malformed")
        cols = columns.get(tbl)
        if cols is None:
            raise InvalidChanges("a change names an unknown table")
        if op == "set":
            if col not in cols:
                raise InvalidChanges("a change names an unknown column")
            if value is not None and type(value) is not bytes:
                raise InvalidChanges("a change value is malformed")
        elif op == "purge":
            if tbl not in PURGEABLE:
                raise InvalidChanges("a purge names a table that cannot be purged")
        else:
            raise InvalidChanges("a change has an unknown operation")
        if (base_hlc is not None and type(base_hlc) is not int) or \
                (base_device is not None and type(base_device) is not str):
            raise InvalidChanges("a change record is malformed")
        if source_device is not None and (device != source_device or op != "set" or lo is None
                                          or not lo <= seq <= hi):
            raise InvalidChanges("bundle content does not match its header (devices or sequence numbers)")
        append(make(item))
    return out


# --- the plan -----------------------------------------------------------------------------------


@dataclass
class Conflict:
    tbl: str
    row_id: str
    col: str
    kept_value: bytes | None
    kept_hlc: int
    kept_device: str
    lost_value: bytes | None
    lost_hlc: int
    lost_device: str


@dataclass
class MergeOptions:
    from_worker: bool = False  # refuse coordinator-owned fields (a coordinator importing a worker's bundle)
    record_conflicts: bool = False  # the coordinator keeps the review queue
    keep_log: bool = False  # the coordinator keeps received changes in its change log
    allow_purge: bool = True  # purges come only from a coordinator
    bundle_id: str = ""
    touch: bool = False  # mark changed rows in sync_touch (coordinator)


@dataclass
class MergePlan:
    options: MergeOptions
    changes: list[Change]
    inserts: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    updates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (tbl,row) -> {col: db value}
    versions: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    purges: list[tuple[str, str, int, str]] = field(default_factory=list)  # (tbl, row, hlc, device), cascade included
    refused: Counter = field(default_factory=Counter)  # "table.column" -> count
    reassert: list[tuple[str, str, str]] = field(default_factory=list)  # refused fields that would have won
    dropped_purged: int = 0
    ignored_add_only: int = 0
    refused_purges: int = 0
    max_hlc: int = 0
    logged: list[Change] = field(default_factory=list)

    @property
    def new_rows(self) -> dict[str, int]:
        return {t: len(rows) for t, rows in self.inserts.items() if rows}

    @property
    def updated_rows(self) -> dict[str, int]:
        c = Counter(t for t, _ in self.updates)
        return dict(c)

    @property
    def new_clients(self) -> list[str]:
        return [r["id"] for r in self.inserts.get("client", [])]

    @property
    def changed_rows(self) -> set[tuple[str, str]]:
        rows = set(self.updates)
        for t, items in self.inserts.items():
            pk = tables()[t].pk
            rows.update((t, r[pk]) for r in items)
        return rows

    def summary(self) -> dict[str, Any]:
        """Counts only (no values, no names): for the ledger, the CLI and the TUI."""
        purged = Counter(t for t, *_ in self.purges)
        return {
            "changes": len(self.changes),
            "new_rows": self.new_rows,
            "updated_rows": self.updated_rows,
            "new_clients": len(self.new_clients),
            "conflicts": len(self.conflicts),
            "refused_fields": dict(self.refused),
            "refused_purges": self.refused_purges,
            "dropped_for_purged_rows": self.dropped_purged,
            "ignored_edits_of_facts": self.ignored_add_only,
            "purged_rows": dict(purged),
        }


def _chunks(seq: list, n: int = CHUNK):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _existing_ids(conn: Connection, tbl: str, ids: list[str]) -> set[str]:
    pk = tables()[tbl].pk
    found: set[str] = set()
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.exec_driver_sql(
            f"SELECT {_q(pk)} FROM {_q(tbl)} WHERE {_q(pk)} IN ({marks})", tuple(chunk)))
    return found


def _field_versions(conn: Connection, tbl: str, ids: list[str]) -> dict[tuple[str, str], tuple[int, str]]:
    out = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row_id, col, stamp, device in conn.exec_driver_sql(
            f"SELECT row_id, col, hlc, device FROM field_version WHERE tbl = ? AND row_id IN ({marks})",
            (tbl, *chunk),
        ):
            out[(row_id, col)] = (stamp, device)
    return out


def _purged_ids(conn: Connection, tbl: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.exec_driver_sql(
            f"SELECT row_id FROM sync_purged WHERE tbl = ? AND row_id IN ({marks})", (tbl, *chunk)))
    return found


def _current_rows(conn: Connection, tbl: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    info = tables()[tbl]
    out = {}
    cols = ", ".join(_q(c) for c in info.columns)
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.exec_driver_sql(
            f"SELECT {cols} FROM {_q(tbl)} WHERE {_q(info.pk)} IN ({marks})", tuple(chunk)
        ):
            out[row[0]] = dict(zip(info.columns, row))
    return out


def _children(conn: Connection, tbl: str, col: str, parent_ids: list[str]) -> list[str]:
    pk = tables()[tbl].pk
    out = []
    for chunk in _chunks(parent_ids):
        marks = ",".join("?" * len(chunk))
        out.extend(r[0] for r in conn.exec_driver_sql(
            f"SELECT {_q(pk)} FROM {_q(tbl)} WHERE {_q(col)} IN ({marks})", tuple(chunk)))
    return out


def _cascade(conn: Connection, roots: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every existing row that depends on the purged roots (a client's identity, contacts, ...)."""
    info = tables()
    out = {t: set(ids) for t, ids in roots.items()}
    for tbl in CASCADE_ORDER:
        for col, parent in info[tbl].parents:
            parents = sorted(out.get(parent, ()))
            if parents:
                out.setdefault(tbl, set()).update(_children(conn, tbl, col, parents))
    return out


def plan_merge(conn: Connection, changes: list[Change], options: MergeOptions) -> MergePlan:
    """What merging `changes` would do, read-only. Raises InvalidChanges for an incomplete new row."""
    info = tables()
    plan = MergePlan(options=options, changes=changes)
    by_row: dict[tuple[str, str], list[Change]] = defaultdict(list)
    purge_roots: dict[str, set[str]] = defaultdict(set)
    purge_stamp: dict[tuple[str, str], tuple[int, str]] = {}
    for ch in changes:
        plan.max_hlc = max(plan.max_hlc, ch.hlc)
        if ch.op == "purge":
            if not options.allow_purge:
                plan.refused_purges += 1
                continue
            purge_roots[ch.tbl].add(ch.row_id)
            key = (ch.tbl, ch.row_id)
            purge_stamp[key] = max(purge_stamp.get(key, (ch.hlc, ch.device)), (ch.hlc, ch.device))
        else:
            by_row[(ch.tbl, ch.row_id)].append(ch)

    ids_by_table: dict[str, list[str]] = defaultdict(list)
    for tbl, row_id in by_row:
        ids_by_table[tbl].append(row_id)
    for tbl, ids in purge_roots.items():
        ids_by_table[tbl].extend(ids)

    existing = {t: _existing_ids(conn, t, ids) for t, ids in ids_by_table.items()}
    already_purged = {t: _purged_ids(conn, t, ids) for t, ids in ids_by_table.items()}

    # Purges: new roots and their dependants present here (rows already purged stay purged).
    new_roots = {t: {r for r in ids if r not in already_purged.get(t, ())} for t, ids in purge_roots.items()}
    cascade = _cascade(conn, new_roots)
    dropped: dict[str, set[str]] = defaultdict(set)
    for t, ids in already_purged.items():
        dropped[t].update(ids)
    cascade_stamp = max(purge_stamp.values()) if purge_stamp else (0, "")
    for tbl in CASCADE_ORDER:
        for row_id in sorted(cascade.get(tbl, ())):
            if row_id in already_purged.get(tbl, ()):
                continue
            stamp, device = purge_stamp.get((tbl, row_id), cascade_stamp)
            plan.purges.append((tbl, row_id, stamp, device))
            dropped[tbl].add(row_id)

    # New rows whose parent is purged (here before, or in this batch) are dropped too, transitively.
    purged_parents: set[tuple[str, str]] | None = None
    for tbl in CASCADE_ORDER:
        ti = info[tbl]
        if not ti.parents:
            continue
        for row_id in ids_by_table.get(tbl, ()):
            if row_id in existing[tbl] or row_id in dropped[tbl] or (tbl, row_id) not in by_row:
                continue
            latest = _latest_values(by_row[(tbl, row_id)])
            for col, parent in ti.parents:
                value = unpack(latest[col][1]) if col in latest else None
                if value is None:
                    continue
                if purged_parents is None:
                    purged_parents = {tuple(r) for r in conn.exec_driver_sql(
                        "SELECT tbl, row_id FROM sync_purged WHERE tbl IN ('client', 'assessment', 'referral')")}
                if value in dropped[parent] or (parent, value) in purged_parents:
                    dropped[tbl].add(row_id)
                    break

    for tbl, ids in ids_by_table.items():
        ti = info[tbl]
        present = [r for r in dict.fromkeys(ids) if r in existing[tbl] and (tbl, r) in by_row]
        versions = {} if ti.add_only else _field_versions(conn, tbl, present)
        rows_here = _current_rows(conn, tbl, present)

        for row_id in dict.fromkeys(ids):
            group = by_row.get((tbl, row_id))
            if not group:
                continue
            if row_id in dropped[tbl]:
                plan.dropped_purged += len(group)
                continue
            plan.logged.extend(group)
            if row_id not in existing[tbl]:
                _plan_new_row(plan, ti, row_id, group)
            elif ti.add_only:
                _plan_fact_edit(plan, ti, row_id, group, rows_here[row_id])
            else:
                _plan_fields(plan, ti, row_id, group, versions, rows_here[row_id])
    return plan


def _latest_values(group: list[Change]) -> dict[str, tuple[tuple[int, str], bytes | None, Change]]:
    latest: dict[str, tuple[tuple[int, str], bytes | None, Change]] = {}
    for ch in group:
        v = (ch.hlc, ch.device)
        if ch.col not in latest or v > latest[ch.col][0]:
            latest[ch.col] = (v, ch.value, ch)
    return latest


def _plan_new_row(plan: MergePlan, ti: TableInfo, row_id: str, group: list[Change]) -> None:
    latest = _latest_values(group)
    missing = ti.required - set(latest)
    if missing:
        raise InvalidChanges(f"a new {ti.name} record arrived without all its fields")
    row = {ti.pk: row_id}
    for col in ti.columns[1:]:
        row[col] = unpack(latest[col][1]) if col in latest else None
    if ti.add_only and "deleted_at" in ti.columns:
        stamps = [unpack(ch.value) for ch in group if ch.col == "deleted_at" and ch.value is not None]
        stamps = [s for s in stamps if s is not None]
        row["deleted_at"] = min(stamps) if stamps else None
    if plan.options.record_conflicts and not ti.add_only:
        # Concurrent edits of a row both made elsewhere: replay them against each other.
        for col in latest:
            _replay_field(plan, ti, row_id, col, sorted((c for c in group if c.col == col), key=lambda c: (c.hlc, c.device)))
    plan.inserts[ti.name].append(row)
    if not ti.add_only:
        for col, (version, _value, _ch) in latest.items():
            plan.versions.append((ti.name, row_id, col, version[0], version[1]))


def _replay_field(plan: MergePlan, ti: TableInfo, row_id: str, col: str, ordered: list[Change]) -> None:
    cur_version: tuple[int, str] | None = None
    cur_value: bytes | None = None
    for ch in ordered:
        v = (ch.hlc, ch.device)
        if cur_version is not None and v != cur_version and (ch.base_hlc, ch.base_device) != cur_version \
                and unpack(ch.value) != unpack(cur_value):
            plan.conflicts.append(Conflict(ti.name, row_id, col, ch.value, ch.hlc, ch.device,
                                           cur_value, cur_version[0], cur_version[1]))
        cur_version, cur_value = v, ch.value


def _plan_fact_edit(plan: MergePlan, ti: TableInfo, row_id: str, group: list[Change], row: dict) -> None:
    stamps = []
    for ch in group:
        if ch.col == "deleted_at":
            value = unpack(ch.value)
            if value is not None:
                stamps.append(value)
        else:
            plan.ignored_add_only += 1
    if stamps:
        now = row.get("deleted_at")
        earliest = min(stamps + ([now] if now is not None else []))
        if earliest != now:
            plan.updates.setdefault((ti.name, row_id), {})["deleted_at"] = earliest


def _plan_fields(plan: MergePlan, ti: TableInfo, row_id: str, group: list[Change],
                 versions: dict, row: dict) -> None:
    opts = plan.options
    by_col: dict[str, list[Change]] = defaultdict(list)
    for ch in group:
        by_col[ch.col].append(ch)
    for col, items in by_col.items():
        items.sort(key=lambda c: (c.hlc, c.device))
        cur_version = versions.get((row_id, col))
        cur_value: Any = ...  # loaded lazily: most merges never need the old value
        won: Change | None = None
        for ch in items:
            v = (ch.hlc, ch.device)
            if opts.from_worker and col in ti.coordinator_fields:
                plan.refused[f"{ti.name}.{col}"] += 1
                if (cur_version is None or v > cur_version) and (ti.name, row_id, col) not in plan.reassert:
                    plan.reassert.append((ti.name, row_id, col))
                continue
            if cur_version is not None and v == cur_version:
                continue  # the same change again
            if cur_value is ...:
                cur_value = pack(row.get(col))
            new_value = unpack(ch.value)
            if cur_version is None or v > cur_version:
                if opts.record_conflicts and cur_version is not None \
                        and (ch.base_hlc, ch.base_device) != cur_version and new_value != unpack(cur_value):
                    plan.conflicts.append(Conflict(ti.name, row_id, col, ch.value, ch.hlc, ch.device,
                                                   cur_value, cur_version[0], cur_version[1]))
                cur_version, cur_value, won = v, ch.value, ch
            elif opts.record_conflicts and new_value != unpack(cur_value):
                # A change we never held loses to the value here: concurrent, keep it for review.
                plan.conflicts.append(Conflict(ti.name, row_id, col, cur_value, cur_version[0], cur_version[1],
                                               ch.value, ch.hlc, ch.device))
        if won is not None:
            old = row.get(col)
            new = unpack(won.value)
            if new != old:
                plan.updates.setdefault((ti.name, row_id), {})[col] = new
            plan.versions.append((ti.name, row_id, col, won.hlc, won.device))


# --- writing ------------------------------------------------------------------------------------


def apply_plan(conn: Connection, plan: MergePlan, *, tick: int | None = None) -> None:
    """Write a plan inside the caller's transaction (BEGIN IMMEDIATE). `tick` marks sync_touch."""
    info = tables()
    conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    now = utcnow().isoformat(sep=" ")
    for tbl in list(SYNC_POLICY):
        rows = plan.inserts.get(tbl)
        if not rows:
            continue
        cols = info[tbl].columns
        sql = f"INSERT INTO {_q(tbl)} ({', '.join(_q(c) for c in cols)}) VALUES ({', '.join('?' * len(cols))})"
        conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])
    grouped: dict[tuple[str, tuple[str, ...]], list[tuple]] = defaultdict(list)
    for (tbl, row_id), values in plan.updates.items():
        cols = tuple(sorted(values))
        grouped[(tbl, cols)].append(tuple(values[c] for c in cols) + (row_id,))
    for (tbl, cols), params in grouped.items():
        sets = ", ".join(f"{_q(c)} = ?" for c in cols)
        conn.exec_driver_sql(f"UPDATE {_q(tbl)} SET {sets} WHERE {_q(info[tbl].pk)} = ?", params)
    if plan.versions:
        conn.exec_driver_sql(
            "INSERT INTO field_version (tbl, row_id, col, hlc, device) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tbl, row_id, col) DO UPDATE SET hlc = excluded.hlc, device = excluded.device "
            "WHERE (excluded.hlc, excluded.device) > (field_version.hlc, field_version.device)",
            plan.versions,
        )
    if plan.conflicts:
        conn.exec_driver_sql(
            "INSERT INTO sync_conflict (id, tbl, row_id, col, kept_value, kept_hlc, kept_device, lost_value, "
            "lost_hlc, lost_device, bundle_id, detected_at, status, resolution) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', '')",
            [(str(uuid6.uuid7()), c.tbl, c.row_id, c.col, c.kept_value, c.kept_hlc, c.kept_device,
              c.lost_value, c.lost_hlc, c.lost_device, plan.options.bundle_id, now) for c in plan.conflicts],
        )
    if plan.options.keep_log and plan.logged:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO change_log (device, seq, hlc, tbl, row_id, op, col, value, base_hlc, base_device) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(ch) for ch in plan.logged],
        )
    if plan.purges:
        _apply_purges(conn, plan, now)
    if tick is not None and plan.options.touch:
        touched = plan.changed_rows | {(t, r) for t, r, *_ in plan.purges if t == "client"}
        if touched:
            conn.exec_driver_sql(
                "INSERT INTO sync_touch (tbl, row_id, tick) VALUES (?, ?, ?) "
                "ON CONFLICT (tbl, row_id) DO UPDATE SET tick = excluded.tick",
                [(t, r, tick) for t, r in touched],
            )


def _apply_purges(conn: Connection, plan: MergePlan, now: str) -> None:
    info = tables()
    by_table: dict[str, list[str]] = defaultdict(list)
    for tbl, row_id, *_ in plan.purges:
        by_table[tbl].append(row_id)
    for tbl in reversed(CASCADE_ORDER):  # children first
        ids = by_table.get(tbl)
        if not ids:
            continue
        pk = info[tbl].pk
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(f"DELETE FROM {_q(tbl)} WHERE {_q(pk)} IN ({marks})", tuple(chunk))
            for side in ("field_version", "change_log", "sync_conflict", "sync_touch"):
                # The log and the review queue hold the erased values too: they go with the row.
                conn.exec_driver_sql(
                    f"DELETE FROM {side} WHERE tbl = ? AND row_id IN ({marks}) "
                    + ("AND op != 'purge'" if side == "change_log" else ""),
                    (tbl, *chunk),
                )
            if tbl == "client":
                conn.exec_driver_sql(f"DELETE FROM sync_sent_client WHERE client_id IN ({marks})", tuple(chunk))
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO sync_purged (tbl, row_id, hlc, device, purged_at) VALUES (?, ?, ?, ?, ?)",
        [(t, r, h, d, now) for t, r, h, d in plan.purges],
    )


def merge(conn: Connection, changes: list[Change], options: MergeOptions, *, tick: int | None = None) -> MergePlan:
    plan = plan_merge(conn, changes, options)
    apply_plan(conn, plan, tick=tick)
    return plan


def observe_clock(conn: Connection, remote_hlc: int, now_ms: int | None = None) -> int:
    """Move this device's clock past `remote_hlc`; returns the new clock value."""
    last = conn.exec_driver_sql("SELECT last_hlc FROM sync_state WHERE id = 1").scalar_one()
    new = hlc_clock.observe(int(last), int(remote_hlc), hlc_clock.wall_ms() if now_ms is None else now_ms)
    conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ? WHERE id = 1", (new,))
    return new


def canonical_dump(conn: Connection) -> dict[str, list[tuple]]:
    """Every synced table's rows, sorted by key: equal dumps mean equal synced data."""
    out = {}
    for tbl, ti in tables().items():
        cols = ", ".join(_q(c) for c in ti.columns)
        out[tbl] = [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM {_q(tbl)} ORDER BY {_q(ti.pk)}")]
    return out


def reassert_fields(conn: Connection, plan: MergePlan, device_id: str, wall=None) -> int:
    """Re-assert, as a new local change, each coordinator-owned field a worker tried to change.

    The refused change would otherwise win on the worker's own laptop forever (its clock is
    higher); a newer change carrying the coordinator's value brings every replica back to it.
    """
    from sqlmodel import Session

    from vipterm.sync.capture import Capture, record_changes

    if not plan.reassert:
        return 0
    info = tables()
    values = []
    for tbl, row_id, col in plan.reassert:
        row = conn.exec_driver_sql(
            f"SELECT {_q(col)} FROM {_q(tbl)} WHERE {_q(info[tbl].pk)} = ?", (row_id,)).first()
        if row is not None:
            values.append((tbl, row_id, col, row[0]))
    if values:
        session = Session(bind=conn)
        record_changes(session, Capture(device_id, wall=wall or hlc_clock.wall_ms), values)
    return len(values)


def purge_rows(conn: Connection, device_id: str, tbl: str, row_ids: list[str], wall=None) -> MergePlan:
    """A retention purge made here (coordinator): terminal, forwarded to the laptops."""
    if tbl not in PURGEABLE:
        raise InvalidChanges("this kind of record cannot be purged")
    last = conn.exec_driver_sql("SELECT last_hlc FROM sync_state WHERE id = 1").scalar_one()
    stamp = hlc_clock.tick(int(last), (wall or hlc_clock.wall_ms)())
    conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ? WHERE id = 1", (stamp,))
    changes = [Change(device_id, 0, stamp, tbl, r, "purge", "", None, None, None) for r in row_ids]
    plan = plan_merge(conn, changes, MergeOptions(allow_purge=True))
    apply_plan(conn, plan)
    return plan
