"""Device and program keys, the signed device roster, and enrollment files.

Provides (pure: no database, no Textual, no files except the explicit
``write_minisign_public_key`` export helper):

* :class:`DeviceKeys` – a device's Ed25519 signing key (a minisign key, so
  the stock ``minisign`` tool verifies our signatures) and its age X25519
  identity (pyrage).  Serialised with ``to_bytes()`` / ``from_bytes()`` for
  storage *inside* the encrypted database, never as loose files.
* :class:`RootKeys` – the coordinator's program root signing key, which signs
  the roster.
* :func:`verify` – verify a minisign signature, returning the trusted comment.
* :func:`fingerprint` – the short string read aloud during in-person
  enrollment.
* :class:`RosterEntry`, :class:`Roster`, :func:`sign_roster`,
  :func:`open_roster` – the versioned, root-signed list of enrolled devices.
* :class:`KeyStatus` – what a roster says about a signing key; the
  ``key_lookup`` callable given to :func:`vipterm.sync.bundle.read_bundle`
  returns one.
* :class:`EnrollmentRequest`, :class:`EnrollmentGrant` – the two small files
  carried by hand (USB stick) during enrollment.

Every serialised document is a small msgpack map with a ``format`` name and a
``format_version``, so that handing the wrong file to the wrong screen gives a
clear "this is a signed roster, not an enrollment request" style refusal.

A device's *signing public key* (``signing_public``) is always the canonical
42 raw bytes minisign uses internally: ``b"Ed"`` + 8-byte key id + 32-byte
Ed25519 public key.  The stock-tool ``.pub`` text file is derived from it with
:func:`minisign_public_key_file`.  Functions taking a public key also accept
that text file (bytes or str) and normalise it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import msgpack
import pyrage

from . import minisign_format as minisign
from .errors import (
    BundleError,
    EnrollmentInvalid,
    NewerFormat,
    RosterBadSignature,
    RosterRollback,
    RosterWrongRoot,
    SignatureInvalid,
    WrongFileType,
)

__all__ = [
    "SIGNING_PUBLIC_LEN",
    "KEY_ID_LEN",
    "ROLES",
    "DeviceKeys",
    "RootKeys",
    "KeyStatus",
    "RosterEntry",
    "Roster",
    "EnrollmentRequest",
    "EnrollmentGrant",
    "verify",
    "fingerprint",
    "normalize_signing_public",
    "key_id_of",
    "key_id_hex",
    "signature_key_id",
    "minisign_public_key_file",
    "write_minisign_public_key",
    "sign_roster",
    "open_roster",
    "peek_roster",
    "utc_now_iso",
]

SIGNING_PUBLIC_LEN = 42  # b"Ed" + key id (8) + Ed25519 public key (32)
KEY_ID_LEN = 8
ROLES: tuple[str, ...] = ("worker", "coordinator")
Role = Literal["worker", "coordinator"]

DOC_VERSION = 1
FMT_DEVICE_KEYS = "vipterm-device-keys"
FMT_ROOT_KEYS = "vipterm-root-keys"
FMT_ROSTER = "vipterm-roster"
FMT_ENROLL_REQUEST = "vipterm-enroll-request"
FMT_ENROLL_GRANT = "vipterm-enroll-grant"

_LABELS = {
    FMT_DEVICE_KEYS: "device key set",
    FMT_ROOT_KEYS: "program root key",
    FMT_ROSTER: "signed roster",
    FMT_ENROLL_REQUEST: "enrollment request",
    FMT_ENROLL_GRANT: "enrollment grant",
}

# Documents here are tiny (a 250-device roster is ~60 KiB); the cap only stops
# a wrong, huge file from being parsed.
_MAX_DOC_BYTES = 16 << 20

# Ids (program, device, worker) are random tokens such as UUIDv7 strings.
# Restricting their alphabet keeps them safe inside minisign trusted comments
# and file names, and makes it impossible to smuggle a person's name with
# spaces into one by accident.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_FP_TAG = b"vipterm-fingerprint-v1\x00"


# --------------------------------------------------------------------------
# small helpers


def utc_now_iso() -> str:
    """Current UTC time as an ISO 8601 string with offset, second precision."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ValueError(f"{what} must be an id token (letters, digits, . _ : -; at most 128)")
    return value


def _iso(value: Any, what: str) -> str:
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


