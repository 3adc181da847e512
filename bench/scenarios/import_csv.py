"""import_csv: a program's history from spreadsheets — 50,000 clients, then 50,000 notification attempts.

Setup (untimed): the CSV files are generated here, deterministically (a fixed seed, dates before
the bench's end date): 50,000 clients with case ids, names, birth dates, area commands, sources
and risk flags; 50,000 notification attempts over 20,000 of them (delivered, refused, not found…,
with messages and team roles on the delivered ones). An empty database is created once and copied
for every round, opened with the key kept from its first unlock (Argon2id is not what is timed).

Subject: `vipterm.services.csv_import.import_csv(store, kind, file)` — read, validate, recognise
duplicates, write in batches with the change log, field clocks and provenance, commit. Baseline,
alternating with it (ABBA): the standard library's `csv` reader plus one raw `executemany` insert
of the same rows into a plain table, in a SQLCipher file opened the same way (same key, WAL,
synchronous=FULL) — what the rows cost without any rule, identity row, change log or clock.

Also measured: the database bytes per imported row (the file after the import, checkpointed, less
the empty one, over the rows), and a second import of the same clients file, which must report
every row as a duplicate and change nothing (the issue's "imports twice with the same counts").
"""

from __future__ import annotations

import csv
import random
import shutil
import time
from datetime import timedelta
from pathlib import Path

from bench.core import BENCH_UNTIL, PASSPHRASE, Context, Figure, interleaved, median

NAME = "import_csv"
DESCRIPTION = "import-csv of 50,000 clients (and 50,000 notifications) vs csv reader + raw executemany"
TARGET = "≤ 10 s and ≤ 25× csv + executemany"
NOTIFICATION_TARGET = "in seconds (no number set); ratio shown"

# Rows per profile (clients, notification attempts, clients they fall on) and rounds per side.
SIZES = {"tiny": (300, 300, 120, 1), "small": (10_000, 10_000, 4_000, 3), "large": (50_000, 50_000, 20_000, 3)}
SEED = 7
AREAS = ("Southeast", "South-East", "northeast", "North West", "Foothills", "SOUTHWEST", "Valley", "N/A")
SOURCES = ("shooting review", "crime data", "hospital", "community", "self", "other")
FLAGS = ("retaliation risk", "recent gunshot victim", "group involved", "on probation/parole", "unstable housing")
OUTCOMES = ("delivered", "delivered", "delivered", "refused", "not found", "in custody", "deferred")
MESSAGES = ("the community cares", "risk of harm", "legal consequences", "offer of help", "peer contact")
ROLES = ("peer support", "police", "community leader", "clergy", "service provider")
CLIENT_COLUMNS = (
    "client",
    "first_name",
    "last_name",
    "date_of_birth",
    "phone",
    "identified_on",
    "area_command",
    "referral_source",
    "risk_flags",
)
NOTIFICATION_COLUMNS = ("client", "attempted_on", "outcome", "setting", "messages", "team_roles")


def subject_missing() -> str | None:
    return None


def write_clients(path: Path, n: int) -> None:
    rnd = random.Random(SEED)
    first = ("Ana", "Luis", "Marcus", "Keisha", "Jordan", "Tomás", "Dante", "Rosa", "Andre", "Maya")
    last = ("Garcia", "Begay", "Johnson", "Martinez", "Yazzie", "Lopez", "Williams", "Chavez", "Smith", "Baca")
    start = BENCH_UNTIL - timedelta(days=5 * 365)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(CLIENT_COLUMNS)
        for i in range(n):
            identified = start + timedelta(days=rnd.randrange(5 * 365 - 30))
            born = identified - timedelta(days=rnd.randrange(14 * 365, 40 * 365))
            flags = ";".join(rnd.sample(FLAGS, rnd.randrange(3)))
            out.writerow(
                (
                    f"VIP-{i + 1:06d}",
                    rnd.choice(first),
                    f"{rnd.choice(last)}{i}",
                    born.strftime("%m/%d/%Y"),
                    f"505-555-{rnd.randrange(10_000):04d}",
                    identified.isoformat(),
                    rnd.choice(AREAS),
                    rnd.choice(SOURCES),
                    flags,
                )
            )


