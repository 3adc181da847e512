"""Sync use cases: trust (coordinator init, enrollment, revocation), export, import (with dry run),
the conflict review queue, retention purge and sync status. No Textual here: the CLI
(`vipterm.commands.sync`) and the TUI screens both call these functions.

Import is verify-then-commit: the bundle is read, authenticated, decrypted and parsed in memory
(`vipterm.sync.bundle.read_bundle`), checked (schema, replay, clock, sequence) without writing
anything, and only then applied in one BEGIN IMMEDIATE transaction holding the ledger entry,
the gap check, the merge, the conflicts, the cursors, the roster and the clock. A refused bundle
leaves the database file exactly as it was. See docs/sync.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from vipterm import domain
from vipterm.domain import Role, utcnow
from vipterm.errors import ExitCode, NotFound, ValidationError, VipError
from vipterm.progress import NO_PROGRESS, Progress
from vipterm.services.database import Store, create_store
from vipterm.store.files import write_atomically
from vipterm.store.migrations import SCHEMA_VERSION
from vipterm.store.models import SYNC_POLICY
from vipterm.sync import bundle as bundle_format
from vipterm.sync import clock as hlc_clock
from vipterm.sync import documents, enrollment, origin, outbox
from vipterm.sync import keys as trust
from vipterm.sync import merge as merge_engine
from vipterm.sync import roster as rosters
from vipterm.sync import scope as write_scope
from vipterm.sync.capture import Capture, record_changes
from vipterm.sync.errors import BundleError, RosterRollback
from vipterm.sync.values import InvalidChanges, pack, unpack
from vipterm.timekeeping import DEFAULT_TIME_ZONE, check_time_zone

PAUSE_ENV = "VIPTERM_TEST_IMPORT_PAUSE"  # test only: seconds to sleep between import steps


class SyncRefused(VipError):
    """A bundle, key file or roster was refused; nothing was changed."""

    exit_code = ExitCode.BUNDLE_REFUSED

    def __init__(self, message: str, code: str = "refused"):
        super().__init__(message)
        self.code = code


class NotEnrolled(VipError):
    exit_code = ExitCode.ERROR


class WrongRole(VipError):
    exit_code = ExitCode.USAGE


# --- keys and roster held in the database ---------------------------------------------------------


@dataclass
class TrustState:
    device_keys: trust.DeviceKeys | None
    root_keys: trust.RootKeys | None
    roster_blob: bytes | None
    roster_version: int
    pinned_root: bytes | None
    escrow_recipient: str

    def roster(self) -> rosters.Roster | None:
        if self.roster_blob is None:
            return None
        return rosters.open_roster(self.roster_blob, self.pinned_root, None)

    def enrolled_roster(self) -> rosters.Roster:
        """The roster, for a database that must have one: NotEnrolled when it has none."""
        roster = self.roster()
        if roster is None:
            raise NotEnrolled("this database holds no roster yet: enroll it (or run `vipterm coordinator init`)")
        return roster


def _trust(conn: Connection) -> TrustState:
    row = conn.exec_driver_sql(
        "SELECT device_keys, root_keys, roster, roster_version, pinned_root, escrow_recipient FROM sync_keys WHERE id = 1"
    ).first()
    if row is None:
        return TrustState(None, None, None, 0, None, "")
    return TrustState(
        trust.DeviceKeys.from_bytes(row[0]) if row[0] else None,
        trust.RootKeys.from_bytes(row[1]) if row[1] else None,
        row[2],
        int(row[3] or 0),
        row[4],
        row[5] or "",
    )


def _save_trust(conn: Connection, **values: Any) -> None:
    conn.exec_driver_sql("INSERT OR IGNORE INTO sync_keys (id, roster_version, escrow_recipient) VALUES (1, 0, '')")
    for col, value in values.items():
        conn.exec_driver_sql(f"UPDATE sync_keys SET {col} = ? WHERE id = 1", (value,))


def load_trust(store: Store) -> TrustState:
    with store.database.engine.connect() as conn:
        return _trust(conn)


def _writer(store: Store) -> Any:
    return store.database.engine.execution_options(immediate=True).begin()


def _require_role(store: Store, role: Role, what: str) -> None:
    if store.role is not role:
        raise WrongRole(f"{what} is done on the {role.value}'s database; this one is a {store.role.value}'s")


def _enrolled(store: Store) -> tuple[TrustState, rosters.Roster]:
    state = load_trust(store)
    if state.device_keys is None or state.roster_blob is None:
        if store.role is Role.COORDINATOR:
            raise NotEnrolled("this coordinator database has no keys yet: run `vipterm coordinator init` first")
        raise NotEnrolled("this laptop is not enrolled yet: run `vipterm enroll request`, then `vipterm enroll accept`")
    try:
        return state, state.enrolled_roster()
    except BundleError as exc:
        raise SyncRefused(f"the roster held here does not verify: {exc}", exc.code) from None


# --- trust: coordinator init, enrollment, revocation ------------------------------------------------


@dataclass
class CoordinatorKeys:
    root_fingerprint: str
    device_fingerprint: str
    device_id: str


def _setup_coordinator(store: Store) -> CoordinatorKeys:
    _require_role(store, Role.COORDINATOR, "setting up the program root key")
    with _writer(store) as conn:
        state = _trust(conn)
        if state.root_keys is not None:
            raise ValidationError("this coordinator database already has its program root key")
        root = trust.RootKeys.generate()
        device = state.device_keys or trust.DeviceKeys.generate()
        entry = rosters.RosterEntry(
            device_id=store.device_id,
            worker_id=store.worker_id,
            role="coordinator",
            signing_public=device.signing_public,
            age_recipient=device.age_recipient,
            enrolled_at=documents.utc_now_iso(),
        )
        roster = rosters.Roster.new(store.identity.program_id, root.signing_public).with_entry(entry)
        _save_trust(
            conn,
            device_keys=device.to_bytes(),
            root_keys=root.to_bytes(),
            roster=rosters.sign_roster(roster, root),
            roster_version=roster.version,
            pinned_root=root.signing_public,
        )
    return CoordinatorKeys(root.fingerprint, device.fingerprint, store.device_id)


def coordinator_init(
    path: Path,
    passphrase: str | None = None,
    *,
    worker_name: str = "Coordinator",
    store: Store | None = None,
    force: bool = False,
    time_zone: str | None = None,
) -> tuple[Store, CoordinatorKeys]:
    """A new coordinator database with the program's root key (or keys for an existing one) and
    the program time zone (an IANA name; laptops receive it in their return bundles)."""
    if time_zone is not None:
        check_time_zone(time_zone)  # before anything is written
    if store is None:
        store = create_store(
            Path(path),
            passphrase or "",
            worker_name=worker_name,
            role=Role.COORDINATOR,
            force=force,
            time_zone=time_zone or DEFAULT_TIME_ZONE,
        )
    elif time_zone is not None:
        store.set_time_zone(time_zone)
    return store, _setup_coordinator(store)


def set_escrow_recipient(store: Store, recipient: str) -> None:
    """An optional second age recipient (e.g. an escrow key kept offline) for every bundle."""
    recipient = recipient.strip()
    if recipient:
        try:
            documents.check_recipient(recipient)
        except ValueError:
            raise ValidationError("the escrow recipient is not an age1... X25519 recipient", field="escrow") from None
    with _writer(store) as conn:
        _save_trust(conn, escrow_recipient=recipient)


@dataclass
class EnrollmentFile:
    path: Path
    fingerprint: str
    device_id: str
    plan: ApprovalPlan | None = None  # on approval: the worker bound and the laptop replaced


def _out_file(out: Path, default_name: str) -> Path:
    out = Path(out)
    if out.is_dir():
        out = out / default_name
    if out.exists():
        raise ValidationError(f"{out} already exists; nothing was written", field="out")
    return out


def enroll_request(store: Store, out: Path) -> EnrollmentFile:
    """On a laptop: make (or reuse) this device's keys and write the enrollment request file."""
    _require_role(store, Role.WORKER, "an enrollment request")
    with _writer(store) as conn:
        state = _trust(conn)
        keys = state.device_keys
        if keys is None:
            keys = trust.DeviceKeys.generate()
            _save_trust(conn, device_keys=keys.to_bytes())
        name = conn.exec_driver_sql("SELECT display_name FROM worker WHERE id = ?", (store.worker_id,)).scalar() or ""
    request = enrollment.EnrollmentRequest.create(
        keys, device_id=store.device_id, worker_id=store.worker_id, worker_name_hint=name[:120].replace("\n", " ")
    )
    path = _out_file(out, f"enroll-{store.device_id}.vipreq")
    write_atomically(path, request.to_bytes())
    return EnrollmentFile(path, request.fingerprint, store.device_id)


def read_request(data: bytes) -> enrollment.EnrollmentRequest:
    try:
        return enrollment.EnrollmentRequest.from_bytes(data)
    except BundleError as exc:
        raise SyncRefused(str(exc), exc.code) from None


def _normal_fp(fp: str) -> str:
    return fp.replace("-", "").replace(" ", "").upper()


@dataclass
class ApprovalPlan:
    """What `enroll_approve` will do, shown to the coordinator before anything is written."""

    device_id: str
    fingerprint: str  # the requesting device's
    worker_id: str | None  # None: a new worker is created with `worker_name`
    worker_name: str
    new_worker: bool
    replaces: str | None = None  # the device revoked by this approval
    reissue: bool = False  # the same device and keys are enrolled for this worker already: grant written again


_UUID_CHARS = set("0123456789abcdefABCDEF-")


def _looks_like_id(text: str) -> bool:
    return len(text) == 36 and set(text) <= _UUID_CHARS and text.count("-") == 4


def _choose_worker(conn: Connection, spec: str) -> tuple[str | None, str]:
    """The worker a device will serve: an existing one by id or (unique) name, or a new one by name.

    Returns (worker id or None for a new worker, display name). Only peer support workers' rows can
    be chosen: a laptop never serves the coordinator's own staff row.
    """
    spec = " ".join(spec.split())
    if not spec:
        raise ValidationError("say which worker the laptop serves: --worker NAME or --worker ID", field="worker")
    rows = conn.exec_driver_sql("SELECT id, display_name, role, active, deleted_at FROM worker").all()
    by_id = [r for r in rows if r[0] == spec]
    matches = by_id or [r for r in rows if domain.fold(" ".join((r[1] or "").split())) == domain.fold(spec)]
    if len(matches) > 1:
        raise ValidationError(
            f"{len(matches)} staff rows are named {spec!r}: give the worker's id instead "
            "(`vipterm sync status` on a laptop, or the staff list)",
            field="worker",
        )
    if matches:
        wid, name, role, active, deleted = matches[0]
        if role != "worker":
            raise ValidationError(
                f"{name!r} is a {role}'s staff row; a laptop serves a peer support worker", field="worker"
            )
        if deleted is not None or not active:
            raise ValidationError(f"worker {name!r} is not active; reactivate them first", field="worker")
        return wid, name
    if _looks_like_id(spec):
        raise NotFound(f"no worker with id {spec}")
    if len(spec) > 120:
        raise ValidationError("a worker's name is at most 120 characters", field="worker")
    return None, spec


