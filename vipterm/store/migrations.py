"""Schema versions and forward migrations.

The version is SQLite's `user_version`. Migrations are an ordered list; each runs in its own
transaction and bumps the version, so an interrupted upgrade resumes where it stopped. Each
migration's SQL is frozen in `schema/NNNN_name.sql` (never regenerated from the models, which
move on). A database whose version is above `SCHEMA_VERSION` was made by a newer vipterm and is
refused before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from vipterm.errors import NewerSchema
from vipterm.store import sync_tables  # noqa: F401  (registers the version-2 tables with the metadata)

# (version, name, apply): apply receives a connection inside the migration's transaction.
Migration = tuple[int, str, Callable[[Connection], None]]


def _sql_file(name: str) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        script = resources.files("vipterm.store").joinpath("schema", name).read_text("utf-8")
        for statement in script.split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)

    return apply


MIGRATIONS: list[Migration] = [
    (1, "initial schema", _sql_file("0001_initial.sql")),
    (2, "sync bookkeeping: keys, roster, cursors, ledger, inbox, conflicts, purges", _sql_file("0002_sync.sql")),
    # The contact form's default mode is the worker's latest one; without an index that query
    # sorts every contact of the worker (~0.2 s at 150k contacts) while the caseload opens.
    # The monthly report reads contacts by date.
    (
        3,
        "index contacts by worker and time (replacing by worker alone), and by date",
        _sql_file("0003_contact_indexes.sql"),
    ),
    # Field work: automatic follow-ups replace each other; referral events keep the order entered.
    (
        4,
        "field work: automatic follow-ups, how a follow-up closed, referral event order",
        _sql_file("0004_field_work.sql"),
    ),
    # Sync trust (enrollment binding, clock rebase, secrets at rest) needed no schema: the worker a
    # device serves is in the signed roster, the Argon2id parameters in the file's salt. The number
    # stays taken so versions remain one step apart.
    (5, "sync trust: no schema change", lambda conn: None),
    # Write scope: a change that is out of its device's scope or fails the value rules waits here
    # for the coordinator instead of being applied or dropped.
    (6, "sync quarantine: changes held for the coordinator's review", _sql_file("0006_quarantine.sql")),
    # The coordinator's program work: closing reasons, follow-up times, corrections of facts, …
    (
        7,
        "coordinator's program work: closing reasons, follow-up times, fact corrections, weekly review",
        _sql_file("0007_program_work.sql"),
    ),
    # Accountable records (issue 12): consents, safety plans, … (one shared file for the issue).
    (8, "accountable records: consents, safety plans", _sql_file("0008_accountable_records.sql")),
    # The caseload's last-contact column read from the index alone, within the unlock's budget.
    (9, "contacts indexed by client, time and tombstone", _sql_file("0009_contact_last.sql")),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())


def check_version(version: int, what: str = "this database") -> None:
    if version > SCHEMA_VERSION:
        raise NewerSchema(
            f"{what} uses schema version {version}, but this vipterm knows only up to "
            f"{SCHEMA_VERSION}: upgrade vipterm to open it"
        )


def migrate(engine: Engine) -> list[int]:
    """Bring the schema up to date; returns the versions applied."""
    with engine.connect() as conn:
        version = current_version(conn)
    check_version(version)
    applied = []
    for number, _name, apply in MIGRATIONS:
        if number <= version:
            continue
        with engine.execution_options(immediate=True).begin() as conn:
            # Re-read inside the lock: another process may have migrated meanwhile.
            if current_version(conn) >= number:
                continue
            apply(conn)
            conn.exec_driver_sql(f"PRAGMA user_version = {number}")
        applied.append(number)
    return applied
