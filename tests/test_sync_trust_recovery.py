"""Sync trust, part A: a laptop whose clock ran ahead recovers; "already imported" is decided only
after verification; a shared stick's folder import takes only what is addressed here; messages say
what really happened; a revoked device's bundles come in only by the coordinator's decision.

Real encrypted databases, real keys and bundles, written as an attacker (or an unlucky user) would.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import time

import pytest
from sqlalchemy import text

from tests.sync_support import PASSPHRASE, dump_store, enrolled_program, file_state
from vipterm.services import records
from vipterm.services import sync as sync_service
from vipterm.sync import bundle as bundle_format
from vipterm.sync import clock as hlc_clock

quarantine = pytest.importorskip("vipterm.services.quarantine")

DAY_MS = 86_400_000


@pytest.fixture
def program(tmp_path):
    coord, (one, two) = enrolled_program(tmp_path, "coord.db", ("w1.db", "Worker One"), ("w2.db", "Worker Two"))
    out = tmp_path / "out"
    out.mkdir()
    yield coord, one, two, out
    for s in (coord, one, two):
        s.close()


def client_ids(store) -> set[str]:
    with store.read() as s:
        return set(s.execute(text("SELECT id FROM client")).scalars())


def members(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]


def flip_payload_byte(data: bytes) -> bytes:
    """One bit flipped in the middle of payload.age (not in unsigned tar padding)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        info = tf.getmember("payload.age")
    out = bytearray(data)
    out[info.offset_data + info.size // 2] ^= 0x01
    return bytes(out)


def with_header(data: bytes, edit) -> bytes:
    """The same bundle with its header.json bytes edited (signature and payload untouched)."""
    return bundle_format.pack_members([(n, edit(b) if n == "header.json" else b) for n, b in members(data)])


def assert_unchanged_after(store, fn):
    before = (file_state(store), dump_store(store))
    result = fn()
    assert (file_state(store), dump_store(store)) == before
    return result


# --- 3. verify before "already imported" -----------------------------------------------------------


def test_tampered_copy_of_an_imported_bundle_is_refused_and_never_archived(program, tmp_path):
    coord, one, _two, out = program
    records.create_client(one, records.ClientDraft(aka="Original"))
    [res] = sync_service.export(one, out)
    assert sync_service.import_bundles(coord, [res.path])[0].status == "applied"
    original = res.path.read_bytes()
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / res.path.name).write_bytes(flip_payload_byte(original))
    # Same bundle id, a header edited to claim other counts: the signature binds the header.
    (stick / "renamed copy.vipb").write_bytes(
        with_header(original, lambda h: h.replace(b'"change_count": ', b'"change_count": 1'))
    )
    archive = tmp_path / "archive"
    results = assert_unchanged_after(coord, lambda: sync_service.import_bundles(coord, [stick], archive_dir=archive))
    assert len(results) == 2
    for r in results:
        assert r.status == "refused" and r.code == "tampered", (r.source, r.message)
        assert "tampered" in r.message and res.bundle_id in r.message and "imported already" in r.message
    assert sorted(p.name for p in stick.iterdir()) == sorted([res.path.name, "renamed copy.vipb"])
    assert not archive.exists() or not list(archive.iterdir())
    # A genuine copy is still "already imported", and is archived.
    (stick / res.path.name).write_bytes(original)
    [ok] = sync_service.import_bundles(coord, [stick / res.path.name], archive_dir=archive)
    assert ok.status == "already imported" and (archive / res.path.name).exists()


def test_copy_of_a_bundle_imported_before_a_revocation_is_still_already_imported(program):
    coord, one, _two, out = program
    [res] = sync_service.export(one, out)
    assert sync_service.import_bundles(coord, [res.path])[0].status == "applied"
    sync_service.revoke(coord, one.device_id)
    [again] = sync_service.import_bundles(coord, [res.path])
    assert again.status == "already imported" and not again.refused


def test_cli_tampered_copy_exits_7(program, tmp_path):
    coord, one, _two, out = program
    [res] = sync_service.export(one, out)
    sync_service.import_bundles(coord, [res.path])
    res.path.write_bytes(flip_payload_byte(res.path.read_bytes()))
    coord.close()
    proc = vip("sync", "import", "--db", tmp_path / "coord.db", res.path, "--archive", tmp_path / "archive")
    assert proc.returncode == 7 and "tampered" in proc.stdout, (proc.stdout, proc.stderr)
    assert res.path.exists() and not (tmp_path / "archive" / res.path.name).exists()