def _plan_approval(
    conn: Connection,
    state: TrustState,
    roster: rosters.Roster,
    request: enrollment.EnrollmentRequest,
    worker: str | None,
    replaces: str | None,
) -> ApprovalPlan:
    """Every check of an approval, writing nothing. Ids and keys a laptop declares are never trusted:
    a request that reuses an enrolled (or revoked) device's id or keys is refused."""
    replaced = None
    if replaces:
        replaced = roster.entry_for_device(replaces)
        if replaced is None:
            raise NotFound(f"no device {replaces} on the roster")
        if replaced.role != "worker":
            raise ValidationError("--replaces names a laptop; that device is the coordinator's", field="replaces")
        if replaced.revoked_at is not None:
            raise ValidationError(f"device {replaces} is revoked already; approve without --replaces", field="replaces")
    if worker:
        worker_id, worker_name = _choose_worker(conn, worker)
    elif replaced is not None:
        worker_id = replaced.worker_id
        worker_name = (
            conn.exec_driver_sql("SELECT display_name FROM worker WHERE id = ?", (worker_id,)).scalar()
            or f"worker {worker_id[-8:]}"
        )
    else:
        raise ValidationError("say which worker the laptop serves: --worker NAME or --worker ID", field="worker")
    if replaced is not None and worker_id != replaced.worker_id:
        raise ValidationError(f"device {replaces} serves another worker, not {worker_name!r}", field="replaces")

    plan = ApprovalPlan(
        request.device_id,
        request.fingerprint,
        worker_id,
        worker_name,
        worker_id is None,
        replaces=replaced.device_id if replaced else None,
    )
    same = roster.entry_for_device(request.device_id)
    if (
        same is not None
        and same.revoked_at is None
        and same.signing_public == request.signing_public
        and same.age_recipient == request.age_recipient
        and same.worker_id == worker_id
        and replaced is None
    ):
        plan.reissue = True  # the grant got lost: the same laptop, same keys, same worker
        return plan
    if same is not None:
        state_word = "a revoked device" if same.revoked_at else "an enrolled device"
        raise SyncRefused(
            f"refused: this request reuses the device id of {state_word} ({request.device_id}); "
            "a laptop that is really new makes its own request with `vipterm enroll request` "
            "on a new database",
            "enroll-reuse",
        )
    key_id = request.signing_public[2:10]
    for entry in roster.entries:
        if entry.signing_public == request.signing_public or entry.key_id == key_id:
            raise SyncRefused(
                f"refused: this request reuses the signing key of device {entry.device_id}", "enroll-reuse"
            )
        if entry.age_recipient == request.age_recipient:
            raise SyncRefused(
                f"refused: this request reuses the encryption key of device {entry.device_id}", "enroll-reuse"
            )
    if roster.root_public[2:10] == key_id or (state.device_keys and state.device_keys.key_id == key_id):
        raise SyncRefused("refused: this request reuses the coordinator's own key", "enroll-reuse")
    if worker_id is not None and replaced is None:
        current = [e for e in roster.active_entries() if e.role == "worker" and e.worker_id == worker_id]
        if current:
            raise ValidationError(
                f"{worker_name!r} already has an enrolled laptop (device {current[0].device_id}): to replace it, "
                f"approve with --replaces {current[0].device_id} (the old laptop is revoked)",
                field="worker",
            )
    return plan


def preview_approval(
    store: Store, request_data: bytes, *, fingerprint: str, worker: str | None = None, replaces: str | None = None
) -> ApprovalPlan:
    """What approving this request would do (worker, fingerprint, replaced laptop); writes nothing."""
    _require_role(store, Role.COORDINATOR, "approving an enrollment")
    request = read_request(request_data)
    if _normal_fp(fingerprint) != _normal_fp(request.fingerprint):
        raise SyncRefused("the fingerprint does not match the request: do not enroll this device", "fingerprint")
    state = load_trust(store)
    if state.root_keys is None or state.device_keys is None:
        raise NotEnrolled("this coordinator database has no keys yet: run `vipterm coordinator init` first")
    with store.database.engine.connect() as conn:
        return _plan_approval(conn, state, state.enrolled_roster(), request, worker, replaces)


def enroll_approve(
    store: Store,
    request_data: bytes,
    out: Path,
    *,
    fingerprint: str,
    worker: str | None = None,
    replaces: str | None = None,
) -> EnrollmentFile:
    """On the coordinator: after comparing fingerprints in person, bind the device to a worker the
    coordinator chooses (`worker`: an id or a name; a new name creates the worker) and add it to the
    roster. `replaces` revokes that worker's old laptop in the same roster version."""
    _require_role(store, Role.COORDINATOR, "approving an enrollment")
    request = read_request(request_data)
    if _normal_fp(fingerprint) != _normal_fp(request.fingerprint):
        raise SyncRefused("the fingerprint does not match the request: do not enroll this device", "fingerprint")
    with store.write() as session:
        conn = session.connection()
        state = _trust(conn)
        if state.root_keys is None or state.device_keys is None:
            raise NotEnrolled("this coordinator database has no keys yet: run `vipterm coordinator init` first")
        roster = state.enrolled_roster()
        plan = _plan_approval(conn, state, roster, request, worker, replaces)
        path = _out_file(out, f"grant-{request.device_id}.vipgrant")
        if plan.reissue:
            assert state.roster_blob is not None  # enrolled_roster() read it above
            blob = state.roster_blob
        else:
            worker_id = plan.worker_id
            if worker_id is None:
                from vipterm.store.models import Worker

                row = Worker(display_name=plan.worker_name, role="worker")
                session.add(row)
                session.flush()
                worker_id = plan.worker_id = row.id
            now = documents.utc_now_iso()
            if plan.replaces:
                roster = roster.revoke(plan.replaces, now)
            entry = rosters.RosterEntry(
                device_id=request.device_id,
                worker_id=worker_id,
                role="worker",
                signing_public=request.signing_public,
                age_recipient=request.age_recipient,
                enrolled_at=now,
            )
            try:
                roster = roster.with_entry(entry)
            except ValueError as exc:
                raise SyncRefused(f"cannot enroll this device: {exc}", "roster") from None
            blob = rosters.sign_roster(roster, state.root_keys)
            _save_trust(conn, roster=blob, roster_version=roster.version)
        device = state.device_keys
        grant = enrollment.EnrollmentGrant(
            roster_blob=blob,
            coordinator_device_id=store.device_id,
            coordinator_age_recipient=device.age_recipient,
            coordinator_signing_public=device.signing_public,
            program_id=store.identity.program_id,
            worker_name=plan.worker_name[:120],
        )
        write_atomically(path, grant.to_bytes())
        from vipterm.services.audit import record_audit

        record_audit(
            store,
            domain.AuditAction.ENROLL,
            None,
            f"{'re-issued the grant of' if plan.reissue else 'enrolled'} laptop {request.device_id} "
            f"for {plan.worker_name[:120]}" + (f", replacing {plan.replaces}" if plan.replaces else ""),
            session=session,
        )
    return EnrollmentFile(path, trust.fingerprint(roster.root_public), request.device_id, plan)


def read_grant(data: bytes) -> enrollment.EnrollmentGrant:
    try:
        return enrollment.EnrollmentGrant.from_bytes(data)
    except BundleError as exc:
        raise SyncRefused(str(exc), exc.code) from None


def enroll_accept(store: Store, grant_data: bytes) -> str:
    """On the laptop: pin the program root key and take the roster; returns the root fingerprint."""
    _require_role(store, Role.WORKER, "accepting an enrollment")
    grant = read_grant(grant_data)
    with _writer(store) as conn:
        state = _trust(conn)
        if state.device_keys is None:
            raise NotEnrolled("this laptop has made no enrollment request: run `vipterm enroll request` first")
        try:
            roster = grant.open(
                own_signing_public=state.device_keys.signing_public,
                pinned_root_public=state.pinned_root,
                held_version=state.roster_version or None,
            )
        except BundleError as exc:
            raise SyncRefused(str(exc), exc.code) from None
        own = roster.entry_for_device(store.device_id)
        if own is None or own.signing_public != state.device_keys.signing_public:
            raise SyncRefused("the grant enrolls another device, not this laptop", "enrollment-invalid")
        worker_id = store.worker_id
        if own.worker_id != store.worker_id:
            # The coordinator chose the worker this laptop serves; the id the laptop made for
            # itself at `vipterm init` is replaced everywhere. Only before the first enrollment:
            # nothing has left this laptop yet, so its change log can still be rewritten.
            if state.roster_blob is not None:
                raise SyncRefused(
                    "this laptop is already enrolled for another worker; a laptop changes hands "
                    "with a new database and `--replaces` on the coordinator",
                    "enrollment-invalid",
                )
            _adopt_worker(conn, store, own.worker_id, grant.worker_name)
            worker_id = own.worker_id
        _save_trust(conn, roster=grant.roster_blob, roster_version=roster.version, pinned_root=roster.root_public)
        conn.exec_driver_sql("UPDATE meta SET value = ? WHERE key = 'program_id'", (grant.program_id,))
    store.identity = dataclasses.replace(store.identity, program_id=grant.program_id, worker_id=worker_id)
    return roster.root_fingerprint


def worker_name(store: Store) -> str:
    """The display name of the worker this database serves."""
    with store.database.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT display_name FROM worker WHERE id = ?", (store.worker_id,)).scalar() or ""


