"""The sync scenarios' cast: an enrolled worker laptop with ~100,000 pending field changes and a
coordinator that trusts it, set up through the real sync use cases (no shortcuts in the files).

The worker database is the generator's captured one (`capture=True`: every generated field is a
pending change in the outbox). The coordinator is created by `coordinator_init`; the laptop is
enrolled by the in-person flow (`enroll_request` → `enroll_approve` with the fingerprint →
`enroll_accept`). None of this is timed. Stores are opened with the derived key kept from the
first unlock, so the Argon2id derivation is paid once per file, not in every round.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.core import PASSPHRASE, Context
from vipterm import domain
from vipterm.services.demo_data import DemoSize


def sync_missing() -> str | None:
    if importlib.util.find_spec("vipterm.services.sync") is None:
        return "the sync service (vipterm.services.sync) has not landed"
    from vipterm.services import sync

    needed = ("coordinator_init", "enroll_request", "enroll_approve", "enroll_accept", "export", "import_bundles")
    absent = [name for name in needed if not hasattr(sync, name)]
    if absent:
        return f"vipterm.services.sync has no {', '.join(absent)} yet"
    return None


@dataclass
class SyncCast:
    worker_path: Path
    worker_raw: object  # engine.RawKey
    coordinator_template: Path  # enrolled, empty of records; copied for every import round
    coordinator_raw: object
    bundle_dir: Path
    pending: int  # change rows in the worker's outbox

    def open_worker(self):
        from vipterm.services.database import open_store_with_key

        return open_store_with_key(self.worker_path, self.worker_raw)

    def fresh_coordinator(self, name: str):
        """A new copy of the enrolled coordinator, opened (its file, its store)."""
        from vipterm.services.database import open_store_with_key

        path = self.coordinator_template.with_name(name)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(self.coordinator_template, path)
        return path, open_store_with_key(path, self.coordinator_raw)


def prepare(ctx: Context, folder: str, pending: DemoSize | None = None) -> SyncCast:
    """The cast, with the laptop's outbox made from `pending` (default: the profile's)."""
    from vipterm.services import sync
    from vipterm.services.database import open_store, open_store_with_key

    work = ctx.work_dir / folder
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    worker_path = ctx.datasets().copy(
        pending or ctx.profile.pending, work, role=domain.Role.WORKER, capture=True, name="worker.db"
    )
    worker = open_store(worker_path, PASSPHRASE)  # migrates the copy to the current schema
    worker_raw = worker.database.raw
    coordinator_path = work / "coordinator-template.db"
    coordinator, _keys = sync.coordinator_init(coordinator_path, PASSPHRASE, worker_name="Coordinator")
    coordinator_raw = coordinator.database.raw
    try:
        request = sync.enroll_request(worker, work / "request.vipreq")
        grant = sync.enroll_approve(
            coordinator,
            Path(request.path).read_bytes(),
            work / "grant.vipgrant",
            fingerprint=request.fingerprint,
            worker="Bench worker",
        )
        sync.enroll_accept(worker, Path(grant.path).read_bytes())
        pending = (
            worker.database.engine.connect()
            .exec_driver_sql("SELECT count(*) FROM change_log WHERE device = ?", (worker.device_id,))
            .scalar_one()
        )
    finally:
        worker.close()
        coordinator.database.vacuum()
        coordinator.close()
    bundle_dir = work / "bundles"
    bundle_dir.mkdir()
    # The accept changed the program id in the file: reopen so the store's identity carries it.
    open_store_with_key(worker_path, worker_raw).close()
    return SyncCast(worker_path, worker_raw, coordinator_path, coordinator_raw, bundle_dir, int(pending))
