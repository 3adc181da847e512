"""Minisign's file formats (public key, secret key, signature) over libsodium's Ed25519.

Provides `generate_secret`, `public_of_secret`, `sign`, `parse_signature` and `verify`: what
vipterm's device and root keys need so that the stock `minisign` tool verifies our signatures and
we verify its. Only the byte layouts are written here; Ed25519 signing and verification are
libsodium's (PyNaCl), the BLAKE2b hashes are hashlib's.

The layouts are minisign's own (https://jedisct1.github.io/minisign): a public key is
`b"Ed" + key id (8) + Ed25519 public key (32)`; a secret key file is an untrusted comment line and
the base64 of signature algorithm, KDF algorithm, checksum algorithm, KDF salt and limits, then
key id, Ed25519 seed and public key, and a BLAKE2b-256 checksum; a signature file is an untrusted
comment, the base64 of algorithm + key id + signature, the trusted comment, and the base64 of the
global signature over signature + trusted comment. Prehashed signatures (`ED`, BLAKE2b-512 of the
data) are minisign's default and what we write; pure ones (`Ed`) are still verified.

vipterm keeps its secret keys unencrypted in this format (KDF "none") inside the SQLCipher
database, which is their encryption at rest; an encrypted (scrypt) secret key is refused.
The format is the one py-minisign wrote, so keys stored by earlier versions keep working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

PURE = b"Ed"
PREHASHED = b"ED"
_KDF_NONE = b"\x00\x00"
_CHECKSUM_B2 = b"B2"
KEY_ID_LEN = 8
_KEY_LEN = 32
_SIG_LEN = 64
_SALT_LEN = 32
_CHECKSUM_LEN = 32
PUBLIC_KEY_LEN = 2 + KEY_ID_LEN + _KEY_LEN
_SECRET_KEY_LEN = 2 * 3 + _SALT_LEN + 8 * 2 + KEY_ID_LEN + 2 * _KEY_LEN + _CHECKSUM_LEN
_SIG_LINE_LEN = 2 + KEY_ID_LEN + _SIG_LEN
UNTRUSTED_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "
# Stock minisign reads a trusted comment line of at most 8 KiB with its prefix.
TRUSTED_COMMENT_MAX_LEN = 8192 - len(TRUSTED_PREFIX)


class MinisignError(ValueError):
    """A key or signature that is malformed, of another kind, or does not verify."""


@dataclass(frozen=True)
class Signature:
    """A parsed minisign signature file."""

    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str


def _b64(line: bytes | str, length: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(line, validate=True)
    except (ValueError, binascii.Error):
        raise MinisignError(f"{what}: invalid base64") from None
    if len(raw) != length:
        raise MinisignError(f"{what}: wrong length")
    return raw


def _check_comment(text: str) -> str:
    if any(c != "\t" and not " " <= c < "\x7f" for c in text):
        raise MinisignError("a comment must be one line of printable ASCII")
    return text


def _comment(line: bytes, prefix: str) -> str:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise MinisignError("a comment is not text") from None
    if not text.startswith(prefix):
        raise MinisignError(f"expected a line starting {prefix!r}")
    return text[len(prefix) :]


def _lines(data: bytes, count: int, what: str) -> list[bytes]:
    lines = bytes(data).splitlines()
    if len(lines) != count:
        raise MinisignError(f"{what}: expected {count} lines")
    return lines


def _checksum(key_id: bytes, seed: bytes, public: bytes) -> bytes:
    return hashlib.blake2b(PURE + key_id + seed + public, digest_size=_CHECKSUM_LEN).digest()


def generate_secret() -> bytes:
    """A new unencrypted minisign secret key file (comment line + base64, no final newline)."""
    signing = nacl.signing.SigningKey.generate()
    seed, public = bytes(signing), signing.verify_key.encode()
    key_id = secrets.token_bytes(KEY_ID_LEN)
    body = (
        PURE
        + _KDF_NONE
        + _CHECKSUM_B2
        + bytes(_SALT_LEN)
        + bytes(16)
        + key_id
        + seed
        + public
        + _checksum(key_id, seed, public)
    )
    return f"{UNTRUSTED_PREFIX}minisign secret key\n".encode() + base64.b64encode(body)


@dataclass(frozen=True)
class _Secret:
    key_id: bytes
    signing: nacl.signing.SigningKey
    public: bytes  # the 42-byte public key


def _open_secret(secret: bytes) -> _Secret:
    lines = _lines(secret, 2, "secret key")
    _comment(lines[0], UNTRUSTED_PREFIX)
    raw = _b64(lines[1], _SECRET_KEY_LEN, "secret key")
    if raw[:2] != PURE or raw[4:6] != _CHECKSUM_B2:
        raise MinisignError("secret key: not an Ed25519 minisign key")
    if raw[2:4] != _KDF_NONE:
        raise MinisignError("secret key is password-encrypted")
    keynum = raw[2 * 3 + _SALT_LEN + 16 :]
    key_id, seed = keynum[:KEY_ID_LEN], keynum[KEY_ID_LEN : KEY_ID_LEN + _KEY_LEN]
    public = keynum[KEY_ID_LEN + _KEY_LEN : KEY_ID_LEN + 2 * _KEY_LEN]
    if not hmac.compare_digest(_checksum(key_id, seed, public), keynum[-_CHECKSUM_LEN:]):
        raise MinisignError("secret key: checksum mismatch")
    signing = nacl.signing.SigningKey(seed)
    if not hmac.compare_digest(signing.verify_key.encode(), public):
        raise MinisignError("secret key: public half does not match")
    return _Secret(key_id, signing, PURE + key_id + public)


def public_of_secret(secret: bytes) -> bytes:
    """The 42-byte public key (`Ed` + key id + Ed25519 key) of a secret key file."""
    return _open_secret(secret).public


def public_key_file(public: bytes, untrusted_comment: str) -> bytes:
    """The stock `minisign.pub` text of a 42-byte public key (with its final newline)."""
    if len(public) != PUBLIC_KEY_LEN or public[:2] != PURE:
        raise MinisignError("not a minisign Ed25519 public key")
    return (UNTRUSTED_PREFIX + _check_comment(untrusted_comment)).encode() + b"\n" + base64.b64encode(public) + b"\n"


def sign(secret: bytes, data: bytes, *, trusted_comment: str, untrusted_comment: str) -> bytes:
    """A prehashed minisign signature file over `data` (with its final newline)."""
    key = _open_secret(secret)
    _check_comment(untrusted_comment)
    if len(_check_comment(trusted_comment)) > TRUSTED_COMMENT_MAX_LEN:
        raise MinisignError("trusted comment too long")
    signature = key.signing.sign(hashlib.blake2b(bytes(data)).digest()).signature
    global_signature = key.signing.sign(signature + trusted_comment.encode()).signature
    return (
        b"\n".join(
            (
                (UNTRUSTED_PREFIX + untrusted_comment).encode(),
                base64.b64encode(PREHASHED + key.key_id + signature),
                (TRUSTED_PREFIX + trusted_comment).encode(),
                base64.b64encode(global_signature),
            )
        )
        + b"\n"
    )


def parse_signature(data: bytes) -> Signature:
    """Read a signature file (stock minisign's or ours); raises MinisignError if malformed."""
    lines = _lines(data, 4, "signature")
    untrusted = _comment(lines[0], UNTRUSTED_PREFIX)
    head = _b64(lines[1], _SIG_LINE_LEN, "signature")
    if head[:2] not in (PURE, PREHASHED):
        raise MinisignError("signature: unsupported algorithm")
    trusted = _comment(lines[2], TRUSTED_PREFIX)
    global_signature = _b64(lines[3], _SIG_LEN, "global signature")
    return Signature(head[:2], head[2 : 2 + KEY_ID_LEN], head[2 + KEY_ID_LEN :], trusted, global_signature, untrusted)


def verify(public: bytes, data: bytes, signature: Signature) -> str:
    """Check `signature` over `data` with a 42-byte public key, and its global signature over the
    trusted comment; return the trusted comment. Raises MinisignError."""
    if len(public) != PUBLIC_KEY_LEN or public[:2] != PURE:
        raise MinisignError("not a minisign Ed25519 public key")
    if not hmac.compare_digest(public[2 : 2 + KEY_ID_LEN], signature.key_id):
        raise MinisignError("signature made by another key")
    message = hashlib.blake2b(bytes(data)).digest() if signature.algorithm == PREHASHED else bytes(data)
    try:
        key = nacl.signing.VerifyKey(public[2 + KEY_ID_LEN :])
        key.verify(message, signature.signature)
        key.verify(signature.signature + signature.trusted_comment.encode(), signature.global_signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        raise MinisignError("signature does not verify") from None
    return signature.trusted_comment