def _adopt_worker(conn: Connection, store: Store, new_id: str, name: str) -> None:
    """Make this laptop's worker the one the grant names: same staff row data under the new id,
    every reference (records and their pending changes) re-pointed, and the old row's own entries
    dropped from the change log (a staff row is the coordinator's to send), sequence renumbered
    without gaps."""
    old_id = store.worker_id
    me = store.device_id
    old_name = conn.exec_driver_sql("SELECT display_name FROM worker WHERE id = ?", (old_id,)).scalar()
    if conn.exec_driver_sql("SELECT 1 FROM worker WHERE id = ?", (new_id,)).first() is None:
        conn.exec_driver_sql(
            "INSERT INTO worker (id, display_name, role, active, created_at, deleted_at) "
            "SELECT ?, ?, 'worker', 1, created_at, NULL FROM worker WHERE id = ?",
            (new_id, (name or old_name or "Peer support worker"), old_id),
        )
    packed_old, packed_new = pack(old_id), pack(new_id)
    tables = [
        r[0]
        for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for tbl in tables:
        for fk in conn.exec_driver_sql(f'PRAGMA foreign_key_list("{tbl}")').all():
            if fk[2] != "worker":
                continue
            col = fk[3]
            conn.exec_driver_sql(f'UPDATE "{tbl}" SET "{col}" = ? WHERE "{col}" = ?', (new_id, old_id))
            conn.exec_driver_sql(
                "UPDATE change_log SET value = ? WHERE device = ? AND tbl = ? AND col = ? AND value = ?",
                (packed_new, me, tbl, col, packed_old),
            )
    conn.exec_driver_sql("DELETE FROM change_log WHERE device = ? AND tbl = 'worker' AND row_id = ?", (me, old_id))
    conn.exec_driver_sql("DELETE FROM field_version WHERE tbl = 'worker' AND row_id = ?", (old_id,))
    conn.exec_driver_sql("DELETE FROM worker WHERE id = ?", (old_id,))
    # Sequence numbers must stay gapless (the coordinator waits for a missing one): renumber.
    conn.exec_driver_sql("DROP TABLE IF EXISTS temp.vip_renumber")
    # Keyed by the change's id: the UPDATE below looks each row up (without the key, a scan per
    # row: hours for a laptop enrolled with a million pending changes).
    conn.exec_driver_sql("CREATE TEMP TABLE vip_renumber (id INTEGER PRIMARY KEY, rn INTEGER NOT NULL)")
    conn.exec_driver_sql(
        "INSERT INTO temp.vip_renumber (id, rn) SELECT id, ROW_NUMBER() OVER (ORDER BY seq) "
        "FROM change_log WHERE device = ?",
        (me,),
    )
    conn.exec_driver_sql(
        "UPDATE change_log SET seq = -(SELECT rn FROM temp.vip_renumber r WHERE r.id = change_log.id) WHERE device = ?",
        (me,),
    )
    conn.exec_driver_sql("UPDATE change_log SET seq = -seq WHERE device = ? AND seq < 0", (me,))
    count = conn.exec_driver_sql("SELECT count(*) FROM temp.vip_renumber").scalar_one()
    conn.exec_driver_sql("DROP TABLE temp.vip_renumber")
    conn.exec_driver_sql("UPDATE sync_state SET next_seq = ? WHERE id = 1", (int(count) + 1,))
    conn.exec_driver_sql("UPDATE meta SET value = ? WHERE key = 'worker_id'", (new_id,))


def revoke(store: Store, device_id: str) -> int:
    """On the coordinator: a lost laptop's later bundles are refused. Returns the roster version."""
    _require_role(store, Role.COORDINATOR, "revoking a device")
    with _writer(store) as conn:
        state = _trust(conn)
        if state.root_keys is None:
            raise NotEnrolled("this coordinator database has no keys yet: run `vipterm coordinator init` first")
        roster = state.enrolled_roster()
        if device_id == store.device_id:
            raise ValidationError("the coordinator cannot revoke its own device", field="device")
        try:
            roster = roster.revoke(device_id, documents.utc_now_iso())
        except KeyError:
            raise NotFound(f"no device {device_id} on the roster") from None
        except ValueError as exc:
            raise ValidationError(str(exc), field="device") from None
        _save_trust(conn, roster=rosters.sign_roster(roster, state.root_keys), roster_version=roster.version)
    from vipterm.services.audit import record_audit

    record_audit(
        store, domain.AuditAction.REVOKE, None, f"revoked laptop {device_id} (roster version {roster.version})"
    )
    return roster.version


@dataclass
class KeysExport:
    folder: Path
    files: list[Path]
    age_identity: Path | None = None


def export_keys(store: Store, out: Path, *, include_age_identity: bool = False) -> KeysExport:
    """Public keys for an auditor, as stock-tool files: the program root and every device on the
    roster (`root.pub`, `device-<id>.pub`, minisign format) and `keys.json` (device, role, worker
    id, fingerprint, key id, revoked; ids only, no names). With `include_age_identity`, on the
    coordinator only, also this device's age identity (a SECRET: it decrypts every laptop bundle),
    written 0600, for checking bundles by hand as docs/bundle-format.md §8 shows."""
    state, roster = _enrolled(store)
    if include_age_identity and store.role is not Role.COORDINATOR:
        raise WrongRole("only the coordinator's age identity opens laptop bundles; a laptop never exports its own")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"{out} is not a folder", field="out")
    out.mkdir(parents=True, exist_ok=True)
    planned = ["root.pub", "keys.json"] + [f"device-{e.device_id}.pub" for e in roster.entries]
    if include_age_identity:
        planned.append(f"age-identity-{store.device_id}.txt")
    existing = [name for name in planned if (out / name).exists()]
    if existing:
        raise ValidationError(
            f"{out / existing[0]} already exists; nothing was written (use an empty folder)", field="out"
        )
    files = []
    root_path = out / "root.pub"
    trust.write_minisign_public_key(root_path, roster.root_public)
    files.append(root_path)
    devices: list[dict[str, Any]] = []
    index = {
        "program_id": roster.program_id,
        "roster_version": roster.version,
        "root": {
            "file": "root.pub",
            "fingerprint": roster.root_fingerprint,
            "key_id": trust.key_id_hex(roster.root_public[2:10]),
        },
        "devices": devices,
    }
    for entry in roster.entries:
        path = out / f"device-{entry.device_id}.pub"
        trust.write_minisign_public_key(path, entry.signing_public)
        files.append(path)
        devices.append(
            {
                "file": path.name,
                "device_id": entry.device_id,
                "role": entry.role,
                "worker_id": entry.worker_id,
                "fingerprint": entry.fingerprint,
                "key_id": trust.key_id_hex(entry.key_id),
                "age_recipient": entry.age_recipient,
                "enrolled_at": entry.enrolled_at,
                "revoked_at": entry.revoked_at,
            }
        )
    index_path = out / "keys.json"
    index_path.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    files.append(index_path)
    identity_path = None
    if include_age_identity and state.device_keys is not None:
        identity_path = out / f"age-identity-{store.device_id}.txt"
        write_atomically(identity_path, state.device_keys.age_identity_file().encode("ascii"))
    return KeysExport(out, files, identity_path)


def roster_entries(store: Store) -> list[rosters.RosterEntry]:
    state = load_trust(store)
    roster = state.roster() if state.roster_blob else None
    return list(roster.entries) if roster else []


# --- export ------------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    path: Path
    bundle_id: str
    for_device: str
    changes: int
    seq_first: int | None = None
    seq_last: int | None = None


def _coordinator_entry(roster: rosters.Roster) -> rosters.RosterEntry:
    for entry in roster.active_entries():
        if entry.role == "coordinator":
            return entry
    raise NotEnrolled("the roster names no active coordinator")


def _recipients(state: TrustState, base: list[str]) -> list[str]:
    return base + ([state.escrow_recipient] if state.escrow_recipient else [])


def _written_id(path: Path) -> str:
    """The id of a bundle this vipterm has just written (its file is named by it)."""
    bundle_id = bundle_format.bundle_id_from_path(path)
    assert bundle_id is not None  # write_bundle names every file <bundle id>.vipb
    return bundle_id


def _record_out(
    conn: Connection, bundle_id: str | None, kind: str, peer: str, first: int | None, last: int | None, count: int
) -> None:
    conn.exec_driver_sql(
        "INSERT INTO sync_bundle (bundle_id, direction, kind, peer_device, seq_first, seq_last, change_count, at, summary) "
        "VALUES (?, 'out', ?, ?, ?, ?, ?, ?, '{}')",
        (bundle_id, kind, peer, first, last, count, utcnow().isoformat(sep=" ")),
    )


class ClockAhead(VipError):
    """This laptop's sync clock is far ahead of its (now right) date: its bundles would be held."""

    exit_code = ExitCode.USAGE


def clock_ahead_days(store: Store) -> float:
    """How many days this device's sync clock is ahead of its wall clock (0 when it is not)."""
    with store.database.engine.connect() as conn:
        last = int(conn.exec_driver_sql("SELECT last_hlc FROM sync_state WHERE id = 1").scalar_one())
    return max(0.0, (hlc_clock.physical_ms(last) - hlc_clock.wall_ms()) / hlc_clock.DAY_MS)


@dataclass
class RebaseResult:
    days_ahead: float
    changes: int  # pending changes re-stamped
    fields: int  # field clocks re-stamped


def rebase(store: Store) -> RebaseResult:
    """On a laptop whose date was wrong (ahead) and is now fixed: bring its sync clock back.

    Every clock later than now — on the changes not yet acknowledged by the coordinator, on the
    fields' clocks, and the device clock itself — is re-stamped to consecutive ticks from now, in
    the same order. Sequence numbers do not change; the export cursor goes back to what the
    coordinator acknowledged, so the next export carries every pending change again, with clocks
    the coordinator accepts. Anything the coordinator already holds keeps its clock there.
    """
    _require_role(store, Role.WORKER, "a clock rebase")
    state, roster = _enrolled(store)
    coordinator = _coordinator_entry(roster)
    with _writer(store) as conn:
        now_ms = hlc_clock.wall_ms()
        last = int(conn.exec_driver_sql("SELECT last_hlc FROM sync_state WHERE id = 1").scalar_one())
        days = max(0.0, (hlc_clock.physical_ms(last) - now_ms) / hlc_clock.DAY_MS)
        acked = outbox.peer_cursors(conn, coordinator.device_id)["acked_upto"]
        pending = conn.exec_driver_sql(
            "SELECT id, hlc, base_hlc FROM change_log WHERE device = ? AND seq > ?", (store.device_id, acked)
        ).all()
        fields = conn.exec_driver_sql("SELECT hlc FROM field_version WHERE hlc > ?", (hlc_clock.pack(now_ms, 0),)).all()
        mapping = _restamp([last] + [r[1] for r in pending] + [r[2] for r in pending] + [r[0] for r in fields], now_ms)
        if not mapping:
            return RebaseResult(days, 0, 0)
        conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS vip_restamp (old INTEGER PRIMARY KEY, new INTEGER)")
        conn.exec_driver_sql("DELETE FROM temp.vip_restamp")
        conn.exec_driver_sql("INSERT INTO temp.vip_restamp (old, new) VALUES (?, ?)", list(mapping.items()))
        changed = conn.exec_driver_sql(
            "UPDATE change_log SET hlc = (SELECT new FROM temp.vip_restamp WHERE old = change_log.hlc) "
            "WHERE device = ? AND seq > ? AND hlc IN (SELECT old FROM temp.vip_restamp)",
            (store.device_id, acked),
        ).rowcount
        conn.exec_driver_sql(
            "UPDATE change_log SET base_hlc = (SELECT new FROM temp.vip_restamp WHERE old = change_log.base_hlc) "
            "WHERE device = ? AND seq > ? AND base_hlc IN (SELECT old FROM temp.vip_restamp)",
            (store.device_id, acked),
        )
        field_count = conn.exec_driver_sql(
            "UPDATE field_version SET hlc = (SELECT new FROM temp.vip_restamp WHERE old = field_version.hlc) "
            "WHERE hlc IN (SELECT old FROM temp.vip_restamp)"
        ).rowcount
        conn.exec_driver_sql("DELETE FROM temp.vip_restamp")
        conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ? WHERE id = 1", (max(mapping.values()),))
        conn.exec_driver_sql(
            "UPDATE sync_peer SET exported_upto = ? WHERE device_id = ? AND exported_upto > ?",
            (acked, coordinator.device_id, acked),
        )
    return RebaseResult(days, int(changed), int(field_count))