# --- 5. messages say what really happened ----------------------------------------------------------


def test_altered_format_version_says_altered_not_newer(program):
    coord, one, _two, out = program
    [res] = sync_service.export(one, out)
    res.path.write_bytes(
        with_header(res.path.read_bytes(), lambda h: h.replace(b'"format_version": 1', b'"format_version": 9'))
    )
    [r] = assert_unchanged_after(coord, lambda: sync_service.import_bundles(coord, [res.path]))
    assert r.refused and r.code == "bad-signature", r.message
    assert "altered" in r.message and "newer" not in r.message and "update vipterm" not in r.message


def test_flipped_program_id_byte_says_damaged_not_another_program(program):
    coord, one, _two, out = program
    [res] = sync_service.export(one, out)
    program_id = coord.identity.program_id.encode()
    flipped = program_id[:-1] + (b"0" if program_id[-1:] != b"0" else b"1")
    res.path.write_bytes(with_header(res.path.read_bytes(), lambda h: h.replace(program_id, flipped)))
    [r] = assert_unchanged_after(coord, lambda: sync_service.import_bundles(coord, [res.path]))
    assert r.refused and r.code == "bad-signature", r.message
    assert r.message == "signature does not verify: the bundle header was damaged or altered"


def test_gap_message_shows_sequence_numbers_never_a_clock(program):
    coord, one, _two, out = program
    records.create_client(one, records.ClientDraft(aka="First"))
    [first] = sync_service.export(one, out)
    records.create_client(one, records.ClientDraft(aka="Second"))
    [second] = sync_service.export(one, out, only_new=True)
    [waiting] = sync_service.import_bundles(coord, [second.path])
    assert waiting.status == "waiting (gap)"
    assert f"seq {first.seq_first}..{first.seq_last}" in waiting.message, waiting.message
    assert all(int(n) < 10_000 for n in re.findall(r"\d+", waiting.message)), waiting.message


# --- 4. folder imports take only what is addressed here --------------------------------------------


def test_daily_routine_on_one_shared_stick_runs_clean(program, tmp_path):
    coord, one, two, _out = program
    stick = tmp_path / "stick"
    stick.mkdir()
    os.mkfifo(stick / "x.vipb")  # a FIFO named like a bundle must not hang the import
    signal.alarm(60)  # a hang fails the test instead of blocking the run
    try:
        for day in range(2):
            records.create_client(one, records.ClientDraft(aka=f"One {day}"))
            records.create_client(two, records.ClientDraft(aka=f"Two {day}"))
            sync_service.export(one, stick)
            sync_service.export(two, stick)
            at_coord = sync_service.import_bundles(coord, [stick])
            assert not any(r.refused for r in at_coord), [(r.source, r.message) for r in at_coord]
            assert sum(r.status == "applied" for r in at_coord) == 2
            sync_service.export(coord, stick)
            for laptop, _other in ((one, two), (two, one)):
                results = sync_service.import_bundles(laptop, [stick])
                assert not any(r.refused for r in results), [(r.source, r.message) for r in results]
                by_status = {}
                for r in results:
                    by_status.setdefault(r.status, []).append(r.code)
                assert by_status.get("applied") == [None] * (day + 1) or "applied" in by_status
                skipped = sorted(by_status["skipped"])
                assert "skipped-own" in skipped and "skipped-other" in skipped and "skipped-not-file" in skipped
                line = sync_service.skipped_line(results)
                assert line.startswith(f"skipped {len(skipped)} file(s) not for this device")
        assert len(client_ids(coord)) == 4
        assert client_ids(one) >= {c for c in client_ids(coord) if c in client_ids(one)}
    finally:
        signal.alarm(0)
    # Named explicitly, the FIFO is refused (without being opened), not skipped.
    [fifo] = sync_service.import_bundles(one, [stick / "x.vipb"])
    assert fifo.refused and "not a regular file" in fifo.message


