"""Local sync bookkeeping tables (schema version 2): never synced, never sent in a bundle.

- `sync_keys`: this device's key set (Ed25519 signing + age X25519), on a coordinator the
  program root key, the signed roster held and the pinned root key. Private keys live here,
  inside the encrypted database, never as loose files.
- `sync_peer`: per remote device, the sequence/watermark cursors (what we hold from it, what it
  acknowledged of ours, what we last exported to it) — the version vector.
- `sync_bundle`: the ledger of every bundle imported or exported (ids and counts, no data).
- `sync_inbox`: bundles that arrived after a gap, kept whole and still encrypted until the gap
  is filled.
- `sync_conflict`: the coordinator's review queue: a concurrent value that lost, beside the
  value that was kept.
- `sync_purged`: rows erased by a retention purge; later changes to them are dropped.
- `sync_touch`: on a coordinator, the clock at which each record was last changed by an import,
  so return bundles carry what changed since a worker's acknowledgement.
- `sync_sent_client`: on a coordinator, which clients' whole files were sent to which device.
- `sync_quarantine` (schema 6): changes and bundles held for the coordinator's review.
- `sync_erase` (schema 6): on a coordinator, clients that left a laptop's caseload, to erase there.
- `sync_origin` (schema 8): for each record, the device that made it and the bundle it came in
  ("" when made here): the provenance the timeline and its detail view show.

The frozen SQL is `schema/0002_sync.sql`; `tests/test_migrations.py` checks they agree.
"""

from __future__ import annotations

from pydantic import NaiveDatetime as datetime
from sqlalchemy import Index, LargeBinary
from sqlmodel import Column, Field, SQLModel


class SyncKeys(SQLModel, table=True):
    """This device's keys and trust anchors (one row)."""

    __tablename__ = "sync_keys"
    id: int = Field(default=1, primary_key=True)
    device_keys: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    root_keys: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # coordinator only
    roster: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # signed roster blob
    roster_version: int = 0
    pinned_root: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    escrow_recipient: str = ""


class SyncPeer(SQLModel, table=True):
    """Cursors for one remote device (the version vector, one entry per peer).

    On a coordinator, for a worker device: `received_upto` = highest sequence number held from it
    without a gap; `acked_upto` = the return watermark the worker says it holds;
    `exported_upto` = watermark of the last return bundle written for it.
    On a worker, for the coordinator: `received_upto` = return watermark applied;
    `acked_upto` = our own sequence number the coordinator acknowledged (the outbox is pruned up
    to it); `exported_upto` = highest own sequence number written into a bundle.
    """

    __tablename__ = "sync_peer"
    device_id: str = Field(primary_key=True)
    received_upto: int = 0
    acked_upto: int = 0
    exported_upto: int = 0
    last_import_at: datetime | None = None
    last_export_at: datetime | None = None


class SyncBundle(SQLModel, table=True):
    """One bundle imported ('in') or exported ('out'): ids and counts only, no record data."""

    __tablename__ = "sync_bundle"
    bundle_id: str = Field(primary_key=True)
    direction: str  # in | out
    kind: str  # worker | return
    peer_device: str
    seq_first: int | None = None
    seq_last: int | None = None
    change_count: int = 0
    at: datetime
    summary: str = "{}"  # JSON: counts per table, conflicts, refused (never values)


class SyncInbox(SQLModel, table=True):
    """A bundle waiting for an earlier one (a gap), kept as the encrypted file bytes."""

    __tablename__ = "sync_inbox"
    bundle_id: str = Field(primary_key=True)
    source_device: str = Field(index=True)
    kind: str
    needs_upto: int  # applied once the source's cursor reaches this value
    seq_first: int | None = None
    seq_last: int | None = None
    received_at: datetime
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SyncConflict(SQLModel, table=True):
    """A concurrent edit: the value kept (the merge winner) and the value that lost."""

    __tablename__ = "sync_conflict"
    id: str = Field(primary_key=True)
    tbl: str
    row_id: str
    col: str
    kept_value: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    kept_hlc: int
    kept_device: str
    lost_value: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    lost_hlc: int
    lost_device: str
    bundle_id: str = ""
    detected_at: datetime
    status: str = Field(default="open", index=True)  # open | resolved
    resolution: str = ""  # kept | theirs | edited
    resolved_at: datetime | None = None

    __table_args__ = (Index("ix_sync_conflict_row", "tbl", "row_id"),)


class SyncPurged(SQLModel, table=True):
    """A row erased by a retention purge (terminal: later changes to it are dropped)."""

    __tablename__ = "sync_purged"
    tbl: str = Field(primary_key=True)
    row_id: str = Field(primary_key=True)
    hlc: int
    device: str
    purged_at: datetime


class SyncTouch(SQLModel, table=True):
    """The coordinator clock at which an import last changed this record."""

    __tablename__ = "sync_touch"
    tbl: str = Field(primary_key=True)
    row_id: str = Field(primary_key=True)
    tick: int = Field(index=True)


class SyncSentClient(SQLModel, table=True):
    """A client whose whole file went to a device in a return bundle made at `first_wm`."""

    __tablename__ = "sync_sent_client"
    device_id: str = Field(primary_key=True)
    client_id: str = Field(primary_key=True)
    first_wm: int


class SyncQuarantine(SQLModel, table=True):
    """A change (or a whole bundle) that was neither applied nor dropped: it waits for the coordinator.

    `kind`: `change` (out of the sending device's write scope, or a value that fails the rules),
    `delete` (a worker's tombstone, applied but open for review: accept confirms it, discard
    restores the record) or `bundle` (a whole bundle held back, e.g. a clock ahead). `changes` is
    the msgpack list of the change records concerned; `data` a held bundle's file bytes.
    Frozen SQL: `schema/0006_quarantine.sql` (schema version 6).
    """

    __tablename__ = "sync_quarantine"
    id: str = Field(primary_key=True)
    kind: str  # change | delete | bundle
    code: str  # scope | invalid | missing-reference | duplicate | delete | ... (machine-readable)
    reason: str  # one line, no names
    bundle_id: str = ""
    device: str = ""
    worker_id: str = ""
    tbl: str = ""
    row_id: str = ""
    col: str = ""  # "" when the whole new record is held
    changes: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    detected_at: datetime
    status: str = Field(default="open", index=True)  # open | accepted | discarded
    decision: str = ""
    decided_at: datetime | None = None

    __table_args__ = (Index("ix_sync_quarantine_row", "tbl", "row_id"),)


class SyncErase(SQLModel, table=True):
    """On a coordinator: a client that left a device's caseload; its return bundles tell the laptop
    to erase the client until it acknowledges one made at or after `sent_wm` (schema version 6)."""

    __tablename__ = "sync_erase"
    device_id: str = Field(primary_key=True)
    client_id: str = Field(primary_key=True)
    sent_wm: int


class SyncOrigin(SQLModel, table=True):
    """Where a record came from (schema 8): the device that made it, and the bundle that brought it
    here ("" when it was made on this device). Written when the record is first captured here or
    first inserted by an import; never changed after. A return bundle tells a laptop the device
    each record was made on (its `origins`), so a laptop knows too, not only the coordinator."""

    __tablename__ = "sync_origin"
    tbl: str = Field(primary_key=True)
    row_id: str = Field(primary_key=True)
    device: str
    bundle_id: str = ""
    at: datetime