class ExportFailed(VipError):
    """A bundle could not be written (over a bundle's limits, an unusable recipient, a header
    that cannot be sent): nothing was recorded as exported and no bundle was left behind."""

    exit_code = ExitCode.ERROR


def export(
    store: Store,
    to_dir: Path,
    *,
    only_new: bool = False,
    device: str | None = None,
    rebase_clock: bool = False,
    limits: bundle_format.Limits = bundle_format.Limits(),
    progress: Progress = NO_PROGRESS,
) -> list[ExportResult]:
    """A laptop writes its next bundle(s); a coordinator writes one return bundle per laptop.

    A laptop's outbox larger than one bundle (`limits.bundle_changes` changes or
    `limits.bundle_plaintext_bytes` of data) is written as several bundles in sequence, each
    covering the next range of sequence numbers: the coordinator applies them in order, and one
    that arrives before its predecessor waits in the inbox. The outbox is streamed from the
    change log a chunk at a time, so memory stays flat however many changes are pending.

    A laptop whose sync clock is more than a day ahead of its date (the date was wrong, and was
    fixed) refuses to export until its clock is rebased (`rebase_clock=True`, or `rebase()`):
    the coordinator would only hold such a bundle for review."""
    to_dir = Path(to_dir)
    if not to_dir.is_dir():
        raise ValidationError(f"{to_dir} is not a folder", field="to")
    state, roster = _enrolled(store)
    if store.role is Role.WORKER:
        days = clock_ahead_days(store)
        if days > 1:
            if not rebase_clock:
                raise ClockAhead(
                    f"this laptop's sync clock is {days:.0f} day(s) ahead of its date and time (was the "
                    "date wrong?): run `vipterm sync rebase` first, or `vipterm sync export --rebase`"
                )
            rebase(store)
    # Bundles written in a transaction that did not commit: removed, since the ledger does not
    # know them (the next export sends their changes again).
    uncommitted: list[Path] = []
    try:
        if store.role is Role.COORDINATOR:
            return _export_returns(store, state, roster, to_dir, device, limits, progress, uncommitted)
        return _export_worker(store, state, roster, to_dir, only_new, limits, progress, uncommitted)
    except BaseException as exc:
        for path in uncommitted:
            path.unlink(missing_ok=True)
        if isinstance(exc, ValueError):  # a change record the bundle writer cannot encode
            raise ExportFailed(f"the bundle could not be written ({exc}); it was not exported") from None
        raise


def _write_bundle(to_dir: Path, what: str, **kwargs: Any) -> Path:
    """`bundle.write_bundle`, its refusals (ValueError: over a bundle's limits, an unusable
    recipient) and disk errors as `ExportFailed`."""
    try:
        return bundle_format.write_bundle(to_dir, **kwargs)
    except ValueError as exc:
        raise ExportFailed(f"{what} could not be written ({exc}); it was not exported") from None
    except OSError as exc:
        raise ExportFailed(
            f"{what} could not be written in {to_dir} ({exc.strerror or exc}); "
            "nothing was exported: choose another folder or free some space and try again"
        ) from None


def _pack(limits: bundle_format.Limits) -> bundle_format.PackedChanges:
    return bundle_format.PackedChanges(limits)


def _next_bundle_starts(
    part: bundle_format.PackedChanges, previous: tuple[Any, ...], row: tuple[Any, ...], limits: bundle_format.Limits
) -> bool:
    """Whether a full bundle ends before `row` (outbox rows: device, seq, hlc, tbl, row id, ...).

    A bundle ends between two writes (two clocks): what one save wrote — a new record's fields, an
    assessment and its items — arrives together, as it was made. One write larger than a bundle
    (a spreadsheet import) is cut between records, never inside one: a new record is never half
    in one bundle; only a single record edited more than the reader's limit allows is cut anyway.
    """
    if not part.full():
        return False
    if row[2] != previous[2]:
        return True
    overfull = part.count >= 2 * limits.bundle_changes or part.size >= 2 * limits.bundle_plaintext_bytes
    if overfull and (row[3], row[4]) != (previous[3], previous[4]):
        return True
    return part.count >= limits.max_changes or part.size >= limits.max_plaintext_bytes // 2


def _export_worker(
    store: Store,
    state: TrustState,
    roster: rosters.Roster,
    to_dir: Path,
    only_new: bool,
    limits: bundle_format.Limits,
    progress: Progress,
    uncommitted: list[Path],
) -> list[ExportResult]:
    coordinator = _coordinator_entry(roster)
    recipients = _recipients(state, roster.coordinator_recipients())
    with _writer(store) as conn:
        cur = outbox.peer_cursors(conn, coordinator.device_id)
        after = max(cur["acked_upto"], cur["exported_upto"] if only_new else 0)
        state_row = conn.exec_driver_sql("SELECT next_seq, last_hlc FROM sync_state WHERE id = 1").one()
        last_seq, device_clock = int(state_row[0]) - 1, int(state_row[1])
        total = outbox.count_pending(conn, store.device_id, after)
        results: list[ExportResult] = []

        def write_part(part: bundle_format.PackedChanges, clock: int, first: int | None, last: int | None) -> None:
            path = _write_bundle(
                to_dir,
                "the bundle",
                header_fields={
                    "program_id": store.identity.program_id,
                    "schema_version": SCHEMA_VERSION,
                    "kind": "worker",
                    "source_device": store.device_id,
                    "created_hlc": clock,
                    "seq_first": first,
                    "seq_last": last,
                },
                payload={"ack": cur["received_upto"]},
                changes=part,
                signer=state.device_keys,
                recipients=recipients,
                limits=limits,
            )
            uncommitted.append(path)
            bundle_id = _written_id(path)
            _record_out(conn, bundle_id, "worker", coordinator.device_id, first, last, part.count)
            results.append(ExportResult(path, bundle_id, coordinator.device_id, part.count, first, last))

        part, clock, first, previous = _pack(limits), device_clock, after + 1, None
        with progress.task("exporting changes", total=total) as task:
            for rows in outbox.iter_pending(conn, store.device_id, after):
                for row in rows:
                    if previous is not None and _next_bundle_starts(part, previous, row, limits):
                        # Bundles in sequence: each covers the numbers up to its last change, the
                        # next starts right after.
                        write_part(part, clock, first, previous[1])
                        part, clock, first = _pack(limits), device_clock, previous[1] + 1
                    part.add(row)
                    clock = max(clock, row[2])  # a bundle's clock is at least its newest change's
                    previous = row
                task.advance(len(rows))
            # The last part reaches the last sequence number this laptop gave out; with nothing
            # pending, one bundle that only acknowledges.
            if previous is not None:
                write_part(part, clock, first, last_seq)
            else:
                write_part(part, clock, None, None)
        outbox.update_peer(conn, coordinator.device_id, exported_upto=last_seq, exported_at=utcnow())
    uncommitted.clear()
    return results


def _export_returns(
    store: Store,
    state: TrustState,
    roster: rosters.Roster,
    to_dir: Path,
    device: str | None,
    limits: bundle_format.Limits,
    progress: Progress,
    uncommitted: list[Path],
) -> list[ExportResult]:
    targets = [e for e in roster.active_entries() if e.role == "worker"]
    if device is not None:
        targets = [e for e in targets if e.device_id == device]
        if not targets:
            raise NotFound(f"no active laptop {device} on the roster")
    results = []
    with progress.task("writing return bundles", total=len(targets)) as task:
        for entry in targets:
            with _writer(store) as conn:
                cur = outbox.peer_cursors(conn, entry.device_id)
                last = conn.exec_driver_sql("SELECT last_hlc FROM sync_state WHERE id = 1").scalar_one()
                watermark = hlc_clock.tick(int(last), hlc_clock.wall_ms())
                conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ? WHERE id = 1", (watermark,))
                since = cur["acked_upto"]
                erase = outbox.erase_notices(
                    conn,
                    for_device=entry.device_id,
                    since=since,
                    watermark=watermark,
                    caseload=outbox.caseload_client_ids(conn, entry.worker_id),
                )
                changes, whole = outbox.return_changes(
                    conn,
                    for_device=entry.device_id,
                    worker_id=entry.worker_id,
                    since=since,
                    coordinator_device=store.device_id,
                )
                packed = _pack(limits)
                for change in changes:
                    packed.add(change)
                # A return bundle is one snapshot ranged by the coordinator's clock (since, upto]: it
                # is never split (a second part with the same range would be taken for a replay).
                path = _write_bundle(
                    to_dir,
                    f"the return bundle for device {entry.device_id}",
                    header_fields={
                        "program_id": store.identity.program_id,
                        "schema_version": SCHEMA_VERSION,
                        "kind": "return",
                        "source_device": store.device_id,
                        "created_hlc": watermark,
                        "extra": {"for_device": entry.device_id, "since": since, "upto": watermark},
                    },
                    # Program settings travel with every return bundle: the laptop cuts days and
                    # months in the coordinator's time zone.
                    payload={
                        "ack": cur["received_upto"],
                        "program": {"time_zone": store.time_zone},
                        "erase": erase,
                        # Which device made each record (provenance: the laptop shows it too).
                        "origins": origin.origins_for(conn, {(c.tbl, c.row_id) for c in changes}),
                    },
                    changes=packed,
                    signer=state.device_keys,
                    recipients=_recipients(state, [entry.age_recipient]),
                    roster_blob=state.roster_blob,
                    limits=limits,
                )
                uncommitted.append(path)
                bundle_id = _written_id(path)
                outbox.mark_sent(conn, entry.device_id, whole, watermark)
                _record_out(conn, bundle_id, "return", entry.device_id, since + 1, watermark, len(changes))
                outbox.update_peer(conn, entry.device_id, exported_upto=watermark, exported_at=utcnow())
            uncommitted.clear()  # committed: this laptop's bundle stays whatever happens next
            results.append(ExportResult(path, bundle_id, entry.device_id, len(changes)))
            task.advance(1)
    return results


