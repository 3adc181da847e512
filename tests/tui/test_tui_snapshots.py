"""Snapshots of the main screens at 80×24 and 120×40, on a deterministic database with the clock
frozen, grouped by feature. The stored SVGs are in tests/__snapshots__/test_tui_snapshots/ (compared by
`snap_compare`, tests/tui/conftest.py). Update deliberately with
`pytest --snapshot-update tests/tui/test_tui_snapshots.py` and look at the SVGs before committing them."""

from __future__ import annotations

import time

import pytest

from tests.tui_support import make_app, settle

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def utc_timezone(monkeypatch):
    # Contact times are shown in local time; the snapshots are taken in UTC everywhere.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def _settled(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


# --- unlock and lock --------------------------------------------------------------------------------


def test_unlock_screen_demo(snap_compare, tui_path):
    assert snap_compare(make_app(tui_path, demo=True), terminal_size=(80, 24), run_before=_settled())


def test_locked_screen_shows_no_client_data(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("enter", "ctrl+l"))


# --- caseload ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_caseload(snap_compare, tui_path, tui_store, size):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=size, run_before=_settled())


def test_caseload_filtered(snap_compare, tui_path, tui_store):
    assert snap_compare(
        make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("slash", "s", "o", "u", "t", "h")
    )


def test_caseload_all_clients_capped(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(120, 40), run_before=_settled("m"))


def test_caseload_privacy_mask(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("f2"))


@pytest.mark.parametrize("theme", ["textual-light", "vipterm-high-contrast"])
def test_caseload_themes(snap_compare, tui_path, tui_store, theme):
    app = make_app(tui_path, tui_store)

    async def run_before(pilot) -> None:
        pilot.app.theme = theme
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


# --- client file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_client_file(snap_compare, tui_path, tui_store, size):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=size, run_before=_settled("enter"))


def test_timeline_entry_detail(snap_compare, tui_path, tui_store):
    from vipterm.services import caseload, records

    first = caseload.caseload(tui_store)[0]  # the client "enter" opens
    records.record_outcome(
        tui_store,
        first.client_id,
        "job",
        tui_store.clock.today(),
        note=(
            "Started at the warehouse on the early shift.\nHis supervisor knows about court dates; "
            "he asked for a letter from the program to show them."
        ),
    )

    async def run_before(pilot) -> None:
        await _settled("enter")(pilot)
        from vipterm.tui.client_file import TimelineTable

        screen = pilot.app.screen
        screen.query_one(TimelineTable).focus()
        row = next(n for n, e in enumerate(screen.timeline_rows) if e.note)  # one with a note
        screen.query_one(TimelineTable).move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=run_before)


def test_draft_offered_after_a_crash(snap_compare, tui_path, tui_store):
    from tests.conftest import DEMO_PASSPHRASE
    from tests.tui_support import unlock, wait_for
    from vipterm.services import caseload, drafts
    from vipterm.tui.drafts import DraftOfferModal

    first = caseload.caseload(tui_store)[0]
    drafts.save_draft(
        tui_store,
        f"contact:{first.client_id}",
        "contact",
        first.client_id,
        {
            "outcome": "reached",
            "note": "Walked him to the bus stop.\nHe wants to talk about the job program next week.",
        },
    )

    async def run_before(pilot) -> None:
        await unlock(pilot, DEMO_PASSPHRASE)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DraftOfferModal))

    assert snap_compare(make_app(tui_path), terminal_size=(80, 24), run_before=run_before)


# --- forms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_contact_form(snap_compare, tui_path, tui_store, size):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=size, run_before=_settled("l"))


def test_contact_form_errors(snap_compare, tui_path, tui_store):
    app = make_app(tui_path, tui_store)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        pilot.app.screen.query_one("#occurred_at").value = "2026-02-30 10:00"
        await pilot.press("r", "enter", *"met at the park", "ctrl+s")  # outcome reached, then the note
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_notification_form(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("u"))


def test_new_client_form(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("n"))


def test_assessment_form(snap_compare, tui_path, tui_store):
    assert snap_compare(
        make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("enter", "a", "2", "3", "p")
    )


def test_referral_form(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("enter", "r"))


def test_referral_status_form(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("enter", "t"))


def test_help(snap_compare, tui_path, tui_store):
    assert snap_compare(make_app(tui_path, tui_store), terminal_size=(80, 24), run_before=_settled("question_mark"))