def _check_recipient(value: Any, what: str = "age recipient") -> str:
    if not isinstance(value, str) or not value.startswith("age1"):
        raise ValueError(f"{what} must be an age1... X25519 recipient")
    try:
        pyrage.x25519.Recipient.from_str(value)
    except Exception:
        raise ValueError(f"{what} is not a valid age X25519 recipient") from None
    return value


def normalize_signing_public(value: bytes | bytearray | str) -> bytes:
    """Canonical 42-byte minisign public key from raw bytes or a ``.pub`` file.

    Accepts: the 42 raw bytes, the base64 line (``RW...``), or the whole stock
    ``minisign.pub`` file text (with its untrusted comment line).
    Raises ``ValueError`` on anything else.
    """
    if isinstance(value, (bytes, bytearray)) and len(value) == SIGNING_PUBLIC_LEN:
        raw = bytes(value)
    else:
        if isinstance(value, (bytes, bytearray)):
            try:
                text = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                raise ValueError("not a minisign public key") from None
        elif isinstance(value, str):
            text = value
        else:
            raise ValueError("not a minisign public key")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith("untrusted comment:")]
        if len(lines) != 1:
            raise ValueError("not a minisign public key")
        try:
            raw = base64.b64decode(lines[0], validate=True)
        except ValueError:
            raise ValueError("not a minisign public key") from None
    if len(raw) != SIGNING_PUBLIC_LEN or raw[:2] != b"Ed":
        raise ValueError("not a minisign Ed25519 public key")
    return raw


def key_id_of(signing_public: bytes | str) -> bytes:
    """The 8-byte minisign key id embedded in a public key."""
    return normalize_signing_public(signing_public)[2:10]


def key_id_hex(key_id: bytes) -> str:
    # Stock minisign prints a key id as the little-endian 64-bit integer in
    # upper-case hex without zero padding (printf "%" PRIX64): match it
    # exactly so people can compare it with `minisign` output and .pub files.
    return format(int.from_bytes(key_id, "little"), "X")


def minisign_public_key_file(signing_public: bytes | str) -> bytes:
    """The stock ``minisign.pub`` file content for a public key (with newline)."""
    raw = normalize_signing_public(signing_public)
    # Same comment as stock `minisign -G`, so the key id people compare is
    # the one minisign itself prints.
    return minisign.public_key_file(raw, f"minisign public key {key_id_hex(raw[2:10])}")


def write_minisign_public_key(path: str | os.PathLike[str], signing_public: bytes | str) -> Path:
    """Write a stock-tool ``.pub`` file (for ``minisign -Vm FILE -p PATH``)."""
    path = Path(path)
    path.write_bytes(minisign_public_key_file(signing_public))
    return path


def fingerprint(signing_public: bytes | str, age_recipient: str = "") -> str:
    """Short human-comparable fingerprint: 6 groups of 4 base32 characters.

    SHA-256 over a domain tag, the 42-byte signing key and the age recipient,
    first 120 bits in RFC 4648 base32 (A-Z, 2-7: no 0/O or 1/I to confuse when
    read aloud).  Root keys use an empty age recipient.
    """
    raw = normalize_signing_public(signing_public)
    digest = hashlib.sha256(_FP_TAG + raw + b"\x00" + age_recipient.encode("ascii")).digest()
    b32 = base64.b32encode(digest).decode("ascii")[:24]
    return "-".join(b32[i : i + 4] for i in range(0, 24, 4))


def signature_key_id(signature_bytes: bytes) -> bytes:
    """The 8-byte key id a minisign signature claims; raises SignatureInvalid."""
    return _parse_signature(signature_bytes).key_id


def _parse_signature(signature_bytes: Any) -> minisign.Signature:
    if not isinstance(signature_bytes, (bytes, bytearray)):
        raise SignatureInvalid("signature is missing")
    try:
        return minisign.parse_signature(bytes(signature_bytes))
    except minisign.MinisignError as err:
        raise SignatureInvalid("signature file is unreadable") from err


def verify(data: bytes, signature_bytes: bytes, public_key_bytes: bytes | str) -> str:
    """Verify a minisign signature over ``data``; return its trusted comment.

    Raises :class:`~vipterm.sync.errors.SignatureInvalid` when the signature
    is unreadable, made by another key, or does not verify (the global
    signature over the trusted comment included).
    """
    sig = _parse_signature(signature_bytes)
    try:
        public = normalize_signing_public(public_key_bytes)
    except ValueError as err:
        raise SignatureInvalid("the public key is unreadable") from err
    try:
        return minisign.verify(public, bytes(data), sig)
    except minisign.MinisignError as err:
        raise SignatureInvalid("signature does not verify") from err


