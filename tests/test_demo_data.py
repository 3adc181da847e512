"""The demo generator is deterministic for a seed and tells the program's story."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from vipterm.domain import AgeGroup, AreaCommand
from vipterm.services.database import open_store
from vipterm.services.demo_data import DemoSize, generate
from vipterm.store.models import SYNC_POLICY

PASS = "demo passphrase"


def _dump(path):
    with open_store(path, PASS) as store, store.read() as s:
        return {t: s.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in SYNC_POLICY}


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    size = DemoSize(workers=3, clients=40)
    generate(tmp_path / "a.db", PASS, seed=3, size=size, until=date(2024, 5, 1))
    generate(tmp_path / "b.db", PASS, seed=3, size=size, until=date(2024, 5, 1))
    generate(tmp_path / "c.db", PASS, seed=4, size=size, until=date(2024, 5, 1))
    a, b, c = _dump(tmp_path / "a.db"), _dump(tmp_path / "b.db"), _dump(tmp_path / "c.db")
    assert a == b
    assert a["client"] != c["client"]
    assert (tmp_path / "a.db").read_bytes() != (tmp_path / "b.db").read_bytes()  # fresh salt each time


def test_the_story_covers_every_area_age_group_and_outcome(demo_store):
    with demo_store.read() as s:
        q = lambda sql: {r[0] for r in s.execute(text(sql))}  # noqa: E731
        assert q("SELECT area_command FROM client") == {a.value for a in AreaCommand}
        assert q("SELECT age_group FROM client") >= {g.value for g in AgeGroup} - {"unknown"}
        assert {"delivered", "refused", "not_found"} <= q("SELECT outcome FROM notification_attempt")
        assert {"completed", "sent"} <= q("SELECT status FROM referral")
        assert {"shooting_review", "hospital", "community"} <= q("SELECT referral_source FROM client")
        first = s.execute(text("SELECT min(attempted_on) FROM notification_attempt")).scalar_one()
        assert first >= "2020-04-01"
        assert s.execute(text("SELECT max(occurred_at) FROM contact")).scalar_one() <= "2026-11-24"
        # A synced baseline: the only changes logged are the device's own worker record.
        assert q("SELECT tbl FROM change_log") == {"worker"}


def test_capture_mode_records_every_field_as_a_pending_change(tmp_path):
    generate(
        tmp_path / "cap.db", PASS, seed=5, size=DemoSize(workers=2, clients=10), until=date(2023, 1, 1), capture=True
    )
    with open_store(tmp_path / "cap.db", PASS) as store, store.read() as s:
        changes = s.execute(text("SELECT count(*), max(seq) FROM change_log")).one()
        clients = s.execute(text("SELECT count(*) FROM client")).scalar_one()
    assert changes[0] == changes[1] > clients * 5


def test_the_committed_example_is_small_current_and_synthetic():
    """vip.db.example stays under 10 MB and at the current schema, so opening it never migrates it."""
    from tests.conftest import DEMO_PASSPHRASE, EXAMPLE_DB
    from vipterm.store import engine as store_engine
    from vipterm.store.migrations import SCHEMA_VERSION

    assert EXAMPLE_DB.stat().st_size < 10 * 1024 * 1024
    raw = store_engine.key_for_existing(EXAMPLE_DB, DEMO_PASSPHRASE)
    conn = store_engine.connect_raw(EXAMPLE_DB, raw)  # read-only look: no migration, no write
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM client").fetchone()[0] == 900
        assert (
            conn.execute(
                "SELECT count(DISTINCT phone) FROM client_identity WHERE phone NOT LIKE '505-555-01__' AND phone != ''"
            ).fetchone()[0]
            == 0
        )
    finally:
        conn.close()
