"""The audit log (services/audit.py): entries are appended for this device and its worker, read
back newest first with filters; a laptop reads only its own device's entries."""

from __future__ import annotations

from datetime import date

from vipterm import domain
from vipterm.services import audit, records


def test_record_audit_appends_an_entry_for_this_device_and_worker(store):
    records.record_audit(store, domain.AuditAction.EXPORT, None, "report csv")
    audit.record_audit(store, "backup", detail="backup to a folder")
    rows = audit.list_entries(store)
    assert [r.action for r in rows] == ["backup", "export"]
    assert {r.device for r in rows} == {"this device"}
    assert {r.worker for r in rows} == {"Test Worker"}
    assert rows[1].detail == "report csv"
    assert audit.list_entries(store, since=date(2026, 11, 24)) == []
    assert len(audit.list_entries(store, since=date(2026, 11, 23))) == 2


def test_record_audit_in_the_callers_transaction_rolls_back_with_it(store):
    try:
        with store.write() as session:
            audit.record_audit(store, domain.AuditAction.PURGE, detail="purge", session=session)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert audit.list_entries(store) == []


# --- written as the attacker would: a laptop may not forge or remove another device's entries ------

import json  # noqa: E402

import pytest  # noqa: E402

from tests.sync_support import PASSPHRASE  # noqa: E402
from tests.test_sync_malicious_worker import STAMP, World, forge, held, new_row  # noqa: E402
from vipterm import cli  # noqa: E402
from vipterm.services import assignment, quarantine  # noqa: E402
from vipterm.services import sync as sync_service  # noqa: E402


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)
    w = World(tmp_path)
    yield w
    w.close()


