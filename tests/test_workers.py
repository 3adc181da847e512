"""Workers on the coordinator: `vipterm workers list|add|rename|deactivate`, the workers screen
(`W`, Pilot at 80×24), and device → worker names in `sync status` and the sync screen.
Real enrolled laptops and real bundles (tests.sync_support)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from tests.sync_support import PASSPHRASE, enrolled_program, exchange
from tests.test_assignment import cli, held, with_history
from tests.tui_support import make_app, screen_text, settle, table_keys, wait_for
from vipterm.services import records
from vipterm.tui.assign import WorkerPickerModal
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.sync_screen import SyncScreen
from vipterm.tui.widgets import ConfirmModal
from vipterm.tui.workers_screen import NameModal, WorkersScreen


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("VIPTERM_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def program(tmp_path: Path):
    coord, (ana, ben) = enrolled_program(tmp_path, "coord.db", ("ana.db", "Ana Ruiz"), ("ben.db", "Ben Okafor"))
    anas = [with_history(ana, f"Anas{n}") for n in range(3)]
    records.schedule_follow_up(ana, anas[0], ana.clock.today() + timedelta(days=1), note="court")
    with_history(ben, "Bens")
    exchange(coord, [ana, ben], tmp_path / "r1")
    yield tmp_path, coord, ana, ben, anas
    for s in (coord, ana, ben):
        s.close()


def test_workers_list_shows_laptops_caseloads_and_this_months_work(program, capsys, monkeypatch):
    folder, coord, ana, ben, anas = program
    code, out, err = cli(capsys, "workers", "list", "--json", "--db", coord.path)
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)["workers"]}
    assert set(rows) == {"Ana Ruiz", "Ben Okafor", "Coordinator"}
    a = rows["Ana Ruiz"]
    assert a["open_clients"] == 3 and a["contacts_this_month"] == 6 and a["overdue_follow_ups"] == 0
    assert [d["device_id"] for d in a["devices"]] == [ana.device_id]
    assert a["devices"][0]["last_bundle_at"] is not None and a["devices"][0]["revoked_at"] is None
    assert rows["Ben Okafor"]["open_clients"] == 1 and rows["Ben Okafor"]["contacts_this_month"] == 2

    # Three days later the follow-up due tomorrow is overdue; next month's count starts again.
    monkeypatch.setenv("VIPTERM_NOW", "2026-11-26T09:00:00-07:00")
    rows = {
        r["name"]: r for r in json.loads(cli(capsys, "workers", "list", "--json", "--db", coord.path)[1])["workers"]
    }
    overdue = held(
        coord,
        "SELECT count(DISTINCT client_id) FROM follow_up WHERE done_at IS NULL "
        "AND due_on < '2026-11-26' AND client_id IN (?, ?, ?)",
        *anas,
    )[0][0]
    assert overdue >= 1  # at least the one due tomorrow
    assert rows["Ana Ruiz"]["overdue_follow_ups"] == overdue and rows["Ben Okafor"]["overdue_follow_ups"] <= 1
    monkeypatch.setenv("VIPTERM_NOW", "2026-12-02T09:00:00-07:00")
    rows = {
        r["name"]: r for r in json.loads(cli(capsys, "workers", "list", "--json", "--db", coord.path)[1])["workers"]
    }
    assert rows["Ana Ruiz"]["contacts_this_month"] == 0

    code, out, err = cli(capsys, "workers", "list", "--db", coord.path)
    assert code == 0 and "Ana Ruiz" in out and ana.device_id in out and "3 worker(s)" in err  # whole in a pipe


def test_workers_add_rename_deactivate(program, capsys):
    folder, coord, ana, ben, anas = program
    code, out, err = cli(capsys, "workers", "add", "  Cora   Diaz ", "--db", coord.path)
    assert code == 0 and "added Cora Diaz" in out
    code, _, err = cli(capsys, "workers", "add", "cora diaz", "--db", coord.path)
    assert code == 2 and "already named" in err
    code, _, err = cli(capsys, "workers", "add", "   ", "--db", coord.path)
    assert code == 2 and "cannot be empty" in err

    code, out, err = cli(capsys, "workers", "rename", "Cora Diaz", "Cora Díaz-Ortiz", "--db", coord.path)
    assert code == 0 and "renamed Cora Diaz to Cora Díaz-Ortiz" in out
    code, _, err = cli(capsys, "workers", "rename", "Cora Díaz-Ortiz", "Ana Ruiz", "--db", coord.path)
    assert code == 2 and "already named" in err

    # Ana has open clients: deactivation is refused until they are handed over.
    code, _, err = cli(capsys, "workers", "deactivate", "Ana Ruiz", "--db", coord.path)
    assert code == 2 and "3 open client(s)" in err
    assert held(coord, "SELECT active FROM worker WHERE id = ?", ana.worker_id) == [(1,)]
    code, out, err = cli(capsys, "workers", "deactivate", "Ana Ruiz", "--to", "Cora Díaz-Ortiz", "--db", coord.path)
    assert code == 0, err
    assert "3 client(s) handed over to Cora Díaz-Ortiz" in out and "Ana Ruiz deactivated" in out
    assert ana.device_id in err  # her laptop is still enrolled: said, with how to revoke it
    assert held(coord, "SELECT active FROM worker WHERE id = ?", ana.worker_id) == [(0,)]
    # An inactive worker takes no clients and is no longer listed (unless --all).
    code, _, err = cli(capsys, "clients", "assign", anas[0], "--to", "Ana Ruiz", "--db", coord.path)
    assert code == 2 and "not active" in err
    names = [r["name"] for r in json.loads(cli(capsys, "workers", "list", "--json", "--db", coord.path)[1])["workers"]]
    assert "Ana Ruiz" not in names
    rows = json.loads(cli(capsys, "workers", "list", "--all", "--json", "--db", coord.path)[1])["workers"]
    assert {r["name"]: r["active"] for r in rows}["Ana Ruiz"] is False

    # The rename reaches the laptops' staff lists with the next return bundle.
    exchange(coord, [ana, ben], folder / "r2")
    assert ("Cora Díaz-Ortiz",) in held(ben, "SELECT display_name FROM worker")
    assert held(ana, "SELECT count(*) FROM client") == [(0,)]

    # A laptop is refused, nothing written.
    for args in (
        ("workers", "list"),
        ("workers", "add", "X Y"),
        ("workers", "rename", "Ben Okafor", "Benny"),
        ("workers", "deactivate", "Ben Okafor"),
    ):
        code, _, err = cli(capsys, *args, "--db", ben.path)
        assert code == 2 and "coordinator" in err, args
    assert ("Ben Okafor",) in held(ben, "SELECT display_name FROM worker")


def test_sync_status_names_the_worker_of_each_device(program, capsys):
    folder, coord, ana, ben, anas = program
    code, out, err = cli(capsys, "sync", "status", "--json", "--db", coord.path)
    assert code == 0, err
    devices = {d["device_id"]: d for d in json.loads(out)["devices"]}
    assert devices[ana.device_id]["worker"] == "Ana Ruiz" and devices[ben.device_id]["worker"] == "Ben Okafor"
    assert devices[coord.device_id]["worker"] == "Coordinator"
    assert devices[ana.device_id]["last_bundle_at"] is not None
    code, out, err = cli(capsys, "sync", "status", "--db", coord.path)
    assert code == 0 and "Ana Ruiz" in out and "Ben Okafor" in out


async def test_workers_screen_at_80x24(program):
    folder, coord, ana, ben, anas = program
    app = make_app(coord.path, store=coord)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        await pilot.press("W")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkersScreen) and app.screen.loaded)
        screen = app.screen
        table = screen.query_one("#workers-table", DataTable)
        assert table_keys(table) == [ana.worker_id, ben.worker_id]  # peer support workers only
        assert table.region.right <= 80
        assert [str(c) for c in table.get_row(ana.worker_id)][3:6] == ["3", "0", "6"]
        detail = str(screen.query_one("#workers-detail", Static).render())
        assert ana.device_id[:13] in detail and "enrolled" in detail

        # a: add a worker.
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, NameModal))
        app.screen.query_one(Input).value = "Cora Diaz"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkersScreen) and len(screen.rows) == 3)
        assert "added Cora Diaz" in str(screen.query_one("#workers-result", Static).render())

        # x on Ana: refused while she has open clients.
        table.move_cursor(row=0)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, WorkersScreen)
        assert "hand them over first" in str(screen.query_one("#workers-result", Static).render())

        # h: hand over Ana's clients to Cora (picker, y/n naming the count and the worker).
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkerPickerModal) and app.screen.items)
        await pilot.press(*"cora")
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        question = str(app.screen.query_one("#confirm-question", Static).render())
        assert "Ana Ruiz's 3 clients" in question and "Cora Diaz" in question
        await pilot.press("y")
        await wait_for(pilot, lambda: "handed over" in str(screen.query_one("#workers-result", Static).render()))
        await settle(pilot)
        cora = next(r.id for r in screen.rows if r.name == "Cora Diaz")
        assert held(coord, "SELECT DISTINCT assigned_worker_id FROM client WHERE id IN (?, ?, ?)", *anas) == [(cora,)]

        # Now x deactivates (asks first).
        table.move_cursor(row=table_keys(table).index(ana.worker_id))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: "deactivated" in str(screen.query_one("#workers-result", Static).render()))
        assert held(coord, "SELECT active FROM worker WHERE id = ?", ana.worker_id) == [(0,)]
        await settle(pilot)
        assert "(inactive)" in screen_text(screen)

        # r renames.
        table.move_cursor(row=table_keys(table).index(ben.worker_id))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, NameModal))
        app.screen.query_one(Input).value = "Benjamin Okafor"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "renamed" in str(screen.query_one("#workers-result", Static).render()))
        assert held(coord, "SELECT display_name FROM worker WHERE id = ?", ben.worker_id) == [("Benjamin Okafor",)]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)


async def test_laptop_has_no_workers_key_and_the_sync_screen_names_workers(program):
    folder, coord, ana, ben, anas = program
    app = make_app(ana.path, store=ana)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        await pilot.press("W")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert app.screen.query_one("#filter", Input).value == "W"

    app = make_app(coord.path, store=coord)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen) and app.screen.status is not None)
        devices = app.screen.query_one("#sync-devices", DataTable)
        rows = {key: [str(c) for c in devices.get_row(key)] for key in table_keys(devices)}
        assert rows[ana.device_id][1] == "Ana Ruiz" and rows[ben.device_id][1] == "Ben Okafor"
        assert rows[coord.device_id][4] == "this device"
        assert devices.region.bottom <= 24 and devices.region.height >= 3