def write_notifications(path: Path, n: int, clients: int) -> None:
    rnd = random.Random(SEED + 1)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(NOTIFICATION_COLUMNS)
        for _ in range(n):
            outcome = rnd.choice(OUTCOMES)
            delivered = outcome == "delivered"
            day = BENCH_UNTIL - timedelta(days=rnd.randrange(30, 4 * 365))
            out.writerow(
                (
                    f"VIP-{rnd.randrange(clients) + 1:06d}",
                    day.isoformat(),
                    outcome,
                    rnd.choice(("home", "hospital", "community")),
                    ";".join(rnd.sample(MESSAGES, rnd.randrange(1, 4))) if delivered else "",
                    ";".join(rnd.sample(ROLES, rnd.randrange(1, 3))) if delivered else "",
                )
            )


def baseline_insert(csv_path: Path, db: Path, raw) -> float:
    """Seconds to read the file with `csv` and insert its rows with one executemany into a plain
    table of a SQLCipher file opened the way vipterm opens its own."""
    from vipterm.store import engine

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.touch(mode=0o600)
    start = time.perf_counter()
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    conn = engine.connect_raw(db, raw)
    try:
        conn.execute(f"CREATE TABLE plain ({', '.join(f'c{i} TEXT' for i in range(len(header)))})")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO plain VALUES ({', '.join('?' for _ in header)})", rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        if conn.execute("SELECT count(*) FROM plain").fetchone()[0] != len(rows):
            raise AssertionError("the baseline did not insert every row")
    finally:
        conn.close()
    return elapsed


FLOOR_TABLES = ("client", "client_identity", "change_log", "field_version", "sync_origin")


def read_written(db: Path, raw, empty: Path) -> dict[str, list[tuple]]:
    """The rows an import wrote (what the imported database holds beyond the empty one), per table."""
    from vipterm.store import engine

    conn = engine.connect_raw(db, raw)
    try:
        conn.execute("ATTACH DATABASE ? AS empty KEY " + raw.pragma_value(), (str(empty),))
        rows = {
            t: conn.execute(f"SELECT * FROM main.{t} EXCEPT SELECT * FROM empty.{t}").fetchall() for t in FLOOR_TABLES
        }
        conn.execute("DETACH DATABASE empty")
    finally:
        conn.close()
    return rows


def floor_insert(written: dict[str, list[tuple]], empty: Path, db: Path, raw) -> float:
    """Seconds to insert exactly the rows the import wrote, one raw executemany per table, into a
    copy of the empty vipterm database (its schema and indexes): SQLite's own share of the import."""
    from vipterm.store import engine

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(empty, db)
    conn = engine.connect_raw(db, raw)
    try:
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table in FLOOR_TABLES:
            rows = written[table]
            if rows:
                conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in rows[0])})", rows)
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def _file_bytes(path: Path) -> int:
    return sum(Path(str(path) + s).stat().st_size for s in ("", "-wal") if Path(str(path) + s).exists())


