"""Backups: a consistent, encrypted snapshot of a vipterm database taken while the app may run,
checking one, restoring it into a new database, and when the last one was taken.

How the snapshot is taken: SQLite's online backup API (sqlcipher3's `Connection.backup`) into a
new file keyed with the database's own raw key and salt. SQLCipher 4 also encrypts `VACUUM INTO`
under the main key, but only implicitly (older SQLCipher releases wrote plaintext there); the
backup API writes into a connection we key ourselves, so the copy cannot come out unencrypted
without us seeing it (the result is checked anyway). The copy is done in one step, inside one read
transaction of a WAL database: writers in other processes go on, and the snapshot is the database
as of one commit. The backup carries the file salt (and so the Argon2id parameters), so it
unlocks with the passphrase the database had when it was taken.

A backup is named by the time it was taken (UTC) and the device id, never by a person:
`vipterm-<device id>-<YYYYMMDD-HHMMSS>Z.backup`, mode 0600. When it was taken is kept in this
database's local `meta` (`last_backup_at`); backups are audited (`AuditAction.BACKUP`/`RESTORE`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from vipterm import domain
from vipterm.errors import CheckFailed, DatabaseExists, NewerSchema, NotADatabase, ValidationError, WrongPassphrase
from vipterm.progress import NO_PROGRESS, Progress
from vipterm.services.database import Store, open_store
from vipterm.store import engine as store_engine
from vipterm.store.files import create_private, fsync_path, private_folder, private_mode, remove_database
from vipterm.store.migrations import SCHEMA_VERSION
from vipterm.store.models import Meta

BACKUP_SUFFIX = ".backup"
LAST_BACKUP_KEY = "last_backup_at"
DEFAULT_REMINDER_DAYS = 7
# Tables every vipterm database has had since its first schema: a file without them is not ours.
_VIPTERM_TABLES = ("meta", "client", "worker", "change_log")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    taken_at: datetime  # naive UTC
    size: int


def backup_name(device_id: str, taken_at: datetime) -> str:
    return f"vipterm-{device_id}-{taken_at:%Y%m%d-%H%M%S}Z{BACKUP_SUFFIX}"


def take_backup(store: Store, to_dir: Path, *, progress: Progress = NO_PROGRESS) -> BackupResult:
    """Write a snapshot of `store` into the folder `to_dir` (which must exist); audited.

    `progress` counts the steps: the copy (one step, for one consistent snapshot: its pages
    cannot be counted as they go without giving that up), flushing it to the disk, checking it."""
    to_dir = Path(to_dir).expanduser()
    if not to_dir.is_dir():
        raise ValidationError(f"{to_dir} is not a folder", field="to")
    taken_at = store.clock.utcnow().replace(microsecond=0)
    final = to_dir / backup_name(store.device_id, taken_at)
    if final.exists():
        raise DatabaseExists(f"{final} already exists; nothing was written")
    tmp = final.with_name(final.name + ".part")
    tmp.unlink(missing_ok=True)
    raw = store.database.raw
    try:
        with progress.task("backing up (copy, flush, check)", total=3) as task:
            create_private(tmp)
            target = sqlcipher.connect(str(tmp), isolation_level=None)
            try:
                target.execute("PRAGMA cipher_log_level = NONE")
                target.execute(f"PRAGMA key = {raw.pragma_value()}")
                source = store.database.engine.raw_connection()
                try:
                    # pages=-1: one step, so the copy is one read transaction (one consistent state).
                    driver: Any = source.driver_connection
                    driver.backup(target, pages=-1)
                finally:
                    source.close()
            finally:
                target.close()
            task.advance()
            fsync_path(tmp)
            task.advance()
            _check_encrypted(tmp, raw)
            os.replace(tmp, final)
            fsync_path(to_dir)
            task.advance()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with store.database.write(capture=False) as session:
        row = session.get(Meta, LAST_BACKUP_KEY)
        if row is None:
            session.add(Meta(key=LAST_BACKUP_KEY, value=taken_at.isoformat()))
        else:
            row.value = taken_at.isoformat()
    from vipterm.services.audit import record_audit

    record_audit(store, domain.AuditAction.BACKUP, None, f"backup {final.name}")
    return BackupResult(final, taken_at, final.stat().st_size)


def _check_encrypted(path: Path, raw: store_engine.RawKey) -> None:
    with path.open("rb") as fh:
        head = fh.read(store_engine.SALT_BYTES)
    if head != raw.salt:  # plaintext ("SQLite format 3") or another salt: not what we meant to write
        raise CheckFailed("the backup did not come out encrypted under the database's key; it was not kept")


def last_backup_at(store: Store) -> datetime | None:
    """When this database's last backup was taken (naive UTC), None if never."""
    with store.read() as session:
        row = session.get(Meta, LAST_BACKUP_KEY)
    if row is None:
        return None
    try:
        return datetime.fromisoformat(row.value)
    except ValueError:
        return None


