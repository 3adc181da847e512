"""The encrypted database: key derivation, the one engine factory, create/unlock/rekey.

The file is SQLCipher 4. The key is Argon2id(passphrase, salt) used as a raw key; the salt is
SQLCipher's own 16-byte file salt, which sits unencrypted at the start of the file, so it can be
read before unlocking and no side file is needed.

The Argon2id parameters travel in that same salt, so they can be raised later and a file always
says how to unlock itself: a salt made by this vipterm is a 2-byte tag, the time cost, log2 of the
memory in KiB and the parallelism (one byte each), then 11 random bytes (88 bits: salts must be
unique, not secret). A sidecar file was the alternative; it was not chosen because a database
copied without it (a backup, a USB stick) would no longer open once the parameters were raised.
A salt without the tag (a database made before the parameters were stored) is read with the
original constants, which are the current defaults. Database files are created 0600, and a
folder vipterm creates for them 0700. Every connection applies the raw key (no
per-connection KDF), silences SQLCipher's logging (a wrong key would otherwise print to stderr
and garble the screen), and sets WAL, synchronous=FULL, foreign keys and a busy timeout.

There is no module-level engine: every caller names its database.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher
from argon2.low_level import Type, hash_secret_raw
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from vipterm.errors import (
    SQLITE_NOTADB,
    DatabaseExists,
    DatabaseMissing,
    NotADatabase,
    VipError,
    WrongPassphrase,
    database_error,
)
from vipterm.store.files import create_private, fsync_path, private_folder, remove_database

SALT_BYTES = 16
KEY_BYTES = 32
# Argon2id parameters for new files: ~0.25 s and 64 MiB on a laptop, paid once per unlock. Files
# carry their own (see the module docstring): raising these affects new files and `passwd` only.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 1
# What a file without stored parameters was made with (never change these two lines' values).
LEGACY_PARAMS = (3, 64 * 1024, 1)
BUSY_TIMEOUT_MS = 5000
_PLAIN_SQLITE_MAGIC = b"SQLite format 3\x00"
_PARAMS_TAG = b"\xa2\x1d"  # first bytes of a salt that stores its Argon2id parameters


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters: time cost (passes), memory in KiB (a power of two), lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int

    @classmethod
    def current(cls) -> KdfParams:
        return cls(ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM)


def new_salt(params: KdfParams | None = None) -> bytes:
    """A fresh file salt that stores `params` (default: the current ones)."""
    params = params or KdfParams.current()
    exponent = params.memory_kib.bit_length() - 1
    if params.memory_kib != 1 << exponent or not 1 <= params.time_cost <= 255 or not 1 <= params.parallelism <= 255:
        raise ValueError("Argon2id memory must be a power of two KiB; time cost and parallelism 1..255")
    head = _PARAMS_TAG + bytes((params.time_cost, exponent, params.parallelism))
    return head + secrets.token_bytes(SALT_BYTES - len(head))


def params_of_salt(salt: bytes) -> KdfParams:
    """The Argon2id parameters a file's salt says it was made with (legacy constants if none)."""
    if len(salt) == SALT_BYTES and salt[:2] == _PARAMS_TAG:
        time_cost, exponent, lanes = salt[2], salt[3], salt[4]
        # Only values a vipterm could have written: a legacy random salt that happens to start
        # with the tag (1 in 65,536) almost never also holds plausible costs.
        if 1 <= time_cost <= 64 and 13 <= exponent <= 24 and 1 <= lanes <= 16:
            return KdfParams(time_cost, 1 << exponent, lanes)
    return KdfParams(*LEGACY_PARAMS)


def derive_key(passphrase: str, salt: bytes, params: KdfParams | None = None) -> bytes:
    """Argon2id of the passphrase with the file's salt and the parameters it stores."""
    if not passphrase:
        raise WrongPassphrase("the passphrase is empty")
    params = params or params_of_salt(salt)
    return hash_secret_raw(
        passphrase.encode("utf-8"),
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
    )


@dataclass(frozen=True)
class RawKey:
    """A derived key and the salt it belongs to, as SQLCipher's raw-key pragma wants them."""

    key: bytes
    salt: bytes

    def pragma_value(self) -> str:
        return f"\"x'{self.key.hex()}{self.salt.hex()}'\""


def read_salt(path: Path) -> bytes:
    """The file salt, readable while locked; refuses what is not an encrypted database."""
    path = Path(path)
    if not path.exists():
        raise DatabaseMissing(f"no database at {path}")
    if path.is_dir():
        raise NotADatabase(f"{path} is a folder, not a vipterm database")
    with path.open("rb") as fh:
        head = fh.read(SALT_BYTES)
    if head == _PLAIN_SQLITE_MAGIC:
        raise NotADatabase(f"{path} is an unencrypted SQLite file, not a vipterm database")
    if len(head) < SALT_BYTES or path.stat().st_size < 1024:
        raise NotADatabase(f"{path} is not a vipterm database")
    return head