def test_daily_routine_cli_exits_0_with_one_count_line(program, tmp_path):
    coord, one, two, _out = program
    stick = tmp_path / "stick"
    stick.mkdir()
    records.create_client(one, records.ClientDraft(aka="One"))
    sync_service.export(one, stick)
    sync_service.export(two, stick)
    sync_service.import_bundles(coord, [stick])
    sync_service.export(coord, stick)
    for s in (coord, one, two):
        s.close()
    for db in ("w1.db", "w2.db", "coord.db"):
        proc = vip("sync", "import", "--db", tmp_path / db, stick)
        assert proc.returncode == 0, (db, proc.stdout, proc.stderr)
        skipped_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("skipped ")]
        assert len(skipped_lines) == 1, proc.stdout
        assert "refused" not in proc.stdout


# --- 2. a clock that ran ahead is recoverable --------------------------------------------------------


def run_ahead(monkeypatch, days: int):
    """The laptop's date is wrong by `days` (what its HLC reads as the wall clock)."""
    real = hlc_clock.wall_ms
    monkeypatch.setattr(hlc_clock, "wall_ms", lambda: real() + days * DAY_MS)


def test_laptop_whose_date_was_wrong_rebases_and_is_accepted_end_to_end(program, monkeypatch, tmp_path):
    coord, one, _two, out = program
    with one.database.engine.begin() as conn:  # changes made while the date read three days ahead
        conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ?", ((hlc_clock.wall_ms() + 3 * DAY_MS) << 16,))
    early = records.create_client(one, records.ClientDraft(aka="Made on the wrong date"))
    run_ahead(monkeypatch, 3)
    [ahead] = sync_service.export(one, out)
    monkeypatch.undo()  # the date is fixed
    [held] = sync_service.import_bundles(coord, [ahead.path])
    assert held.status == "quarantined" and held.code == "clock-ahead"
    assert early.id not in client_ids(coord)
    # The trap: re-exports and new work stay ahead until the laptop's clock is brought back.
    later = records.create_client(one, records.ClientDraft(aka="Made after the fix"))
    with pytest.raises(sync_service.ClockAhead, match="sync rebase"):
        sync_service.export(one, out)
    result = sync_service.rebase(one)
    assert result.changes > 0 and result.days_ahead > 2
    assert sync_service.clock_ahead_days(one) == 0
    with one.read() as s:
        newest = s.execute(text("SELECT max(hlc) FROM change_log")).scalar_one()
        assert not hlc_clock.is_far_ahead(newest, hlc_clock.wall_ms(), tolerance_ms=60_000)
        assert s.execute(text("SELECT max(hlc) FROM field_version")).scalar_one() <= newest
    [again] = sync_service.export(one, out)
    [applied] = sync_service.import_bundles(coord, [again.path])
    assert applied.status == "applied", applied.message
    assert {early.id, later.id} <= client_ids(coord)
    # New work after the rebase goes through as usual, and the coordinator's clock never left today.
    newer = records.create_client(one, records.ClientDraft(aka="Next day"))
    [more] = sync_service.export(one, out, only_new=True)
    assert sync_service.import_bundles(coord, [more.path])[0].status == "applied"
    assert newer.id in client_ids(coord)
    with coord.read() as s:
        assert not hlc_clock.is_far_ahead(
            s.execute(text("SELECT last_hlc FROM sync_state")).scalar_one(), hlc_clock.wall_ms(), tolerance_ms=60_000
        )
    # The held copy, accepted later, adds nothing twice.
    [entry] = [q for q in quarantine.list_quarantine(coord) if q.code == "clock-ahead"]
    quarantine.accept(coord, entry.id)
    with coord.read() as s:
        assert s.execute(text("SELECT count(*) FROM client WHERE id = :c"), {"c": early.id}).scalar_one() == 1


def test_coordinator_accepts_a_held_clock_ahead_bundle_dated_now(program, monkeypatch):
    coord, one, _two, out = program
    with one.database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ?", ((hlc_clock.wall_ms() + 5 * DAY_MS) << 16,))
    made = records.create_client(one, records.ClientDraft(aka="Ahead"))
    run_ahead(monkeypatch, 5)
    [ahead] = sync_service.export(one, out)
    monkeypatch.undo()
    [held] = sync_service.import_bundles(coord, [ahead.path])
    assert held.code == "clock-ahead" and "sync quarantine show" in held.message
    [entry] = [q for q in quarantine.list_quarantine(coord) if q.code == "clock-ahead"]
    assert "ahead" in entry.reason
    message = quarantine.accept(coord, entry.id)
    assert message.startswith("applied"), message
    assert made.id in client_ids(coord)
    now = hlc_clock.wall_ms()
    with coord.read() as s:  # nothing at the coordinator is dated in the future
        for sql in ("SELECT last_hlc FROM sync_state", "SELECT max(hlc) FROM field_version"):
            assert not hlc_clock.is_far_ahead(s.execute(text(sql)).scalar_one(), now, tolerance_ms=60_000), sql


