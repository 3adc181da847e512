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