def _configure(dbapi_conn: Any, raw: RawKey) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA cipher_log_level = NONE")
    cur.execute(f"PRAGMA key = {raw.pragma_value()}")
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # The first real read proves the key; it raises "file is not a database" otherwise.
    cur.execute("SELECT count(*) FROM sqlite_master").fetchone()
    cur.execute("PRAGMA journal_mode = WAL").fetchone()
    cur.execute("PRAGMA synchronous = FULL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def connect_raw(path: Path, raw: RawKey) -> Any:
    """One configured DB-API connection (autocommit mode: transactions are explicit)."""
    conn = sqlcipher.connect(str(path), check_same_thread=False, isolation_level=None)
    try:
        _configure(conn, raw)
    except sqlcipher.DatabaseError as exc:
        conn.close()
        # The first read with a wrong key fails its page check: "not a database" to SQLite.
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == SQLITE_NOTADB:
            raise WrongPassphrase("wrong passphrase, or the file is not a vipterm database") from None
        raise
    return conn


def make_engine(path: Path, raw: RawKey) -> Engine:
    """The engine factory. `BEGIN` is emitted by us, so `immediate` sessions can take the lock."""
    path = Path(path)
    engine = create_engine(
        "sqlite://",
        module=sqlcipher,
        creator=lambda: connect_raw(path, raw),
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=4,
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:  # pragma: no cover - exercised by every write
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN"
        conn.exec_driver_sql(mode)

    @event.listens_for(engine, "handle_error")
    def _typed(context: ExceptionContext) -> VipError | None:
        # Every statement, commit and pooled connect passes here: the one place a driver's error
        # becomes a type the app and the CLI can tell the user about.
        return database_error(context.original_exception)

    return engine


def key_for_existing(path: Path, passphrase: str) -> RawKey:
    salt = read_salt(path)
    return RawKey(derive_key(passphrase, salt), salt)


def verify_key(path: Path, raw: RawKey) -> None:
    """Open and close one connection: raises WrongPassphrase, touching nothing on failure."""
    connect_raw(path, raw).close()


def create_file(path: Path, passphrase: str, *, force: bool = False) -> RawKey:
    """A new, empty encrypted database file. Refuses to overwrite unless `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise DatabaseExists(f"{path} already exists (use --force to replace it)")
    private_folder(path.parent)
    remove_database(path)
    salt = new_salt()
    raw = RawKey(derive_key(passphrase, salt), salt)
    create_private(path)
    conn = connect_raw(path, raw)
    conn.close()
    return raw


def rekey_file(path: Path, old: RawKey, new_passphrase: str) -> RawKey:
    """Re-encrypt the file under a new passphrase and a fresh salt, atomically.

    `sqlcipher_export` writes a complete encrypted copy; it replaces the original only after
    it is fsynced, so a crash leaves either the old file or the new one, never a mix.
    """
    path = Path(path)
    salt = new_salt()  # the current parameters: a passphrase change is also how old files get raised costs
    new = RawKey(derive_key(new_passphrase, salt), salt)
    tmp = path.with_name(path.name + ".rekey-tmp")
    tmp.unlink(missing_ok=True)
    create_private(tmp)
    conn = connect_raw(path, old)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(f"ATTACH DATABASE ? AS rekeyed KEY {new.pragma_value()}", (str(tmp),))
        conn.execute("SELECT sqlcipher_export('rekeyed')")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA rekeyed.user_version = {int(version)}")
        conn.execute("DETACH DATABASE rekeyed")
    finally:
        conn.close()
    fsync_path(tmp)
    remove_database(path, sidecars_only=True)
    os.replace(tmp, path)
    fsync_path(path.parent)
    verify_key(path, new)
    return new


class Database:
    """An unlocked database: its engine and sessions. Made by `vipterm.store.open_database`."""

    def __init__(self, path: Path, raw: RawKey):
        self.path = Path(path)
        self.raw = raw
        self.engine = make_engine(self.path, raw)
        self._writer = self.engine.execution_options(immediate=True)

    def session(self, **info: Any) -> Session:
        """A read session (deferred transaction)."""
        return Session(self.engine, expire_on_commit=False, info=dict(info))

    @contextmanager
    def write(self, **info: Any) -> Iterator[Session]:
        """One write transaction, BEGIN IMMEDIATE: committed on success, rolled back on error."""
        session = Session(self._writer, expire_on_commit=False, info={"database": self, **info})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def vacuum(self) -> None:
        """Compact the file (VACUUM must run outside any transaction)."""
        conn = self.engine.raw_connection()
        try:
            driver: Any = conn.driver_connection
            driver.execute("VACUUM")
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def dispose(self) -> None:
        self.engine.dispose()
