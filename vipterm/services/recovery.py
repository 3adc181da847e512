"""Root key recovery: the coordinator's keys written under a separate recovery passphrase, and a
new coordinator database built from them that the laptops keep trusting.

`export_root` writes one file, age-encrypted to a passphrase (age's scrypt recipient, through
pyrage): a JSON document holding the program id, the coordinator's device id, worker id, its
device keys (minisign signing key and age identity), the program root key, the last signed roster,
the escrow recipient, the program time zone and the staff list (workers' ids, names and roles:
client records name them). Beside it goes a plain-text recovery sheet to print: which program,
the root key fingerprint, where the file and its passphrase are kept, and the commands to use it.
It holds no secret.

`init_from_root` makes a coordinator database that *is* the lost coordinator to every laptop:
same program id, same device id and keys, same root key and roster. Laptops therefore go on
verifying its return bundles and encrypting to it; nobody is re-enrolled. What it cannot know is
how far it had received each laptop's changes, so each laptop's first bundle after the recovery is
taken whatever sequence number it starts at (`REBUILD_PEERS_KEY` in `meta`; the next ones are
sequenced again). Program data comes back from a coordinator backup when one is given (restored
first, then given the recovery file's keys and newer roster) and from the laptops' next bundles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from sqlalchemy import Connection

from vipterm import domain
from vipterm.domain import Role
from vipterm.errors import DatabaseExists, NotADatabase, ValidationError, WrongPassphrase
from vipterm.services.database import Store, create_store, passphrase_problem
from vipterm.store.files import remove_database, write_atomically
from vipterm.sync import keys as trust
from vipterm.sync import roster as rosters
from vipterm.sync.errors import BundleError

FORMAT = "vipterm-root-recovery"
FORMAT_VERSION = 1
REBUILD_PEERS_KEY = "rebuild_peers"  # meta: laptops whose first bundle after a recovery is taken from any seq
MAX_RECOVERY_FILE = 4 * 1024 * 1024


@dataclass(frozen=True)
class RootExport:
    path: Path
    sheet: Path
    root_fingerprint: str


@dataclass(frozen=True)
class RecoveredCoordinator:
    store: Store
    root_fingerprint: str
    roster_version: int
    laptops: int
    from_backup: bool


def _check_recovery_passphrase(passphrase: str) -> None:
    problem = passphrase_problem(passphrase)
    if problem:
        raise ValidationError(problem.replace("the passphrase", "the recovery passphrase"), field="passphrase")


def export_root(store: Store, out: Path, recovery_passphrase: str, *, kept_at: str = "") -> RootExport:
    """Write the recovery file (0600, never over an existing file) and its printable sheet; audited."""
    from vipterm.services import sync as sync_service

    sync_service._require_role(store, Role.COORDINATOR, "exporting the program root key")
    state, roster = sync_service._enrolled(store)
    if state.root_keys is None or state.device_keys is None or state.roster_blob is None:
        raise ValidationError("this coordinator database holds no program root key")
    _check_recovery_passphrase(recovery_passphrase)
    out = Path(out).expanduser()
    sheet = out.with_name(out.name + ".sheet.txt")
    for path in (out, sheet):
        if path.exists():
            raise DatabaseExists(f"{path} already exists; nothing was written")
    if not out.parent.is_dir():
        raise ValidationError(f"{out.parent} is not a folder", field="out")
    with store.database.engine.connect() as conn:
        workers = [
            dict(zip(("id", "display_name", "role", "active"), r))
            for r in conn.exec_driver_sql(
                "SELECT id, display_name, role, active FROM worker WHERE deleted_at IS NULL ORDER BY id"
            )
        ]
    exported_at = store.clock.utcnow().replace(microsecond=0)
    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": exported_at.isoformat(),
        "program_id": store.identity.program_id,
        "device_id": store.device_id,
        "worker_id": store.worker_id,
        "device_keys": state.device_keys.to_bytes().hex(),
        "root_keys": state.root_keys.to_bytes().hex(),
        "roster": state.roster_blob.hex(),
        "escrow_recipient": state.escrow_recipient,
        "time_zone": store.time_zone,
        "workers": workers,
    }
    data = pyrage.passphrase.encrypt(json.dumps(doc).encode("utf-8"), recovery_passphrase)
    write_atomically(out, data)
    active = [e for e in roster.active_entries() if e.role == "worker"]
    sheet_text = "\n".join(
        [
            "VIPTERM PROGRAM RECOVERY SHEET",
            "==============================",
            "",
            f"Program id:                    {store.identity.program_id}",
            f"Program root key fingerprint:  {state.root_keys.fingerprint}",
            f"Coordinator device:            {store.device_id}",
            f"Recovery file:                 {out.name}",
            f"Written (UTC):                 {exported_at:%Y-%m-%d %H:%M}",
            f"Roster version:                {roster.version} ({len(active)} laptop(s) enrolled)",
            "",
            f"The recovery file is kept at:  {kept_at or '_' * 40}",
            f"The recovery passphrase is held by (a role, not on this sheet): {'_' * 24}",
            "",
            "The file holds the program's root key and the coordinator's keys, encrypted under the",
            "recovery passphrase (age, scrypt). Keep it offline, apart from the coordinator laptop and",
            "apart from the passphrase. Never write the passphrase on this sheet.",
            "",
            "If the coordinator laptop is lost, stolen, or its passphrase forgotten:",
            f"  vipterm coordinator init --db NEW.db --from-root {out.name} [--backup LATEST.backup]",
            "then import the laptops' next bundles as usual (vipterm sync import). Laptops are not",
            "re-enrolled: the new coordinator shows the same root key fingerprint as above.",
            "See `vipterm help recovery`.",
            "",
        ]
    )
    write_atomically(sheet, sheet_text.encode("utf-8"))
    from vipterm.services.audit import record_audit

    record_audit(store, domain.AuditAction.ROOT_EXPORT, None, f"root key exported to {out.name}")
    return RootExport(out, sheet, state.root_keys.fingerprint)


@dataclass(frozen=True)
class _Recovery:
    doc: dict[str, Any]
    device_keys: trust.DeviceKeys
    root_keys: trust.RootKeys
    roster_blob: bytes
    roster: rosters.Roster


def read_recovery_file(path: Path, recovery_passphrase: str) -> _Recovery:
    """Decrypt and check a recovery file: every key in it must agree with the signed roster."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise NotADatabase(f"no recovery file at {path}")
    if path.stat().st_size > MAX_RECOVERY_FILE:
        raise NotADatabase(f"{path.name} is not a vipterm recovery file (too large)")
    try:
        plain = pyrage.passphrase.decrypt(path.read_bytes(), recovery_passphrase)
    except Exception:  # pyrage raises its own DecryptError for a wrong passphrase and for not-age input alike
        raise WrongPassphrase(
            f"{path.name} does not open with this recovery passphrase (wrong passphrase, or "
            "not a vipterm recovery file)"
        ) from None
    bad = NotADatabase(f"{path.name} is not a vipterm recovery file this vipterm can read")
    try:
        doc = json.loads(plain.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
            raise bad
        device_keys = trust.DeviceKeys.from_bytes(bytes.fromhex(doc["device_keys"]))
        root_keys = trust.RootKeys.from_bytes(bytes.fromhex(doc["root_keys"]))
        roster_blob = bytes.fromhex(doc["roster"])
        roster = rosters.open_roster(roster_blob, root_keys.signing_public, None)
        for name in ("program_id", "device_id", "worker_id", "time_zone", "escrow_recipient"):
            if not isinstance(doc.get(name), str):
                raise bad
        if not isinstance(doc.get("workers"), list):
            raise bad
    except NotADatabase:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, BundleError):
        raise bad from None
    me = roster.entry_for_device(doc["device_id"])
    if (
        roster.program_id != doc["program_id"]
        or me is None
        or me.role != "coordinator"
        or me.signing_public != device_keys.signing_public
        or me.age_recipient != device_keys.age_recipient
    ):
        raise NotADatabase(f"{path.name} does not hold keys that agree with its roster; not used")
    return _Recovery(doc, device_keys, root_keys, roster_blob, roster)


