"""Field clocks: the (hlc, device) of the value each mutable field holds now, kept in `field_version`.

The merge compares a received change against its field's clock, the capture records it as the
base of a local edit, and the return bundle sends it with each value. All three read clocks
here, by record.

A record created on this device gets its values in one flush, all with that flush's clock, so
it keeps one clock under the column name `*` ("every field of the record") instead of one row
per field. A field changed afterwards gets its own row, which wins over `*`. This keeps a bulk
import of 50,000 clients from writing 900,000 clock rows that all say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache

from sqlalchemy.engine import Connection

from vipterm.store.models import PRIMARY_KEY, SYNC_POLICY, table_of

WHOLE_RECORD = "*"  # the column name of a clock that every field of the record shares
_CHUNK = 500  # record ids per query: below SQLite's limit on bound parameters

Clock = tuple[int, str]  # (hlc, device)


@cache
def fields_of(table: str) -> tuple[str, ...]:
    """The columns of a synced table that carry a clock: all but the primary key."""
    pk = PRIMARY_KEY[table]
    return tuple(c.key for c in table_of(SYNC_POLICY[table].model).columns if c.key != pk)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def clocks_of(conn: Connection, table: str, ids: Iterable[str]) -> dict[tuple[str, str], Clock]:
    """The clock of every field of the records `ids` of `table` that has one, by (record id, column).

    A record's `*` clock stands for each of its fields that has no clock of its own."""
    out: dict[tuple[str, str], Clock] = {}
    whole: dict[str, Clock] = {}
    for chunk in _chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        for row_id, col, stamp, device in conn.exec_driver_sql(
            f"SELECT row_id, col, hlc, device FROM field_version WHERE tbl = ? AND row_id IN ({marks})",
            (table, *chunk),
        ):
            if col == WHOLE_RECORD:
                whole[row_id] = (stamp, device)
            else:
                out[(row_id, col)] = (stamp, device)
    if whole:
        fields = fields_of(table)
        for row_id, clock in whole.items():
            for col in fields:
                out.setdefault((row_id, col), clock)
    return out
