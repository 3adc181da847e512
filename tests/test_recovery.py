"""Recovery (docs/recovery.md): a lost coordinator rebuilt from its root key export and its last
backup, end to end through the `vipterm` command (`python -m vipterm` subprocesses): the laptops
keep syncing with it and nobody is re-enrolled. And what a recovery file refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import open_known
from tests.sync_support import PASSPHRASE, enrolled_program
from vipterm.errors import NotADatabase, WrongPassphrase
from vipterm.services import records, recovery

RECOVERY_PASSPHRASE = "lighthouse granite ferry morning"


def vip(*args: str, ok: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE, **extra_env}
    env.pop("VIPTERM_DB", None)
    result = subprocess.run(
        [sys.executable, "-m", "vipterm", *args], env=env, capture_output=True, text=True, timeout=120
    )
    if ok:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def client_ids(path: Path) -> set[str]:
    with open_known(path, PASSPHRASE) as store, store.read() as s:
        return {r[0] for r in s.execute(text("SELECT id FROM client"))}


def new_client(path: Path, name: str) -> str:
    with open_known(path, PASSPHRASE) as store:
        return records.create_client(store, records.ClientDraft(first_name=name, area_command="valley")).id


@pytest.mark.slow  # ~40 real vipterm processes
def test_lost_coordinator_rebuilt_from_root_export_and_backup(tmp_path):
    coord = tmp_path / "coordinator.db"
    vip("coordinator", "init", "--db", str(coord))
    stick = tmp_path / "stick"
    stick.mkdir()
    laptops = [tmp_path / f"laptop{i}.db" for i in range(2)]
    for i, laptop in enumerate(laptops):
        vip("init", "--db", str(laptop), "--worker-name", f"Peer Worker {i}")
        out = vip("enroll", "request", "--db", str(laptop), "--out", str(stick)).stdout
        fingerprint = next(line.split()[1] for line in out.splitlines() if line.startswith("fingerprint:"))
        vip(
            "enroll",
            "approve",
            "--db",
            str(coord),
            str(next(stick.glob("*.vipreq"))),
            "--fingerprint",
            fingerprint,
            "--worker",
            f"Peer Worker {i}",
            "--yes",
            "--out",
            str(stick),
        )
        vip("enroll", "accept", "--db", str(laptop), str(next(stick.glob("*.vipgrant"))))
        for f in list(stick.iterdir()):
            f.unlink()
    rounds = iter(range(100))

    def round_trip(coordinator: Path) -> None:
        n = next(rounds)
        out, back = tmp_path / f"out{n}", tmp_path / f"back{n}"
        out.mkdir()
        back.mkdir()
        for laptop in laptops:
            vip("sync", "export", "--db", str(laptop), "--to", str(out))
        results = json.loads(vip("sync", "import", "--db", str(coordinator), str(out), "--json").stdout)["results"]
        assert {r["status"] for r in results} == {"applied"}, results
        vip("sync", "export", "--db", str(coordinator), "--to", str(back))
        for laptop in laptops:
            results = json.loads(vip("sync", "import", "--db", str(laptop), str(back), "--json").stdout)["results"]
            assert [r["status"] for r in results if r["status"] != "skipped"] == ["applied"], results

    early = [new_client(laptop, f"Early{i}") for i, laptop in enumerate(laptops)]
    round_trip(coord)

    # The coordinator keeps its root key export (and its sheet) and a backup, somewhere else.
    safe = tmp_path / "safe"
    safe.mkdir()
    exported = vip(
        "coordinator",
        "export-root",
        "--db",
        str(coord),
        "--out",
        str(safe / "program-root.age"),
        "--kept-at",
        "the program office safe",
        VIPTERM_RECOVERY_PASSPHRASE=RECOVERY_PASSPHRASE,
    ).stdout
    root_fp = next(line.split(": ")[1] for line in exported.splitlines() if line.startswith("program root key"))
    sheet = (safe / "program-root.age.sheet.txt").read_text()
    assert root_fp in sheet and "the program office safe" in sheet and RECOVERY_PASSPHRASE not in sheet
    assert "Peer Worker" not in sheet
    assert (safe / "program-root.age").stat().st_mode & 0o777 == 0o600
    assert b"Peer Worker" not in (safe / "program-root.age").read_bytes()  # encrypted
    vip("backup", "--db", str(coord), "--to", str(safe))
    backup = next(safe.glob("*.backup"))

    # Work after the backup: synced (so pruned on the laptop) and not yet synced.
    after_backup = new_client(laptops[0], "AfterBackup")
    round_trip(coord)
    unsynced = new_client(laptops[1], "Unsynced")
    enrolled_before = [json.loads(vip("sync", "status", "--db", str(p), "--json").stdout) for p in laptops]

    # The coordinator laptop is lost.
    for suffix in ("", "-wal", "-shm"):
        Path(str(coord) + suffix).unlink(missing_ok=True)

    # A wrong recovery passphrase changes nothing.
    new = tmp_path / "new-coordinator.db"
    wrong = vip(
        "coordinator",
        "init",
        "--db",
        str(new),
        "--from-root",
        str(safe / "program-root.age"),
        "--backup",
        str(backup),
        ok=False,
        VIPTERM_RECOVERY_PASSPHRASE="not the recovery passphrase",
    )
    assert wrong.returncode != 0 and "recovery passphrase" in wrong.stderr and not new.exists()

    phrase_file = tmp_path / "recovery-phrase"
    phrase_file.write_text(RECOVERY_PASSPHRASE + "\n")
    made = vip(
        "coordinator",
        "init",
        "--db",
        str(new),
        "--from-root",
        str(safe / "program-root.age"),
        "--backup",
        str(backup),
        "--recovery-passphrase-file",
        str(phrase_file),
    ).stdout
    assert root_fp in made and "nobody is re-enrolled" in made
    assert set(early) <= client_ids(new)  # from the backup

    # The laptops sync with the new coordinator as they always did.
    round_trip(new)
    held = client_ids(new)
    assert unsynced in held  # the laptop's next bundle
    round_trip(new)  # and the sequence goes on
    newer = new_client(laptops[0], "Later")
    round_trip(new)
    assert newer in client_ids(new)
    enrolled_after = [json.loads(vip("sync", "status", "--db", str(p), "--json").stdout) for p in laptops]
    for before, after in zip(enrolled_before, enrolled_after):
        assert after["device_id"] == before["device_id"]
        assert json.dumps(after).count(root_fp) == json.dumps(before).count(root_fp)
    # What the old coordinator received after the backup, and the laptop had already pruned, is the
    # one thing gone (docs/recovery.md says so); the laptop still holds that client.
    assert after_backup in client_ids(laptops[0])
    from vipterm.services.audit import list_entries

    with open_known(new, PASSPHRASE) as store:
        actions = [e.action for e in list_entries(store)]
    assert {"root_export", "restore"} <= set(actions)  # audited (the export came with the backup)


def test_recovery_file_without_a_backup_and_what_it_refuses(tmp_path):
    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w.db", "Peer Worker"))
    from vipterm.services import sync as sync_service

    records.create_client(laptop, records.ClientDraft(first_name="Synced", area_command="valley"))
    for n, (src, dst) in enumerate(((laptop, coord), (coord, laptop))):  # acknowledged: pruned on the laptop
        folder = tmp_path / f"trip{n}"
        folder.mkdir()
        sync_service.export(src, folder)
        assert [r.status for r in sync_service.import_bundles(dst, [folder])] == ["applied"]
    result = recovery.export_root(coord, tmp_path / "root.age", RECOVERY_PASSPHRASE)
    program, device = coord.identity.program_id, coord.device_id
    coord.close()
    with pytest.raises(WrongPassphrase):
        recovery.init_from_root(tmp_path / "n.db", PASSPHRASE, result.path, "a wrong recovery phrase")
    tampered = tmp_path / "tampered.age"
    data = bytearray(result.path.read_bytes())
    data[-20] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(WrongPassphrase):
        recovery.init_from_root(tmp_path / "n.db", PASSPHRASE, tampered, RECOVERY_PASSPHRASE)
    import pyrage

    forged = tmp_path / "forged.age"  # the right passphrase, but not a vipterm recovery document
    forged.write_bytes(pyrage.passphrase.encrypt(b'{"format": "something else"}', RECOVERY_PASSPHRASE))
    with pytest.raises(NotADatabase):
        recovery.init_from_root(tmp_path / "n.db", PASSPHRASE, forged, RECOVERY_PASSPHRASE)
    assert not (tmp_path / "n.db").exists()

    rebuilt = recovery.init_from_root(tmp_path / "n.db", PASSPHRASE, result.path, RECOVERY_PASSPHRASE)
    store = rebuilt.store
    try:
        assert (store.identity.program_id, store.device_id, store.role.value) == (program, device, "coordinator")
        assert rebuilt.laptops == 1 and rebuilt.root_fingerprint == result.root_fingerprint
        with store.read() as s:  # the staff list came back
            assert "Peer Worker" in {r[0] for r in s.execute(text("SELECT display_name FROM worker"))}
        # The laptop's first bundle is taken though it starts past what this database holds.
        records.create_client(laptop, records.ClientDraft(first_name="Kept", area_command="valley"))
        out = tmp_path / "out"
        out.mkdir()
        sync_service.export(laptop, out)
        [bundle] = out.iterdir()
        from vipterm.sync.bundle import peek_header

        assert peek_header(bundle)["seq_first"] > 1  # what came before was acknowledged and pruned
        [applied] = sync_service.import_bundles(store, [out])
        assert applied.status == "applied"
        assert applied.summary  # changes taken, not held waiting for the pruned ones
        with store.read() as s:
            assert s.execute(text("SELECT count(*) FROM meta WHERE key = 'rebuild_peers'")).scalar_one() == 0
    finally:
        store.close()
        laptop.close()


def test_export_root_refuses_a_laptop_a_weak_recovery_passphrase_and_an_existing_file(tmp_path):
    from vipterm.errors import DatabaseExists, ValidationError
    from vipterm.services.sync import WrongRole

    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w.db", "Peer Worker"))
    try:
        with pytest.raises(WrongRole):
            recovery.export_root(laptop, tmp_path / "root.age", RECOVERY_PASSPHRASE)
        with pytest.raises(ValidationError) as weak:
            recovery.export_root(coord, tmp_path / "root.age", "password1")
        assert "recovery passphrase" in weak.value.message
        (tmp_path / "root.age").write_text("kept")
        with pytest.raises(DatabaseExists):
            recovery.export_root(coord, tmp_path / "root.age", RECOVERY_PASSPHRASE)
        assert (tmp_path / "root.age").read_text() == "kept"
        assert not (tmp_path / "root.age.sheet.txt").exists()
    finally:
        coord.close()
        laptop.close()
