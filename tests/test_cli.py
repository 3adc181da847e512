"""The command line, run as a user runs it: real processes, real files, real exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect

from tests.conftest import DEMO_PASSPHRASE, PASSPHRASE

ENV = {k: v for k, v in os.environ.items() if not k.startswith("VIPTERM_")}


def vipterm(*args, passphrase: str | None = PASSPHRASE, env: dict | None = None, cwd=None):
    environment = dict(ENV, **(env or {}))
    if passphrase is not None:
        environment["VIPTERM_PASSPHRASE"] = passphrase
    return subprocess.run(
        [sys.executable, "-m", "vipterm", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_init_then_doctor_reports_healthy(tmp_path):
    db = tmp_path / "laptop.db"
    result = vipterm("init", "--db", str(db), "--worker-name", "Rosa")
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout
    doctor = vipterm("doctor", "--db", str(db), "--json")
    assert doctor.returncode == 0, doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["healthy"] and report["integrity"] == "ok" and report["counts"]["worker"] == 1


def test_doctor_on_the_example_database(example_copy):
    result = vipterm("doctor", "--db", str(example_copy), passphrase=DEMO_PASSPHRASE)
    assert result.returncode == 0, result.stderr
    assert "healthy" in result.stdout and "client" in result.stdout
    counts = json.loads(vipterm("doctor", "--db", str(example_copy), "--json", passphrase=DEMO_PASSPHRASE).stdout)[
        "counts"
    ]
    assert 800 <= counts["client"] <= 1000 and counts["worker"] == 8


def test_init_refuses_to_overwrite_unless_forced(tmp_path):
    db = tmp_path / "laptop.db"
    assert vipterm("init", "--db", str(db)).returncode == 0
    before = _digest(db)
    again = vipterm("init", "--db", str(db))
    assert again.returncode == 6 and "already exists" in again.stderr and "--force" in again.stderr
    assert _digest(db) == before
    forced = vipterm("init", "--db", str(db), "--force")
    assert forced.returncode == 0 and _digest(db) != before


def test_init_asks_twice_and_refuses_a_mismatch(tmp_path):
    db = tmp_path / "typed.db"
    child = pexpect.spawn(
        sys.executable, ["-m", "vipterm", "init", "--db", str(db)], env=ENV, encoding="utf-8", timeout=60
    )
    child.expect("Passphrase for the new database: ")
    child.sendline("first passphrase")
    child.expect("again: ")
    child.sendline("second passphrase")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "do not match" in child.before
    assert not db.exists()

    child = pexpect.spawn(
        sys.executable, ["-m", "vipterm", "init", "--db", str(db)], env=ENV, encoding="utf-8", timeout=60
    )
    child.expect("database: ")
    child.sendline("same passphrase")
    child.expect("again: ")
    child.sendline("same passphrase")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and db.exists()


def test_wrong_passphrase_exit_code_and_quiet_stderr(example_copy):
    before = _digest(example_copy)
    result = vipterm("doctor", "--db", str(example_copy), passphrase="definitely wrong")
    assert result.returncode == 3
    assert result.stderr.strip() == "vipterm: wrong passphrase, or the file is not a vipterm database"
    assert "Traceback" not in result.stderr
    assert _digest(example_copy) == before


def test_passphrase_file(example_copy, tmp_path):
    secret = tmp_path / "pass.txt"
    secret.write_text(DEMO_PASSPHRASE + "\n")
    result = vipterm("doctor", "--db", str(example_copy), "--passphrase-file", str(secret), passphrase=None)
    assert result.returncode == 0, result.stderr


def test_no_passphrase_without_a_terminal(example_copy):
    result = vipterm("doctor", "--db", str(example_copy), passphrase=None)
    assert result.returncode == 3 and "VIPTERM_PASSPHRASE" in result.stderr


def test_missing_database_and_not_a_database(tmp_path):
    missing = vipterm("doctor", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 4 and "vipterm init" in missing.stderr
    junk = tmp_path / "notes.db"
    junk.write_text("shopping list\n" * 200)
    result = vipterm("doctor", "--db", str(junk))
    assert result.returncode in (3, 4) and "Traceback" not in result.stderr
    assert junk.read_text() == "shopping list\n" * 200
    plain = tmp_path / "plain.db"
    import sqlite3

    sqlite3.connect(plain).execute("create table t(a)").connection.commit()
    result = vipterm("doctor", "--db", str(plain))
    assert result.returncode == 4 and "unencrypted" in result.stderr


def test_newer_schema_exit_code(tmp_path):
    db = tmp_path / "future.db"
    assert vipterm("init", "--db", str(db)).returncode == 0
    from vipterm.services.database import open_store

    with open_store(db, PASSPHRASE) as store:
        with store.database.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA user_version = 42")
    result = vipterm("doctor", "--db", str(db))
    assert result.returncode == 5
    assert "schema version 42" in result.stderr and "upgrade vipterm" in result.stderr


def test_passwd_changes_the_passphrase(tmp_path):
    db = tmp_path / "laptop.db"
    assert vipterm("init", "--db", str(db)).returncode == 0
    new = tmp_path / "new.txt"
    new.write_text("the new passphrase")
    result = vipterm("passwd", "--db", str(db), "--new-passphrase-file", str(new))
    assert result.returncode == 0, result.stderr
    assert vipterm("doctor", "--db", str(db)).returncode == 3
    assert vipterm("doctor", "--db", str(db), passphrase="the new passphrase").returncode == 0


def test_clients_list_and_show_json(example_copy):
    listing = vipterm("clients", "list", "--all", "--json", "--db", str(example_copy), passphrase=DEMO_PASSPHRASE)
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)["clients"]
    assert rows and {"id", "pseudonym", "name", "urgency", "next_due"} <= set(rows[0])
    urgencies = [r["urgency"] for r in rows]
    order = {"overdue": 0, "due_today": 1, "upcoming": 2}
    assert urgencies == sorted(urgencies, key=order.get)
    shown = vipterm(
        "clients", "show", rows[0]["pseudonym"], "--json", "--db", str(example_copy), passphrase=DEMO_PASSPHRASE
    )
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["id"] == rows[0]["id"] and isinstance(data["timeline"], list)
    text_out = vipterm("clients", "show", rows[0]["id"], "--db", str(example_copy), passphrase=DEMO_PASSPHRASE)
    assert text_out.returncode == 0 and rows[0]["pseudonym"] in text_out.stdout


def test_clients_show_unknown_id(example_copy):
    result = vipterm("clients", "show", "VIP-000000", "--db", str(example_copy), passphrase=DEMO_PASSPHRASE)
    assert result.returncode == 9 and "no single client" in result.stderr


def test_demo_data_is_created_and_refuses_overwrite(tmp_path):
    db = tmp_path / "demo.db"
    result = vipterm("demo-data", "--db", str(db), "--workers", "2", "--clients", "20", "--until", "2024-06-30")
    assert result.returncode == 0, result.stderr
    assert "20 client" in result.stdout
    assert vipterm("demo-data", "--db", str(db)).returncode == 6


def test_bad_arguments_are_usage_errors(tmp_path):
    result = vipterm("demo-data", "--db", str(tmp_path / "x.db"), "--until", "2024-13-45")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert vipterm("no-such-command").returncode == 2


def test_db_from_environment(example_copy):
    result = vipterm("doctor", passphrase=DEMO_PASSPHRASE, env={"VIPTERM_DB": str(example_copy)})
    assert result.returncode == 0, result.stderr


def test_db_before_or_after_the_subcommand(example_copy):
    before = vipterm("--db", str(example_copy), "doctor", "--json", passphrase=DEMO_PASSPHRASE)
    after = vipterm("doctor", "--json", "--db", str(example_copy), passphrase=DEMO_PASSPHRASE)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert json.loads(before.stdout)["counts"] == json.loads(after.stdout)["counts"]