# --- import ------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    source: str  # the file name as given (bundle ids only, never a person's name)
    status: (
        str  # applied | would apply | already imported | nothing new | waiting (gap) | refused | quarantined | skipped
    )
    message: str
    bundle_id: str | None = None
    source_device: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    code: str | None = None
    released: list[ImportResult] = field(default_factory=list)  # inbox bundles applied after it

    @property
    def refused(self) -> bool:
        # A bundle held in the quarantine was not imported either: it waits for the coordinator.
        return self.status in ("refused", "quarantined")

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "status": self.status,
            "message": self.message,
            "bundle_id": self.bundle_id,
            "source_device": self.source_device,
            "summary": self.summary,
            "code": self.code,
            "released": [r.as_dict() for r in self.released],
        }


def _pause() -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        time.sleep(float(seconds))


@dataclass
class _Opened:
    header: dict[str, Any]
    payload: dict[str, Any]
    changes: list[merge_engine.Change]
    roster_blob: bytes | None
    raw: bytes
    scope: Any = None  # write_scope.Scope of the sending device (a laptop's bundle)


def _restamp(stamps: Iterable[int | None], now_ms: int) -> dict[int, int]:
    """New clocks for every stamp later than `now_ms`: consecutive ticks from now, in their order.

    Used where a clock that ran ahead is brought back (a laptop's `sync rebase`, a coordinator
    accepting a held clock-ahead bundle): the order of the changes is kept, their dates become
    "now", so neither device's clock stays trapped in the future."""
    limit = hlc_clock.pack(now_ms, 0)
    mapping: dict[int, int] = {}
    current = limit
    for stamp in sorted({s for s in stamps if s is not None and s > limit}):
        mapping[stamp] = current
        current = hlc_clock.tick(current, now_ms)
    return mapping


def _open(
    store: Store,
    raw: bytes,
    state: TrustState,
    roster: rosters.Roster,
    limits: bundle_format.Limits,
    *,
    allow_revoked: bool = False,
    rebase_clock: bool = False,
) -> _Opened:
    """Everything that can refuse a bundle, in memory, writing nothing.

    `allow_revoked` and `rebase_clock` are the coordinator's decisions on a held bundle (accepted
    from the quarantine): a revoked signer's bundle is read, and clocks ahead of now are re-stamped
    to now (in order) instead of refused."""
    if state.device_keys is None:  # callers come through _enrolled(), which refuses this
        raise NotEnrolled("this database has no keys yet: it cannot open bundles")
    try:
        opened = bundle_format.read_bundle(
            raw,
            identity=state.device_keys,
            key_lookup=roster.key_status,
            limits=limits,
            expected_program_id=store.identity.program_id,
            allow_revoked=allow_revoked,
        )
        bundle_format.check_schema_version(opened.header, SCHEMA_VERSION)
    except BundleError as exc:
        raise SyncRefused(str(exc), exc.code) from None
    header = opened.header
    kind = header["kind"]
    if store.role is Role.COORDINATOR and kind != "worker":
        raise SyncRefused("this is a coordinator's return bundle; it is imported on a laptop", "wrong-direction")
    if store.role is Role.WORKER:
        if kind != "return":
            raise SyncRefused("this is a laptop's bundle; it is imported on the coordinator", "wrong-direction")
        if header["extra"].get("for_device") != store.device_id:
            raise SyncRefused("this bundle is encrypted for another coordinator or device", "not-for-us")
        for name in ("since", "upto"):
            if type(header["extra"].get(name)) is not int:
                raise SyncRefused("bundle header is invalid: extra", "bad-format")
    payload = opened.payload
    if not isinstance(payload.get("changes", []), list):
        raise SyncRefused("bundle content is not valid vipterm data (changes)", "bad-format")
    try:
        if kind == "worker":
            first, last = header["seq_first"], header["seq_last"]
            changes = merge_engine.parse_changes(
                payload.get("changes", []),
                source_device=header["source_device"],
                seq_range=(first, last) if first is not None else None,
            )
        else:
            changes = merge_engine.parse_changes(payload.get("changes", []))
    except InvalidChanges as exc:
        raise SyncRefused(f"bundle content is not valid vipterm data ({exc})", "bad-format") from None
    if type(payload.get("ack", 0)) is not int:
        raise SyncRefused("bundle content is not valid vipterm data (ack)", "bad-format")
    newest = max(header["created_hlc"], max((c.hlc for c in changes), default=0))
    if hlc_clock.is_far_ahead(newest, hlc_clock.wall_ms()):
        if not rebase_clock:
            raise SyncRefused(
                "the bundle's clock is more than a day ahead of this computer's: not imported "
                "(check the date and time on both computers; `vipterm help sync`: a clock that ran ahead)",
                "clock-ahead",
            )
        now_ms = hlc_clock.wall_ms()
        mapping = _restamp([header["created_hlc"]] + [c.hlc for c in changes] + [c.base_hlc for c in changes], now_ms)
        changes = [
            c._replace(
                hlc=mapping.get(c.hlc, c.hlc),
                base_hlc=mapping.get(c.base_hlc, c.base_hlc) if c.base_hlc is not None else None,
            )
            for c in changes
        ]
        header = {**header, "created_hlc": mapping.get(header["created_hlc"], header["created_hlc"])}
    erase = payload.get("erase", [])
    if kind == "return" and (type(erase) is not list or any(type(c) is not str for c in erase)):
        raise SyncRefused("bundle content is not valid vipterm data (erase)", "bad-format")
    return _Opened(header, payload, changes, opened.roster_blob, raw, scope=_scope_of(roster, header))


def _scope_of(roster: rosters.Roster, header: dict[str, Any]) -> write_scope.Scope | None:
    """The write scope of a laptop's bundle: the worker its roster entry binds the device to."""
    if header["kind"] != "worker":
        return None
    entry = roster.entry_for_device(header["source_device"])
    if entry is None:  # cannot happen after the signature check; hold everything rather than trust it
        return write_scope.Scope(header["source_device"], "", coordinator=False)
    return write_scope.Scope(entry.device_id, entry.worker_id, coordinator=entry.role == "coordinator")


def _sequence(store: Store, conn: Connection, opened: _Opened) -> tuple[str, str, int, int | None, int | None]:
    header = opened.header
    if header["kind"] == "worker":
        peer = header["source_device"]
        first, last = header["seq_first"], header["seq_last"]
    else:
        peer = header["source_device"]
        first, last = header["extra"]["since"] + 1, header["extra"]["upto"]
    held = outbox.peer_cursors(conn, peer)["received_upto"]
    verdict = outbox.sequence_verdict(held, first, last)
    if verdict == "gap" and header["kind"] == "worker" and store.role is Role.COORDINATOR:
        from vipterm.services.recovery import take_first_bundle

        # A coordinator rebuilt from its root key cannot know how far it had received this
        # laptop; the laptop's first bundle since is taken as it starts (docs/recovery.md).
        if take_first_bundle(conn, peer):
            verdict, held = "apply", first - 1
    return verdict, peer, held, first, last


def _already(conn: Connection, bundle_id: str) -> bool:
    return (
        conn.exec_driver_sql("SELECT 1 FROM sync_bundle WHERE bundle_id = ? AND direction = 'in'", (bundle_id,)).first()
        is not None
    )


def _options(store: Store, opened: _Opened) -> merge_engine.MergeOptions:
    coordinator = store.role is Role.COORDINATOR
    # Received changes are not kept in the coordinator's change log: return bundles are built from
    # the records' state (sync_touch), and every value that lost is in sync_conflict. Only the
    # changes of clients and their identities are kept there: they are each field's history
    # (services.field_history), and few (intake and edits).
    keep = frozenset({"client", "client_identity"}) if coordinator else False
    return merge_engine.MergeOptions(
        from_worker=coordinator,
        record_conflicts=coordinator,
        keep_log=keep,
        allow_purge=not coordinator,
        bundle_id=opened.header["bundle_id"],
        touch=coordinator,
        scope=opened.scope,
        made_at_least_ms=hlc_clock.physical_ms(opened.header["created_hlc"]),
    )


SKIPPED = "skipped"
_SKIP_WORDS = {
    "skipped-other": "addressed to other devices",
    "skipped-own": "this device's own outgoing bundle(s)",
    "skipped-not-file": "not regular files",
}


