"""The versioned msgpack documents vipterm's key, roster and enrollment files are made of.

Provides `pack_doc` / `unpack_doc` (a small msgpack map with a ``format`` name and a
``format_version``, so that handing the wrong file to the wrong screen gives a clear "this is a
signed roster, not an enrollment request" style refusal), `doc_field` and `damaged` for rebuilding
a document's fields, and the checks every document shares: id tokens, ISO timestamps with an
offset, age recipients.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgpack
import pyrage

from .errors import BundleError, NewerFormat, WrongFileType

DOC_VERSION = 1
FMT_DEVICE_KEYS = "vipterm-device-keys"
FMT_ROOT_KEYS = "vipterm-root-keys"
FMT_ROSTER = "vipterm-roster"
FMT_ENROLL_REQUEST = "vipterm-enroll-request"
FMT_ENROLL_GRANT = "vipterm-enroll-grant"

LABELS = {
    FMT_DEVICE_KEYS: "device key set",
    FMT_ROOT_KEYS: "program root key",
    FMT_ROSTER: "signed roster",
    FMT_ENROLL_REQUEST: "enrollment request",
    FMT_ENROLL_GRANT: "enrollment grant",
}

# Documents here are tiny (a 250-device roster is ~60 KiB); the cap only stops
# a wrong, huge file from being parsed.
MAX_DOC_BYTES = 16 << 20

# Ids (program, device, worker) are random tokens such as UUIDv7 strings.
# Restricting their alphabet keeps them safe inside minisign trusted comments
# and file names, and makes it impossible to smuggle a person's name with
# spaces into one by accident.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def utc_now_iso() -> str:
    """Current UTC time as an ISO 8601 string with offset, second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise ValueError(f"{what} must be an id token (letters, digits, . _ : -; at most 128)")
    return value


def check_iso(value: Any, what: str) -> str:
    """Normalise a timestamp (aware datetime or ISO string) to an ISO string."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be timezone-aware")
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{what} must include a UTC offset")
    return value


def check_recipient(value: Any, what: str = "age recipient") -> str:
    if not isinstance(value, str) or not value.startswith("age1"):
        raise ValueError(f"{what} must be an age1... X25519 recipient")
    try:
        pyrage.x25519.Recipient.from_str(value)
    except Exception:
        raise ValueError(f"{what} is not a valid age X25519 recipient") from None
    return value


def pack_doc(fmt: str, body: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb({"format": fmt, "format_version": DOC_VERSION, **body}, use_bin_type=True)
    return packed


def unpack_doc(data: Any, fmt: str) -> dict[str, Any]:
    label = LABELS[fmt]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WrongFileType(f"not a vipterm {label}")
    data = bytes(data)
    if len(data) > MAX_DOC_BYTES:
        raise WrongFileType(f"not a vipterm {label}: file is far too large")
    if len(data) > 262 and data[257:262] == b"ustar":
        raise WrongFileType(f"this is a sync bundle, not a vipterm {label}")
    try:
        doc = msgpack.unpackb(data, raw=False, strict_map_key=True, max_ext_len=0)
    except Exception as err:
        raise WrongFileType(f"not a vipterm {label}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("format"), str):
        raise WrongFileType(f"not a vipterm {label}")
    if doc["format"] != fmt:
        other = LABELS.get(doc["format"])
        if other:
            raise WrongFileType(f"this is a vipterm {other}, not a {label}")
        raise WrongFileType(f"not a vipterm {label}")
    version = doc.get("format_version")
    if type(version) is not int or version < 1:
        raise WrongFileType(f"vipterm {label} is damaged (format version)")
    if version > DOC_VERSION:
        raise NewerFormat(f"{label} format version {version} is newer than this vipterm supports; update vipterm")
    return doc


def doc_field(doc: dict[str, Any], key: str, typ: type, label: str) -> Any:
    value = doc.get(key)
    # bool is an int subclass: never accept True where a number is expected.
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        raise WrongFileType(f"vipterm {label} is damaged (field {key})")
    return value


@contextmanager
def damaged(label: str) -> Iterator[None]:
    """Turn ValueError/TypeError/KeyError while rebuilding a document into WrongFileType."""
    try:
        yield
    except BundleError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise WrongFileType(f"vipterm {label} is damaged") from err