def run(ctx: Context) -> list[Figure]:
    from vipterm.services.csv_import import import_csv
    from vipterm.services.database import create_store, open_store_with_key

    n_clients, n_notifications, notified, rounds = SIZES[ctx.profile.name]
    work = ctx.work_dir / "import_csv"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    clients_csv, notifications_csv = work / "clients.csv", work / "notifications.csv"
    write_clients(clients_csv, n_clients)
    write_notifications(notifications_csv, n_notifications, notified)

    # An empty database, its key kept: every round copies it and opens the copy with that key.
    empty = work / "empty.db"
    store = create_store(empty, PASSPHRASE, worker_name="Coordinator")
    raw = store.database.raw
    store.close()
    empty_bytes = _file_bytes(empty)

    def fresh(name: str, template: Path) -> Path:
        path = work / name
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(template, path)
        return path

    last: dict = {}

    def import_into(template: Path, kind: str, csv_path: Path, name: str) -> float:
        path = fresh(name, template)
        store = open_store_with_key(path, raw)
        try:
            start = time.perf_counter()
            result = import_csv(store, kind, csv_path)
            elapsed = time.perf_counter() - start
        finally:
            store.close()
        if result.errors or result.written == 0:
            raise AssertionError(f"the {kind} import refused: {[str(e) for e in result.errors[:3]]}")
        last[kind] = (path, result)
        return elapsed

    def subject() -> float:
        return import_into(empty, "clients", clients_csv, "clients.db")

    floor_samples: list[float] = []
    written: dict[str, list[tuple]] = {}

    def baseline() -> float:
        # The floor runs beside the baseline, once a subject round has left its rows to copy.
        if "clients" in last:
            if not written:
                written.update(read_written(last["clients"][0], raw, empty))
            floor_samples.append(floor_insert(written, empty, work / "floor.db", raw))
        return baseline_insert(clients_csv, work / "plain.db", raw)

    subject_samples, baseline_samples = interleaved(subject, baseline, rounds)
    value, base = median(subject_samples), median(baseline_samples)
    ratio = value / base
    floor = median(floor_samples)
    clients_db, clients_result = last["clients"]
    per_row = (_file_bytes(clients_db) - empty_bytes) / clients_result.written
    rows_written = sum(len(rows) for rows in written.values())
    ctx.log(
        f"import_csv: clients {value:.2f} s vs baseline {base:.3f} s, floor {floor:.2f} s; {per_row:,.0f} bytes per row"
    )

    # The same file again: every row a duplicate, nothing written, the change log unchanged.
    store = open_store_with_key(clients_db, raw)
    try:
        with store.read() as session:
            from sqlalchemy import text

            before = session.execute(text("SELECT count(*) FROM change_log")).scalar_one()
            start = time.perf_counter()
            again = import_csv(store, "clients", clients_csv)
            reimport = time.perf_counter() - start
            after = session.execute(text("SELECT count(*) FROM change_log")).scalar_one()
    finally:
        store.close()
    if again.written or len(again.duplicates) != n_clients or after != before:
        raise AssertionError(f"the second import wrote {again.written} rows, {len(again.duplicates)} duplicates")

    # Notification attempts, into copies of the database that holds the clients.
    with_clients = work / "with-clients.db"
    shutil.copyfile(clients_db, with_clients)

    def notifications() -> float:
        return import_into(with_clients, "notifications", notifications_csv, "notifications.db")

    def notifications_baseline() -> float:
        return baseline_insert(notifications_csv, work / "plain.db", raw)

    n_samples, n_base_samples = interleaved(notifications, notifications_baseline, max(1, rounds - 2))
    n_value, n_base = median(n_samples), median(n_base_samples)
    n_db, n_result = last["notifications"]
    n_per_row = (_file_bytes(n_db) - _file_bytes(with_clients)) / n_result.written

    size = f"{n_clients:,} clients; {n_notifications:,} notification attempts over {notified:,} of them"
    baseline_label = "csv reader + one executemany into a plain table (SQLCipher, same key)"
    return [
        Figure(
            NAME,
            f"import of {n_clients:,} clients (median)",
            "s",
            value,
            base,
            baseline_label,
            ratio,
            TARGET,
            value <= 10 and ratio <= 25,
            samples=len(subject_samples),
            size=size,
            note=f"{n_clients / value:,.0f} rows/s; {clients_result.written:,} written",
        ),
        Figure(
            NAME,
            "SQLite's share: the import's rows by raw executemany (median)",
            "s",
            floor,
            base,
            baseline_label,
            floor / base,
            samples=len(floor_samples),
            size=size,
            note=f"{rows_written:,} rows (clients, identities, change log, field clocks, provenance) into a copy "
            f"of the empty database with its indexes; the import takes {value / floor:.1f}× this",
        ),
        Figure(
            NAME,
            "database bytes per imported client",
            "B",
            per_row,
            size=size,
            note="client + identity rows, one change-log entry per field, one field clock per record, provenance, "
            "and their indexes; file checkpointed, less the empty database",
        ),
        Figure(
            NAME,
            "second import of the same clients file",
            "s",
            reimport,
            size=size,
            holds=True,
            target="every row a duplicate, nothing written",
            note=f"{len(again.duplicates):,} duplicates reported; change log unchanged ({before:,} entries)",
        ),
        Figure(
            NAME,
            f"import of {n_notifications:,} notification attempts (median)",
            "s",
            n_value,
            n_base,
            baseline_label,
            n_value / n_base,
            NOTIFICATION_TARGET,
            samples=len(n_samples),
            size=size,
            note=f"{n_notifications / n_value:,.0f} rows/s through records.record_notification; "
            f"{n_per_row:,.0f} database bytes per attempt (attempt, follow-ups, client status, "
            "change log, clocks)",
        ),
    ]