def _regular_file(path: Path) -> bool:
    """True for a regular file (following links), without opening it: a FIFO named x.vipb would
    block a read forever, a device file could be endless."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # let the read report why it cannot be read


def _not_addressed_here(path: Path, me: str, my_recipient: str, limits: bundle_format.Limits) -> str | None:
    """Why a bundle found in a shared folder is not for this device (None: it may be).

    Decided from the unverified header: a file skipped here is only not imported (it stays where
    it is, and importing it by name gives the full verdict), so a forged header gains nothing.
    """
    try:
        header = bundle_format.peek_header(path, limits)
    except (BundleError, OSError):
        return None  # not readable as a bundle: imported, so it is refused with its reason
    if header["source_device"] == me:
        return "skipped-own"
    if my_recipient not in header["recipients"]:
        return "skipped-other"
    return None


def skipped_line(results: list[ImportResult]) -> str:
    """One line counting the files a folder import skipped ("" when none)."""
    counts: dict[str, int] = {}
    for r in results:
        if r.status == SKIPPED:
            counts[r.code or ""] = counts.get(r.code or "", 0) + 1
    if not counts:
        return ""
    total = sum(counts.values())
    parts = [f"{n} {_SKIP_WORDS.get(code, code)}" for code, n in counts.items()]
    return f"skipped {total} file(s) not for this device: " + ", ".join(parts)


def import_bundles(
    store: Store,
    sources: list[Path],
    *,
    dry_run: bool = False,
    limits: bundle_format.Limits = bundle_format.Limits(),
    archive_dir: Path | None = None,
    accept_revoked: bool = False,
    progress: Progress = NO_PROGRESS,
) -> list[ImportResult]:
    """Import bundle files (folders: every *.vipb in them, oldest first). One result per file.

    `progress` counts the change records of the bundles as each one is done (from their headers).

    From a folder (a shared USB stick) only what is addressed here is imported: bundles for other
    devices, this device's own outgoing bundles and anything that is not a regular file are
    skipped (status "skipped", never refused, never archived). A file named explicitly is always
    imported or refused with its reason.
    """
    state = load_trust(store)
    me_recipient = state.device_keys.age_recipient if state.device_keys else None
    files: list[tuple[Path, bool]] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            files.extend((f, True) for f in sorted(source.glob(f"*{bundle_format.SUFFIX}")))
        else:
            files.append((source, False))
    counts = {path: _declared_changes(path, limits) for path, _ in files}
    results = []
    with progress.task("importing changes", total=sum(counts.values())) as task:
        for path, from_folder in files:
            results.append(
                _import_file(
                    store,
                    path,
                    from_folder,
                    me_recipient,
                    dry_run=dry_run,
                    limits=limits,
                    archive_dir=archive_dir,
                    accept_revoked=accept_revoked,
                )
            )
            task.advance(counts[path])
    return results


def _declared_changes(path: Path, limits: bundle_format.Limits) -> int:
    """How many change records a bundle file says it holds (0 when it cannot tell): for progress only."""
    if not _regular_file(path):
        return 0
    try:
        return int(bundle_format.peek_header(path, limits)["change_count"])
    except (BundleError, OSError):
        return 0


def _import_file(
    store: Store,
    path: Path,
    from_folder: bool,
    me_recipient: str | None,
    *,
    dry_run: bool,
    limits: bundle_format.Limits,
    archive_dir: Path | None,
    accept_revoked: bool,
) -> ImportResult:
    if not _regular_file(path):
        if from_folder:
            return ImportResult(path.name, SKIPPED, "not a regular file", code="skipped-not-file")
        return ImportResult(path.name, "refused", "not a regular file; it was not read", code="unreadable")
    if from_folder and me_recipient:
        why = _not_addressed_here(path, store.device_id, me_recipient, limits)
        if why:
            return ImportResult(path.name, SKIPPED, _SKIP_WORDS[why], code=why)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return ImportResult(path.name, "refused", f"cannot read the file ({exc.strerror})", code="unreadable")
    try:
        result = import_bytes(store, raw, name=path.name, dry_run=dry_run, limits=limits, accept_revoked=accept_revoked)
    except SyncRefused as exc:
        result = ImportResult(path.name, "refused", exc.message, code=exc.code)
    if archive_dir is not None and result.status in ("applied", "waiting (gap)", "already imported", "nothing new"):
        # Only after the commit: a crash before this line leaves the file where it was.
        Path(archive_dir).mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(Path(archive_dir) / path.name))
    return result


def import_bytes(
    store: Store,
    raw: bytes,
    *,
    name: str = "bundle",
    dry_run: bool = False,
    limits: bundle_format.Limits = bundle_format.Limits(),
    from_inbox: bool = False,
    accept_revoked: bool = False,
    allow_revoked: bool = False,
    rebase_clock: bool = False,
) -> ImportResult:
    """Import one bundle. `accept_revoked` (the coordinator's `--accept-revoked`) holds a revoked
    device's bundle in the quarantine for review instead of refusing it; `allow_revoked` and
    `rebase_clock` apply a held bundle the coordinator accepted from the quarantine."""
    state, roster = _enrolled(store)
    try:  # a copy of a bundle already imported: answered without decrypting (nothing is written either way)
        peeked = bundle_format.peek_header(raw, limits)
    except BundleError:
        peeked = None
    if peeked is not None:
        with store.database.engine.connect() as conn:
            known = _already(conn, peeked["bundle_id"])
        if known:
            # The header is not evidence: only a copy whose signature, header binding and content
            # hashes verify is the bundle we imported. A revoked signer's key still identifies
            # a copy of what it sent before its revocation.
            try:
                bundle_format.verify_bundle(
                    raw,
                    key_lookup=roster.key_status,
                    limits=limits,
                    expected_program_id=store.identity.program_id,
                    allow_revoked=True,
                )
            except BundleError as exc:
                raise SyncRefused(
                    f"tampered: this file claims to be bundle {peeked['bundle_id']}, imported already, "
                    f"but it does not verify ({exc}); it was not imported or archived",
                    "tampered",
                ) from None
            return ImportResult(
                source=name,
                bundle_id=peeked["bundle_id"],
                source_device=peeked["source_device"],
                status="already imported",
                message="already imported; nothing changed",
            )
    try:
        opened = _open(store, raw, state, roster, limits, allow_revoked=allow_revoked, rebase_clock=rebase_clock)
    except SyncRefused as exc:
        if store.role is not Role.COORDINATOR or dry_run or exc.code not in ("clock-ahead", "revoked"):
            raise
        return _hold_bundle(store, raw, exc, state, roster, limits, name=name, accept_revoked=accept_revoked)
    header = opened.header
    bundle_id = header["bundle_id"]
    base = dict(source=name, bundle_id=bundle_id, source_device=header["source_device"])
    with store.database.engine.connect() as conn:
        if _already(conn, bundle_id):
            return ImportResult(status="already imported", message="already imported; nothing changed", **base)
        if dry_run:
            verdict, _peer, held, first, _last = _sequence(store, conn, opened)
            if verdict == "gap":
                return ImportResult(
                    status="would wait (gap)", message=_gap_message(opened.header["kind"], held, first), **base
                )
            fresh = [c for c in opened.changes if header["kind"] != "worker" or c.seq > held]
            try:
                plan = merge_engine.plan_merge(conn, fresh, _options(store, opened))
            except InvalidChanges as exc:
                raise SyncRefused(f"bundle content is not valid vipterm data ({exc})", "bad-format") from None
            summary = plan.summary()
            summary["new_client_ids"] = plan.new_clients
            summary["conflict_fields"] = sorted({f"{c.tbl}.{c.col}" for c in plan.conflicts})
            return ImportResult(status="would apply", message=_summary_line(summary, dry=True), summary=summary, **base)
    result = _apply(store, opened, state, base, from_inbox=from_inbox)
    if result.status == "applied":
        result.released = _drain_inbox(store, header["source_device"], limits)
    return result


def _quarantine_service() -> Any:
    """The quarantine use cases, when this vipterm has them (None otherwise)."""
    try:
        from vipterm.services import quarantine
    except ImportError:  # pragma: no cover - the quarantine ships with the write-scope checks
        return None
    return quarantine


def _hold_bundle(
    store: Store,
    raw: bytes,
    exc: SyncRefused,
    state: TrustState,
    roster: rosters.Roster,
    limits: bundle_format.Limits,
    *,
    name: str,
    accept_revoked: bool,
) -> ImportResult:
    """A laptop bundle whose clock is ahead, or (with --accept-revoked) one from a revoked device:
    fully verified, then held whole (still encrypted) in the quarantine for the coordinator's
    review — neither applied nor lost. Without the decision a revoked device's bundle is refused."""
    quarantine = _quarantine_service()
    if exc.code == "revoked" and not accept_revoked:
        raise SyncRefused(
            f"{exc.message}; to review what it sent before its revocation, import this file "
            "with `vipterm sync import FILE --accept-revoked` (it is held for review, not applied)",
            exc.code,
        ) from None
    if quarantine is None:
        if exc.code == "revoked":
            raise SyncRefused(f"{exc.message}; this vipterm cannot hold it for review", exc.code) from None
        raise exc
    # Hold only what verifies: the whole read, with the revoked key allowed and clocks tolerated.
    opened = _open(store, raw, state, roster, limits, allow_revoked=True, rebase_clock=True)
    header = opened.header
    entry = roster.entry_for_device(header["source_device"])
    if exc.code == "revoked":
        made = _when(header["created_hlc"])
        revoked_at = entry.revoked_at if entry else "?"
        reason = (
            f"from device {header['source_device']}, revoked {revoked_at}; the bundle says it was made "
            f"{made:%Y-%m-%d %H:%M} UTC (the device's own clock: check it against when the laptop was lost)"
        )
    else:
        # The header as signed (the opened one is re-stamped); export sets created_hlc to the
        # bundle's highest clock.
        ahead = hlc_clock.physical_ms(bundle_format.peek_header(raw, limits)["created_hlc"])
        days = max(1, round((ahead - hlc_clock.wall_ms()) / hlc_clock.DAY_MS))
        reason = (
            f"the laptop's clock was about {days} day(s) ahead; accepting it applies its changes dated now "
            "(or ask the laptop to run `vipterm sync rebase` and export again)"
        )
    entry_id = quarantine.quarantine_bundle(
        store,
        raw,
        code=exc.code,
        reason=reason,
        bundle_id=header["bundle_id"],
        device=header["source_device"],
        worker_id=entry.worker_id if entry else "",
    )
    return ImportResult(
        source=name,
        status="quarantined",
        bundle_id=header["bundle_id"],
        source_device=header["source_device"],
        code=exc.code,
        message=f"held for review ({exc.code}): {reason}; `vipterm sync quarantine show {entry_id}`",
    )


def _accept_held_bundle(store: Store, data: bytes, view: Any) -> str:
    """The coordinator accepted a held bundle (quarantine accept): apply it now, a revoked signer
    allowed and clocks ahead of now re-stamped to now."""
    result = import_bytes(
        store, data, name=f"{view.bundle_id} (quarantine)", allow_revoked=view.code == "revoked", rebase_clock=True
    )
    lines = [f"{result.status}: {result.message}"] + [f"{r.source}: {r.status}: {r.message}" for r in result.released]
    return "; ".join(lines)


def _register_bundle_acceptors() -> None:
    quarantine = _quarantine_service()
    if quarantine is not None:
        for code in ("clock-ahead", "revoked"):
            quarantine.BUNDLE_ACCEPTORS.setdefault(code, _accept_held_bundle)


def _gap_message(kind: str, held: int, first: int | None) -> str:
    if kind != "worker":
        # Return bundles are ranged by the coordinator's clock, not by a count: no numbers to show.
        return (
            "waits in the inbox: an earlier return bundle from the coordinator has not been imported yet; "
            "it is applied when it is"
        )
    return (
        f"waits in the inbox: changes seq {held + 1}..{(first or 1) - 1} from this device have not arrived yet; "
        "it is applied when they do"
    )


def _summary_line(summary: dict[str, Any], dry: bool = False) -> str:
    verb = "would add" if dry else "added"
    new = sum(summary.get("new_rows", {}).values())
    updated = sum(summary.get("updated_rows", {}).values())
    parts = [
        f"{verb} {new} record(s)",
        f"updated {updated}",
        f"{summary.get('new_clients', 0)} new client(s)",
        f"{summary.get('conflicts', 0)} conflict(s) for review",
    ]
    refused = sum(summary.get("refused_fields", {}).values())
    if refused:
        parts.append(f"{refused} change(s) outside the laptop's write scope refused")
    if summary.get("dropped_for_purged_rows"):
        parts.append(f"{summary['dropped_for_purged_rows']} change(s) to purged records dropped")
    if summary.get("refused_purges"):
        parts.append(f"{summary['refused_purges']} purge(s) from a laptop refused")
    if summary.get("quarantined"):
        parts.append(
            f"{summary['quarantined']} change(s) {'would be ' if dry else ''}held in the quarantine for review"
        )
    if summary.get("deletes_for_review"):
        parts.append(f"{summary['deletes_for_review']} delete(s) from a laptop to confirm or restore")
    if summary.get("left_caseload"):
        parts.append(f"{summary['left_caseload']} client(s) left this laptop's caseload and were erased here")
    if summary.get("ignored_edits_of_facts"):
        parts.append(f"{summary['ignored_edits_of_facts']} edit(s) of add-only facts ignored")
    if summary.get("roster"):
        parts.append(summary["roster"])
    if summary.get("time_zone"):
        parts.append(summary["time_zone"])
    return "; ".join(parts)


def _apply(store: Store, opened: _Opened, state: TrustState, base: dict[str, Any], *, from_inbox: bool) -> ImportResult:
    header = opened.header
    bundle_id = header["bundle_id"]
    with _writer(store) as conn:
        # Re-check inside the write lock: another process may have imported it meanwhile.
        if _already(conn, bundle_id):
            return ImportResult(status="already imported", message="already imported; nothing changed", **base)
        verdict, peer, held, first, last = _sequence(store, conn, opened)
        if verdict == "gap":
            conn.exec_driver_sql(
                "INSERT OR IGNORE INTO sync_inbox (bundle_id, source_device, kind, needs_upto, seq_first, seq_last, "
                "received_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bundle_id,
                    peer,
                    header["kind"],
                    (first or 1) - 1,
                    first,
                    last,
                    utcnow().isoformat(sep=" "),
                    opened.raw,
                ),
            )
            return ImportResult(
                status="waiting (gap)", message=_gap_message(opened.header["kind"], held, first), **base
            )
        _pause()
        fresh = [c for c in opened.changes if header["kind"] != "worker" or c.seq > held]
        stale = header["kind"] == "return" and verdict == "replay"
        if stale:
            # An older return bundle after a newer one: the newer one holds all it had, and its
            # records would bring back a client that has left this laptop's caseload since.
            fresh = []
        try:
            plan = merge_engine.plan_merge(conn, fresh, _options(store, opened))
        except InvalidChanges as exc:
            raise SyncRefused(f"bundle content is not valid vipterm data ({exc})", "bad-format") from None
        clock_now = merge_engine.observe_clock(conn, max(plan.max_hlc, header["created_hlc"]))
        _pause()
        merge_engine.apply_plan(conn, plan, tick=clock_now)
        origin.record_arrivals(
            conn,
            plan.inserts,
            peer,
            bundle_id,
            store.clock.utcnow(),
            opened.payload.get("origins") if header["kind"] == "return" else None,
        )
        _pause()
        summary = plan.summary()
        if store.role is Role.COORDINATOR:
            merge_engine.reassert_fields(conn, plan, store.device_id)
            # The laptop holds the clients it created whole: if they leave its caseload, it is told.
            outbox.mark_sent(conn, peer, plan.new_clients, 0)
            if last is not None:
                outbox.update_peer(conn, peer, received_upto=last)
                from vipterm.services.recovery import first_bundle_taken

                first_bundle_taken(conn, peer)  # sequenced from here on (after a recovery)
            outbox.update_peer(conn, peer, acked_upto=opened.payload.get("ack", 0), imported_at=utcnow())
        else:
            outbox.update_peer(
                conn, peer, received_upto=last, acked_upto=opened.payload.get("ack", 0), imported_at=utcnow()
            )
            acked = outbox.peer_cursors(conn, peer)["acked_upto"]
            summary["outbox_pruned"] = outbox.prune_outbox(conn, store.device_id, acked)
            summary["left_caseload"] = merge_engine.erase_clients(
                conn, [] if stale else opened.payload.get("erase", []), keep_log_of=store.device_id
            )
            summary["roster"] = _take_roster(conn, state, opened.roster_blob)
            summary["time_zone"] = _take_program_settings(store, conn, opened)
        conn.exec_driver_sql(
            "INSERT INTO sync_bundle (bundle_id, direction, kind, peer_device, seq_first, seq_last, change_count, at, "
            "summary) VALUES (?, 'in', ?, ?, ?, ?, ?, ?, ?)",
            (
                bundle_id,
                header["kind"],
                peer,
                first,
                last,
                len(opened.changes),
                utcnow().isoformat(sep=" "),
                json.dumps(summary),
            ),
        )
        if from_inbox:
            conn.exec_driver_sql("DELETE FROM sync_inbox WHERE bundle_id = ?", (bundle_id,))
        _pause()
    return ImportResult(status="applied", message=_summary_line(summary), summary=summary, **base)


