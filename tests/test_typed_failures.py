"""Failures a user meets at the boundary arrive as vipterm's own errors, whatever the driver said:
another program holding the write lock, a damaged file, a bundle from a newer vipterm (one
`NewerSchema`, as for a database: tests/test_cli.py), a disk that refuses a file. The CLI says one line with its documented exit code; nothing is changed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PASSPHRASE
from vipterm.errors import (
    DatabaseBusy,
    DatabaseDamaged,
    ExitCode,
    FileProblem,
    NewerSchema,
)
from vipterm.services import records
from vipterm.store import engine as store_engine


def _vipterm(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE}
    return subprocess.run(
        [sys.executable, "-m", "vipterm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_a_second_program_holding_the_write_lock_is_a_busy_database_not_a_traceback(store, db_path):
    client = records.create_client(store, records.ClientDraft(first_name="Kept", area_command="valley"))
    store.close()
    # Another vipterm (here: another connection, as a sync in the app would be) holds the write lock.
    holder = store_engine.connect_raw(db_path, store.database.raw)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = _vipterm(
            "clients",
            "close",
            client.id,
            "--reason",
            "moved_away",
            "--db",
            str(db_path),
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == int(DatabaseBusy.exit_code), result.stderr
    assert result.stderr.startswith("vipterm: the database is busy"), result.stderr
    assert "Traceback" not in result.stderr and "OperationalError" not in result.stderr
    # Nothing was changed, and once the lock is gone the same command works.
    again = _vipterm("clients", "close", client.id, "--reason", "moved_away", "--db", str(db_path))
    assert again.returncode == 0, again.stderr


def test_a_held_lock_reaches_a_service_as_database_busy(store, db_path):
    holder = store_engine.connect_raw(db_path, store.database.raw)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseBusy):
            records.create_client(store, records.ClientDraft(first_name="Waits", area_command="valley"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert records.create_client(store, records.ClientDraft(first_name="Later", area_command="valley")).id


def test_a_page_damaged_after_opening_is_database_damaged(store, db_path):
    for n in range(40):  # enough rows for pages beyond the first
        records.create_client(store, records.ClientDraft(first_name=f"Row{n}", area_command="valley"))
    store.database.vacuum()
    store.close()
    data = bytearray(db_path.read_bytes())
    for page in range(2, len(data) // 4096):  # every page but the first fails SQLCipher's HMAC
        data[page * 4096 + 200 : page * 4096 + 260] = os.urandom(60)
    db_path.write_bytes(bytes(data))
    result = _vipterm("clients", "list", "--all", "--db", str(db_path))
    assert result.returncode == int(DatabaseDamaged.exit_code) == int(ExitCode.CHECK_FAILED), result.stderr
    assert "damaged" in result.stderr and "vipterm help recovery" in result.stderr
    assert "Traceback" not in result.stderr and "DatabaseError" not in result.stderr


def test_a_bundle_from_a_newer_schema_is_the_same_newer_schema_error():
    from vipterm.sync import errors as sync_errors
    from vipterm.sync.bundle import check_schema_version

    with pytest.raises(NewerSchema) as info:
        check_schema_version({"schema_version": 10**6}, 8)
    assert isinstance(info.value, sync_errors.BundleError) and info.value.code == "newer-schema"
    assert "newer vipterm" in info.value.message
    assert info.value.exit_code is ExitCode.NEWER_SCHEMA  # README: a database *or bundle* from a newer vipterm


def test_a_file_that_cannot_be_written_is_a_file_problem_naming_the_path_and_reason(
    tmp_path,
):
    from vipterm.store.files import write_atomically

    stick = tmp_path / "stick"
    stick.mkdir()
    target = stick / "reports" / "report.html"
    stick.rename(tmp_path / "pulled")  # the stick is pulled before the report is written
    with pytest.raises(FileProblem) as info:
        write_atomically(target, "<html></html>")
    assert info.value.message == f"cannot write {target}: the folder is not there (a removed stick?)"
    assert info.value.exit_code is ExitCode.ERROR


def test_an_atomic_write_replaces_the_file_whole_and_private(tmp_path):
    from vipterm.store.files import write_atomically

    target = tmp_path / "report.csv"
    target.write_text("old")
    write_atomically(target, "new,\r\nrow\r\n")
    assert target.read_bytes() == b"new,\r\nrow\r\n"  # written as given: a CSV keeps its CRLF
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]  # no temporary file left
    if os.name != "nt":
        assert target.stat().st_mode & 0o777 == 0o600