# --------------------------------------------------------------------------
# versioned msgpack documents


def _pack_doc(fmt: str, body: dict[str, Any]) -> bytes:
    return msgpack.packb({"format": fmt, "format_version": DOC_VERSION, **body}, use_bin_type=True)


def _unpack_doc(data: Any, fmt: str) -> dict[str, Any]:
    label = _LABELS[fmt]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WrongFileType(f"not a vipterm {label}")
    data = bytes(data)
    if len(data) > _MAX_DOC_BYTES:
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
        other = _LABELS.get(doc["format"])
        if other:
            raise WrongFileType(f"this is a vipterm {other}, not a {label}")
        raise WrongFileType(f"not a vipterm {label}")
    version = doc.get("format_version")
    if type(version) is not int or version < 1:
        raise WrongFileType(f"vipterm {label} is damaged (format version)")
    if version > DOC_VERSION:
        raise NewerFormat(
            f"{label} format version {version} is newer than this vipterm supports; update vipterm"
        )
    return doc


def _field(doc: dict[str, Any], key: str, typ: type, label: str) -> Any:
    value = doc.get(key)
    # bool is an int subclass: never accept True where a number is expected.
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        raise WrongFileType(f"vipterm {label} is damaged (field {key})")
    return value


@contextmanager
def _damaged(label: str) -> Iterator[None]:
    """Turn ValueError/TypeError/KeyError while rebuilding a document into WrongFileType."""
    try:
        yield
    except BundleError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise WrongFileType(f"vipterm {label} is damaged") from err


# --------------------------------------------------------------------------
# keys


class _Signer:
    """Shared minisign signing behaviour for device and root keys."""

    signing_secret: bytes
    signing_public: bytes

    @property
    def key_id(self) -> bytes:
        """The 8-byte minisign key id (also inside every signature)."""
        return self.signing_public[2:10]

    @property
    def key_id_hex(self) -> str:
        return key_id_hex(self.key_id)

    def minisign_public_file(self) -> bytes:
        """Stock ``minisign.pub`` content for this key."""
        return minisign_public_key_file(self.signing_public)

    def sign(self, data: bytes, trusted_comment: str) -> bytes:
        """Minisign signature file bytes over ``data`` (stock-tool compatible)."""
        # Prehashed (BLAKE2b-512, "ED") is minisign's default since 0.8 and
        # what stock `minisign -Vm` expects; it also keeps signing big
        # payloads cheap.
        return minisign.sign(
            self.signing_secret,
            bytes(data),
            untrusted_comment=f"vipterm signature from key {self.key_id_hex}",
            trusted_comment=trusted_comment,
        )


def _new_minisign_secret() -> bytes:
    # Unencrypted minisign secret key (KDF "none"): it is only ever stored
    # inside the SQLCipher database, which is the encryption at rest.
    return minisign.generate_secret()


def _public_from_secret(secret: bytes) -> bytes:
    return minisign.public_of_secret(bytes(secret))


