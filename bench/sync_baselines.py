"""The practical limits the sync figures are compared with, measured on the same change rows.

* `raw_export`: the worker's pending change rows read with a bare `sqlcipher3` cursor from the
  same encrypted file, msgpack'd, zstd-compressed (level 3, as bundles are) and written with
  fsync and rename — a bundle without a header, encryption, signature or any checks.
* `raw_upsert`: the same rows upserted with the standard library's `sqlite3` `executemany` into a
  plain, unencrypted table keyed by (table, row id, column), keeping the higher clock, in one
  transaction with WAL and synchronous=FULL — a merge without validation, conflicts, typed
  columns, field clocks or encryption.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import msgpack
import zstandard

from vipterm.store import engine

CHANGE_COLUMNS = "device, seq, hlc, tbl, row_id, op, col, value, base_hlc, base_device"


def read_changes(path: Path, raw: engine.RawKey) -> list[tuple]:
    conn = engine.connect_raw(path, raw)
    try:
        return conn.execute(f"SELECT {CHANGE_COLUMNS} FROM change_log ORDER BY device, seq").fetchall()
    finally:
        conn.close()


def raw_export(path: Path, raw: engine.RawKey, out: Path) -> tuple[float, int]:
    """Seconds and bytes written for the baseline export of every change row in `path`."""
    start = time.perf_counter()
    rows = read_changes(path, raw)
    payload = zstandard.ZstdCompressor(level=3).compress(msgpack.packb([list(r) for r in rows], use_bin_type=True))
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    return time.perf_counter() - start, len(payload)


UPSERT = (
    "INSERT INTO field (tbl, row_id, col, value, hlc, device) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tbl, row_id, col) DO UPDATE SET value = excluded.value, hlc = excluded.hlc, "
    "device = excluded.device WHERE excluded.hlc > field.hlc"
)


def raw_upsert(rows: list[tuple], db: Path) -> float:
    """Seconds to upsert `rows` (change rows as read) into a fresh plain sqlite3 file."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    values = [(r[3], r[4], r[6], r[7], r[2], r[0]) for r in rows]  # tbl, row_id, col, value, hlc, device
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE field (tbl TEXT, row_id TEXT, col TEXT, value BLOB, hlc INTEGER, device TEXT, "
            "PRIMARY KEY (tbl, row_id, col))"
        )
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(UPSERT, values)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        if conn.execute("SELECT count(*) FROM field").fetchone()[0] == 0 and values:
            raise AssertionError("the baseline upsert wrote nothing")
    finally:
        conn.close()
    return elapsed
