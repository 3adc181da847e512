"""Enrollment files: the two small files carried by hand (USB stick) to enroll a device.

Provides :class:`EnrollmentRequest` (a new device's request, signed by its own key) and
:class:`EnrollmentGrant` (the coordinator's answer: the signed roster and whom to send to). Pure:
no database, no Textual, no files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgpack

from .documents import (
    FMT_ENROLL_GRANT,
    FMT_ENROLL_REQUEST,
    LABELS,
    check_id,
    check_iso,
    check_recipient,
    damaged,
    doc_field,
    pack_doc,
    unpack_doc,
    utc_now_iso,
)
from .errors import EnrollmentInvalid, SignatureInvalid
from .keys import DeviceKeys, fingerprint, normalize_signing_public, verify
from .roster import Role, Roster, RosterEntry, open_roster, peek_roster

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
        check_id(self.device_id, "device_id")
        check_id(self.worker_id, "worker_id")
        if not isinstance(self.worker_name_hint, str) or len(self.worker_name_hint) > _MAX_NAME_HINT:
            raise ValueError(f"worker_name_hint must be a string of at most {_MAX_NAME_HINT} characters")
        if any(c in self.worker_name_hint for c in "\r\n\x00"):
            raise ValueError("worker_name_hint must be one line")
        object.__setattr__(self, "signing_public", normalize_signing_public(self.signing_public))
        check_recipient(self.age_recipient)
        object.__setattr__(self, "created_at", check_iso(self.created_at, "created_at"))

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
            created_at=utc_now_iso() if created_at is None else check_iso(created_at, "created_at"),
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
        packed: bytes = msgpack.packb(self._fields(), use_bin_type=True)
        return packed

    def _comment(self) -> str:
        return f"vipterm-enroll-request v1 device:{self.device_id}"

    def verify(self) -> None:
        """Check the proof-of-possession signature; raises EnrollmentInvalid."""
        try:
            comment = verify(self._body(), self.signature, self.signing_public)
        except SignatureInvalid as err:
            raise EnrollmentInvalid("enrollment request signature does not verify: the request was altered") from err
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
            enrolled_at=utc_now_iso() if enrolled_at is None else check_iso(enrolled_at, "enrolled_at"),
        )

    def to_bytes(self) -> bytes:
        if not self.signature:
            raise ValueError("enrollment request is not signed; use EnrollmentRequest.create")
        return pack_doc(FMT_ENROLL_REQUEST, {"body": self._body(), "signature": self.signature})

    @classmethod
    def from_bytes(cls, data: bytes) -> EnrollmentRequest:
        """Parse AND verify (proof of possession) a request file."""
        label = LABELS[FMT_ENROLL_REQUEST]
        doc = unpack_doc(data, FMT_ENROLL_REQUEST)
        body = doc_field(doc, "body", bytes, label)
        sig = doc_field(doc, "signature", bytes, label)
        with damaged(label):
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
        check_id(self.coordinator_device_id, "coordinator_device_id")
        check_recipient(self.coordinator_age_recipient)
        object.__setattr__(
            self, "coordinator_signing_public", normalize_signing_public(self.coordinator_signing_public)
        )
        check_id(self.program_id, "program_id")

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
        return pack_doc(
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
        label = LABELS[FMT_ENROLL_GRANT]
        doc = unpack_doc(data, FMT_ENROLL_GRANT)
        with damaged(label):
            return cls(
                roster_blob=doc_field(doc, "roster", bytes, label),
                coordinator_device_id=doc_field(doc, "coordinator_device_id", str, label),
                coordinator_age_recipient=doc_field(doc, "coordinator_age_recipient", str, label),
                coordinator_signing_public=doc_field(doc, "coordinator_signing_public", bytes, label),
                program_id=doc_field(doc, "program_id", str, label),
                # Grants written before workers were bound at approval carry no name.
                worker_name=doc_field(doc, "worker_name", str, label) if "worker_name" in doc else "",
            )
