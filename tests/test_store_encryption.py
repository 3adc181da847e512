"""The database is encrypted at rest, refuses wrong keys quietly, and re-keys atomically."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import PASSPHRASE
from vipterm.errors import DatabaseMissing, NewerSchema, NotADatabase, ValidationError, WrongPassphrase
from vipterm.services import records
from vipterm.services.database import change_passphrase, create_store, open_store
from vipterm.store import engine as store_engine

DISTINCTIVE = "Quillfeather"


def _files_beside(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.is_file()]


def _digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _files_beside(path)}


def test_no_plaintext_in_database_wal_or_any_file_beside_it(db_path, store):
    client = records.create_client(
        store, records.ClientDraft(first_name=DISTINCTIVE, last_name="Zanzibar", phone="505-555-0199")
    )
    records.log_contact(
        store, records.ContactDraft(client.id, note=f"met {DISTINCTIVE} at the clinic", outcome="reached")
    )
    # Look while the WAL is live (store still open), then again after close and checkpoint.
    for moment in ("open", "closed"):
        files = _files_beside(db_path)
        assert any(p.name.endswith("-wal") for p in files) or moment == "closed"
        for path in files:
            data = path.read_bytes()
            assert DISTINCTIVE.encode() not in data, f"plaintext in {path.name} ({moment})"
            assert DISTINCTIVE.encode("utf-16-le") not in data
            assert b"505-555-0199" not in data
        store.close()


def test_stdlib_sqlite3_cannot_read_the_file(db_path, store):
    store.close()
    conn = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    conn.close()


def test_stdlib_sqlite3_cannot_read_the_example_database(example_copy):
    conn = sqlite3.connect(example_copy)
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT * FROM client").fetchall()
    conn.close()


def test_wrong_passphrase_is_refused_quietly_and_changes_nothing(db_path, store, capfd):
    store.close()
    before = _digest(db_path)
    capfd.readouterr()
    with pytest.raises(WrongPassphrase) as info:
        open_store(db_path, "not the passphrase")
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # SQLCipher's own logging is silenced
    assert "passphrase" in str(info.value)
    assert _digest(db_path) == before
    reopened = open_store(db_path, PASSPHRASE)
    reopened.close()


def test_salt_is_per_database_and_readable_before_unlocking(tmp_path):
    a = create_store(tmp_path / "a.db", PASSPHRASE)
    b = create_store(tmp_path / "b.db", PASSPHRASE)
    a.close(), b.close()
    salt_a, salt_b = store_engine.read_salt(tmp_path / "a.db"), store_engine.read_salt(tmp_path / "b.db")
    assert len(salt_a) == 16 and salt_a != salt_b
    assert (
        store_engine.key_for_existing(tmp_path / "a.db", PASSPHRASE).key
        != store_engine.key_for_existing(tmp_path / "b.db", PASSPHRASE).key
    )


def test_change_passphrase_rekeys_the_file(db_path, store):
    client = records.create_client(store, records.ClientDraft(aka="Rekeyed"))
    store.close()
    old_salt = store_engine.read_salt(db_path)
    change_passphrase(db_path, PASSPHRASE, "a brand new passphrase")
    assert store_engine.read_salt(db_path) != old_salt
    with pytest.raises(WrongPassphrase):
        open_store(db_path, PASSPHRASE)
    with open_store(db_path, "a brand new passphrase") as s:
        with s.read() as session:
            assert (
                session.execute(
                    text("SELECT aka FROM client_identity WHERE client_id = :c"), {"c": client.id}
                ).scalar_one()
                == "Rekeyed"
            )
    assert not (db_path.parent / (db_path.name + ".rekey-tmp")).exists()


def test_change_passphrase_with_wrong_old_passphrase_changes_nothing(db_path, store):
    store.close()
    before = _digest(db_path)
    with pytest.raises(WrongPassphrase):
        change_passphrase(db_path, "wrong wrong", "another passphrase")
    assert _digest(db_path) == before


def test_short_new_passphrase_is_refused(tmp_path):
    with pytest.raises(ValidationError):
        create_store(tmp_path / "x.db", "short")
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("content", [b"", b"hello, not a database\n" * 100, b"SQLite format 3\x00" + bytes(4080)])
def test_not_a_database(tmp_path, content):
    path = tmp_path / "thing.db"
    path.write_bytes(content)
    with pytest.raises((NotADatabase, WrongPassphrase)):
        open_store(path, PASSPHRASE)
    assert path.read_bytes() == content


def test_missing_database(tmp_path):
    with pytest.raises(DatabaseMissing):
        open_store(tmp_path / "nope.db", PASSPHRASE)
    assert not (tmp_path / "nope.db").exists()


def test_database_from_a_newer_schema_is_refused_and_untouched(db_path, store):
    with store.database.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA user_version = 99")
    store.close()
    before = _digest(db_path)
    with pytest.raises(NewerSchema) as info:
        open_store(db_path, PASSPHRASE)
    assert "99" in str(info.value) and "upgrade" in str(info.value)
    assert _digest(db_path) == before


def test_connections_use_wal_full_sync_and_foreign_keys(store):
    with store.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar_one() >= 1000