def vip(capsys, store, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["--db", str(store.path), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _audit_row(store, entry_id):
    with store.database.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT worker_id, device_id, action, detail, deleted_at FROM audit_entry WHERE id = ?", (entry_id,)
        ).first()


def test_a_laptop_cannot_forge_alter_or_remove_another_devices_audit_entries(world, capsys):
    coord, a, b, cb = world.coord, world.a, world.b, world.cb
    records.record_audit(b, domain.AuditAction.EXPORT, cb.id, "clients show --json")
    world.round()
    [b_entry] = [r for r in audit.list_entries(coord, worker_id=b.worker_id) if r.detail == "clients show --json"]
    before = _audit_row(coord, b_entry.id)

    # 1. A tombstones B's entry, and rewrites its detail and its worker (as a modified vipterm would).
    forge(
        a,
        [
            ("audit_entry", b_entry.id, "deleted_at", STAMP),
            ("audit_entry", b_entry.id, "detail", "nothing"),
            ("audit_entry", b_entry.id, "worker_id", a.worker_id),
        ],
        rows=False,
    )
    # 2. A writes an entry in its own worker's name but B's device, and one in B's name on its device.
    forge(
        a,
        new_row(
            "audit_entry",
            "01930000-0000-7000-8000-0000000a0d01",
            at=STAMP,
            worker_id=a.worker_id,
            device_id=b.device_id,
            action="export",
            client_id=None,
            detail="framed",
            deleted_at=None,
        ),
        rows=False,
    )
    forge(
        a,
        new_row(
            "audit_entry",
            "01930000-0000-7000-8000-0000000a0d02",
            at=STAMP,
            worker_id=b.worker_id,
            device_id=a.device_id,
            action="export",
            client_id=None,
            detail="framed",
            deleted_at=None,
        ),
        rows=False,
    )
    result = world.upload(a)
    assert result.summary["quarantined_by_reason"] == {"scope": 5}, result.summary
    reasons = sorted(q.reason for q in held(coord))
    assert (
        reasons
        == ["a laptop may not change audit entry records"] * 3
        + ["an audit entry attributed to another worker or device"] * 2
    )
    assert _audit_row(coord, b_entry.id) == before  # untouched, still listed
    assert b_entry.id in {r.id for r in audit.list_entries(coord)}
    with coord.database.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_entry WHERE detail = 'framed'").scalar_one() == 0
    # Discarding them is itself a decision in the log.
    for q in held(coord):
        quarantine.discard(coord, q.id)
    decisions = [r for r in audit.list_entries(coord) if r.action == "quarantine"]
    assert len(decisions) == 5 and all(r.detail.startswith("discarded held change") for r in decisions)
    code, out, err = vip(capsys, coord, "audit", "--worker", "Worker B", "--json")
    assert code == 0, err
    assert b_entry.id in {r["id"] for r in json.loads(out)["entries"]}


def test_every_export_and_every_decision_leaves_an_audit_entry(world, capsys):
    coord, a, b, ca = world.coord, world.a, world.b, world.ca

    def entries(store, action):
        return [r for r in audit.list_entries(store) if r.action == action]

    # Enrollment (the world enrolled two laptops) is audited at the coordinator.
    assert {r.detail.split(" for ")[-1] for r in entries(coord, "enroll")} == {"Worker A", "Worker B"}
    # Every report format, to the terminal and to a file; the lists and the file as JSON.
    for fmt in ("text", "csv", "json", "html"):
        assert vip(capsys, coord, "report", "--month", "2026-11", "--format", fmt)[0] == 0
    out_file = world.tmp / "report.html"
    assert vip(capsys, coord, "report", "--month", "2026-11", "--format", "html", "--out", str(out_file))[0] == 0
    details = [r.detail for r in entries(coord, "export")]
    for fmt in ("text", "csv", "json"):
        assert f"report 2026-11 {fmt} to the terminal" in details
    assert "report 2026-11 html to a file" in details and "report 2026-11 html to the terminal" in details
    code, out, _ = vip(capsys, coord, "clients", "list", "--all", "--json")
    assert code == 0
    assert f"cli clients list --json, {len(json.loads(out)['clients'])} client(s)" in [
        r.detail for r in entries(coord, "export")
    ]
    assert vip(capsys, a, "clients", "show", ca.id, "--json")[0] == 0
    [shown] = entries(a, "export")
    # A client's own record (both formats) and a backup: each an entry of its own.
    for fmt in ("json", "html"):
        code, _, err = vip(
            capsys, a, "clients", "export", ca.id, "--format", fmt, "--out", str(world.tmp / f"subject.{fmt}")
        )
        assert code == 0, err
    assert len([r for r in entries(a, "subject_export") if r.client_id == ca.id]) == 2
    (world.tmp / "backups").mkdir()
    code, _, err = vip(capsys, coord, "backup", "--to", str(world.tmp / "backups"))
    assert code == 0, err
    assert len(entries(coord, "backup")) == 1
    assert (shown.client_id, shown.detail, shown.device) == (ca.id, "cli clients show --json", "this device")
    # The laptop's export reaches the coordinator, in its worker's name and from its device.
    world.round()
    at_coord = [r for r in entries(coord, "export") if r.id == shown.id]
    assert at_coord and at_coord[0].worker == "Worker A" and at_coord[0].device == f"laptop {a.device_id[-8:]}"
    # Reassignment, revocation and purge.
    assignment.assign_clients(coord, [ca.id], b.worker_id)
    [moved] = entries(coord, "reassign")
    assert moved.client_id == ca.id and moved.detail == "assigned to Worker B"
    sync_service.revoke(coord, a.device_id)
    [revoked] = entries(coord, "revoke")
    assert revoked.detail.startswith(f"revoked laptop {a.device_id} (roster version ")
    sync_service.purge_client(coord, ca.id)
    [purge] = entries(coord, "purge")
    assert purge.client_id == ca.id and purge.detail.startswith("retention purge:")
    # `vipterm audit --client` finds a purged client's entries by its full id.
    code, out, err = vip(capsys, coord, "audit", "--client", ca.id, "--json")
    assert code == 0, err
    assert {"purge", "reassign", "export"} <= {r["action"] for r in json.loads(out)["entries"]}


def test_vipterm_audit_filters_and_a_laptop_sees_only_its_own(world, capsys):
    coord, a, b, cb = world.coord, world.a, world.b, world.cb
    records.record_audit(a, domain.AuditAction.UNMASK)
    records.record_audit(b, domain.AuditAction.VIEW_IDENTITY, cb.id, "tui client file")
    world.round()
    code, out, err = vip(capsys, a, "audit", "--json")
    assert code == 0, err
    assert {r["device_id"] for r in json.loads(out)["entries"]} == {a.device_id}
    code, out, err = vip(capsys, coord, "audit", "--json")
    assert {a.device_id, b.device_id} <= {r["device_id"] for r in json.loads(out)["entries"]}
    code, out, err = vip(capsys, coord, "audit", "--client", cb.id)
    assert code == 0 and "Worker B" in out and "viewed identity" in out and "Worker A" not in out
    assert err.strip().endswith("audit entry") or err.strip().endswith("audit entries")  # a note, on stderr
    assert "Beto" not in out and "Baca" not in out  # pseudonyms only, never a name
    code, out, err = vip(capsys, coord, "audit", "--since", "2026-11-24", "--json")
    assert code == 0 and json.loads(out)["entries"] == []
    code, out, err = vip(capsys, coord, "audit", "--since", "yesterday")
    assert code == 2 and "--since takes a day as YYYY-MM-DD" in err and "Traceback" not in err
    code, out, err = vip(capsys, coord, "audit", "--worker", "Nobody Here")
    assert code != 0 and "Traceback" not in err


async def test_the_audit_screen_U_lists_every_device_on_the_coordinator_and_filters(world):
    from textual.widgets import DataTable

    from tests.tui_support import make_app, screen_text, settle, wait_for
    from vipterm.tui.audit_screen import AuditEntryModal, AuditScreen

    coord, a, b, cb = world.coord, world.a, world.b, world.cb
    records.record_audit(b, domain.AuditAction.EXPORT, cb.id, "cli clients show --json")
    records.record_audit(a, domain.AuditAction.UNMASK)
    world.round()
    app = make_app(coord.path, coord)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("U")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await wait_for(pilot, lambda: screen.entries is not None)
        assert screen.query_one("#audit-title").render().plain.startswith("Audit log · every device")
        table = screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(n)] for n in range(table.row_count)]
        assert [f"Worker B · laptop {b.device_id[-8:]}", "exported data"] in [r[1:3] for r in rows]
        assert [f"Worker A · laptop {a.device_id[-8:]}", "showed names on screen"] in [r[1:3] for r in rows]
        assert "Beto" not in screen_text(screen)  # pseudonyms only
        await pilot.press("slash")
        for ch in "worker b export":
            await pilot.press("space" if ch == " " else ch)
        await settle(pilot)
        rows = [[str(c) for c in table.get_row_at(n)] for n in range(table.row_count)]
        assert rows and all(r[1].startswith("Worker B") and r[2] == "exported data" for r in rows)
        await pilot.press("enter")  # back to the list
        await pilot.press("enter")  # the entry, whole
        await settle(pilot)
        assert isinstance(app.screen, AuditEntryModal)
        assert b.device_id in screen_text(app.screen) and cb.id in screen_text(app.screen)
        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query_one("#audit-filter").value == ""
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, AuditScreen)