def backup_reminder(store: Store, days: float = DEFAULT_REMINDER_DAYS) -> str | None:
    """What the app says after unlocking when a backup is due (None when it is not, or days <= 0)."""
    if days <= 0:
        return None
    last = last_backup_at(store)
    if last is None:
        return "no backup of this database has been taken yet: run `vipterm backup --to DIR` (`vipterm help recovery`)"
    age = (store.clock.utcnow() - last).total_seconds() / 86400
    if age < days:
        return None
    return f"the last backup was taken {int(age)} day(s) ago: run `vipterm backup --to DIR` (`vipterm help recovery`)"


# --- checking and restoring ---------------------------------------------------------------------


def check_backup(path: Path, raw: store_engine.RawKey) -> dict[str, Any]:
    """Open a backup (or a copy of one) and check it is a vipterm database in good order.

    Raises NotADatabase, NewerSchema or CheckFailed with a one-line reason."""
    try:
        conn = store_engine.connect_raw(path, raw)
    except WrongPassphrase:
        raise WrongPassphrase(
            f"{path.name} does not open with this passphrase (wrong passphrase, or not a vipterm backup)"
        ) from None
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in _VIPTERM_TABLES if t not in names]
        if missing:
            raise NotADatabase(f"{path.name} is not a vipterm backup (it has no {missing[0]} table)")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if "device_id" not in meta or "role" not in meta:
            raise NotADatabase(f"{path.name} is not a vipterm backup (no device identity)")
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise CheckFailed(f"{path.name} fails SQLite's integrity check ({str(integrity)[:80]}); not restored")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise NewerSchema(
                f"{path.name} was made by a newer vipterm (schema {version}, this one knows "
                f"{SCHEMA_VERSION}): upgrade vipterm to restore it"
            )
    except sqlcipher.DatabaseError as exc:
        raise CheckFailed(f"{path.name} is damaged ({type(exc).__name__}); not restored") from None
    finally:
        conn.close()
    return {
        "device_id": meta["device_id"],
        "role": meta["role"],
        "schema_version": version,
        "program_id": meta.get("program_id", ""),
    }


def restore_backup(backup: Path, new_db: Path, passphrase: str) -> tuple[Store, dict[str, Any]]:
    """Check `backup` and write it as the new database `new_db` (never over an existing file).

    The backup file itself is never written to: it is copied first, and the copy is checked,
    migrated to this vipterm's schema and renamed into place only when every check passed."""
    backup, new_db = Path(backup).expanduser(), Path(new_db).expanduser()
    if new_db.exists():
        raise DatabaseExists(f"{new_db} already exists; restore writes a new database (choose another --db)")
    if not backup.is_file():
        raise NotADatabase(f"no backup file at {backup}")
    salt = store_engine.read_salt(backup)  # refuses plaintext SQLite and what is too small
    raw = store_engine.RawKey(store_engine.derive_key(passphrase, salt), salt)
    private_folder(new_db.parent)
    tmp = new_db.with_name(new_db.name + ".restore-tmp")
    remove_database(tmp)
    try:
        create_private(tmp)
        shutil.copyfile(backup, tmp)
        private_mode(tmp, 0o600)
        info = check_backup(tmp, raw)
        conn = store_engine.connect_raw(tmp, raw)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        fsync_path(tmp)
        remove_database(tmp, sidecars_only=True)
        if new_db.exists():
            raise DatabaseExists(f"{new_db} already exists; restore writes a new database (choose another --db)")
        os.replace(tmp, new_db)
        fsync_path(new_db.parent)
    except BaseException:
        remove_database(tmp)
        raise
    store = open_store(new_db, passphrase)
    from vipterm.services.audit import record_audit

    record_audit(store, domain.AuditAction.RESTORE, None, f"restored {backup.name}")
    return store, info
