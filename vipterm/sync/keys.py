"""Device and program keys: signing, verifying and the fingerprints read aloud.

Provides (pure: no database, no Textual, no files except the explicit
``write_minisign_public_key`` export helper):

* :class:`DeviceKeys` – a device's Ed25519 signing key (a minisign key, so
  the stock ``minisign`` tool verifies our signatures) and its age X25519
  identity (pyrage).  Serialised with ``to_bytes()`` / ``from_bytes()`` for
  storage *inside* the encrypted database, never as loose files.
* :class:`RootKeys` – the coordinator's program root signing key, which signs
  the roster (:mod:`vipterm.sync.roster`).
* :func:`verify` – verify a minisign signature, returning the trusted comment.
* :func:`fingerprint` – the short string read aloud during in-person
  enrollment (:mod:`vipterm.sync.enrollment`).

A device's *signing public key* (``signing_public``) is always the canonical
42 raw bytes minisign uses internally: ``b"Ed"`` + 8-byte key id + 32-byte
Ed25519 public key.  The stock-tool ``.pub`` text file is derived from it with
:func:`minisign_public_key_file`.  Functions taking a public key also accept
that text file (bytes or str) and normalise it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage

from . import minisign_format as minisign
from .documents import (
    FMT_DEVICE_KEYS,
    FMT_ROOT_KEYS,
    LABELS,
    damaged,
    doc_field,
    pack_doc,
    unpack_doc,
)
from .errors import SignatureInvalid

__all__ = [
    "SIGNING_PUBLIC_LEN",
    "KEY_ID_LEN",
    "DeviceKeys",
    "RootKeys",
    "verify",
    "fingerprint",
    "normalize_signing_public",
    "key_id_of",
    "key_id_hex",
    "signature_key_id",
    "minisign_public_key_file",
    "write_minisign_public_key",
]

SIGNING_PUBLIC_LEN = 42  # b"Ed" + key id (8) + Ed25519 public key (32)
KEY_ID_LEN = 8
_FP_TAG = b"vipterm-fingerprint-v1\x00"


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
        return pack_doc(
            FMT_DEVICE_KEYS,
            {"minisign_secret": self.signing_secret, "age_identity": self.age_identity},
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceKeys:
        label = LABELS[FMT_DEVICE_KEYS]
        doc = unpack_doc(data, FMT_DEVICE_KEYS)
        with damaged(label):
            return cls(
                signing_secret=doc_field(doc, "minisign_secret", bytes, label),
                age_identity=doc_field(doc, "age_identity", str, label),
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
        return pack_doc(FMT_ROOT_KEYS, {"minisign_secret": self.signing_secret})

    @classmethod
    def from_bytes(cls, data: bytes) -> RootKeys:
        label = LABELS[FMT_ROOT_KEYS]
        doc = unpack_doc(data, FMT_ROOT_KEYS)
        with damaged(label):
            return cls(signing_secret=doc_field(doc, "minisign_secret", bytes, label))
