"""The files vipterm writes beside its database: one atomic write and one flush to the disk.

`write_atomically` (bytes or text) and `atomic_file` (a file to stream into) are how every
report, bundle, key file, recovery sheet and client export reaches its folder: a temporary file
in that same folder (mode 0600 from the moment it exists, since most of these hold what only
their user may read), written, flushed, renamed over the target, then the folder flushed, so
that a crash or a pulled USB stick leaves the old file or the new one, never half of one (at most
a stray `.<name>.*.tmp`). `fsync_path` is the one flush of a file, or of a folder's entries after
a rename; `create_private` the one way to make an empty 0600 file (a database, a backup).

A failure of the disk or folder in `write_atomically` is a `FileProblem` naming the path and the
reason; the original `OSError` text is not used (it is the OS's wording and may differ per
platform).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from vipterm.errors import FileProblem

_WINDOWS = os.name == "nt"


def private_mode(path: Path, mode: int) -> None:
    """Set a file's or folder's mode whatever the umask (0600 for a file, 0700 for a folder)."""
    # Windows has no owner/group/other bits (chmod there only sets the read-only flag); a file is
    # kept private by the ACL of the user's profile folder, where platformdirs puts the database.
    if not _WINDOWS:
        os.chmod(path, mode)


def create_private(path: Path) -> None:
    """A new, empty file, mode 0600 (SQLite gives a database's -wal and -shm files the same
    mode); refuses one that exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    private_mode(path, 0o600)


def private_folder(folder: Path) -> None:
    """Create a database's folder 0700 when vipterm is the one creating it (one that exists is
    the user's: left as it is)."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        private_mode(folder, 0o700)


def remove_database(path: Path, *, sidecars_only: bool = False) -> None:
    """Remove a database file and its -wal and -shm files (or only those two), wherever they are
    missing already: a half-made copy, or the journal of a file about to be replaced."""
    for suffix in ("-wal", "-shm") if sidecars_only else ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename), to the disk."""
    if _WINDOWS and Path(path).is_dir():
        return  # Windows cannot open a folder; NTFS journals the rename itself
    # Windows flushes only a file opened for writing; POSIX flushes a read-only descriptor too
    # (and a folder can only be opened read-only).
    fd = os.open(path, os.O_RDWR if _WINDOWS else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` whole, mode 0600, when the block ends without an error
    (then it is flushed, renamed and the folder flushed); on any error the temporary file is
    removed and `path` is as it was. For a caller that writes as it builds (a bundle streams its
    members); its OSError is the caller's to word. Replaces an existing file: callers that must
    not overwrite check first."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        fsync_path(path.parent)
    except OSError:
        pass  # a folder some file systems cannot flush: the file is complete under its name


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Write `data` (text as UTF-8, its newlines as given) to `path` through `atomic_file`. Raises
    `FileProblem` naming the path and the reason when the folder or the disk refuses."""
    content = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with atomic_file(path) as fh:
            fh.write(content)
    except OSError as exc:
        raise FileProblem.of(exc, f"cannot write {path}") from None
    return Path(path)