def init_from_root(
    path: Path, passphrase: str, recovery_file: Path, recovery_passphrase: str, *, backup: Path | None = None
) -> RecoveredCoordinator:
    """A new coordinator database from a recovery file (and a coordinator backup, if given).

    Without a backup, `passphrase` is the new database's; with one, the database is the restored
    backup and `passphrase` is the one it was taken under (change it afterwards with `passwd`)."""
    from vipterm.services import sync as sync_service

    path = Path(path).expanduser()
    if path.exists():
        raise DatabaseExists(f"{path} already exists; a recovered coordinator is written to a new database")
    rec = read_recovery_file(recovery_file, recovery_passphrase)
    doc = rec.doc
    names = {w.get("id"): w for w in doc["workers"] if isinstance(w, dict) and isinstance(w.get("id"), str)}
    if backup is not None:
        from vipterm.services.backup import restore_backup

        store, info = restore_backup(backup, path, passphrase)
        if (
            info["role"] != Role.COORDINATOR.value
            or info["program_id"] != doc["program_id"]
            or info["device_id"] != doc["device_id"]
        ):
            store.close()
            remove_database(path)
            raise ValidationError("the backup is not of this program's coordinator; nothing was kept", field="backup")
    else:
        own = names.get(doc["worker_id"], {})
        store = create_store(
            path,
            passphrase,
            worker_name=str(own.get("display_name") or "Coordinator"),
            role=Role.COORDINATOR,
            program_id=doc["program_id"],
            device_id=doc["device_id"],
            worker_id=doc["worker_id"],
            time_zone=doc["time_zone"],
        )
    try:
        with sync_service._writer(store) as conn:
            state = sync_service._trust(conn)
            roster_blob, version = rec.roster_blob, rec.roster.version
            if state.roster_blob is not None and state.roster_version > version:
                roster_blob, version = state.roster_blob, state.roster_version  # the backup's is newer
            sync_service._save_trust(
                conn,
                device_keys=rec.device_keys.to_bytes(),
                root_keys=rec.root_keys.to_bytes(),
                roster=roster_blob,
                roster_version=version,
                pinned_root=rec.root_keys.signing_public,
                escrow_recipient=doc["escrow_recipient"] or state.escrow_recipient,
            )
            laptops = [e.device_id for e in rec.roster.active_entries() if e.role == "worker"]
            conn.exec_driver_sql(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (REBUILD_PEERS_KEY, json.dumps(laptops)),
            )
        # The staff list: client records and the roster name these workers.
        from vipterm.store.models import Worker

        with store.write() as session:
            for worker_id, w in names.items():
                if worker_id and session.get(Worker, worker_id) is None and isinstance(w.get("display_name"), str):
                    session.add(
                        Worker(
                            id=worker_id,
                            display_name=w["display_name"],
                            role=str(w["role"]) if w.get("role") in ("worker", "coordinator") else "worker",
                            active=bool(w.get("active", True)),
                        )
                    )
    except BaseException:
        store.close()
        raise
    return RecoveredCoordinator(store, rec.root_keys.fingerprint, version, len(laptops), backup is not None)


def take_first_bundle(conn: Connection, peer: str) -> bool:
    """True while a recovered coordinator waits for that laptop's first bundle of changes: it is
    taken whatever sequence number it starts at (a bundle without changes does not end the wait).
    Called by the import's sequence check."""
    row = conn.exec_driver_sql("SELECT value FROM meta WHERE key = ?", (REBUILD_PEERS_KEY,)).first()
    if row is None:
        return False
    try:
        peers = json.loads(row[0])
    except ValueError:
        return False
    return isinstance(peers, list) and peer in peers


def first_bundle_taken(conn: Connection, peer: str) -> None:
    row = conn.exec_driver_sql("SELECT value FROM meta WHERE key = ?", (REBUILD_PEERS_KEY,)).first()
    if row is None:
        return
    try:
        peers = [p for p in json.loads(row[0]) if p != peer]
    except (ValueError, TypeError):
        peers = []
    if peers:
        conn.exec_driver_sql("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(peers), REBUILD_PEERS_KEY))
    else:
        conn.exec_driver_sql("DELETE FROM meta WHERE key = ?", (REBUILD_PEERS_KEY,))
