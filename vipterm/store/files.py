"""The files vipterm writes beside its database: one atomic write and one flush to the disk.

`write_atomically` is how every report, bundle, key file, recovery sheet and client export
reaches its folder: a temporary file in that same folder (mode 0600 from the moment it exists,
since most of these hold what only their user may read), written, flushed, renamed over the
target, then the folder flushed, so that a crash or a pulled USB stick leaves the old file or the
new one, never half of one (at most a stray `.<name>.*.tmp`). `fsync_path` is the one flush of a
file, or of a folder's entries after a rename.

A failure of the disk or folder is a `FileProblem` naming the path and the reason; the original
`OSError` text is not used (it is the OS's wording and may differ per platform).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vipterm.errors import FileProblem

_WINDOWS = os.name == "nt"


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


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Write `data` (text is UTF-8, with its newlines as given) to `path`, all or nothing, mode
    0600. Replaces an existing file: callers that must not overwrite check first. Raises
    `FileProblem` when the folder or the disk refuses."""
    path = Path(path)
    folder = path.parent
    content = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise FileProblem.of(exc, f"cannot write {path}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise FileProblem.of(exc, f"cannot write {path}") from None
        raise
    try:
        fsync_path(folder)
    except OSError:
        pass  # the file is complete under its name; only the rename's durability is in doubt
    return path