@dataclass(frozen=True)
class DeviceKeys(_Signer):
    """A device's signing key pair (minisign Ed25519) and age X25519 identity.

    The secret fields are excluded from ``repr`` so they cannot leak into logs
    or tracebacks.  Create with :meth:`generate`; store with :meth:`to_bytes`.
    """

    signing_secret: bytes = field(repr=False)
    age_identity: str = field(repr=False)
    signing_public: bytes = field(init=False)
    age_recipient: str = field(init=False)

    def __post_init__(self) -> None:
        try:
            public = _public_from_secret(self.signing_secret)
            ident = pyrage.x25519.Identity.from_str(self.age_identity)
        except Exception as err:
            raise ValueError("device keys are invalid") from err
        object.__setattr__(self, "signing_public", public)
        object.__setattr__(self, "age_recipient", str(ident.to_public()))

    @classmethod
    def generate(cls) -> DeviceKeys:
        return cls(signing_secret=_new_minisign_secret(), age_identity=str(pyrage.x25519.Identity.generate()))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.signing_public, self.age_recipient)

    def age_identity_obj(self) -> pyrage.x25519.Identity:
        return pyrage.x25519.Identity.from_str(self.age_identity)

    def age_identity_file(self) -> str:
        """Stock ``age -i`` identity file text.  SECRET: for by-hand checks only."""
        return f"# public key: {self.age_recipient}\n{self.age_identity}\n"

    def to_bytes(self) -> bytes:
        return _pack_doc(
            FMT_DEVICE_KEYS,
            {"minisign_secret": self.signing_secret, "age_identity": self.age_identity},
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceKeys:
        label = _LABELS[FMT_DEVICE_KEYS]
        doc = _unpack_doc(data, FMT_DEVICE_KEYS)
        with _damaged(label):
            return cls(
                signing_secret=_field(doc, "minisign_secret", bytes, label),
                age_identity=_field(doc, "age_identity", str, label),
            )


@dataclass(frozen=True)
class RootKeys(_Signer):
    """The program root signing key (coordinator only); signs the roster."""

    signing_secret: bytes = field(repr=False)
    signing_public: bytes = field(init=False)

    def __post_init__(self) -> None:
        try:
            public = _public_from_secret(self.signing_secret)
        except Exception as err:
            raise ValueError("root key is invalid") from err
        object.__setattr__(self, "signing_public", public)

    @classmethod
    def generate(cls) -> RootKeys:
        return cls(signing_secret=_new_minisign_secret())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.signing_public)

    def to_bytes(self) -> bytes:
        return _pack_doc(FMT_ROOT_KEYS, {"minisign_secret": self.signing_secret})

    @classmethod
    def from_bytes(cls, data: bytes) -> RootKeys:
        label = _LABELS[FMT_ROOT_KEYS]
        doc = _unpack_doc(data, FMT_ROOT_KEYS)
        with _damaged(label):
            return cls(signing_secret=_field(doc, "minisign_secret", bytes, label))


# --------------------------------------------------------------------------
# roster


@dataclass(frozen=True)
class KeyStatus:
    """What the roster says about a signing key.

    ``state`` is ``"known"`` (active device), ``"revoked"`` or ``"unknown"``.
    For known and revoked keys ``signing_public`` must be the device's full
    42-byte key (the bundle reader verifies with it) and ``device_id`` / ``role``
    should be filled so the reader can check the header's ``source_device``
    and that return bundles come from a coordinator.
    """

    state: Literal["known", "revoked", "unknown"]
    signing_public: bytes | None = None
    device_id: str | None = None
    worker_id: str | None = None
    role: str | None = None
    revoked_at: str | None = None

    def __post_init__(self) -> None:
        if self.state not in ("known", "revoked", "unknown"):
            raise ValueError("KeyStatus.state must be known, revoked or unknown")
        if self.state != "unknown":
            if self.signing_public is None:
                raise ValueError("a known or revoked KeyStatus needs signing_public")
            object.__setattr__(self, "signing_public", normalize_signing_public(self.signing_public))

    @classmethod
    def unknown(cls) -> KeyStatus:
        return cls("unknown")

    @classmethod
    def from_entry(cls, entry: RosterEntry) -> KeyStatus:
        return cls(
            state="revoked" if entry.revoked_at is not None else "known",
            signing_public=entry.signing_public,
            device_id=entry.device_id,
            worker_id=entry.worker_id,
            role=entry.role,
            revoked_at=entry.revoked_at,
        )


@dataclass(frozen=True)
class RosterEntry:
    """One enrolled device.  ``worker_id`` is an opaque id, never a name."""

    device_id: str
    worker_id: str
    role: Role
    signing_public: bytes
    age_recipient: str
    enrolled_at: str
    revoked_at: str | None = None

    def __post_init__(self) -> None:
        _check_id(self.device_id, "device_id")
        _check_id(self.worker_id, "worker_id")
        if self.role not in ROLES:
            raise ValueError("role must be 'worker' or 'coordinator'")
        object.__setattr__(self, "signing_public", normalize_signing_public(self.signing_public))
        _check_recipient(self.age_recipient)
        object.__setattr__(self, "enrolled_at", _iso(self.enrolled_at, "enrolled_at"))
        if self.revoked_at is not None:
            object.__setattr__(self, "revoked_at", _iso(self.revoked_at, "revoked_at"))

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def key_id(self) -> bytes:
        return self.signing_public[2:10]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.signing_public, self.age_recipient)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "worker_id": self.worker_id,
            "role": self.role,
            "signing_public": self.signing_public,
            "age_recipient": self.age_recipient,
            "enrolled_at": self.enrolled_at,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_dict(cls, d: Any) -> RosterEntry:
        if not isinstance(d, dict):
            raise ValueError("roster entry is not a map")
        return cls(
            device_id=d["device_id"],
            worker_id=d["worker_id"],
            role=d["role"],
            signing_public=d["signing_public"],
            age_recipient=d["age_recipient"],
            enrolled_at=d["enrolled_at"],
            revoked_at=d.get("revoked_at"),
        )


