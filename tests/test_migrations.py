"""The frozen migration SQL builds exactly the schema the models describe."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel import SQLModel

import vipterm.store.models  # noqa: F401  (registers the tables)
from vipterm.store.migrations import MIGRATIONS, SCHEMA_VERSION


def test_migrations_match_the_models(store):
    inspector = inspect(store.database.engine)
    live = {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}
    declared = {t.name: {c.name for c in t.columns} for t in SQLModel.metadata.sorted_tables}
    assert live == declared


def test_versions_are_ordered_and_recorded(store):
    numbers = [m[0] for m in MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1))
    with store.database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA user_version").scalar_one() == SCHEMA_VERSION


def test_migrations_create_the_models_indexes(store):
    inspector = inspect(store.database.engine)
    live = {ix["name"] for t in inspector.get_table_names() for ix in inspector.get_indexes(t)}
    declared = {ix.name for t in SQLModel.metadata.sorted_tables for ix in t.indexes}
    assert declared <= live


def test_an_old_database_is_migrated_forward_on_open(tmp_path):
    """A version-1 file (as the first release wrote it) opens and gains the later tables."""
    from tests.conftest import PASSPHRASE
    from vipterm.services.database import open_store
    from vipterm.store import engine as store_engine
    from vipterm.store.migrations import MIGRATIONS

    path = tmp_path / "v1.db"
    raw = store_engine.create_file(path, PASSPHRASE)
    database = store_engine.Database(path, raw)
    with database.engine.execution_options(immediate=True).begin() as conn:
        MIGRATIONS[0][2](conn)
        conn.exec_driver_sql("PRAGMA user_version = 1")
        for key, value in (("device_id", "dev-1"), ("role", "worker"), ("worker_id", "w-1"), ("program_id", "p-1")):
            conn.exec_driver_sql("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        conn.exec_driver_sql("INSERT INTO sync_state (id, device_id, last_hlc, next_seq) VALUES (1, 'dev-1', 0, 1)")
    database.dispose()
    with open_store(path, PASSPHRASE) as store:
        with store.database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA user_version").scalar_one() == SCHEMA_VERSION
        names = {ix["name"] for ix in inspect(store.database.engine).get_indexes("contact")}
        assert "ix_contact_worker_created" in names
