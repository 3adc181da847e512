"""The program's device roster: the versioned, root-signed list of enrolled devices.

Provides :class:`RosterEntry`, :class:`Roster`, :func:`sign_roster`, :func:`open_roster` and
:func:`peek_roster`, and :class:`KeyStatus` – what a roster says about a signing key; the
``key_lookup`` callable given to :func:`vipterm.sync.bundle.read_bundle` returns one. Pure: no
database, no Textual, no files.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgpack

from .documents import (
    FMT_ROSTER,
    LABELS,
    check_id,
    check_iso,
    check_recipient,
    doc_field,
    pack_doc,
    unpack_doc,
)
from .errors import (
    RosterBadSignature,
    RosterRollback,
    RosterWrongRoot,
    SignatureInvalid,
)
from .keys import KEY_ID_LEN, RootKeys, fingerprint, normalize_signing_public, verify

ROLES: tuple[str, ...] = ("worker", "coordinator")
Role = Literal["worker", "coordinator"]


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
        check_id(self.device_id, "device_id")
        check_id(self.worker_id, "worker_id")
        if self.role not in ROLES:
            raise ValueError("role must be 'worker' or 'coordinator'")
        object.__setattr__(self, "signing_public", normalize_signing_public(self.signing_public))
        check_recipient(self.age_recipient)
        object.__setattr__(self, "enrolled_at", check_iso(self.enrolled_at, "enrolled_at"))
        if self.revoked_at is not None:
            object.__setattr__(self, "revoked_at", check_iso(self.revoked_at, "revoked_at"))

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
        check_id(self.program_id, "program_id")
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
        when_iso = check_iso(when, "revoked_at")
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
    return pack_doc(FMT_ROSTER, {"body": body, "signature": sig})


def _parse_roster_blob(blob: Any) -> tuple[bytes, bytes, Roster]:
    label = LABELS[FMT_ROSTER]
    doc = unpack_doc(blob, FMT_ROSTER)
    body = doc_field(doc, "body", bytes, label)
    sig = doc_field(doc, "signature", bytes, label)
    try:
        roster = Roster.from_dict(msgpack.unpackb(body, raw=False, strict_map_key=True, max_ext_len=0))
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
            f"roster version {roster.version} is older than version {held_version} already held; refusing rollback"
        )
    return roster
