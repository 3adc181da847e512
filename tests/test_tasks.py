"""The task view: the service's groups (program days, times, closed clients, other workers,
planned notifications) and the screen under Pilot at 80×24 on real encrypted databases — complete
(asks what happened), reschedule, open the client; on the coordinator, every worker's tasks and
one worker's."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text
from textual.widgets import Input

from tests.sync_support import new_coordinator
from tests.tui_support import make_app, screen_text, settle, wait_armed, wait_for
from vipterm.services import records
from vipterm.services.tasks import open_tasks
from vipterm.store.models import FollowUp, PlannedNotification, Worker
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.field_work import FollowUpDoneModal
from vipterm.tui.tasks_screen import RescheduleForm, TasksScreen

SIZE = (80, 24)
TODAY = date(2026, 11, 23)  # the frozen program day (conftest)


def _client(store, name, worker_id=None):
    return records.create_client(
        store,
        records.ClientDraft(
            first_name=name,
            last_name="Test",
            area_command="valley",
            assigned_worker_id=worker_id,
            confirm_duplicate=True,
        ),
    )


def _follow_up(store, client_id, due_on, kind="contact", note="", due_time=None, owner=None):
    # Written directly: the service refuses a due date in the past, and an overdue task is one.
    with store.write() as s:
        f = FollowUp(
            client_id=client_id,
            owner_id=owner or store.worker_id,
            due_on=due_on,
            kind=kind,
            note=note,
            due_time=due_time,
        )
        s.add(f)
    return f


def _program(store, other_worker=None):
    ana, bea, cid, dan = (_client(store, n) for n in ("Ana", "Bea", "Cid", "Dan"))
    made = {
        "overdue": _follow_up(store, ana.id, TODAY - timedelta(days=3), note="call back"),
        "today_late": _follow_up(store, bea.id, TODAY, kind="appointment"),
        "today_court": _follow_up(store, cid.id, TODAY, kind="court_date", due_time="09:00", note="court 3B"),
        "week": _follow_up(store, ana.id, TODAY + timedelta(days=6)),
        "later": _follow_up(store, bea.id, TODAY + timedelta(days=7)),
        "closed": _follow_up(store, dan.id, TODAY),
    }
    records.close_client(store, dan.id, "moved_away")
    return made, (ana, bea, cid, dan)


def test_groups_by_program_day_with_timed_ones_first(store):
    made, (ana, bea, cid, _dan) = _program(store)
    tasks = open_tasks(store)
    assert [(t.group, t.id) for t in tasks.tasks] == [
        ("overdue", made["overdue"].id),
        ("today", made["today_court"].id),
        ("today", made["today_late"].id),
        ("this week", made["week"].id),
    ]
    assert tasks.later == 1  # counted, not listed; the closed client's follow-up is neither
    court = tasks.tasks[1]
    assert (court.when, court.what, court.note, court.pseudonym) == (
        "2026-11-23 09:00",
        "court date",
        "court 3B",
        cid.pseudonym,
    )
    # The day is the program's: a day later, the court date is overdue and the later one this week.
    tomorrow = open_tasks(store, today=TODAY + timedelta(days=1))
    assert [t.group for t in tomorrow.tasks] == ["overdue", "overdue", "overdue", "this week", "this week"]


def test_another_workers_clients_and_planned_notifications(store):
    with store.write() as s:
        other = Worker(display_name="Other Worker")
        s.add(other)
    mine = _client(store, "Ana")
    theirs = _client(store, "Eva", worker_id=other.id)
    _follow_up(store, mine.id, TODAY)
    _follow_up(store, theirs.id, TODAY, owner=other.id)
    with store.write() as s:
        plan = PlannedNotification(
            client_id=mine.id,
            identified_on=TODAY - timedelta(days=2),
            planned_on=TODAY,
            planned_time="14:00",
            setting="home",
            team_roles="peer_support,police",
            worker_id=store.worker_id,
        )
        s.add(plan)
    assert [t.client_id for t in open_tasks(store).tasks] == [mine.id, mine.id]
    [first] = [t for t in open_tasks(store).tasks if t.kind == "planned_notification"]
    assert (first.when, first.note) == ("2026-11-23 14:00", "home · peer support worker, police officer")
    assert {t.client_id for t in open_tasks(store, worker_id=None).tasks} == {mine.id, theirs.id}
    assert {t.client_id for t in open_tasks(store, worker_id=other.id).tasks} == {theirs.id}
    # Attempted, the plan leaves the tasks.
    records.record_notification(
        store, records.NotificationDraft(client_id=mine.id, attempted_on=TODAY, outcome="not_found")
    )
    assert [t.kind for t in open_tasks(store).tasks] == ["follow_up"]


# --- the screen ----------------------------------------------------------------------------------------


def _table_keys(screen):
    from vipterm.tui.tasks_screen import TaskTable

    return [k.value for k in screen.query_one(TaskTable).rows]


async def _tasks(pilot):
    await pilot.press("T")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TasksScreen)
    await wait_for(pilot, lambda: screen.task_list is not None)
    return screen


async def _cursor_on(pilot, screen, key):
    from vipterm.tui.tasks_screen import TaskTable

    table = screen.query_one(TaskTable)
    table.move_cursor(row=_table_keys(screen).index(key))
    await pilot.pause()


async def test_task_view_done_reschedule_and_open(db_path, store):
    made, (ana, *_rest) = _program(store)
    app = make_app(db_path, store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await _tasks(pilot)
        shown = screen_text(screen)
        assert "Overdue · 1" in shown and "Today · 2" in shown and "This week · 1" in shown
        assert "today 09:00" in shown and "court date" in shown and "1 later" in shown
        assert _table_keys(screen)[0] == "group:overdue"
        # d: asks what happened; y: done without a contact.
        await _cursor_on(pilot, screen, f"follow_up:{made['overdue'].id}")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, FollowUpDoneModal)
        await wait_armed(pilot)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: f"follow_up:{made['overdue'].id}" not in _table_keys(screen))
        with store.read() as s:
            assert (
                s.execute(text("SELECT closed_as FROM follow_up WHERE id = :i"), {"i": made["overdue"].id}).scalar_one()
                == "no_contact"
            )
        # r: a date and a time; a past date is refused under its field and the form stays.
        await _cursor_on(pilot, screen, f"follow_up:{made['today_late'].id}")
        await pilot.press("r")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, RescheduleForm)
        form.query_one("#due_on", Input).value = "2026-11-01"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "past" in screen_text(form)
        form.query_one("#due_on", Input).value = "2026-11-25"
        form.query_one("#due_time", Input).value = "15:30"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        await wait_for(pilot, lambda: "2026-11-25 15:30" in screen_text(screen))
        # enter: the client file.
        await _cursor_on(pilot, screen, f"follow_up:{made['week'].id}")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen) and app.screen.client_id == ana.id


async def test_coordinator_sees_every_worker_and_filters_by_one(tmp_path):
    from tests.conftest import PASSPHRASE  # noqa: F401  (the coordinator's passphrase)

    path = tmp_path / "coord.db"
    coord = new_coordinator(path)
    try:
        with coord.write() as s:
            rosa, luis = Worker(display_name="Rosa"), Worker(display_name="Luis")
            s.add_all([rosa, luis])
        a = _client(coord, "Ana", worker_id=rosa.id)
        b = _client(coord, "Bea", worker_id=luis.id)
        fa = _follow_up(coord, a.id, TODAY, owner=rosa.id)
        fb = _follow_up(coord, b.id, TODAY, owner=luis.id)
        app = make_app(path, coord)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = await _tasks(pilot)
            assert {f"follow_up:{fa.id}", f"follow_up:{fb.id}"} <= set(_table_keys(screen))
            assert "every worker" in screen_text(screen) and "Rosa" in screen_text(screen)
            await pilot.press("w")
            await settle(pilot)
            await pilot.press(*"luis")
            await pilot.press("enter")
            await settle(pilot)
            await wait_for(pilot, lambda: f"follow_up:{fa.id}" not in _table_keys(screen))
            assert f"follow_up:{fb.id}" in _table_keys(screen) and "Tasks · Luis" in screen_text(screen)
            await pilot.press("a")
            await settle(pilot)
            await wait_for(pilot, lambda: f"follow_up:{fa.id}" in _table_keys(screen))
    finally:
        coord.close()


def test_cli_tasks(tmp_path):
    import json

    from tests.conftest import FROZEN_NOW_ISO, PASSPHRASE
    from tests.test_cli import vipterm as run
    from vipterm.services.database import create_store

    def vipterm(*args):  # the program's frozen day, not the machine's
        return run(*args, env={"VIPTERM_NOW": FROZEN_NOW_ISO})

    path = tmp_path / "cli.db"
    store = create_store(path, PASSPHRASE, worker_name="Rosa")
    made, (_ana, _bea, cid, _dan) = _program(store)
    store.close()
    shown = vipterm("tasks", "--db", str(path))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "OVERDUE (1)" and "TODAY (2)" in lines and "THIS WEEK (1)" in lines
    assert any("2026-11-23 09:00" in line and cid.pseudonym in line and "court 3B" in line for line in lines)
    assert shown.stderr.strip() == "4 open this week, 1 later"  # a note, on stderr
    data = json.loads(vipterm("tasks", "--db", str(path), "--json").stdout)
    assert [t["id"] for t in data["tasks"]][0] == made["overdue"].id and data["later"] == 1
    unknown = vipterm("tasks", "--db", str(path), "--worker", "Nobody")
    assert unknown.returncode != 0 and "Nobody" in unknown.stderr and "Traceback" not in unknown.stderr
