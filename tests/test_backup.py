"""Backups: a snapshot taken while another process writes is whole and consistent; restore checks
what it is given and writes only a new database; doctor and the app say when the last one was taken."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from vipterm.cli import main
from vipterm.errors import CheckFailed, DatabaseExists, NotADatabase, WrongPassphrase
from vipterm.services import backup as backup_service
from vipterm.services.audit import list_entries
from vipterm.services.database import open_store
from vipterm.store import engine as store_engine

# A writer in another process: every transaction inserts one row into each of two tables of a
# pair, so any state as of one commit has as many rows in one as in the other.
WRITER = textwrap.dedent("""
    import sys
    import time
    from pathlib import Path
    from vipterm.store import engine
    path, passphrase, stop = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    conn = engine.connect_raw(path, engine.key_for_existing(path, passphrase))
    i = 0
    while not stop.exists():
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (f"pair-a-{i}",))
        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (f"pair-b-{i}",))
        conn.execute("COMMIT")
        time.sleep(0.002)  # like any vipterm writer, leave the lock to others between transactions
        i += 1
        if i == 20:
            print("writing", flush=True)
    conn.close()
    print(i, flush=True)
""")


def _pairs(path: Path) -> tuple[int, int]:
    conn = store_engine.connect_raw(path, store_engine.key_for_existing(path, PASSPHRASE))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        a = conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'pair-a-%'").fetchone()[0]
        b = conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'pair-b-%'").fetchone()[0]
    finally:
        conn.close()
    return a, b


def test_backup_while_another_process_writes_is_whole_and_consistent(store, db_path, tmp_path):
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path), PASSPHRASE, str(stop)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert writer.stdout.readline().strip() == "writing"  # the writer is committing in a loop
        out = tmp_path / "backups"
        out.mkdir()
        result = backup_service.take_backup(store, out)
    finally:
        stop.touch()
        written = int(writer.stdout.readline())
        writer.wait(timeout=30)
    assert writer.returncode == 0
    # Named by device and date, never by person; private; encrypted (no SQLite header).
    assert result.path.name == f"vipterm-{store.device_id}-20261123-160000Z.backup"
    assert "Test" not in result.path.name
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert not result.path.read_bytes().startswith(b"SQLite format 3")
    assert list(out.iterdir()) == [result.path]  # no partial file left beside it
    a, b = _pairs(result.path)
    assert a == b > 0  # one commit's state, never half a transaction
    assert written >= a
    # It opens as a vipterm database with the database's own passphrase.
    copy = open_store(result.path, PASSPHRASE)
    assert copy.device_id == store.device_id
    copy.close()
    assert backup_service.last_backup_at(store) == result.taken_at
    assert [e.action for e in list_entries(store)].count("backup") == 1


def test_restore_writes_a_new_database_and_refuses_what_is_not_a_vipterm_backup(store, tmp_path):
    backup = backup_service.take_backup(store, tmp_path).path
    restored = tmp_path / "restored" / "vip.db"
    new, info = backup_service.restore_backup(backup, restored, PASSPHRASE)
    assert info["device_id"] == store.device_id == new.device_id
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    assert [e.action for e in list_entries(new)][0] == "restore"
    new.close()
    before = restored.read_bytes()
    with pytest.raises(DatabaseExists):
        backup_service.restore_backup(backup, restored, PASSPHRASE)
    assert restored.read_bytes() == before

    # An attacker's (or a mistaken) file: plain SQLite, random bytes, a SQLCipher file under the
    # same passphrase that is not a vipterm database, the right backup with a wrong passphrase.
    plain = tmp_path / "plain.backup"
    sqlite3.connect(plain).execute("CREATE TABLE meta (key, value)").connection.commit()
    noise = tmp_path / "noise.backup"
    noise.write_bytes(os.urandom(8192))
    foreign = tmp_path / "foreign.backup"
    raw = store_engine.create_file(foreign, PASSPHRASE)
    conn = store_engine.connect_raw(foreign, raw)
    conn.execute("CREATE TABLE meta (key, value)")
    conn.close()
    for bad, error in ((plain, NotADatabase), (noise, WrongPassphrase), (foreign, NotADatabase)):
        target = tmp_path / f"from-{bad.stem}.db"
        with pytest.raises(error) as exc:
            backup_service.restore_backup(bad, target, PASSPHRASE)
        assert "vipterm" in exc.value.message
        assert not target.exists() and not list(tmp_path.glob(f"from-{bad.stem}.db*"))
    with pytest.raises(WrongPassphrase):
        backup_service.restore_backup(backup, tmp_path / "wrong.db", "not the passphrase at all")


def test_restore_refuses_a_corrupted_backup(store, tmp_path):
    backup = backup_service.take_backup(store, tmp_path).path
    data = bytearray(backup.read_bytes())
    page = 4096
    data[3 * page + 100 : 3 * page + 200] = os.urandom(100)  # one damaged page (its HMAC fails)
    backup.write_bytes(bytes(data))
    target = tmp_path / "restored.db"
    with pytest.raises((CheckFailed, WrongPassphrase)):
        backup_service.restore_backup(backup, target, PASSPHRASE)
    assert not target.exists()


def test_cli_backup_restore_doctor(store, db_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)
    store.close()
    assert main(["doctor", "--db", str(db_path)]) == 0
    assert "never taken here" in capsys.readouterr().out
    out = tmp_path / "b"
    out.mkdir()
    assert main(["backup", "--db", str(db_path), "--to", str(out)]) == 0
    assert main(["doctor", "--db", str(db_path), "--json"]) == 0
    assert '"last_backup_at": "2026-11-23T09:00:00-07:00"' in capsys.readouterr().out  # the program's time
    backup = next(out.iterdir())
    assert main(["restore", str(backup), "--db", str(tmp_path / "new.db")]) == 0
    assert main(["restore", str(backup), "--db", str(db_path)]) == int(DatabaseExists.exit_code)
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err


def test_reminder_after_the_set_number_of_days(store, tmp_path, monkeypatch):
    assert "no backup" in backup_service.backup_reminder(store, 7)
    backup_service.take_backup(store, tmp_path)
    assert backup_service.backup_reminder(store, 7) is None
    monkeypatch.setenv("VIPTERM_NOW", "2026-12-01T09:00:00-07:00")  # 8 days later
    later = open_store(store.path, PASSPHRASE)
    try:
        assert "8 day(s) ago" in backup_service.backup_reminder(later, 7)
        assert backup_service.backup_reminder(later, 10) is None
        assert backup_service.backup_reminder(later, 0) is None
    finally:
        later.close()


async def test_app_reminds_after_unlock(store, db_path, tmp_path):
    from tests.tui_support import make_app, unlock, wait_for
    from vipterm.tui.config import load_config

    config_file = tmp_path / "config.toml"
    config_file.write_text("[app]\nbackup_reminder_days = 3\n")
    config = load_config(config_file)
    assert config.backup_reminder_days == 3 and not config.problems
    store.close()
    app = make_app(db_path, config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, PASSPHRASE)
        # Shown once the caseload has settled after its first paint.
        await wait_for(pilot, lambda: any("no backup" in str(n.message) for n in app._notifications))


def test_reminder_setting_refuses_nonsense(tmp_path):
    from vipterm.tui.config import load_config

    config_file = tmp_path / "config.toml"
    config_file.write_text("[app]\nbackup_reminder_days = -1\n")
    config = load_config(config_file)
    assert config.backup_reminder_days == 7 and "backup_reminder_days" in config.problems[0]


def test_a_damaged_database_is_found_by_doctor_and_comes_back_from_its_backup(
    store, db_path, tmp_path, capsys, monkeypatch
):
    """docs/recovery.md, a damaged file: doctor says so (no traceback); the backup restores."""
    from vipterm.services import records

    kept = records.create_client(store, records.ClientDraft(first_name="Kept", area_command="valley")).id
    backup = backup_service.take_backup(store, tmp_path).path
    store.close()
    data = bytearray(db_path.read_bytes())
    for page in range(2, len(data) // 4096):  # every page but the first: SQLCipher's HMAC fails on each
        data[page * 4096 + 200 : page * 4096 + 260] = os.urandom(60)
    db_path.write_bytes(bytes(data))
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)
    assert main(["doctor", "--db", str(db_path)]) == int(CheckFailed.exit_code)
    err = capsys.readouterr().err
    assert "damaged" in err and "vipterm help recovery" in err and "Traceback" not in err
    restored = tmp_path / "restored.db"
    assert main(["restore", str(backup), "--db", str(restored)]) == 0
    again = open_store(restored, PASSPHRASE)
    try:
        assert records_of(again) == {kept}
    finally:
        again.close()


def records_of(store) -> set[str]:
    from sqlalchemy import text

    with store.read() as s:
        return {r[0] for r in s.execute(text("SELECT id FROM client"))}


def test_restore_refuses_a_backup_from_a_newer_vipterm(store, tmp_path):
    from vipterm.errors import NewerSchema
    from vipterm.store.migrations import SCHEMA_VERSION

    backup = backup_service.take_backup(store, tmp_path).path
    conn = store_engine.connect_raw(backup, store.database.raw)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(backup) + suffix).unlink(missing_ok=True)
    target = tmp_path / "restored.db"
    with pytest.raises(NewerSchema):
        backup_service.restore_backup(backup, target, PASSPHRASE)
    assert not target.exists()


def test_backup_reports_its_steps_to_the_progress_it_is_given(store, tmp_path):
    from vipterm.progress import Progress, ProgressTask

    class Seen(Progress):
        def __init__(self):
            self.tasks: list[ProgressTask] = []

        def task(self, label, total=None):
            self.tasks.append(ProgressTask(label, total))
            return self.tasks[-1]

    seen = Seen()
    result = backup_service.take_backup(store, tmp_path, progress=seen)
    [task] = seen.tasks
    assert task.total == task.completed == 3 and "backing up" in task.label
    assert result.path.exists() and backup_service.check_backup(result.path, store.database.raw)["role"]
