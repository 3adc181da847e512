"""The field merge: apply change records from other devices, order-independent and idempotent.

Provides `plan_merge` (read-only: what a batch of changes would do — used by `--dry-run`),
`apply_plan` (the writes, set-based with executemany), `merge` (both), `canonical_dump` (the
synced data of a database as sorted rows, to compare replicas) and `Change`, the record format.

Rules (docs/sync.md "Merge rules"; why: docs/architecture.md):
- Per field of a mutable table the highest `(hlc, device)` wins. Applying the same change twice,
  or changes in any order, ends in the same state.
- A concurrent edit — the winner's base clock is not the field's current clock, or a new change
  loses to the current value — with different values keeps the winner and, when
  `record_conflicts` (the coordinator), queues the other value in `sync_conflict`.
- A row the receiver does not have is inserted whole from its creation changes (they carry every
  column), so NOT NULL columns never see a half row; foreign keys are checked at commit
  (`defer_foreign_keys`), so the order inside a batch does not matter.
- Add-only facts (SYNC_POLICY add_only) are inserted once and never conflict; later edits to them
  are ignored and counted, except the tombstone `deleted_at`, which follows the per-field rule
  (so a coordinator can restore a record a worker deleted).
- Admission (`options.validate`, and `options.scope` for a laptop's bundle at the coordinator):
  before anything is planned, every new record and every changed field passes the value rules
  (`vipterm.sync.validate`), its references must exist (here or earlier in the batch), a new
  pseudonym must be unused, and the sending device must be allowed to make it
  (`vipterm.sync.scope`). What fails is neither applied nor dropped: it goes to `plan.held`, which
  `apply_plan` writes to the quarantine (`vipterm.sync.quarantine`). A refused field that would
  have won is re-asserted by the coordinator (`reassert_fields`) so the laptop returns to the
  coordinator's value. A worker's tombstone in scope is applied and opened for review.
- `purge` is terminal: the row, its dependants (a client's identity, contacts, referrals, ...)
  and every logged change and conflict about them are erased and remembered in `sync_purged`;
  later changes to a purged row are dropped and counted. Only a coordinator may purge.
- `from_worker`: a worker's changes to SYNC_POLICY coordinator fields of a row the receiver
  already has are refused field by field (counted); creating a row is allowed whole.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import uuid6
from sqlalchemy.engine import Connection

from vipterm.domain import utcnow
from vipterm.store.models import PRIMARY_KEY, SYNC_POLICY
from vipterm.sync import clock as hlc_clock
from vipterm.sync import quarantine as held_store
from vipterm.sync import scope as write_scope
from vipterm.sync import validate as rules
from vipterm.sync.field_clocks import clocks_of
from vipterm.sync.values import InvalidChanges, pack, unpack

T = TypeVar("T")

CHUNK = 500  # ids per IN (...) list: well under SQLite's variable limit


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
        table = policy.table
        pk = PRIMARY_KEY[name]
        cols = [pk] + [c.name for c in table.columns if c.name != pk]
        required = frozenset(c.name for c in table.columns if c.name != pk and not c.nullable)
        parents = []
        for c in table.columns:
            for fk in c.foreign_keys:
                parent = fk.column.table.name
                if parent in PURGE_CASCADE_ROOTS:
                    parents.append((c.name, parent))
        info[name] = TableInfo(
            name, pk, tuple(cols), required, tuple(parents), policy.add_only, policy.coordinator_fields
        )
    return info


# Tables whose rows can be purged and whose purge erases their dependants.
PURGE_CASCADE_ROOTS = {"client", "assessment", "referral"}
TABLES: dict[str, TableInfo] = {}
# Dependants, parents before children (purge deletes in reverse).
CASCADE_ORDER = [
    "client",
    "client_identity",
    "notification_attempt",
    "contact",
    "assessment",
    "assessment_item",
    "referral",
    "referral_event",
    "outcome",
    "follow_up",
    "fact_correction",
    "consent",
    "safety_plan",
    # a client's planned notifications and review candidacies go with it (erase, purge)
    "planned_notification",
    "review_candidate",
]
PURGEABLE = frozenset(CASCADE_ORDER)


def tables() -> dict[str, TableInfo]:
    if not TABLES:
        TABLES.update(_table_info())
    return TABLES


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- reading changes from the wire ------------------------------------------------------------


def parse_changes(
    items: Iterable[Any], *, source_device: str | None = None, seq_range: tuple[int, int] | None = None
) -> list[Change]:
    """Check wire records (lists of 10) and make them `Change`s; raises InvalidChanges.

    With `source_device`/`seq_range` (a worker's bundle) every record must be that device's own
    `set` change numbered inside the range. Values are decoded later, where they are used.
    """
    columns = {t: frozenset(ti.columns[1:]) for t, ti in tables().items()}
    make = Change._make
    out: list[Change] = []
    append = out.append
    lo, hi = seq_range if seq_range is not None else (None, None)
    for item in items:
        if type(item) is not list or len(item) != 10:
            raise InvalidChanges("a change record is malformed")
        device, seq, stamp, tbl, row_id, op, col, value, base_hlc, base_device = item
        if (
            type(device) is not str
            or type(row_id) is not str
            or type(seq) is not int
            or type(stamp) is not int
            or stamp < 0
            or not device
            or not row_id
        ):
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
        if (base_hlc is not None and type(base_hlc) is not int) or (
            base_device is not None and type(base_device) is not str
        ):
            raise InvalidChanges("a change record is malformed")
        if source_device is not None and (
            device != source_device or op != "set" or lo is None or hi is None or not lo <= seq <= hi
        ):
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
    # Keep received changes in the change log: all (True), none (False), or those of these tables
    # (the coordinator keeps clients' and identities' changes: each field's history).
    keep_log: bool | frozenset[str] = False
    allow_purge: bool = True  # purges come only from a coordinator
    bundle_id: str = ""
    touch: bool = False  # mark changed rows in sync_touch (coordinator)
    validate: bool = True  # hold changes that fail the value rules or reference missing records
    scope: write_scope.Scope | None = None  # the sending device's write scope (a laptop's bundle)
    # "Not in the future" is judged against each change's clock, or this (the bundle's clock) when
    # later: a return bundle carries records with the clocks of their fields, a fact none.
    made_at_least_ms: int = 0


@dataclass
class MergePlan:
    options: MergeOptions
    changes: list[Change]
    inserts: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    updates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (tbl,row) -> {col: db value}
    versions: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    purges: list[tuple[str, str, int, str]] = field(default_factory=list)  # (tbl, row, hlc, device), cascade included
    refused: Counter[str] = field(default_factory=Counter)  # "table.column" -> count
    reassert: list[tuple[str, str, str]] = field(default_factory=list)  # refused fields that would have won
    dropped_purged: int = 0
    ignored_add_only: int = 0
    refused_purges: int = 0
    max_hlc: int = 0
    logged: list[Change] = field(default_factory=list)
    held: list[held_store.Held] = field(default_factory=list)  # for the quarantine
    # (table, row id) -> (latest changes, values) of new records, decoded once by the admission
    prepared: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict, repr=False)

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
            "quarantined": sum(1 for h in self.held if h.kind != "delete"),
            "quarantined_by_reason": dict(Counter(h.code for h in self.held if h.kind != "delete")),
            "deletes_for_review": sum(1 for h in self.held if h.kind == "delete"),
        }


def _chunks(seq: list[T], n: int = CHUNK) -> Iterator[list[T]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _existing_ids(conn: Connection, tbl: str, ids: list[str]) -> set[str]:
    pk = tables()[tbl].pk
    found: set[str] = set()
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        found.update(
            r[0]
            for r in conn.exec_driver_sql(f"SELECT {_q(pk)} FROM {_q(tbl)} WHERE {_q(pk)} IN ({marks})", tuple(chunk))
        )
    return found


def _purged_ids(conn: Connection, tbl: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        found.update(
            r[0]
            for r in conn.exec_driver_sql(
                f"SELECT row_id FROM sync_purged WHERE tbl = ? AND row_id IN ({marks})", (tbl, *chunk)
            )
        )
    return found


def _current_rows(conn: Connection, tbl: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    info = tables()[tbl]
    out = {}
    cols = ", ".join(_q(c) for c in info.columns)
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.exec_driver_sql(f"SELECT {cols} FROM {_q(tbl)} WHERE {_q(info.pk)} IN ({marks})", tuple(chunk)):
            out[row[0]] = dict(zip(info.columns, row))
    return out


def _children(conn: Connection, tbl: str, col: str, parent_ids: list[str]) -> list[str]:
    pk = tables()[tbl].pk
    out: list[str] = []
    for chunk in _chunks(parent_ids):
        marks = ",".join("?" * len(chunk))
        out.extend(
            r[0]
            for r in conn.exec_driver_sql(f"SELECT {_q(pk)} FROM {_q(tbl)} WHERE {_q(col)} IN ({marks})", tuple(chunk))
        )
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


# --- admission: value rules, references, unique pseudonyms, write scope ----------------------------

_REFS: dict[str, tuple[tuple[str, str], ...]] = {}


def _references(tbl: str) -> tuple[tuple[str, str], ...]:
    """(column, parent table) of every foreign key of `tbl`."""
    if not _REFS:
        for name, policy in SYNC_POLICY.items():
            _REFS[name] = tuple((c.name, fk.column.table.name) for c in policy.table.columns for fk in c.foreign_keys)
    return _REFS[tbl]


def _lookup(conn: Connection, tbl: str, cols: tuple[str, ...], ids: Iterable[str]) -> dict[str, tuple[Any, ...]]:
    pk = tables()[tbl].pk
    out: dict[str, tuple[Any, ...]] = {}
    ids = sorted(set(ids))
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.exec_driver_sql(
            f"SELECT {_q(pk)}{''.join(', ' + _q(c) for c in cols)} FROM {_q(tbl)} WHERE {_q(pk)} IN ({marks})",
            tuple(chunk),
        ):
            out[row[0]] = tuple(row[1:])
    return out


def _made_ms(changes: Iterable[Change]) -> int:
    return hlc_clock.physical_ms(max(c.hlc for c in changes))


def _admit(
    conn: Connection,
    plan: MergePlan,
    by_row: dict[tuple[str, str], list[Change]],
    existing: dict[str, set[str]],
    dropped: dict[str, set[str]],
) -> None:
    """Hold back every change that fails the rules or the sender's scope (see the module docstring).

    Mutates `by_row`: held new records leave it whole, held field changes leave their group.
    Tables are visited parents first (SYNC_POLICY order), so a record may refer to one admitted
    earlier in the same batch, and never to one held back.
    """
    info = tables()
    scope = plan.options.scope
    worker_scope = scope is not None and not scope.coordinator
    device = scope.device if scope else ""
    worker = scope.worker_id if scope else ""

    def hold(kind: str, code: str, reason: str, tbl: str, row_id: str, col: str, changes: list[Change]) -> None:
        plan.held.append(
            held_store.Held(
                kind,
                code,
                reason,
                tbl,
                row_id,
                col,
                list(changes),
                device=device or (changes[0].device if changes else ""),
                worker_id=worker,
            )
        )

    # New records: their latest values, whole.
    new_rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    incomplete: list[tuple[str, str]] = []
    for (tbl, row_id), group in by_row.items():
        if row_id in dropped[tbl] or row_id in existing[tbl]:
            continue
        latest = _latest_values(group)
        if info[tbl].required - set(latest):
            incomplete.append((tbl, row_id))
            continue
        values: dict[str, Any] = {info[tbl].pk: row_id}
        for col in info[tbl].columns[1:]:
            values[col] = unpack(latest[col][1]) if col in latest else None
        new_rows[tbl][row_id] = values
        plan.prepared[(tbl, row_id)] = (latest, values)
    for tbl, row_id in incomplete:
        hold(
            "change",
            "missing-reference",
            f"a change to a {tbl.replace('_', ' ')} record that does not exist here",
            tbl,
            row_id,
            "",
            by_row.pop((tbl, row_id)),
        )

    # What the checks read from the database, in a few set-based queries.
    want: dict[str, set[str]] = defaultdict(set)  # parent table -> ids referenced
    for tbl, rows in new_rows.items():
        for values in rows.values():
            for col, parent in _references(tbl):
                if values.get(col) is not None:
                    want[parent].add(values[col])
    for (tbl, row_id), group in by_row.items():
        if row_id in existing[tbl]:
            refs = dict(_references(tbl))
            for ch in group:
                if ch.col in refs:
                    value = unpack(ch.value)
                    if isinstance(value, str):
                        want[refs[ch.col]].add(value)
    have = {parent: set(_lookup(conn, parent, (), ids)) for parent, ids in want.items()}

    # The client each record belongs to, and who that client is assigned to (worker scope only).
    owner_of_client: dict[str, str | None] = {}
    link_here: dict[str, dict[str, tuple[Any, ...]]] = {}
    if worker_scope:
        for tbl, link in write_scope.CLIENT_LINK.items():
            ids = [r for (t, r) in by_row if t == tbl and r in existing[tbl]]
            if ids and tbl != "client":
                link_here[tbl] = _lookup(conn, tbl, (link,), ids)
        parent_ids: dict[str, set[Any]] = defaultdict(set)  # may hold None until filtered
        for via, child in (("assessment", "assessment_item"), ("referral", "referral_event")):
            link = write_scope.CLIENT_LINK[child]
            for values in new_rows.get(child, {}).values():
                parent_ids[via].add(values.get(link))
            for (value,) in link_here.get(child, {}).values():
                parent_ids[via].add(value)
        parent_client = {
            via: {
                k: v[0] for k, v in _lookup(conn, via, ("client_id",), [i for i in ids if isinstance(i, str)]).items()
            }
            for via, ids in parent_ids.items()
        }
        client_ids: set[Any] = {r for (t, r) in by_row if t == "client"}  # None is discarded below
        for tbl in (
            "client_identity",
            "notification_attempt",
            "contact",
            "assessment",
            "referral",
            "outcome",
            "follow_up",
            "fact_correction",
            "consent",
            "safety_plan",
        ):
            for values in new_rows.get(tbl, {}).values():
                client_ids.add(values.get("client_id"))
            for (value,) in link_here.get(tbl, {}).values():
                client_ids.add(value)
        for mapping in parent_client.values():
            client_ids.update(mapping.values())
        for via in ("assessment", "referral"):
            for values in new_rows.get(via, {}).values():
                client_ids.add(values.get("client_id"))
        client_ids.discard(None)
        owner_of_client = {k: v[0] for k, v in _lookup(conn, "client", ("assigned_worker_id",), client_ids).items()}
    admitted: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)

    def client_of(tbl: str, row_id: str, values: dict[str, Any] | None) -> str | None:
        if tbl == "client":
            return row_id
        link = write_scope.CLIENT_LINK[tbl]
        value: Any = values.get(link) if values is not None else (link_here.get(tbl, {}).get(row_id) or (None,))[0]
        if tbl in ("assessment_item", "referral_event"):
            via = "assessment" if tbl == "assessment_item" else "referral"
            if value in admitted[via]:
                return admitted[via][value].get("client_id")
            return parent_client.get(via, {}).get(value)
        return value if isinstance(value, str) else None  # a non-text link names no client

    def owner(client_id: str | None) -> tuple[str | None, bool]:
        if client_id is None:
            return None, False
        if client_id in admitted["client"]:
            return admitted["client"][client_id].get("assigned_worker_id"), True
        if client_id in owner_of_client:
            return owner_of_client[client_id], True
        return None, False

    new_pseudonyms: dict[Any, str] = {}  # pseudonym -> client admitted in this batch

    def pseudonym_taken(value: Any, row_id: str) -> bool:
        if new_pseudonyms.get(value, row_id) != row_id:
            return True
        return (
            conn.exec_driver_sql(
                "SELECT 1 FROM client WHERE pseudonym = ? AND id != ? LIMIT 1", (value, row_id)
            ).first()
            is not None
        )

    for tbl in SYNC_POLICY:
        # New records, whole.
        for row_id, values in new_rows.get(tbl, {}).items():
            group = by_row[(tbl, row_id)]
            made = max(_made_ms(group), plan.options.made_at_least_ms)
            problem = rules.check_row_id(row_id) or rules.check_row(
                tbl, {c: v for c, v in values.items() if c != info[tbl].pk}, made
            )
            code, reason = (problem.code, problem.reason) if problem else ("", "")
            if not problem:
                for col, parent in _references(tbl):
                    ref = values.get(col)
                    if ref is not None and ref not in have.get(parent, ()) and ref not in admitted[parent]:
                        code, reason = (
                            "missing-reference",
                            (
                                f"{tbl}.{col} refers to a {parent.replace('_', ' ')} "
                                "that does not exist here (or is held for review)"
                            ),
                        )
                        break
            if not code and tbl == "client" and pseudonym_taken(values.get("pseudonym"), row_id):
                code, reason = "duplicate", "client.pseudonym is already another client's"
            if not code and worker_scope:
                client_id = client_of(tbl, row_id, values) if tbl in write_scope.CLIENT_LINK else None
                assigned, known = owner(client_id) if tbl != "client" else (None, True)
                assert scope is not None  # worker_scope says so
                why = write_scope.row_problem(scope, tbl, values, assigned, known)
                if why:
                    code, reason = "scope", why
            if code:
                hold("change", code, reason, tbl, row_id, "", by_row.pop((tbl, row_id)))
            else:
                admitted[tbl][row_id] = values
                if tbl == "client":
                    new_pseudonyms[values.get("pseudonym")] = row_id
        # Changes to records held here, field by field.
        refs = dict(_references(tbl))
        ti = info[tbl]
        here: dict[str, dict[str, Any]] | None = None  # current rows, read only if a change is out of scope
        for key in [k for k in by_row if k[0] == tbl and k[1] in existing[tbl]]:
            row_id = key[1]
            group = by_row[key]
            keep: list[Change] = []
            bad: dict[str, tuple[str, str, list[Change]]] = {}
            assigned = None
            if worker_scope and tbl in write_scope.CLIENT_LINK:
                assigned = owner(client_of(tbl, row_id, None))[0]
            for ch in group:
                if ti.add_only and ch.col != "deleted_at" and not worker_scope:
                    keep.append(ch)  # ignored and counted by the merge
                    continue
                value = unpack(ch.value)
                problem = rules.check_value(
                    tbl, ch.col, value, max(hlc_clock.physical_ms(ch.hlc), plan.options.made_at_least_ms)
                )
                code, reason = (problem.code, problem.reason) if problem else ("", "")
                if (
                    not code
                    and ch.col in refs
                    and value is not None
                    and value not in have.get(refs[ch.col], ())
                    and value not in admitted[refs[ch.col]]
                ):
                    code, reason = (
                        "missing-reference",
                        (f"{tbl}.{ch.col} refers to a {refs[ch.col].replace('_', ' ')} that does not exist here"),
                    )
                if not code and (tbl, ch.col) == ("client", "pseudonym") and pseudonym_taken(value, row_id):
                    code, reason = "duplicate", "client.pseudonym is already another client's"
                if not code and worker_scope:
                    assert scope is not None  # worker_scope says so
                    why = write_scope.field_problem(scope, tbl, ch.col, value, assigned, ti.add_only, row_id)
                    if why:
                        if here is None:
                            here = _current_rows(
                                conn, tbl, [k[1] for k in by_row if k[0] == tbl and k[1] in existing[tbl]]
                            )
                        if here.get(row_id, {}).get(ch.col) == value:
                            continue  # the value the coordinator holds anyway: nothing to refuse or apply
                        code, reason = "scope", why
                if code:
                    bad.setdefault(ch.col, (code, reason, []))[2].append(ch)
                    if code == "scope":
                        plan.refused[f"{tbl}.{ch.col}"] += 1
                else:
                    keep.append(ch)
            for col, (code, reason, changes) in bad.items():
                hold("change", code, reason, tbl, row_id, col, changes)
                if ti.add_only and col != "deleted_at":
                    continue  # facts are never edited: nothing to bring back
                if (tbl, row_id, col) not in plan.reassert:
                    plan.reassert.append((tbl, row_id, col))  # the coordinator's value goes back to the laptop
            if worker_scope:
                deletes = [
                    ch
                    for ch in keep
                    if ch.col == "deleted_at" and ch.value is not None and unpack(ch.value) is not None
                ]
                if deletes:
                    hold(
                        "delete",
                        "delete",
                        "a worker deleted this record: confirm the delete or restore the record",
                        tbl,
                        row_id,
                        "deleted_at",
                        deletes,
                    )
            if keep:
                by_row[key] = keep
            else:
                del by_row[key]


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
                    purged_parents = {
                        tuple(r)
                        for r in conn.exec_driver_sql(
                            "SELECT tbl, row_id FROM sync_purged WHERE tbl IN ('client', 'assessment', 'referral')"
                        )
                    }
                if value in dropped[parent] or (parent, value) in purged_parents:
                    dropped[tbl].add(row_id)
                    break

    if options.validate or options.scope is not None:
        _admit(conn, plan, by_row, existing, dropped)

    for tbl, row_ids in ids_by_table.items():
        ti = info[tbl]
        present = [r for r in dict.fromkeys(row_ids) if r in existing[tbl] and (tbl, r) in by_row]
        versions = clocks_of(conn, tbl, present)
        rows_here = _current_rows(conn, tbl, present)

        for row_id in dict.fromkeys(row_ids):
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
                _plan_fact_edit(plan, ti, row_id, group, rows_here[row_id], versions)
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
    prepared = plan.prepared.get((ti.name, row_id))
    if prepared is not None:
        latest, row = prepared[0], dict(prepared[1])
    else:
        latest = _latest_values(group)
        missing = ti.required - set(latest)
        if missing:
            raise InvalidChanges(f"a new {ti.name} record arrived without all its fields")
        row = {ti.pk: row_id}
        for col in ti.columns[1:]:
            row[col] = unpack(latest[col][1]) if col in latest else None
    if plan.options.record_conflicts and not ti.add_only:
        # Concurrent edits of a row both made elsewhere: replay them against each other.
        for col in latest:
            _replay_field(
                plan, ti, row_id, col, sorted((c for c in group if c.col == col), key=lambda c: (c.hlc, c.device))
            )
    plan.inserts[ti.name].append(row)
    if not ti.add_only:
        for col, (version, _value, _ch) in latest.items():
            plan.versions.append((ti.name, row_id, col, version[0], version[1]))
    elif row.get("deleted_at") is not None:
        version = latest["deleted_at"][0]
        plan.versions.append((ti.name, row_id, "deleted_at", version[0], version[1]))


def _replay_field(plan: MergePlan, ti: TableInfo, row_id: str, col: str, ordered: list[Change]) -> None:
    cur_version: tuple[int, str] | None = None
    cur_value: bytes | None = None
    for ch in ordered:
        v = (ch.hlc, ch.device)
        if (
            cur_version is not None
            and v != cur_version
            and (ch.base_hlc, ch.base_device) != cur_version
            and unpack(ch.value) != unpack(cur_value)
        ):
            plan.conflicts.append(
                Conflict(ti.name, row_id, col, ch.value, ch.hlc, ch.device, cur_value, cur_version[0], cur_version[1])
            )
        cur_version, cur_value = v, ch.value


def _plan_fact_edit(
    plan: MergePlan,
    ti: TableInfo,
    row_id: str,
    group: list[Change],
    row: dict[str, Any],
    versions: dict[tuple[str, str], tuple[int, str]],
) -> None:
    """Facts are never edited; only their tombstone moves, by the per-field rule (a restore wins too)."""
    tombstones = [ch for ch in group if ch.col == "deleted_at"]
    plan.ignored_add_only += len(group) - len(tombstones)
    if not tombstones:
        return
    cur = versions.get((row_id, "deleted_at"))
    if cur is None and row.get("deleted_at") is None:
        cur = (-1, "")  # never deleted: any tombstone wins
    elif cur is None:
        cur = (0, "")  # deleted before versions were kept: a later change still wins
    best = max(tombstones, key=lambda c: (c.hlc, c.device))
    if (best.hlc, best.device) > cur:
        new = unpack(best.value)
        if new != row.get("deleted_at"):
            plan.updates.setdefault((ti.name, row_id), {})["deleted_at"] = new
        plan.versions.append((ti.name, row_id, "deleted_at", best.hlc, best.device))


def _plan_fields(
    plan: MergePlan,
    ti: TableInfo,
    row_id: str,
    group: list[Change],
    versions: dict[tuple[str, str], tuple[int, str]],
    row: dict[str, Any],
) -> None:
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
                if (
                    opts.record_conflicts
                    and cur_version is not None
                    and (ch.base_hlc, ch.base_device) != cur_version
                    and new_value != unpack(cur_value)
                ):
                    plan.conflicts.append(
                        Conflict(
                            ti.name, row_id, col, ch.value, ch.hlc, ch.device, cur_value, cur_version[0], cur_version[1]
                        )
                    )
                cur_version, cur_value, won = v, ch.value, ch
            elif opts.record_conflicts and new_value != unpack(cur_value):
                # A change we never held loses to the value here: concurrent, keep it for review.
                plan.conflicts.append(
                    Conflict(
                        ti.name, row_id, col, cur_value, cur_version[0], cur_version[1], ch.value, ch.hlc, ch.device
                    )
                )
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
    grouped: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = defaultdict(list)
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
            [
                (
                    str(uuid6.uuid7()),
                    c.tbl,
                    c.row_id,
                    c.col,
                    c.kept_value,
                    c.kept_hlc,
                    c.kept_device,
                    c.lost_value,
                    c.lost_hlc,
                    c.lost_device,
                    plan.options.bundle_id,
                    now,
                )
                for c in plan.conflicts
            ],
        )
    if plan.held:
        held_store.hold(conn, plan.held, bundle_id=plan.options.bundle_id, now=now)
    keep = plan.options.keep_log
    logged = plan.logged if keep is True else [ch for ch in plan.logged if keep and ch.tbl in keep]
    if logged:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO change_log (device, seq, hlc, tbl, row_id, op, col, value, base_hlc, base_device) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(ch) for ch in logged],
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
    by_table: dict[str, list[str]] = defaultdict(list)
    for tbl, row_id, *_ in plan.purges:
        by_table[tbl].append(row_id)
    _delete_rows(conn, by_table)
    _forget_held(conn, set(by_table.get("client", ())))
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO sync_purged (tbl, row_id, hlc, device, purged_at) VALUES (?, ?, ?, ?, ?)",
        [(t, r, h, d, now) for t, r, h, d in plan.purges],
    )


def _forget_held(conn: Connection, client_ids: set[str]) -> None:
    """Quarantine entries about these clients that no row links them to (a held new record names
    its client only inside its changes): they hold the same data, so they go too."""
    if not client_ids:
        return
    doomed = []
    for entry, _tbl, row_id, blob in conn.exec_driver_sql(
        "SELECT id, tbl, row_id, changes FROM sync_quarantine WHERE kind != 'bundle'"
    ):
        if row_id in client_ids:
            doomed.append(entry)
            continue
        for ch in held_store.unpack_changes(blob):
            if ch.col == "client_id" and ch.value is not None and unpack(ch.value) in client_ids:
                doomed.append(entry)
                break
    if doomed:
        conn.exec_driver_sql("DELETE FROM sync_quarantine WHERE id = ?", [(d,) for d in doomed])


def erase_clients(conn: Connection, client_ids: list[str], *, keep_log_of: str | None = None) -> int:
    """A laptop erases clients that left its caseload: each client, its identity and every record
    about them, with their field clocks, conflicts and quarantine entries. Not a purge: nothing is
    remembered, so the client can come back whole if reassigned here. `keep_log_of`: this
    device's own changes not yet acknowledged stay in its outbox (they still reach the
    coordinator once, for review). Returns how many of the clients were held here."""
    if not client_ids:
        return 0
    present = _existing_ids(conn, "client", list(client_ids))
    rows = _cascade(conn, {"client": set(client_ids)})
    _delete_rows(conn, {t: sorted(ids) for t, ids in rows.items() if ids}, keep_log_of=keep_log_of)
    _forget_held(conn, set(client_ids))
    return len(present)


def _delete_rows(conn: Connection, by_table: dict[str, list[str]], *, keep_log_of: str | None = None) -> None:
    info = tables()
    for tbl in reversed(CASCADE_ORDER):  # children first
        ids = by_table.get(tbl)
        if not ids:
            continue
        pk = info[tbl].pk
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(f"DELETE FROM {_q(tbl)} WHERE {_q(pk)} IN ({marks})", tuple(chunk))
            for side in (
                "field_version",
                "change_log",
                "sync_conflict",
                "sync_touch",
                "sync_quarantine",
                "sync_origin",
            ):
                # The log and the review queue hold the erased values too: they go with the row
                # (and so does where it came from).
                if side == "change_log" and keep_log_of is not None:
                    conn.exec_driver_sql(
                        f"DELETE FROM change_log WHERE tbl = ? AND row_id IN ({marks}) AND device != ?",
                        (tbl, *chunk, keep_log_of),
                    )
                    continue
                conn.exec_driver_sql(
                    f"DELETE FROM {side} WHERE tbl = ? AND row_id IN ({marks}) "
                    + ("AND op != 'purge'" if side == "change_log" else ""),
                    (tbl, *chunk),
                )
            if tbl == "client":
                conn.exec_driver_sql(f"DELETE FROM sync_sent_client WHERE client_id IN ({marks})", tuple(chunk))
                # A form draft about an erased client holds its notes too (local, unsynced).
                conn.exec_driver_sql(f"DELETE FROM form_draft WHERE client_id IN ({marks})", tuple(chunk))
                conn.exec_driver_sql(f"DELETE FROM sync_erase WHERE client_id IN ({marks})", tuple(chunk))


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


def canonical_dump(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every synced table's rows, sorted by key: equal dumps mean equal synced data."""
    out = {}
    for tbl, ti in tables().items():
        cols = ", ".join(_q(c) for c in ti.columns)
        out[tbl] = [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM {_q(tbl)} ORDER BY {_q(ti.pk)}")]
    return out


def reassert_fields(conn: Connection, plan: MergePlan, device_id: str, wall: Callable[[], int] | None = None) -> int:
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
        row = conn.exec_driver_sql(f"SELECT {_q(col)} FROM {_q(tbl)} WHERE {_q(info[tbl].pk)} = ?", (row_id,)).first()
        if row is not None:
            values.append((tbl, row_id, col, row[0]))
    if values:
        session = Session(bind=conn)
        record_changes(session, Capture(device_id, wall=wall or hlc_clock.wall_ms), values)
    return len(values)


def purge_rows(
    conn: Connection, device_id: str, tbl: str, row_ids: list[str], wall: Callable[[], int] | None = None
) -> MergePlan:
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