@dataclass(frozen=True)
class Roster:
    """The program's device roster; every change makes a new, higher version."""

    program_id: str
    version: int
    root_public: bytes
    entries: tuple[RosterEntry, ...] = ()

    def __post_init__(self) -> None:
        _check_id(self.program_id, "program_id")
        if type(self.version) is not int or self.version < 1:
            raise ValueError("roster version must be an integer >= 1")
        object.__setattr__(self, "root_public", normalize_signing_public(self.root_public))
        entries = tuple(self.entries)
        if not all(isinstance(e, RosterEntry) for e in entries):
            raise TypeError("roster entries must be RosterEntry")
        devices = [e.device_id for e in entries]
        # Bundles are looked up by the 8-byte key id in their signature, so
        # key ids (not only whole keys) must be unique across the roster.
        key_ids = [e.key_id for e in entries]
        if len(set(devices)) != len(devices):
            raise ValueError("duplicate device_id in roster")
        if len(set(key_ids)) != len(key_ids) or self.root_public[2:10] in key_ids:
            raise ValueError("duplicate signing key id in roster")
        object.__setattr__(self, "entries", entries)

    @classmethod
    def new(cls, program_id: str, root_public: bytes) -> Roster:
        """An empty version-1 roster."""
        return cls(program_id=program_id, version=1, root_public=root_public, entries=())

    @property
    def root_fingerprint(self) -> str:
        return fingerprint(self.root_public)

    # lookups -------------------------------------------------------------

    def entry_for_key(self, signing_public: bytes | str) -> RosterEntry | None:
        raw = normalize_signing_public(signing_public)
        for e in self.entries:
            if hmac.compare_digest(e.signing_public, raw):
                return e
        return None

    def entry_for_key_id(self, key_id: bytes) -> RosterEntry | None:
        for e in self.entries:
            if e.key_id == key_id:
                return e
        return None

    def entry_for_device(self, device_id: str) -> RosterEntry | None:
        for e in self.entries:
            if e.device_id == device_id:
                return e
        return None

    def key_status(self, key: bytes | str) -> KeyStatus:
        """KeyStatus for an 8-byte key id, a signing public key, or a device id.

        ``roster.key_status`` is directly usable as ``read_bundle``'s
        ``key_lookup`` (which passes the signature's 8-byte key id).
        """
        entry: RosterEntry | None
        if isinstance(key, (bytes, bytearray)) and len(key) == KEY_ID_LEN:
            entry = self.entry_for_key_id(bytes(key))
        elif isinstance(key, (bytes, bytearray)):
            try:
                entry = self.entry_for_key(key)
            except ValueError:
                entry = None
        elif isinstance(key, str):
            entry = self.entry_for_device(key)
        else:
            entry = None
        return KeyStatus.unknown() if entry is None else KeyStatus.from_entry(entry)

    def active_entries(self) -> tuple[RosterEntry, ...]:
        return tuple(e for e in self.entries if e.revoked_at is None)

    def coordinator_recipients(self) -> list[str]:
        """age recipients of every active coordinator device (bundle recipients)."""
        return [e.age_recipient for e in self.active_entries() if e.role == "coordinator"]

    # new versions --------------------------------------------------------

    def with_entry(self, entry: RosterEntry) -> Roster:
        """New version with ``entry`` added, or replacing the same device_id.

        A revoked device cannot be re-enrolled (enroll it under a new device
        id): revocation must stay final for the key that was revoked.
        """
        old = self.entry_for_device(entry.device_id)
        if old is not None and old.revoked_at is not None:
            raise ValueError("device is revoked; enroll it again under a new device id")
        if entry.revoked_at is not None:
            raise ValueError("use revoke() to revoke a device")
        entries = tuple(e for e in self.entries if e.device_id != entry.device_id) + (entry,)
        return Roster(self.program_id, self.version + 1, self.root_public, entries)

    def revoke(self, device_id: str, when: str | datetime) -> Roster:
        """New version with ``device_id`` revoked at ``when`` (ISO or aware datetime)."""
        old = self.entry_for_device(device_id)
        if old is None:
            raise KeyError("device is not on the roster")
        if old.revoked_at is not None:
            raise ValueError("device is already revoked")
        when_iso = _iso(when, "revoked_at")
        entries = tuple(
            RosterEntry(**{**e.to_dict(), "revoked_at": when_iso}) if e.device_id == device_id else e
            for e in self.entries
        )
        return Roster(self.program_id, self.version + 1, self.root_public, entries)

    # serialisation of the body (signed by sign_roster) --------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "program_id": self.program_id,
            "version": self.version,
            "root_public": self.root_public,
            "entries": [e.to_dict() for e in self.entries],
        }

    @classmethod
    def from_dict(cls, d: Any) -> Roster:
        if not isinstance(d, dict) or not isinstance(d.get("entries"), list):
            raise ValueError("roster body is not a map with entries")
        return cls(
            program_id=d["program_id"],
            version=d["version"],
            root_public=d["root_public"],
            entries=tuple(RosterEntry.from_dict(e) for e in d["entries"]),
        )