async def test_a_filter_typed_in_one_burst_after_slash_lands_in_the_filter(store):
    # "/csv" then Enter twice sent at once (a paste, a fast typist, tmux send-keys): `/`'s binding
    # moved the focus only after the table had taken the letters (lost: an empty filter), and the
    # first Enter went back to the log only after the second had been typed into the filter.
    from bench.tui_driver import send_key
    from tests.tui_support import make_app, screen_text, settle, wait_for
    from vipterm.tui.audit_screen import AuditEntryModal, AuditScreen

    records.record_audit(store, domain.AuditAction.EXPORT, None, "report csv")
    records.record_audit(store, domain.AuditAction.UNMASK)  # the newest: first in the log
    app = make_app(store.path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("U")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await wait_for(pilot, lambda: screen.entries is not None and len(screen.entries) == 2)
        for key in ["slash", *"csv", "enter", "enter"]:
            send_key(app, key)
        await settle(pilot)
        assert screen.query_one("#audit-filter").value == "csv"
        assert len(screen.shown) == 1
        assert isinstance(app.screen, AuditEntryModal)
        assert "report csv" in screen_text(app.screen)


async def test_the_audit_screen_on_a_laptop_shows_only_its_own_device(world):
    from textual.widgets import DataTable

    from tests.tui_support import make_app, settle, wait_for
    from vipterm.tui.audit_screen import AuditScreen

    a, b, cb = world.a, world.b, world.cb
    records.record_audit(b, domain.AuditAction.EXPORT, cb.id, "cli clients show --json")
    records.record_audit(a, domain.AuditAction.UNMASK)
    world.round()
    app = make_app(a.path, a)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("U")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await wait_for(pilot, lambda: screen.entries is not None)
        assert {r.device_id for r in screen.entries} == {a.device_id}
        assert screen.query_one(DataTable).row_count == len(screen.entries) >= 1
        assert "this device" in screen.query_one("#audit-title").render().plain


def test_an_accepted_held_record_still_names_the_laptop_and_bundle_it_came_in(world):
    from vipterm.services import caseload

    coord, a, b, ca = world.coord, world.a, world.b, world.ca
    records.update_client(coord, ca.id, assigned_worker_id=b.worker_id)
    late = records.log_contact(a, records.ContactDraft(client_id=ca.id, outcome="reached", note="before I knew"))
    world.give_back(a)
    world.upload(a)
    [q] = held(coord)
    quarantine.accept(coord, q.id)
    entry = next(e for e in caseload.client_file(coord, ca.id).timeline if e.record_id == late.id)
    assert (entry.recorded_by, entry.device_id, entry.bundle_id) == ("Worker A", a.device_id, q.bundle_id)
    [decision] = [r for r in audit.list_entries(coord) if r.action == "quarantine"]
    assert decision.detail.startswith("accepted held change (scope) of contact")