def test_cli_export_refuses_until_rebase(program, tmp_path):
    coord, one, _two, out = program
    with one.database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ?", ((hlc_clock.wall_ms() + 2 * DAY_MS) << 16,))
    records.create_client(one, records.ClientDraft(aka="Ahead"))
    one.close()
    db = tmp_path / "w1.db"
    refused = vip("sync", "export", "--db", db, "--to", out)
    assert refused.returncode == 2 and "sync rebase" in refused.stderr and not list(out.iterdir())
    assert vip("sync", "rebase", "--db", db).returncode == 2  # a script must say --yes
    done = vip("sync", "rebase", "--db", db, "--yes")
    assert done.returncode == 0 and "rebased" in done.stdout, done.stderr
    assert vip("sync", "export", "--db", db, "--to", out).returncode == 0
    [path] = list(out.iterdir())
    assert sync_service.import_bundles(coord, [path])[0].status == "applied"


# --- 8. a revoked device's bundles only by the coordinator's decision --------------------------------


def test_revoked_devices_earlier_bundle_only_by_explicit_decision(program):
    coord, one, _two, out = program
    made = records.create_client(one, records.ClientDraft(aka="Before the loss"))
    [res] = sync_service.export(one, out)  # made before the revocation, not yet imported
    sync_service.revoke(coord, one.device_id)
    [refused] = assert_unchanged_after(coord, lambda: sync_service.import_bundles(coord, [res.path]))
    assert refused.refused and refused.code == "revoked" and "--accept-revoked" in refused.message
    [held] = sync_service.import_bundles(coord, [res.path], accept_revoked=True)
    assert held.status == "quarantined" and held.code == "revoked"
    assert made.id not in client_ids(coord)  # held, not trusted
    [entry] = [q for q in quarantine.list_quarantine(coord) if q.code == "revoked"]
    assert one.device_id in entry.reason and "revoked" in entry.reason
    quarantine.accept(coord, entry.id)
    assert made.id in client_ids(coord)


def test_accept_revoked_holds_only_what_verifies(program):
    coord, one, _two, out = program
    [res] = sync_service.export(one, out)
    sync_service.revoke(coord, one.device_id)
    res.path.write_bytes(flip_payload_byte(res.path.read_bytes()))
    [r] = assert_unchanged_after(coord, lambda: sync_service.import_bundles(coord, [res.path], accept_revoked=True))
    assert r.refused and r.code == "bad-signature"
    assert not [q for q in quarantine.list_quarantine(coord) if q.kind == "bundle"]


def vip(*args):
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE}
    env.pop("VIPTERM_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "vipterm", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


# --- the sync screen on a shared stick -------------------------------------------------------------


async def test_sync_screen_import_from_a_shared_stick_counts_what_it_skipped(program, tmp_path):
    from textual.widgets import Static

    from tests.tui_support import make_app, wait_for
    from vipterm.tui.sync_screen import SyncScreen

    coord, one, two, _out = program
    stick = tmp_path / "stick"
    stick.mkdir()
    records.create_client(one, records.ClientDraft(aka="Mine"))
    sync_service.export(one, stick)
    sync_service.export(two, stick)
    sync_service.import_bundles(coord, [stick])
    sync_service.export(coord, stick)
    os.mkfifo(stick / "pipe.vipb")
    screen = SyncScreen(folder=stick)
    app = make_app(one.path, one)
    app.call_later(app.push_screen, screen)
    result = lambda: str(screen.query_one("#sync-result", Static).render())  # noqa: E731
    signal.alarm(60)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.screen is screen)
            await pilot.press("i", "y")
            deadline = time.monotonic() + 20
            while "applied" not in result():
                assert time.monotonic() < deadline, result()
                await pilot.pause(0.05)
            text_shown = result()
            assert "skipped 4 file(s) not for this device" in text_shown, text_shown
            assert "refused" not in text_shown
            assert not screen.query_one("#sync-result").has_class("-error")
    finally:
        signal.alarm(0)