def _roster_comment(roster: Roster) -> str:
    return f"vipterm-roster v1 program:{roster.program_id} version:{roster.version}"


def sign_roster(roster: Roster, root_keys: RootKeys) -> bytes:
    """Self-contained signed roster blob (msgpack body + minisign signature)."""
    if not hmac.compare_digest(root_keys.signing_public, roster.root_public):
        raise ValueError("roster.root_public is not this root key")
    body = msgpack.packb(roster.to_dict(), use_bin_type=True)
    sig = root_keys.sign(body, _roster_comment(roster))
    return _pack_doc(FMT_ROSTER, {"body": body, "signature": sig})


def _parse_roster_blob(blob: Any) -> tuple[bytes, bytes, Roster]:
    label = _LABELS[FMT_ROSTER]
    doc = _unpack_doc(blob, FMT_ROSTER)
    body = _field(doc, "body", bytes, label)
    sig = _field(doc, "signature", bytes, label)
    try:
        roster = Roster.from_dict(
            msgpack.unpackb(body, raw=False, strict_map_key=True, max_ext_len=0)
        )
    except Exception as err:
        # A body signed by the root always parses, so this is damage or
        # forgery; say so rather than "wrong file".
        raise RosterBadSignature("roster signature does not verify: the roster was altered") from err
    return body, sig, roster


def peek_roster(blob: bytes) -> Roster:
    """Parse a signed roster WITHOUT verifying it (e.g. to show its root fingerprint)."""
    return _parse_roster_blob(blob)[2]


def open_roster(
    blob: bytes,
    pinned_root_public: bytes | str | None,
    held_version: int | None,
) -> Roster:
    """Verify and return a signed roster.

    Refuses, in this order: a blob that is not a roster (WrongFileType /
    NewerFormat); a root key other than ``pinned_root_public``
    (RosterWrongRoot); a signature that does not verify (RosterBadSignature);
    a version lower than ``held_version`` (RosterRollback).  An *equal*
    version is accepted: the caller treats it as "nothing new".  With
    ``pinned_root_public=None`` (first enrollment) the embedded root key is
    trusted — compare ``roster.root_fingerprint`` in person first.
    """
    body, sig, roster = _parse_roster_blob(blob)
    if pinned_root_public is not None:
        pinned = normalize_signing_public(pinned_root_public)
        if not hmac.compare_digest(pinned, roster.root_public):
            raise RosterWrongRoot(
                f"roster is signed by a different program root key "
                f"({roster.root_fingerprint}, expected {fingerprint(pinned)})"
            )
    try:
        comment = verify(body, sig, roster.root_public)
    except SignatureInvalid as err:
        raise RosterBadSignature("roster signature does not verify: the roster was altered") from err
    if comment != _roster_comment(roster):
        raise RosterBadSignature("roster signature does not verify: the roster was altered")
    if held_version is not None and roster.version < held_version:
        raise RosterRollback(
            f"roster version {roster.version} is older than version {held_version} "
            f"already held; refusing rollback"
        )
    return roster


# --------------------------------------------------------------------------
# enrollment files


_MAX_NAME_HINT = 120


