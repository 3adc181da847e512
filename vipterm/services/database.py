"""Creating, unlocking and re-keying a vipterm database: the `Store` every use case works on.

A Store is an unlocked, migrated database plus who this device is (device id, role, the worker
using it). Its `write()` sessions capture changes for sync; its `read()` sessions are plain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, select

from vipterm.domain import Role
from vipterm.errors import NewerSchema, ValidationError
from vipterm.paths import default_database_path  # noqa: F401  (re-exported for callers)
from vipterm.store import engine as store_engine
from vipterm.store.migrations import SCHEMA_VERSION, check_version, migrate
from vipterm.store.models import Meta, SyncState, Worker, new_id
from vipterm.sync.capture import Capture
from vipterm.timekeeping import DEFAULT_TIME_ZONE, ProgramClock, check_time_zone

MIN_PASSPHRASE_LENGTH = 8


@dataclass(frozen=True)
class Identity:
    device_id: str
    role: Role
    worker_id: str
    program_id: str


class Store:
    """An unlocked vipterm database, with the program clock (`clock`) every use case reads."""

    def __init__(self, database: store_engine.Database, identity: Identity, clock: ProgramClock | None = None):
        self.database = database
        self.identity = identity
        self.clock = clock or ProgramClock()

    @property
    def time_zone(self) -> str:
        return self.clock.time_zone

    def set_time_zone(self, time_zone: str) -> None:
        """Change the program time zone here (the coordinator's setting; laptops take it from
        their return bundles). Local to this database: not a synced change."""
        time_zone = check_time_zone(time_zone)
        with self.database.write(capture=False) as session:
            row = session.get(Meta, "time_zone")
            if row is None:
                session.add(Meta(key="time_zone", value=time_zone))
            else:
                row.value = time_zone
        self.clock = self.clock.with_zone(time_zone)

    @property
    def path(self) -> Path:
        return self.database.path

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    @property
    def worker_id(self) -> str:
        return self.identity.worker_id

    @property
    def role(self) -> Role:
        return self.identity.role

    def read(self) -> Session:
        return self.database.session()

    @contextmanager
    def write(self, *, capture: bool = True) -> Iterator[Session]:
        """One BEGIN IMMEDIATE transaction whose synced writes land in the change log."""
        info = Capture(self.device_id) if capture else False
        with self.database.write(capture=info) as session:
            yield session

    def close(self) -> None:
        self.database.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


MIN_PASSPHRASE_SCORE = 3  # zxcvbn: "safely unguessable: moderate protection from an offline slow-hash attack"


def passphrase_problem(passphrase: str) -> str | None:
    """Why a new passphrase is too weak (None when it is strong enough).

    A stolen laptop's database can be attacked offline at leisure: the length rule is backed by
    zxcvbn's estimate of how guessable the passphrase is, with its own words for why.
    """
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        return f"the passphrase must be at least {MIN_PASSPHRASE_LENGTH} characters long"
    from zxcvbn import zxcvbn

    # zxcvbn's matchers are quadratic in length; a long passphrase is judged on its first 100
    # characters (a longer one is never weaker than its start).
    verdict = zxcvbn(passphrase[:100])
    if verdict["score"] >= MIN_PASSPHRASE_SCORE:
        return None
    feedback = verdict.get("feedback") or {}
    why = " ".join(part for part in [feedback.get("warning") or ""] + list(feedback.get("suggestions") or []) if part)
    return "the passphrase is too easy to guess" + (f": {why}" if why else ": add a few unrelated words")


def _check_new_passphrase(passphrase: str) -> None:
    problem = passphrase_problem(passphrase)
    if problem:
        raise ValidationError(problem, field="passphrase")


def create_store(
    path: Path,
    passphrase: str,
    *,
    worker_name: str = "Peer support worker",
    role: Role = Role.WORKER,
    program_id: str | None = None,
    force: bool = False,
    device_id: str | None = None,
    worker_id: str | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> Store:
    """A new encrypted database for this device, migrated, with its worker and identity."""
    _check_new_passphrase(passphrase)
    clock = ProgramClock(time_zone)
    if not worker_name.strip():
        raise ValidationError("the worker name is empty", field="worker_name")
    raw = store_engine.create_file(Path(path), passphrase, force=force)
    database = store_engine.Database(Path(path), raw)
    migrate(database.engine)
    device_id = device_id or new_id()
    identity = Identity(
        device_id=device_id, role=role, worker_id=worker_id or new_id(), program_id=program_id or new_id()
    )
    with database.write(capture=False) as session:
        session.add(SyncState(device_id=device_id))
        for key, value in (
            ("device_id", device_id),
            ("role", role.value),
            ("worker_id", identity.worker_id),
            ("program_id", identity.program_id),
            ("created_at", clock.utcnow().isoformat()),
            ("time_zone", clock.time_zone),
        ):
            session.add(Meta(key=key, value=value))
    store = Store(database, identity, clock)
    with store.write() as session:
        session.add(Worker(id=identity.worker_id, display_name=worker_name.strip(), role=role.value))
    return store


def _read_identity(session: Session) -> tuple[Identity, ProgramClock]:
    meta = {m.key: m.value for m in session.exec(select(Meta))}
    identity = Identity(
        device_id=meta["device_id"],
        role=Role(meta.get("role", "worker")),
        worker_id=meta["worker_id"],
        program_id=meta.get("program_id", ""),
    )
    try:
        clock = ProgramClock(meta.get("time_zone") or DEFAULT_TIME_ZONE)
    except ValidationError:  # a zone this machine lacks: days still need cutting somewhere
        clock = ProgramClock(DEFAULT_TIME_ZONE)
    return identity, clock


def open_store(path: Path, passphrase: str) -> Store:
    """Unlock and migrate. A wrong passphrase or a newer schema changes nothing in the file."""
    raw = store_engine.key_for_existing(Path(path), passphrase)
    return open_store_with_key(Path(path), raw)


def open_store_with_key(path: Path, raw: store_engine.RawKey) -> Store:
    store_engine.verify_key(path, raw)  # raises WrongPassphrase before any pool or migration
    database = store_engine.Database(path, raw)
    try:
        with database.engine.connect() as conn:
            version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
        check_version(version)
        migrate(database.engine)
        with database.session() as session:
            identity, clock = _read_identity(session)
    except NewerSchema:
        database.dispose()
        raise
    except KeyError:
        database.dispose()
        raise ValidationError(f"{path} is not a vipterm database (no device identity)") from None
    except BaseException:
        database.dispose()
        raise
    return Store(database, identity, clock)


def change_passphrase(path: Path, old_passphrase: str, new_passphrase: str) -> None:
    """Re-encrypt the whole file under the new passphrase (atomic replace)."""
    _check_new_passphrase(new_passphrase)
    raw = store_engine.key_for_existing(Path(path), old_passphrase)
    store_engine.verify_key(Path(path), raw)
    store_engine.rekey_file(Path(path), raw, new_passphrase)


def integrity_report(store: Store) -> dict[str, Any]:
    """What `vipterm doctor` prints: integrity, schema, counts per table."""
    from vipterm.store.models import SYNC_POLICY

    with store.read() as session:
        integrity = session.execute(text("PRAGMA integrity_check")).scalar_one()
        fk_problems = session.execute(text("PRAGMA foreign_key_check")).all()
        version = session.execute(text("PRAGMA user_version")).scalar_one()
        counts = {
            name: session.execute(text(f"SELECT count(*) FROM {name} WHERE deleted_at IS NULL")).scalar_one()
            for name in SYNC_POLICY
        }
        pending = session.execute(
            text("SELECT count(*) FROM change_log WHERE device = :d"), {"d": store.device_id}
        ).scalar_one()
        cipher = session.execute(text("PRAGMA cipher_version")).scalar_one()
        from vipterm.sync.validate import stored_problems

        # Values a merge took before every change was checked (a forged status, a number as a date).
        bad_values = stored_problems(session.connection()) if int(version) == SCHEMA_VERSION else {}
    return {
        "integrity": integrity,
        "foreign_key_problems": len(fk_problems),
        "schema_version": int(version),
        "schema_expected": SCHEMA_VERSION,
        "cipher_version": cipher,
        "device_id": store.device_id,
        "role": store.role.value,
        "counts": counts,
        "changes_logged_here": int(pending),
        "values_breaking_rules": bad_values,
        "healthy": integrity == "ok" and not fk_problems and int(version) == SCHEMA_VERSION and not bad_values,
    }
