"""Pilot tests of assignment on the coordinator's caseload, at 80×24: the all-clients view shows
each client's worker (unassigned first), space marks rows, `w` picks a worker (type to filter)
and asks y/n naming the count and the worker. On a laptop `w` is no key: it starts the filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static

from tests.sync_support import enrolled_program, exchange
from tests.tui_support import make_app, screen_text, settle, table_keys, wait_for
from vipterm.services import records
from vipterm.tui.assign import WorkerPickerModal
from vipterm.tui.caseload import CaseloadScreen, CaseloadTable
from vipterm.tui.widgets import ConfirmModal


def owner_of(store, client_id: str) -> str | None:
    with store.database.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT assigned_worker_id FROM client WHERE id = ?", (client_id,)).scalar_one()


@pytest.fixture
def program(tmp_path: Path):
    coord, (ana, ben) = enrolled_program(tmp_path, "coord.db", ("ana.db", "Ana Ruiz"), ("ben.db", "Ben Okafor"))
    made = [
        records.create_client(ana, records.ClientDraft(first_name=f"Person{n}", last_name="Testcase")).id
        for n in range(3)
    ]
    exchange(coord, [ana, ben], tmp_path / "round")
    waiting = records.create_client(coord, records.ClientDraft(first_name="Waiting", last_name="Candidate")).id
    yield coord, ana, ben, made, waiting
    for s in (coord, ana, ben):
        s.close()


def title(screen) -> str:
    return str(screen.query_one("#caseload-title", Static).render())


async def test_mark_and_assign_on_the_coordinator(program):
    coord, ana, ben, made, waiting = program
    app = make_app(coord.path, store=coord)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        screen = app.screen
        # The coordinator's own view: the client waiting for a worker, said so below the list.
        assert table_keys(screen.query_one(CaseloadTable)) == [waiting]
        assert "unassigned: w assigns" in str(screen.query_one("#caseload-preview", Static).render())
        from vipterm.tui.commands import system_commands

        titles = [c.title for c in system_commands(app, screen)]
        assert "Assign" in titles and "Workers" in titles
        await pilot.press("m")
        await wait_for(pilot, lambda: screen.loaded and screen.scope == "all")
        table = screen.query_one(CaseloadTable)
        keys = table_keys(table)
        assert keys[0] == waiting and set(keys[1:]) == set(made)  # unassigned first
        text = screen_text(screen)
        assert "unassigned" in text and "Ana Ruiz" in text
        assert [c.label for c in table.columns][3] == "worker"
        assert table.region.right <= 80

        # space marks the row and moves down; two rows marked.
        await pilot.press("space", "space")
        await settle(pilot)
        assert screen.marked == {keys[0], keys[1]}
        assert "2 marked" in title(screen)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkerPickerModal) and app.screen.items)
        picker = app.screen
        assert "Coordinator" not in screen_text(picker)  # only peer support workers take clients
        await pilot.press("b", "e", "n")
        await settle(pilot)
        assert [c.name for c in picker.shown] == ["Ben Okafor"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        question = str(app.screen.query_one("#confirm-question", Static).render())
        assert "2 clients" in question and "Ben Okafor" in question
        await pilot.press("y")
        await wait_for(pilot, lambda: owner_of(coord, keys[1]) == ben.worker_id)
        await settle(pilot)
        assert owner_of(coord, keys[0]) == ben.worker_id
        assert owner_of(coord, keys[2]) == ana.worker_id  # not marked, not moved
        assert screen.marked == set()
        assert "marked" not in title(screen)
        row = table.get_row(keys[0])
        assert "Ben Okafor" in [str(c) for c in row]

        # No mark: the row under the cursor; `n` answers no and nothing changes.
        table.move_cursor(row=table_keys(table).index(keys[2]))
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkerPickerModal) and app.screen.items)
        await pilot.press("enter")  # the first worker: Ana Ruiz
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        question = str(app.screen.query_one("#confirm-question", Static).render())
        assert "1 client" in question and "Ana Ruiz" in question
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert owner_of(coord, keys[2]) == ana.worker_id

        # escape in the picker: nothing.
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkerPickerModal) and app.screen.items)
        await pilot.press("z", "z", "z")
        await settle(pilot)
        assert app.screen.shown == [] and "no worker matches" in screen_text(app.screen)
        assert app.screen.query_one(OptionList).option_count == 0
        await pilot.press("enter")  # nothing to pick: a bell, still open
        assert isinstance(app.screen, WorkerPickerModal)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)


async def test_on_a_laptop_w_starts_the_filter_and_space_marks_nothing(program):
    coord, ana, ben, made, waiting = program
    app = make_app(ana.path, store=ana)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CaseloadScreen) and app.screen.loaded)
        screen = app.screen
        await pilot.press("space")
        await settle(pilot)
        assert screen.marked == set()
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
        assert screen.query_one("#filter", Input).value == "w"
        await pilot.press("escape", "m")  # a laptop's all-clients view keeps its columns: all are its own
        await wait_for(pilot, lambda: screen.loaded and screen.scope == "all")
        labels = [c.label for c in screen.query_one(CaseloadTable).columns]
        assert "worker" not in labels and "area" in labels and "last" in labels
        from vipterm.tui.commands import system_commands

        titles = [c.title for c in system_commands(app, screen)]
        assert "Assign" not in titles and "Workers" not in titles
    assert {owner_of(ana, c) for c in made} == {ana.worker_id}