@dataclass(frozen=True)
class EnrollmentRequest:
    """A new device's enrollment request, signed by its own key.

    The signature is proof of possession of the signing key.  The age key is
    bound by the same signature (it is in the signed body) and by the
    fingerprint read aloud in person.  ``worker_name_hint`` is optional and is
    personal data: the coordinator's UI should not store it beyond enrollment.
    """

    device_id: str
    worker_id: str
    worker_name_hint: str
    signing_public: bytes
    age_recipient: str
    created_at: str
    signature: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        _check_id(self.device_id, "device_id")
        _check_id(self.worker_id, "worker_id")
        if not isinstance(self.worker_name_hint, str) or len(self.worker_name_hint) > _MAX_NAME_HINT:
            raise ValueError(f"worker_name_hint must be a string of at most {_MAX_NAME_HINT} characters")
        if any(c in self.worker_name_hint for c in "\r\n\x00"):
            raise ValueError("worker_name_hint must be one line")
        object.__setattr__(self, "signing_public", normalize_signing_public(self.signing_public))
        _check_recipient(self.age_recipient)
        object.__setattr__(self, "created_at", _iso(self.created_at, "created_at"))

    @classmethod
    def create(
        cls,
        keys: DeviceKeys,
        *,
        device_id: str,
        worker_id: str,
        worker_name_hint: str = "",
        created_at: str | datetime | None = None,
    ) -> EnrollmentRequest:
        unsigned = cls(
            device_id=device_id,
            worker_id=worker_id,
            worker_name_hint=worker_name_hint,
            signing_public=keys.signing_public,
            age_recipient=keys.age_recipient,
            created_at=utc_now_iso() if created_at is None else _iso(created_at, "created_at"),
        )
        sig = keys.sign(unsigned._body(), unsigned._comment())
        return cls(**{**unsigned._fields(), "signature": sig})

    @property
    def fingerprint(self) -> str:
        """Same string as the requesting device's ``DeviceKeys.fingerprint``."""
        return fingerprint(self.signing_public, self.age_recipient)

    def _fields(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "worker_id": self.worker_id,
            "worker_name_hint": self.worker_name_hint,
            "signing_public": self.signing_public,
            "age_recipient": self.age_recipient,
            "created_at": self.created_at,
        }

    def _body(self) -> bytes:
        return msgpack.packb(self._fields(), use_bin_type=True)

    def _comment(self) -> str:
        return f"vipterm-enroll-request v1 device:{self.device_id}"

    def verify(self) -> None:
        """Check the proof-of-possession signature; raises EnrollmentInvalid."""
        try:
            comment = verify(self._body(), self.signature, self.signing_public)
        except SignatureInvalid as err:
            raise EnrollmentInvalid(
                "enrollment request signature does not verify: the request was altered"
            ) from err
        if comment != self._comment():
            raise EnrollmentInvalid("enrollment request signature does not verify: the request was altered")

    def to_entry(self, *, role: Role = "worker", enrolled_at: str | datetime | None = None) -> RosterEntry:
        """The roster entry granting this request."""
        return RosterEntry(
            device_id=self.device_id,
            worker_id=self.worker_id,
            role=role,
            signing_public=self.signing_public,
            age_recipient=self.age_recipient,
            enrolled_at=utc_now_iso() if enrolled_at is None else _iso(enrolled_at, "enrolled_at"),
        )

    def to_bytes(self) -> bytes:
        if not self.signature:
            raise ValueError("enrollment request is not signed; use EnrollmentRequest.create")
        return _pack_doc(FMT_ENROLL_REQUEST, {"body": self._body(), "signature": self.signature})

    @classmethod
    def from_bytes(cls, data: bytes) -> EnrollmentRequest:
        """Parse AND verify (proof of possession) a request file."""
        label = _LABELS[FMT_ENROLL_REQUEST]
        doc = _unpack_doc(data, FMT_ENROLL_REQUEST)
        body = _field(doc, "body", bytes, label)
        sig = _field(doc, "signature", bytes, label)
        with _damaged(label):
            d = msgpack.unpackb(body, raw=False, strict_map_key=True, max_ext_len=0)
            if not isinstance(d, dict):
                raise ValueError("body")
            req = cls(
                device_id=d["device_id"],
                worker_id=d["worker_id"],
                worker_name_hint=d["worker_name_hint"],
                signing_public=d["signing_public"],
                age_recipient=d["age_recipient"],
                created_at=d["created_at"],
                signature=sig,
            )
        req.verify()
        # Re-serialising must give the signed bytes back, otherwise a field was
        # normalised and the signature check above was over something else.
        if req._body() != body:
            raise EnrollmentInvalid("enrollment request signature does not verify: the request was altered")
        return req