def _take_program_settings(store: Store, conn: Connection, opened: _Opened) -> str:
    """A return bundle's program settings (from the coordinator, signed): the time zone. A value
    this machine cannot use is ignored (the laptop keeps the zone it has) rather than refusing
    the bundle's records."""
    if opened.header.get("kind") != "return":
        return ""
    program = opened.payload.get("program")
    zone = program.get("time_zone") if isinstance(program, dict) else None
    if not isinstance(zone, str) or zone == store.time_zone:
        return ""
    try:
        zone = check_time_zone(zone)
    except ValidationError:
        return ""
    conn.exec_driver_sql(
        "INSERT INTO meta (key, value) VALUES ('time_zone', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (zone,),
    )
    store.clock = store.clock.with_zone(zone)
    return f"program time zone is now {zone}"


def _take_roster(conn: Connection, state: TrustState, blob: bytes | None) -> str:
    if blob is None:
        return ""
    try:
        roster = rosters.open_roster(blob, state.pinned_root, state.roster_version or None)
    except RosterRollback:
        return "attached roster is older than the one held: kept the newer one"
    except BundleError as exc:
        return f"attached roster refused ({exc.code})"
    if roster.version > state.roster_version:
        _save_trust(conn, roster=blob, roster_version=roster.version)
        return f"roster updated to version {roster.version}"
    return ""


def _drain_inbox(store: Store, device: str, limits: bundle_format.Limits) -> list[ImportResult]:
    """Apply waiting bundles from `device` whose gap is now filled (and what they release)."""
    released: list[ImportResult] = []
    while True:
        with store.database.engine.connect() as conn:
            held = outbox.peer_cursors(conn, device)["received_upto"]
            row = conn.exec_driver_sql(
                "SELECT bundle_id, data FROM sync_inbox WHERE source_device = ? AND needs_upto <= ? "
                "ORDER BY needs_upto LIMIT 1",
                (device, held),
            ).first()
        if row is None:
            return released
        try:
            result = import_bytes(
                store, row[1], name=f"{row[0]}{bundle_format.SUFFIX} (inbox)", limits=limits, from_inbox=True
            )
        except SyncRefused as exc:
            result = ImportResult(f"{row[0]} (inbox)", "refused", exc.message, bundle_id=row[0], code=exc.code)
        if result.status != "applied":
            with _writer(store) as conn:  # applied elsewhere, or now refused (e.g. revoked): stop waiting
                conn.exec_driver_sql("DELETE FROM sync_inbox WHERE bundle_id = ?", (row[0],))
        released.append(result)
        released.extend(result.released)
        result.released = []


# --- conflicts -------------------------------------------------------------------------------------


@dataclass
class ConflictView:
    id: str
    tbl: str
    row_id: str
    col: str
    record: str  # what the row is, without names: "client VIP-1A2B3C", "referral of VIP-..."
    current_value: Any  # the value kept (the merge winner)
    current_by: str
    current_at: datetime
    other_value: Any  # the value that lost
    other_by: str
    other_at: datetime
    status: str
    detected_at: Any


def _who(conn: Connection, roster: rosters.Roster | None, device: str) -> str:
    entry = roster.entry_for_device(device) if roster else None
    if entry is None:
        return f"device {device[-8:]}"
    name = conn.exec_driver_sql("SELECT display_name FROM worker WHERE id = ?", (entry.worker_id,)).scalar()
    return name or f"worker {entry.worker_id[-8:]}"


def _when(stamp: int) -> datetime:
    return datetime.utcfromtimestamp(hlc_clock.physical_ms(stamp) / 1000).replace(microsecond=0)


def _record_label(conn: Connection, tbl: str, row_id: str) -> str:
    link = outbox.CLIENT_LINK.get(tbl)
    client_id = None
    if link:
        col, via = link
        pk = merge_engine.tables()[tbl].pk
        if tbl == "client":
            client_id = row_id
        elif via is None:
            client_id = conn.exec_driver_sql(f'SELECT "{col}" FROM "{tbl}" WHERE "{pk}" = ?', (row_id,)).scalar()
        else:
            client_id = conn.exec_driver_sql(
                f'SELECT p.client_id FROM "{tbl}" t JOIN "{via}" p ON p.id = t."{col}" WHERE t."{pk}" = ?', (row_id,)
            ).scalar()
    if client_id:
        pseudonym = conn.exec_driver_sql("SELECT pseudonym FROM client WHERE id = ?", (client_id,)).scalar()
        what = tbl.replace("_", " ")
        return f"{what} of {pseudonym}" if tbl != "client" else f"client {pseudonym}"
    return f"{tbl.replace('_', ' ')} {row_id[-8:]}"


def list_conflicts(store: Store, *, include_resolved: bool = False) -> list[ConflictView]:
    state = load_trust(store)
    roster = state.roster() if state.roster_blob else None
    where = "" if include_resolved else "WHERE status = 'open'"
    out = []
    with store.database.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, tbl, row_id, col, kept_value, kept_hlc, kept_device, lost_value, lost_hlc, lost_device, "
            f"status, detected_at FROM sync_conflict {where} ORDER BY detected_at, id"
        ).all()
        for r in rows:
            current = conn.exec_driver_sql(
                f'SELECT "{r[3]}" FROM "{r[1]}" WHERE "{merge_engine.tables()[r[1]].pk}" = ?', (r[2],)
            ).first()
            out.append(
                ConflictView(
                    id=r[0],
                    tbl=r[1],
                    row_id=r[2],
                    col=r[3],
                    record=_record_label(conn, r[1], r[2]),
                    current_value=current[0] if current else unpack(r[4]),
                    current_by=_who(conn, roster, r[6]),
                    current_at=_when(r[5]),
                    other_value=unpack(r[7]),
                    other_by=_who(conn, roster, r[9]),
                    other_at=_when(r[8]),
                    status=r[10],
                    detected_at=r[11],
                )
            )
    return out


