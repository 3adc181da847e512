"""Finding people: search that ignores accents and case both ways (caseload filter, palette,
`vipterm clients list --filter`), and urgency tokens in the filter.

Real encrypted databases, the real app under Pilot and the real command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest
from textual.command import CommandPalette

from tests.conftest import PASSPHRASE
from tests.tui_support import make_app, screen_text, settle, table_keys, wait_for_palette_hits
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.store.models import FollowUp
from vipterm.tui.caseload import CaseloadTable
from vipterm.tui.client_file import ClientFileScreen

DAY = date(2026, 11, 23)


@pytest.fixture
def people(store):
    """Three clients of this worker: the accented one, the plain one, and a third who is neither."""
    guero = records.create_client(
        store,
        records.ClientDraft(first_name="José Ángel", last_name="Núñez-Ibáñez", aka="Güero", area_command="southeast"),
    )
    vigil = records.create_client(store, records.ClientDraft(first_name="Jose", last_name="Vigil"))
    other = records.create_client(store, records.ClientDraft(first_name="Marcus", last_name="Baca"))
    return {"guero": guero.id, "vigil": vigil.id, "other": other.id}


def _ids(rows):
    return {r.client_id for r in rows}


def test_filter_ignores_accents_and_case_both_ways(store, people):
    rows = caseload_service.caseload(store)
    for typed in ("jose", "JOSE", "josé"):
        assert _ids(caseload_service.filter_rows(rows, typed)) == {people["guero"], people["vigil"]}, typed
    for typed in ("nunez", "NUÑEZ", "Núñez-Ibáñez", "guero", "GÜERO", "ibanez", "angel", "jose nunez"):
        assert _ids(caseload_service.filter_rows(rows, typed)) == {people["guero"]}, typed
    assert _ids(caseload_service.filter_rows(rows, "José vigil")) == {people["vigil"]}
    assert caseload_service.filter_rows(rows, "nuñez vigil") == []


def test_urgency_tokens_select_by_urgency(store, people):
    today = DAY  # given to the caseload explicitly: no test depends on the real date
    with store.write() as session:
        session.add(
            FollowUp(
                client_id=people["guero"],
                owner_id=store.worker_id,
                due_on=today - timedelta(days=3),
                kind="contact",
                note="",
            )
        )
        session.add(
            FollowUp(client_id=people["vigil"], owner_id=store.worker_id, due_on=today, kind="contact", note="")
        )
    rows = caseload_service.caseload(store, today=today)
    assert _ids(caseload_service.filter_rows(rows, "!overdue")) == {people["guero"]}
    assert _ids(caseload_service.filter_rows(rows, "!!")) == {people["guero"]}
    assert _ids(caseload_service.filter_rows(rows, "!o")) == {people["guero"]}
    assert _ids(caseload_service.filter_rows(rows, "!today")) == {people["vigil"]}
    assert _ids(caseload_service.filter_rows(rows, "!")) == {people["vigil"]}
    assert _ids(caseload_service.filter_rows(rows, "!due")) == {people["guero"], people["vigil"]}
    assert _ids(caseload_service.filter_rows(rows, "!overdue !today")) == {people["guero"], people["vigil"]}
    assert _ids(caseload_service.filter_rows(rows, "!later")) == {people["other"]}
    assert _ids(caseload_service.filter_rows(rows, "!due jose vigil")) == {people["vigil"]}
    assert caseload_service.filter_rows(rows, "!nonsense") == []


def test_clients_list_filter_on_the_command_line(store, db_path, people):
    store.close()
    env = {k: v for k, v in os.environ.items() if k != "VIPTERM_DB"}
    env["VIPTERM_PASSPHRASE"] = PASSPHRASE

    def listing(words):
        result = subprocess.run(
            [sys.executable, "-m", "vipterm", "clients", "list", "--json", "--filter", words, "--db", str(db_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        return {row["id"] for row in json.loads(result.stdout)["clients"]}

    assert listing("nunez") == {people["guero"]}
    assert listing("GUERO") == {people["guero"]}
    assert listing("José") == {people["guero"], people["vigil"]}


async def test_caseload_filter_and_palette_find_the_accented_name(store, db_path, people):
    app = make_app(db_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(CaseloadTable)
        await pilot.press("slash", *"nunez")
        assert table_keys(table) == [people["guero"]]
        await pilot.press("escape", "slash", *"José")
        assert set(table_keys(table)) == {people["guero"], people["vigil"]}
        await pilot.press("escape")
        await settle(pilot)
        assert app.client_index
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"guero")
        await wait_for_palette_hits(pilot)
        shown = " ".join(str(option.prompt) for option in app.screen.query_one("CommandList").options)
        assert "Núñez" in shown
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        assert app.screen.client_id == people["guero"]
        assert "Güero" in screen_text(app.screen)


# --- the all-clients view hides no one -----------------------------------------------------------

OVERDUE_CLIENTS = 85  # more than a screenful (and than the 60 rows the caseload once drew)
DUE_TODAY_CLIENTS = 7


@pytest.fixture
def crowded(store):
    """A worker with more overdue clients than the caseload draws at once, then 7 due today."""
    today = store.clock.today()
    overdue, due_today = [], []
    for n in range(OVERDUE_CLIENTS + DUE_TODAY_CLIENTS):
        client = records.create_client(store, records.ClientDraft(first_name=f"Person{n:03d}", last_name="Test"))
        (overdue if n < OVERDUE_CLIENTS else due_today).append(client.id)
    with store.write() as session:  # rows as a past week left them: follow-ups already overdue
        for n, client_id in enumerate(overdue):
            session.add(
                FollowUp(
                    client_id=client_id,
                    owner_id=store.worker_id,
                    due_on=today - timedelta(days=1 + n % 9),
                    kind="contact",
                    note="",
                )
            )
        for client_id in due_today:
            session.add(FollowUp(client_id=client_id, owner_id=store.worker_id, due_on=today, kind="contact", note=""))
    return overdue, due_today


async def test_every_due_today_client_is_reachable_behind_many_overdue(store, db_path, crowded):
    overdue, due_today = crowded
    app = make_app(db_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one(CaseloadTable)
        total = OVERDUE_CLIENTS + DUE_TODAY_CLIENTS
        assert table.row_count == total  # every client is in the list
        assert f"my clients · {total} ·" in screen_text(screen)
        assert not set(due_today) & set(table.row_keys()[: table.size.height]), "the overdue fill the screen"
        # Walking down the list reaches every client, in the caseload's order, due today last.
        visited = [screen.current_row().client_id]
        for _ in range(total + 3):  # three presses more than rows: the bottom holds
            await pilot.press("down")
            visited.append(screen.current_row().client_id)
        order = [r.client_id for r in caseload_service.caseload(store)]
        assert list(dict.fromkeys(visited)) == order
        assert set(order[-DUE_TODAY_CLIENTS:]) == set(due_today)
        assert screen.current_row().client_id == order[-1]
        painted = "\n".join(table.render_line(y).text for y in range(table.size.height))
        assert screen.current_row().pseudonym in painted, "the list scrolled with the cursor"
        # And back up to the very first, then ctrl+end / ctrl+home jump to either end.
        for _ in range(total + 1):
            await pilot.press("up")
        assert screen.current_row().client_id == order[0]
        await pilot.press("ctrl+end")
        assert screen.current_row().client_id == order[-1]
        await pilot.press("ctrl+home")
        assert screen.current_row().client_id == order[0]
        # The filter selects by urgency: the 7 due today at once, then the overdue count.
        await pilot.press("slash", *"!today")
        assert set(table_keys(table)) == set(due_today)
        assert f"{DUE_TODAY_CLIENTS} (filtered from {total})" in screen_text(screen)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen) and app.screen.client_id in due_today
        await pilot.press("escape")
        await settle(pilot)
        screen.query_one("#filter").value = "!overdue"
        await pilot.pause()
        assert screen.matching == OVERDUE_CLIENTS
        assert f"{OVERDUE_CLIENTS} (filtered from {total})" in screen_text(screen)


async def test_the_cursor_follows_the_client_after_a_reload(store, db_path, crowded):
    _overdue, due_today = crowded
    app = make_app(db_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("ctrl+end")
        target = screen.current_row().client_id
        assert target in due_today
        await pilot.press("f5")
        await settle(pilot)
        assert screen.current_row().client_id == target  # still under the cursor, still in view


# --- the privacy mask hides notes and aliases -----------------------------------------------------

NOTE = "José dice que Marcus lo amenazó"


async def test_mask_hides_notes_aliases_and_an_aliases_emoji(store, db_path):
    client = records.create_client(
        store, records.ClientDraft(first_name="José Ángel", last_name="Núñez-Ibáñez", aka="🔥Güero")
    )
    records.log_contact(store, records.ContactDraft(client_id=client.id, outcome="reached", note=NOTE))
    app = make_app(db_path, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        file_screen = app.screen
        assert isinstance(file_screen, ClientFileScreen)
        assert NOTE in screen_text(file_screen) and "🔥Güero" in screen_text(file_screen)
        await pilot.press("ctrl+backslash")
        await settle(pilot)
        assert app.masked
        for screen in app.screen_stack:
            text = screen_text(screen)
            for secret in ("Güero", "🔥", "Marcus", "amenaz", "José", "Núñez"):
                assert secret not in text, (secret, type(screen).__name__)
        text = screen_text(file_screen)
        assert "J.Á.N.I. •••" in text and "note hidden" in text
        caseload_screen = app.screen_stack[-2]
        assert "J.Á.N.I. •••" in screen_text(caseload_screen)
        # The palette, searched by the alias itself, shows neither the alias nor its emoji.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"guero")
        await wait_for_palette_hits(pilot)
        assert isinstance(app.screen, CommandPalette)
        shown = " ".join(str(option.prompt) for option in app.screen.query_one("CommandList").options)
        assert client.pseudonym in shown and "•••" in shown
        assert "🔥" not in shown and "Güero" not in shown and "José" not in shown
        await pilot.press("escape")
        await settle(pilot)
        # Unmasked again, the note and the alias come back.
        await pilot.press("f2")
        await settle(pilot)
        assert NOTE in screen_text(file_screen) and "🔥Güero" in screen_text(file_screen)


async def test_mask_hides_the_values_of_conflicts(tmp_path):
    from tests.sync_support import enrolled_program, exchange
    from vipterm.services import sync as sync_service
    from vipterm.tui.conflicts_screen import ConflictsScreen

    coord, (laptop,) = enrolled_program(tmp_path, "c.db", ("w.db", "Worker One"))
    try:
        client = records.create_client(laptop, records.ClientDraft(first_name="José", aka="Flaco"))
        exchange(coord, [laptop], tmp_path / "r1")
        records.update_client(laptop, client.id, aka="🔥Güero")
        records.update_client(coord, client.id, aka="Chuy")
        exchange(coord, [laptop], tmp_path / "r2")
        assert len(sync_service.list_conflicts(coord)) == 1
        app = make_app(coord.path, coord)
        async with app.run_test(size=(110, 30)) as pilot:
            await settle(pilot)
            await pilot.press("c")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ConflictsScreen)
            assert "Güero" in screen_text(screen) and "Chuy" in screen_text(screen)
            await pilot.press("f2")
            await settle(pilot)
            text = screen_text(screen)
            assert "Güero" not in text and "🔥" not in text and "Chuy" not in text and "•••" in text
            assert client.pseudonym in text  # still which record, by pseudonym
            await pilot.press("f2")
            await settle(pilot)
            assert "Güero" in screen_text(screen)
    finally:
        coord.close()
        laptop.close()