@dataclass(frozen=True)
class EnrollmentGrant:
    """The coordinator's answer to a request: the signed roster and who to send to.

    Not separately signed: every field is cross-checked against the
    root-signed roster by :meth:`open`, except ``worker_name``, a display
    label only (the worker the device serves is the ``worker_id`` of its
    root-signed roster entry, chosen by the coordinator at approval).
    """

    roster_blob: bytes
    coordinator_device_id: str
    coordinator_age_recipient: str
    coordinator_signing_public: bytes
    program_id: str
    # The display name of the worker the coordinator bound this device to (the worker id itself
    # is in the root-signed roster entry). A staff name, shown on the laptop; never a client's.
    worker_name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.roster_blob, bytes):
            raise ValueError("roster_blob must be bytes")
        if not isinstance(self.worker_name, str) or len(self.worker_name) > _MAX_NAME_HINT:
            raise ValueError(f"worker_name must be a string of at most {_MAX_NAME_HINT} characters")
        if any(c in self.worker_name for c in "\r\n\x00"):
            raise ValueError("worker_name must be one line")
        _check_id(self.coordinator_device_id, "coordinator_device_id")
        _check_recipient(self.coordinator_age_recipient)
        object.__setattr__(
            self, "coordinator_signing_public", normalize_signing_public(self.coordinator_signing_public)
        )
        _check_id(self.program_id, "program_id")

    @property
    def root_public(self) -> bytes:
        """Root key inside the (not yet verified) roster: show its fingerprint."""
        return peek_roster(self.roster_blob).root_public

    @property
    def root_fingerprint(self) -> str:
        return fingerprint(self.root_public)

    def open(
        self,
        *,
        own_signing_public: bytes | None = None,
        pinned_root_public: bytes | str | None = None,
        held_version: int | None = None,
    ) -> Roster:
        """Verify the roster and that the grant agrees with it; return the roster.

        Checks: roster signature / root / rollback (as :func:`open_roster`);
        same program; the coordinator device is an active coordinator with
        exactly these keys; if ``own_signing_public`` is given, that device is
        active on the roster (the grant really enrolls us).
        """
        roster = open_roster(self.roster_blob, pinned_root_public, held_version)
        if roster.program_id != self.program_id:
            raise EnrollmentInvalid("enrollment grant does not match its roster (program)")
        coord = roster.entry_for_device(self.coordinator_device_id)
        if (
            coord is None
            or coord.role != "coordinator"
            or coord.revoked_at is not None
            or coord.signing_public != self.coordinator_signing_public
            or coord.age_recipient != self.coordinator_age_recipient
        ):
            raise EnrollmentInvalid("enrollment grant names a coordinator device that is not on its roster")
        if own_signing_public is not None:
            own = roster.entry_for_key(own_signing_public)
            if own is None or own.revoked_at is not None:
                raise EnrollmentInvalid("this device is not enrolled by that grant")
        return roster

    def to_bytes(self) -> bytes:
        return _pack_doc(
            FMT_ENROLL_GRANT,
            {
                "roster": self.roster_blob,
                "coordinator_device_id": self.coordinator_device_id,
                "coordinator_age_recipient": self.coordinator_age_recipient,
                "coordinator_signing_public": self.coordinator_signing_public,
                "program_id": self.program_id,
                "worker_name": self.worker_name,
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> EnrollmentGrant:
        """Parse a grant file (structure only; call :meth:`open` to verify)."""
        label = _LABELS[FMT_ENROLL_GRANT]
        doc = _unpack_doc(data, FMT_ENROLL_GRANT)
        with _damaged(label):
            return cls(
                roster_blob=_field(doc, "roster", bytes, label),
                coordinator_device_id=_field(doc, "coordinator_device_id", str, label),
                coordinator_age_recipient=_field(doc, "coordinator_age_recipient", str, label),
                coordinator_signing_public=_field(doc, "coordinator_signing_public", bytes, label),
                program_id=_field(doc, "program_id", str, label),
                # Grants written before workers were bound at approval carry no name.
                worker_name=_field(doc, "worker_name", str, label) if "worker_name" in doc else "",
            )