def _parse_for_column(tbl: str, col: str, raw: Any) -> Any:
    """A typed-in value as the database stores it (dates ISO, datetimes with microseconds, 0/1)."""
    column = SYNC_POLICY[tbl].table.columns[col]
    if raw is None or (isinstance(raw, str) and raw.strip() == "" and column.nullable):
        return None
    pytype = column.type.python_type
    try:
        if pytype is bool:
            return 1 if str(raw).strip().lower() in ("1", "true", "yes", "y") else 0
        if pytype is int:
            return int(raw)
        if pytype is datetime:
            return datetime.fromisoformat(str(raw)).strftime("%Y-%m-%d %H:%M:%S.%f")
        if pytype is date:
            return date.fromisoformat(str(raw)).isoformat()
    except ValueError:
        raise ValidationError(f"{raw!r} is not a valid value for {col.replace('_', ' ')}", field=col) from None
    value = str(raw).strip()
    enums = (
        {
            "status": domain.ClientStatus,
            "area_command": domain.AreaCommand,
            "age_group": domain.AgeGroup,
            "referral_source": domain.ReferralSource,
        }
        if tbl == "client"
        else {}
    )
    if col in enums:
        try:
            value = enums[col].parse(value).value
        except ValueError as exc:
            raise ValidationError(str(exc), field=col) from None
    return value


def resolve_conflict(store: Store, conflict_id: str, choice: str, value: Any = None) -> Any:
    """Keep the current value ('current'), take the other one ('other'), or set `value` ('edit').

    The result is an ordinary local change, so it syncs back to every laptop holding the record;
    every open conflict on the same field is closed with it. Returns the value now held.
    """
    if choice not in ("current", "other", "edit"):
        raise ValidationError("choose current, other or edit", field="choice")
    _require_role(store, Role.COORDINATOR, "resolving conflicts")
    with store.write() as session:
        conn = session.connection()
        row = conn.exec_driver_sql(
            "SELECT tbl, row_id, col, lost_value, status FROM sync_conflict WHERE id = ?", (conflict_id,)
        ).first()
        if row is None:
            raise NotFound(f"no conflict with id {conflict_id}")
        tbl, row_id, col, lost, status = row
        if status != "open":
            raise ValidationError("this conflict is already resolved", field="conflict")
        pk = merge_engine.tables()[tbl].pk
        current = conn.exec_driver_sql(f'SELECT "{col}" FROM "{tbl}" WHERE "{pk}" = ?', (row_id,)).first()
        if current is None:
            raise NotFound("the record of this conflict no longer exists")
        if choice == "current":
            new = current[0]
        elif choice == "other":
            new = unpack(lost)
        else:
            new = _parse_for_column(tbl, col, value)
        column = SYNC_POLICY[tbl].table.columns[col]
        if new is None and not column.nullable:
            raise ValidationError(f"{col.replace('_', ' ')} cannot be empty", field=col)
        if new != current[0]:
            conn.exec_driver_sql(f'UPDATE "{tbl}" SET "{col}" = ? WHERE "{pk}" = ?', (new, row_id))
            record_changes(session, Capture(store.device_id), [(tbl, row_id, col, new)])
        conn.exec_driver_sql(
            "UPDATE sync_conflict SET status = 'resolved', resolution = ?, resolved_at = ? "
            "WHERE tbl = ? AND row_id = ? AND col = ? AND status = 'open'",
            (
                {"current": "kept", "other": "theirs", "edit": "edited"}[choice],
                utcnow().isoformat(sep=" "),
                tbl,
                row_id,
                col,
            ),
        )
    return new


# --- retention purge ----------------------------------------------------------------------------------


def purge_client(store: Store, client_id: str) -> dict[str, int]:
    """Erase a client and everything about them here, and on every laptop at its next sync."""
    _require_role(store, Role.COORDINATOR, "a retention purge")
    with _writer(store) as conn:
        if conn.exec_driver_sql("SELECT 1 FROM client WHERE id = ?", (client_id,)).first() is None:
            raise NotFound(f"no client with id {client_id}")
        plan = merge_engine.purge_rows(conn, store.device_id, "client", [client_id])
    counts: dict[str, int] = {}
    for tbl, *_ in plan.purges:
        counts[tbl] = counts.get(tbl, 0) + 1
    from vipterm.services.audit import record_audit

    # The client's id (never a name) stays in the log: the purge erased everything else.
    record_audit(store, domain.AuditAction.PURGE, client_id, f"retention purge: {sum(counts.values())} record(s)")
    return counts


# --- status ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceStatus:
    """A device on the roster: the worker it serves (by staff name), when its last bundle arrived."""

    device_id: str
    role: str  # "worker" | "coordinator"
    worker_id: str
    worker: str | None  # the staff name, None when the staff list does not have it (yet)
    fingerprint: str
    revoked_at: str | None
    last_bundle_at: str | None


@dataclass(frozen=True)
class InboxBundle:
    """A bundle waiting in the inbox for an earlier one (a gap)."""

    bundle_id: str
    source_device: str
    seq_first: int | None
    seq_last: int | None
    received_at: str
    kind: str  # "worker" (ranged by sequence numbers) | "return" (ranged by the coordinator's clock)


@dataclass(frozen=True)
class PeerCursors:
    """What this device holds of a peer, and what the peer acknowledged (`sync_peer`)."""

    device_id: str
    received_upto: int
    acked_upto: int
    exported_upto: int
    last_import_at: str | None
    last_export_at: str | None


@dataclass(frozen=True)
class SyncStatus:
    """What the sync screen and `vipterm sync status` show: ids, counts and, for each device, the
    name of the worker it serves (staff names only, never a client's)."""

    role: str
    device_id: str
    enrolled: bool
    device_fingerprint: str | None
    root_fingerprint: str | None
    roster_version: int
    devices: list[DeviceStatus]
    pending_changes: int  # a laptop's changes in no bundle yet
    exported_unacknowledged: int  # a laptop's changes in a bundle the coordinator has not acknowledged
    last_import_at: str | None
    last_export_at: str | None
    inbox: list[InboxBundle]
    open_conflicts: int
    quarantine_open: int
    peers: list[PeerCursors]

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape: the fields, with devices, inbox and peers as lists of objects."""
        return dataclasses.asdict(self)


def sync_status(store: Store) -> SyncStatus:
    """This device's sync state (see `SyncStatus`)."""
    state = load_trust(store)
    roster = None
    if state.roster_blob:
        try:
            roster = state.roster()
        except BundleError:
            roster = None
    with store.database.engine.connect() as conn:
        peers = [
            PeerCursors(*r)
            for r in conn.exec_driver_sql(
                "SELECT device_id, received_upto, acked_upto, exported_upto, last_import_at, last_export_at "
                "FROM sync_peer ORDER BY device_id"
            )
        ]
        inbox = [
            InboxBundle(*r)
            for r in conn.exec_driver_sql(
                "SELECT bundle_id, source_device, seq_first, seq_last, received_at, kind FROM sync_inbox "
                "ORDER BY received_at"
            )
        ]
        open_conflicts = conn.exec_driver_sql("SELECT count(*) FROM sync_conflict WHERE status = 'open'").scalar_one()
        held = conn.exec_driver_sql("SELECT count(*) FROM sync_quarantine WHERE status = 'open'").scalar_one()
        staff: dict[str, str] = dict(conn.exec_driver_sql("SELECT id, display_name FROM worker").all())
        last_in = conn.exec_driver_sql("SELECT max(at) FROM sync_bundle WHERE direction = 'in'").scalar()
        last_out = conn.exec_driver_sql("SELECT max(at) FROM sync_bundle WHERE direction = 'out'").scalar()
        pending = unacked = 0
        if store.role is Role.WORKER and roster is not None:
            coord = _coordinator_entry(roster)
            cur = outbox.peer_cursors(conn, coord.device_id)
            pending = outbox.count_pending(conn, store.device_id, max(cur["exported_upto"], cur["acked_upto"]))
            unacked = outbox.count_pending(conn, store.device_id, cur["acked_upto"]) - pending
    devices = []
    if roster is not None:
        last_bundle = {p.device_id: p.last_import_at for p in peers}
        for e in roster.entries:
            devices.append(
                DeviceStatus(
                    e.device_id,
                    e.role,
                    e.worker_id,
                    staff.get(e.worker_id),
                    e.fingerprint,
                    e.revoked_at,
                    last_bundle.get(e.device_id),
                )
            )
    return SyncStatus(
        role=store.role.value,
        device_id=store.device_id,
        enrolled=state.device_keys is not None and roster is not None,
        device_fingerprint=state.device_keys.fingerprint if state.device_keys else None,
        root_fingerprint=roster.root_fingerprint if roster else None,
        roster_version=state.roster_version,
        devices=devices,
        pending_changes=pending,
        exported_unacknowledged=unacked,
        last_import_at=last_in,
        last_export_at=last_out,
        inbox=inbox,
        open_conflicts=int(open_conflicts),
        quarantine_open=int(held),
        peers=peers,
    )


def record_sync_states(store: Store, tbl: str, row_ids: list[str]) -> dict[str, str]:
    """Each record's sync state: 'conflict', 'pending' (not exported), 'exported' (not yet
    acknowledged) or 'synced'. For the TUI's record lists."""
    if tbl not in SYNC_POLICY:
        raise ValidationError(f"unknown table {tbl}")
    out = {r: "synced" for r in row_ids}
    with store.database.engine.connect() as conn:
        exported = acked = 0
        state = _trust(conn)
        if store.role is Role.WORKER and state.roster_blob:
            try:
                coord = _coordinator_entry(state.enrolled_roster())
                cur = outbox.peer_cursors(conn, coord.device_id)
                exported, acked = cur["exported_upto"], cur["acked_upto"]
            except (BundleError, NotEnrolled):
                pass
        for chunk in merge_engine._chunks(list(row_ids)):
            marks = ",".join("?" * len(chunk))
            for row_id, top in conn.exec_driver_sql(
                f"SELECT row_id, max(seq) FROM change_log WHERE device = ? AND tbl = ? AND row_id IN ({marks}) "
                "GROUP BY row_id",
                (store.device_id, tbl, *chunk),
            ):
                if top > max(exported, acked):
                    out[row_id] = "pending"
                elif top > acked:
                    out[row_id] = "exported"
            for (row_id,) in conn.exec_driver_sql(
                f"SELECT DISTINCT row_id FROM sync_conflict WHERE status = 'open' AND tbl = ? AND row_id IN ({marks})",
                (tbl, *chunk),
            ):
                out[row_id] = "conflict"
    return out


def value_text(value: Any) -> str:
    """A stored value for display (msgpack-decoded DB values are plain already)."""
    if value is None:
        return "—"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


_register_bundle_acceptors()
