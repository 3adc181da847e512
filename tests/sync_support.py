"""Test support for the sync tests: in-memory replicas with the real schema and real capture.

A `Replica` is a plain (unencrypted, in-memory) SQLite database migrated with the frozen schema,
written through SQLAlchemy sessions that carry the real change-capture hook, with an injectable
wall clock. The merge engine runs on it exactly as on an encrypted store (same SQL), so property
tests can afford hundreds of examples; the encrypted path is covered by the service tests.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime

from sqlalchemy import create_engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from vipterm.store.migrations import migrate
from vipterm.store.models import Client, ClientIdentity, Contact, FollowUp, SyncState, Worker
from vipterm.sync import merge as merge_engine
from vipterm.sync import outbox
from vipterm.sync.capture import Capture


class FakeWall:
    def __init__(self, start_ms: int = 1_780_000_000_000):
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class Replica:
    def __init__(self, device_id: str, worker_id: str, wall: FakeWall, *, coordinator: bool = False):
        self.device_id = device_id
        self.worker_id = worker_id
        self.wall = wall
        self.coordinator = coordinator
        self.engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False, "isolation_level": None}
        )

        @event.listens_for(self.engine, "connect")
        def _fk(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA foreign_keys = ON")

        @event.listens_for(self.engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        migrate(self.engine)
        with Session(self.engine, info={"capture": False}) as s:
            s.add(SyncState(device_id=device_id))
            s.commit()

    @contextmanager
    def write(self):
        with Session(
            self.engine, expire_on_commit=False, info={"capture": Capture(self.device_id, wall=self.wall)}
        ) as s:
            yield s
            s.commit()

    def dump(self):
        with self.engine.connect() as conn:
            return merge_engine.canonical_dump(conn)

    def conflicts(self):
        with self.engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT tbl, row_id, col, kept_value, kept_hlc, kept_device, lost_value, lost_hlc, lost_device "
                    "FROM sync_conflict"
                )
            ]

    def merge(self, changes, options):
        with self.engine.begin() as conn:
            plan = merge_engine.plan_merge(conn, changes, options)
            tick = merge_engine.observe_clock(conn, plan.max_hlc, self.wall()) if plan.max_hlc else None
            merge_engine.apply_plan(conn, plan, tick=tick)
        return plan

    def pending(self, after: int):
        with self.engine.connect() as conn:
            return outbox.pending_changes(conn, self.device_id, after)

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT next_seq FROM sync_state").scalar_one()) - 1


def make_worker(s: Session, worker_id: str, name: str) -> None:
    s.add(Worker(id=worker_id, display_name=name, role="worker"))


def make_client(s: Session, client_id: str, worker_id: str, first_name: str = "Test") -> None:
    s.add(
        Client(
            id=client_id,
            pseudonym="VIP-" + client_id[-6:].upper(),
            assigned_worker_id=worker_id,
            identified_on=date(2026, 1, 5),
        )
    )
    s.add(ClientIdentity(client_id=client_id, first_name=first_name))


def make_contact(s: Session, contact_id: str, client_id: str, worker_id: str) -> None:
    s.add(Contact(id=contact_id, client_id=client_id, worker_id=worker_id, occurred_at=datetime(2026, 2, 1, 10, 0)))


def make_follow_up(s: Session, fid: str, client_id: str, owner: str) -> None:
    s.add(FollowUp(id=fid, client_id=client_id, owner_id=owner, due_on=date(2026, 3, 1)))


# --- encrypted stores enrolled with a real coordinator -------------------------------------------

import atexit  # noqa: E402
import hashlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.conftest import at_the_frozen_moment  # noqa: E402
from vipterm.domain import Role  # noqa: E402
from vipterm.services import sync as sync_service  # noqa: E402
from vipterm.services.database import Store, create_store, open_store_with_key  # noqa: E402

PASSPHRASE = "correct horse battery"


def new_coordinator(path: Path) -> Store:
    store, _keys = sync_service.coordinator_init(path, PASSPHRASE, worker_name="Coordinator")
    return store


def new_enrolled_worker(coord: Store, path: Path, name: str = "Worker") -> Store:
    worker = create_store(path, PASSPHRASE, worker_name=name, role=Role.WORKER)
    enroll(coord, worker, path.parent)
    return worker


_PROGRAMS: dict[tuple, tuple[Path, list[tuple[str, object]]]] = {}


def enrolled_program(folder: Path, coordinator: str, *laptops: tuple[str, str]) -> tuple[Store, list[Store]]:
    """A coordinator (file name `coordinator`) and laptops enrolled with it in person, one per
    (file name, worker name), opened in `folder`. The first call in a test process builds them
    through the real flows (`new_coordinator`, `new_enrolled_worker`); every call hands out fresh
    copies of those files, opened with the keys derived when they were made."""
    key = (coordinator, laptops)
    if key not in _PROGRAMS:
        origin = Path(tempfile.mkdtemp(prefix="vipterm-test-program-"))
        atexit.register(shutil.rmtree, origin, True)
        with at_the_frozen_moment():
            coord = new_coordinator(origin / coordinator)
            stores = [coord, *(new_enrolled_worker(coord, origin / name, worker) for name, worker in laptops)]
        files = [(store.path.name, store.database.raw) for store in stores]
        for store in stores:
            store.close()
        _PROGRAMS[key] = (origin, files)
    origin, files = _PROGRAMS[key]
    opened = []
    for name, raw in files:
        for suffix in ("", "-wal"):  # closing checkpoints the log; a leftover one goes with its file
            if (origin / (name + suffix)).exists():
                shutil.copy(origin / (name + suffix), folder / (name + suffix))
        opened.append(open_store_with_key(folder / name, raw))
    return opened[0], opened[1:]


def enroll(coord: Store, worker: Store, folder: Path, worker_spec: str | None = None) -> None:
    """Enroll in person: the coordinator binds the laptop to a worker (by default a new one with
    the laptop's own display name); the laptop adopts that worker's id."""
    if worker_spec is None:
        with worker.database.engine.connect() as conn:
            worker_spec = conn.exec_driver_sql(
                "SELECT display_name FROM worker WHERE id = ?", (worker.worker_id,)
            ).scalar_one()
    req = sync_service.enroll_request(worker, folder / f"req-{worker.device_id}.vipreq")
    grant = sync_service.enroll_approve(
        coord,
        req.path.read_bytes(),
        folder / f"grant-{worker.device_id}.vipgrant",
        fingerprint=req.fingerprint,
        worker=worker_spec,
    )
    sync_service.enroll_accept(worker, grant.path.read_bytes())


def file_state(store: Store) -> tuple[str, str]:
    """Hashes of the database file and its WAL: byte-for-byte identity."""

    def digest(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "absent"

    return digest(store.path), digest(Path(str(store.path) + "-wal"))


def dump_store(store: Store) -> dict:
    with store.database.engine.connect() as conn:
        dump = merge_engine.canonical_dump(conn)
        for side in (
            "change_log",
            "field_version",
            "sync_peer",
            "sync_bundle",
            "sync_inbox",
            "sync_conflict",
            "sync_keys",
            "sync_state",
            "meta",
            "sync_purged",
            "sync_touch",
            "sync_sent_client",
        ):
            dump[side] = [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {side} ORDER BY 1, 2")]
    return dump


def exchange(coord: Store, workers: list[Store], folder: Path) -> None:
    """One full round: every laptop exports, the coordinator imports all, returns to every laptop."""
    folder.mkdir(parents=True, exist_ok=True)
    up = folder / "up"
    up.mkdir(exist_ok=True)
    for w in workers:
        sync_service.export(w, up)
    results = sync_service.import_bundles(coord, [up], archive_dir=folder / "archive-up")
    assert not any(r.refused for r in results), [r.message for r in results]
    down = folder / "down"
    down.mkdir(exist_ok=True)
    for r in sync_service.export(coord, down):
        target = next(w for w in workers if w.device_id == r.for_device)
        res = sync_service.import_bundles(target, [r.path])
        assert not any(x.refused for x in res), [x.message for x in res]
