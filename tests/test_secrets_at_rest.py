"""Secrets at rest: weak passphrases are refused with zxcvbn's reason, database files are 0600 in
a 0700 folder vipterm creates, and the Argon2id parameters travel with the file (in its salt), so
they can be raised later while older files keep opening with the original constants."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys

import pytest

from tests.conftest import DEMO_PASSPHRASE, PASSPHRASE
from vipterm.errors import ValidationError, WrongPassphrase
from vipterm.services import records
from vipterm.services.database import change_passphrase, create_store, open_store, passphrase_problem
from vipterm.store import engine as store_engine


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # the usual umask: files 0644 and folders 0755 unless vipterm says otherwise
    yield
    os.umask(old)


@pytest.mark.parametrize("weak", ["12345678", "password1", "qwertyuiop", "aaaaaaaaaaaa", "iloveyou2"])
def test_weak_passphrases_are_refused_with_a_reason(tmp_path, weak):
    with pytest.raises(ValidationError) as info:
        create_store(tmp_path / "x.db", weak)
    assert "too easy to guess" in str(info.value) and info.value.exit_code == 2
    assert not (tmp_path / "x.db").exists()


def test_the_test_passphrases_are_strong_enough():
    assert passphrase_problem(PASSPHRASE) is None and passphrase_problem(DEMO_PASSPHRASE) is None
    assert "common password" in passphrase_problem("12345678")


def test_changing_to_a_weak_passphrase_changes_nothing(db_path, store):
    store.close()
    before = db_path.read_bytes()
    with pytest.raises(ValidationError, match="too easy to guess"):
        change_passphrase(db_path, PASSPHRASE, "12345678")
    assert db_path.read_bytes() == before


def test_cli_init_refuses_a_weak_passphrase(tmp_path):
    env = {**os.environ, "VIPTERM_PASSPHRASE": "12345678"}
    env.pop("VIPTERM_DB", None)
    proc = subprocess.run(
        [sys.executable, "-m", "vipterm", "init", "--db", str(tmp_path / "v.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2 and "too easy to guess" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "v.db").exists()


def test_files_0600_in_a_0700_folder_vipterm_creates(tmp_path, open_umask):
    path = tmp_path / "data" / "vipterm" / "vip.db"
    s = create_store(path, PASSPHRASE, worker_name="W")
    try:
        records.create_client(s, records.ClientDraft(aka="Someone"))  # a write: the -wal file exists
        assert mode(path.parent) == 0o700
        for suffix in ("", "-wal", "-shm"):
            p = type(path)(str(path) + suffix)
            if p.exists():
                assert mode(p) == 0o600, (suffix, oct(mode(p)))
        assert type(path)(str(path) + "-wal").exists()
    finally:
        s.close()
    change_passphrase(path, PASSPHRASE, "another long passphrase here")
    assert mode(path) == 0o600  # the re-encrypted copy replaced it with the same mode


def test_existing_folder_is_left_as_it_was(tmp_path, open_umask):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    create_store(folder / "vip.db", PASSPHRASE).close()
    assert mode(folder) == 0o755 and mode(folder / "vip.db") == 0o600


def test_argon2_parameters_are_stored_with_the_file_and_readable_before_unlocking(db_path, store):
    store.close()
    salt = store_engine.read_salt(db_path)
    assert store_engine.params_of_salt(salt) == store_engine.KdfParams.current()


def test_raised_parameters_later_still_open_files_made_before(tmp_path, monkeypatch):
    old_file = tmp_path / "old.db"
    create_store(old_file, PASSPHRASE).close()
    # A later vipterm raises the costs: new files use them, the old file still says its own.
    monkeypatch.setattr(store_engine, "ARGON2_TIME_COST", 4)
    monkeypatch.setattr(store_engine, "ARGON2_MEMORY_KIB", 32 * 1024)
    new_file = tmp_path / "new.db"
    create_store(new_file, PASSPHRASE).close()
    assert store_engine.params_of_salt(store_engine.read_salt(new_file)) == store_engine.KdfParams(4, 32 * 1024, 1)
    open_store(old_file, PASSPHRASE).close()
    # And back with today's constants, the file made with the raised ones still opens.
    monkeypatch.undo()
    open_store(new_file, PASSPHRASE).close()
    # The stored parameters are what unlocks it: the same passphrase under other costs does not.
    salt = store_engine.read_salt(new_file)
    wrong = store_engine.RawKey(store_engine.derive_key(PASSPHRASE, salt, store_engine.KdfParams.current()), salt)
    with pytest.raises(WrongPassphrase):
        store_engine.verify_key(new_file, wrong)


def test_a_file_from_before_stored_parameters_opens_with_the_original_constants(tmp_path):
    path = tmp_path / "legacy.db"
    salt = secrets.token_bytes(16)
    while salt[:2] == b"\xa2\x1d":
        salt = secrets.token_bytes(16)
    legacy = store_engine.KdfParams(*store_engine.LEGACY_PARAMS)
    raw = store_engine.RawKey(store_engine.derive_key(PASSPHRASE, salt, legacy), salt)
    store_engine.connect_raw(path, raw).close()  # how files were made before: a fully random salt
    assert store_engine.params_of_salt(store_engine.read_salt(path)) == legacy
    store_engine.verify_key(path, store_engine.key_for_existing(path, PASSPHRASE))
