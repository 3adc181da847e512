"""Change values as the change log stores them and bundles carry them: msgpack of the value as
SQLite stores it (text, numbers, bytes, None; dates as ISO text, booleans as 0/1).

`pack` and `unpack` are the one encoding every part of sync uses: capture writes it, the outbox
and the coordinator's re-assertions send it, merge, field history, quarantine and conflicts read
it. `unpack` refuses anything but a plain scalar, since a value from another device is input;
`InvalidChanges` is the refusal of malformed change records (here, so that every reader of a
value raises the one type the import turns into a refused bundle).
"""

from __future__ import annotations

from typing import Any

import msgpack

_ALLOWED_VALUE_TYPES = (type(None), bool, int, float, str, bytes)


class InvalidChanges(ValueError):
    """The change records are malformed (unknown table or column, incomplete new row, ...)."""


def pack(value: Any) -> bytes:
    """A value, or a list of change records, as stored and sent."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack(blob: bytes | None) -> Any:
    """A change value as the database stores it; refuses anything but a plain scalar."""
    if blob is None:
        return None
    try:
        value = msgpack.unpackb(blob, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise InvalidChanges("a change value is malformed") from None
    if not isinstance(value, _ALLOWED_VALUE_TYPES):
        raise InvalidChanges("a change value is malformed")
    return value


def unpack_records(blob: bytes | None) -> list[list[Any]]:
    """Change records packed as a list (what the quarantine holds), each as a list of fields."""
    if not blob:
        return []
    try:
        records = msgpack.unpackb(blob, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise InvalidChanges("a change record is malformed") from None
    if not isinstance(records, list) or not all(isinstance(r, (list, tuple)) for r in records):
        raise InvalidChanges("a change record is malformed")
    return [list(r) for r in records]
