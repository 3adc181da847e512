"""The errors a user can meet, each with a one-line message and a documented exit code.

Messages never name a person: they may reach a screen in public, a log or a terminal scrollback.
"""

from __future__ import annotations

import enum
import errno
from typing import Any


class ExitCode(enum.IntEnum):
    """Exit codes of the `vipterm` command (documented in README.md)."""

    OK = 0
    ERROR = 1  # anything else that went wrong; the message says what
    USAGE = 2  # bad command line or invalid input value
    LOCKED = 3  # wrong passphrase, or no passphrase available
    NO_DATABASE = 4  # database missing, or the file is not a vipterm database
    NEWER_SCHEMA = 5  # the database or bundle was made by a newer vipterm
    EXISTS = 6  # refusing to overwrite an existing database without --force
    BUNDLE_REFUSED = 7  # a sync bundle was refused (damaged, forged, foreign, ...)
    CHECK_FAILED = 8  # doctor found a problem
    NOT_FOUND = 9  # a named record does not exist


class VipError(Exception):
    """Base class: carries the user-facing message and exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class WrongPassphrase(VipError):
    exit_code = ExitCode.LOCKED


class NoPassphrase(VipError):
    exit_code = ExitCode.LOCKED


class DatabaseMissing(VipError):
    exit_code = ExitCode.NO_DATABASE


class NotADatabase(VipError):
    exit_code = ExitCode.NO_DATABASE


class NewerSchema(VipError):
    exit_code = ExitCode.NEWER_SCHEMA


class DatabaseExists(VipError):
    exit_code = ExitCode.EXISTS


class ValidationError(VipError):
    """Bad input value; `field` names the form field it belongs to, when there is one."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NeedsConfirmation(ValidationError):
    """A rule a person may override once asked (a second notification attempt on the same day, a
    possible duplicate client): the form asks the question and saves again with the answer;
    a script sees a refusal with this message."""

    def __init__(self, message: str, field: str | None = None, matches: tuple[Any, ...] = ()):
        super().__init__(message, field)
        self.matches = matches  # what the question is about (e.g. possible duplicates)


class NotFound(VipError):
    exit_code = ExitCode.NOT_FOUND


class CheckFailed(VipError):
    exit_code = ExitCode.CHECK_FAILED


class DatabaseBusy(VipError):
    """The database stayed locked by another process past the busy timeout (raised by the store's
    engine, so callers catch a type, never a driver's message)."""

    exit_code = ExitCode.ERROR

    def __init__(
        self,
        message: str = "the database is busy (a sync or another vipterm is writing to it); try again",
    ):
        super().__init__(message)


class DatabaseDamaged(VipError):
    """Part of an open database file cannot be read: SQLCipher refused a page whose authentication
    failed, or SQLite found its structure broken. Raised by the store's engine."""

    exit_code = ExitCode.CHECK_FAILED

    def __init__(
        self,
        message: str = "the database file is damaged (part of it cannot be read); nothing was "
        "changed. See `vipterm help recovery`: a damaged database file",
    ):
        super().__init__(message)


# SQLite's primary result codes (the low byte of an extended code) that mean something to a user.
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CORRUPT, SQLITE_NOTADB = 5, 6, 11, 26


def database_error(exc: BaseException) -> VipError | None:
    """The vipterm error a database driver's exception means, or None: a write lock held past the
    busy timeout is `DatabaseBusy`, a page that fails its authentication (or a broken structure)
    is `DatabaseDamaged`. Read from SQLite's result code, never from the message's words. The
    store's engine applies it to every statement; the CLI to what a raw connection raised."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    code &= 0xFF
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return DatabaseBusy()
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DatabaseDamaged()
    return None


# Why a file operation failed, in a worker's words (the errno's own text is an OS's, and
# `str(OSError)` quotes the file name, which may be anything a user typed).
_OS_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the disk is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "the folder is not there (a removed stick?)",
    errno.ENODEV: "the device is gone (a removed stick?)",
    errno.EIO: "the disk could not be read or written (a removed stick?)",
    errno.ENOTDIR: "that is not a folder",
    errno.EISDIR: "that is a folder",
    errno.EEXIST: "it already exists",
}


def os_reason(exc: OSError) -> str:
    """One short reason for an OSError, the same wherever it is shown."""
    return _OS_REASONS.get(exc.errno or 0) or "the disk or folder failed"


class FileProblem(VipError):
    """A file or folder vipterm reads or writes failed (full disk, removed stick, permissions).
    The message says what was being done and why it failed; nothing half-written is left."""

    exit_code = ExitCode.ERROR

    @classmethod
    def of(cls, exc: OSError, doing: str) -> FileProblem:
        """`doing` says what failed, e.g. "cannot write /media/stick/report.html" (a path is fine
        in a message; data from inside a record is not)."""
        error = cls(f"{doing}: {os_reason(exc)}")
        error.errno = exc.errno
        return error

    errno: int | None = None


class CoordinatorOnly(VipError):
    """Work that only the coordinator's database may do was asked of a laptop's."""

    exit_code = ExitCode.USAGE
