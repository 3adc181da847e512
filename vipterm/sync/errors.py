"""Refusal errors of vipterm's sync trust and bundle-format layer.

Every refusal raised by :mod:`vipterm.sync.keys` and :mod:`vipterm.sync.bundle`
is a :class:`BundleError`.  Each subclass carries a short, stable ``code``
(for logs, tests and the UI's choice of wording) and ``str(e)`` is a one-line,
user-facing message.

Messages never contain personal data: at most a bundle id, a device id, a key
id or a version number, which are random identifiers or counters.  The
original low-level exception (from tarfile, minisign, pyrage, zstandard,
msgpack, ...) is chained as ``__cause__`` for debugging, but its text is never
put in the message, because some of those libraries echo input bytes.
"""

from __future__ import annotations

from vipterm import errors


class BundleError(Exception):
    """Base of every refusal in the sync trust / bundle-format layer."""

    code: str = "bundle-error"

    def __init__(self, message: str) -> None:
        # One line only: the TUI shows it in a single status row and logs
        # must never be split by attacker-controlled newlines.
        message = " ".join(str(message).split())
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# --- bundle file -----------------------------------------------------------


class NotABundle(BundleError):
    """The bytes are not a tar holding the vipterm bundle members."""

    code = "not-a-bundle"


class Truncated(NotABundle):
    """The file starts as a bundle but ends early (an incomplete copy)."""

    code = "truncated"


class NewerFormat(BundleError):
    """The bundle (or key/roster document) uses a newer format version."""

    code = "newer-format"


class BadFormat(BundleError):
    """A vipterm bundle whose header or payload structure is invalid."""

    code = "bad-format"


class WrongProgram(BundleError):
    """The bundle belongs to another program than the one expected."""

    code = "wrong-program"


class UnknownSigner(BundleError):
    """The signing key is not on the roster."""

    code = "unknown-signer"


class RevokedSigner(BundleError):
    """The signing key belongs to a revoked device."""

    code = "revoked"


class BadSignature(BundleError):
    """The signature does not verify, or does not bind this header."""

    code = "bad-signature"


class SignerMismatch(BundleError):
    """Validly signed, but by a device that may not send this bundle."""

    code = "signer-mismatch"


class Tampered(BundleError):
    """Content does not match a hash that was signed."""

    code = "tampered"


class NotForUs(BundleError):
    """The payload is not encrypted to this device."""

    code = "not-for-us"


class TooLarge(BundleError):
    """A size or count limit would be exceeded."""

    code = "too-large"


class NewerSchema(BundleError, errors.NewerSchema):
    """The bundle's database schema version is newer than ours: vipterm's one `NewerSchema` (as
    for a database file, with its exit code), refused like every other bundle problem."""

    code = "newer-schema"


# --- keys, rosters, enrollment files ---------------------------------------


class WrongFileType(BundleError):
    """A key / roster / enrollment document is of another type or corrupt."""

    code = "wrong-file-type"


class SignatureInvalid(BundleError):
    """A detached minisign signature does not verify (keys.verify)."""

    code = "bad-signature"


class RosterError(BundleError):
    """Base of roster refusals."""

    code = "roster-error"


class RosterBadSignature(RosterError):
    code = "roster-bad-signature"


class RosterWrongRoot(RosterError):
    code = "roster-wrong-root"


class RosterRollback(RosterError):
    code = "roster-rollback"


class EnrollmentInvalid(BundleError):
    """An enrollment request or grant is inconsistent or not signed right."""

    code = "enrollment-invalid"


#: Every code a refusal from this layer can carry.
KNOWN_CODES: frozenset[str] = frozenset(
    cls.code
    for cls in (
        NotABundle,
        Truncated,
        NewerFormat,
        BadFormat,
        WrongProgram,
        UnknownSigner,
        RevokedSigner,
        BadSignature,
        SignerMismatch,
        Tampered,
        NotForUs,
        TooLarge,
        NewerSchema,
        WrongFileType,
        SignatureInvalid,
        RosterBadSignature,
        RosterWrongRoot,
        RosterRollback,
        EnrollmentInvalid,
    )
)

__all__ = [
    "BundleError",
    "NotABundle",
    "Truncated",
    "NewerFormat",
    "BadFormat",
    "WrongProgram",
    "UnknownSigner",
    "RevokedSigner",
    "BadSignature",
    "SignerMismatch",
    "Tampered",
    "NotForUs",
    "TooLarge",
    "NewerSchema",
    "WrongFileType",
    "SignatureInvalid",
    "RosterError",
    "RosterBadSignature",
    "RosterWrongRoot",
    "RosterRollback",
    "EnrollmentInvalid",
    "KNOWN_CODES",
]
