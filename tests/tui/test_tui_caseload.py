"""The caseload and the client file under Pilot: urgency order, type-to-filter, mine/all, every
client of the all-clients view in the list, a save redrawing one row, one-key follow-up done, the
audit of opened files, stale referrals."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from tests.tui_support import FROZEN_NOW, make_app, screen_text, settle, table_keys, wait_armed
from vipterm import domain
from vipterm.services import caseload as caseload_service
from vipterm.store.models import AuditEntry, FollowUp
from vipterm.tui.caseload import CaseloadScreen, CaseloadTable
from vipterm.tui.client_file import ClientFileScreen, ReferralTable

TODAY = FROZEN_NOW.date()


def _painted(table) -> str:
    """The table's lines as painted on screen now (header included)."""
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


def _expected(store, scope="mine"):
    return caseload_service.caseload(store, worker_id="mine" if scope == "mine" else None, today=TODAY, now=FROZEN_NOW)


async def test_caseload_lists_my_clients_most_urgent_first(tui_path, tui_store):
    expected = _expected(tui_store)
    assert any(r.urgency == caseload_service.OVERDUE for r in expected), "fixture has overdue follow-ups"
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CaseloadScreen)
        table = screen.query_one(CaseloadTable)
        assert table_keys(table) == [r.client_id for r in expected]
        overdue = sum(1 for r in expected if r.urgency == caseload_service.OVERDUE)
        title = screen_text(screen)
        assert f"{overdue} overdue" in title
        assert f"my clients · {len(expected)}" in title
        first = table.get_row_at(0)
        assert str(first[0]) == "!!" and first[1] == expected[0].pseudonym
        assert expected[0].name in str(first[2])


async def test_filter_narrows_as_you_type_and_enter_opens_the_match(tui_path, tui_store):
    expected = _expected(tui_store)
    target = expected[-1]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert app.focused.id == "filter"
        await pilot.press(*target.pseudonym.lower())
        table = app.screen.query_one(CaseloadTable)
        assert table_keys(table) == [target.client_id]
        assert f"1 (filtered from {len(expected)})" in screen_text(app.screen)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        assert app.screen.client_id == target.client_id


def _burst(app, keys) -> None:
    """Post keys the way a paste or tmux send-keys delivers them: all at once, before the app
    handles the first (Textual then queues them all at the widget focused on arrival)."""
    from bench.tui_driver import send_key

    for key in keys:
        send_key(app, key)


async def test_slash_and_a_name_in_one_burst_fill_the_filter_and_press_no_key(tui_path, tui_store):
    # "/samuel" typed fast: `s` would open the sync screen, `a` the assessment form, had the focus
    # reached the filter only when `/`'s binding ran; and the filter read "/samuel".
    expected = _expected(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        keys = app.active_bindings
        target = next(r for r in expected if r.name[0].lower() in keys)
        word = target.name.split()[0].lower()
        assert word[0] in keys and keys[word[0]].node is screen  # its first letter is a caseload key
        _burst(app, ["slash", *word])
        await settle(pilot, rounds=8)
        assert app.screen is screen, "no form or screen opened"
        assert app.focused.id == "filter"
        assert screen.query_one("#filter").value == word
        assert target.client_id in table_keys(screen.query_one(CaseloadTable))


async def test_a_name_typed_without_slash_in_one_burst_lands_whole_in_the_filter(tui_path, tui_store):
    # The first letter (no key of the caseload) starts the filter; the rest of the burst, keys of
    # the caseload among them, follows it there instead of being lost or pressing those keys.
    expected = _expected(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        keys = app.active_bindings
        target = next(r for r in expected if r.name[0].lower() not in keys and set(r.name.lower()) & set(keys))
        word = target.name.split()[0].lower()
        _burst(app, [*word, "backspace", word[-1]])  # a slip mended in the same burst
        await settle(pilot, rounds=8)
        assert app.screen is screen
        assert screen.query_one("#filter").value == word
        assert target.client_id in table_keys(screen.query_one(CaseloadTable))
        _burst(app, ["escape", "slash", *word[:3]])  # Escape empties the filter; `/` then a fresh start
        await settle(pilot, rounds=8)
        assert app.screen is screen
        assert screen.query_one("#filter").value == word[:3]


async def test_filter_matches_area_and_status_words(tui_path, tui_store):
    expected = _expected(tui_store)
    area = domain.AreaCommand(expected[0].area_command).label
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *area.lower())
        keys = table_keys(app.screen.query_one(CaseloadTable))
        assert keys == [r.client_id for r in caseload_service.filter_rows(expected, area)]
        assert expected[0].client_id in keys
        await pilot.press("escape")  # clears the filter, back to the table
        assert len(table_keys(app.screen.query_one(CaseloadTable))) == len(expected)
        assert app.focused is app.screen.query_one(CaseloadTable)
        await pilot.press("slash", *"zzqqxx")
        assert table_keys(app.screen.query_one(CaseloadTable)) == []
        assert "no clients match the filter" in screen_text(app.screen)


async def test_mine_all_toggle(tui_path, tui_store):
    mine, everyone = _expected(tui_store), _expected(tui_store, "all")
    assert len(everyone) > len(mine)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert table_keys(app.screen.query_one(CaseloadTable)) == [r.client_id for r in everyone]
        assert "all clients" in screen_text(app.screen)
        await pilot.press("m")
        await settle(pilot)
        assert table_keys(app.screen.query_one(CaseloadTable)) == [r.client_id for r in mine]


async def test_the_all_clients_view_holds_every_client_and_scrolls_to_the_last(tui_path, tui_store):
    store = tui_store
    everyone = _expected(store, "all")
    assert len(everyone) > 100
    app = make_app(tui_path, store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(CaseloadTable)
        table.lines_built.clear()
        await pilot.press("m")
        await settle(pilot)
        assert table.row_count == len(everyone)
        assert table_keys(table) == [r.client_id for r in everyone]
        assert f"all clients · {len(everyone):,} ·" in screen_text(app.screen)
        # Only what is on screen is drawn: a screenful of lines, not every row (the "mine" rows
        # were on screen, in the new columns, until the load came).
        mine = {r.client_id for r in _expected(store)}
        assert 0 < len(set(table.lines_built) - mine) <= table.size.height
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert app.screen.current_row().client_id == everyone[-1].client_id
        assert table.scroll_offset.y == len(everyone) - (table.scrollable_content_region.height - 1)
        assert everyone[-1].pseudonym in _painted(table)
        # Filtering searches all rows, not only the slice on screen.
        last = everyone[-1]
        await pilot.press("slash", *last.pseudonym)
        assert table_keys(table) == [last.client_id]


async def test_follow_up_done_from_the_caseload_asks_first(tui_path, tui_store):
    from vipterm.tui.field_work import FollowUpDoneModal

    expected = _expected(tui_store)
    first = expected[0]
    assert first.next_due is not None
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, FollowUpDoneModal)  # d alone changes nothing
        await wait_armed(pilot)
        await pilot.press("y")  # done without a contact
        await settle(pilot)
    with tui_store.read() as session:
        done = session.exec(
            select(FollowUp).where(FollowUp.client_id == first.client_id, FollowUp.due_on == first.next_due)
        ).all()
    assert any(f.done_at is not None and f.done_by == tui_store.worker_id for f in done)
    after = {r.client_id: r for r in _expected(tui_store)}
    assert after[first.client_id].next_due != first.next_due or len(done) > 1


async def test_follow_up_done_without_one_says_so(tui_path, tui_store):
    expected = _expected(tui_store)
    index, row = next((i, r) for i, r in enumerate(expected) if r.next_due is None)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(CaseloadTable).move_cursor(row=index)
        await pilot.press("d")
        await settle(pilot)
        assert any("no open follow-up" in n.message for n in app._notifications)


async def test_client_file_shows_the_file_and_records_the_audit(tui_path, tui_store):
    expected = _expected(tui_store)
    row = expected[0]
    cf = caseload_service.client_file(tui_store, row.client_id, today=TODAY, now=FROZEN_NOW)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ClientFileScreen)
        text = screen_text(screen)
        assert row.pseudonym in text and cf.name in text
        assert cf.worker_name in text
        assert f"next follow-up: {cf.next_follow_up.due_on.isoformat()}" in text
        timeline = screen.query_one("#cf-timeline")
        assert timeline.row_count == len(cf.timeline)
        assert len(screen.query_one(ReferralTable).rows) == len(cf.referrals)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    with tui_store.read() as session:
        audits = session.exec(select(AuditEntry).where(AuditEntry.client_id == row.client_id)).all()
    assert [a.action for a in audits] == [domain.AuditAction.VIEW_IDENTITY.value]


async def test_stale_referrals_are_flagged_in_caseload_and_file(tui_path, tui_store):
    expected = _expected(tui_store, "all")
    stale_row = next(r for r in expected if r.stale_referrals)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        table = app.screen.query_one(CaseloadTable)
        index = table_keys(table).index(stale_row.client_id)
        assert str(table.get_row_at(index)[-1]).endswith("!")
        table.move_cursor(row=index)
        await pilot.pause()
        assert "stale (no change in 14 days)" in screen_text(app.screen)
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app.screen)
        assert "stale" in text and "t updates the status" in text


async def test_stale_depends_on_the_apps_clock(tui_path, tui_store):
    # Three weeks later, every referral still open is stale.
    later = FROZEN_NOW + timedelta(days=365)
    rows = caseload_service.caseload(tui_store, worker_id=None, today=later.date(), now=later)
    app = make_app(tui_path, tui_store, now=later)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        table = app.screen.query_one(CaseloadTable)
        marked = [k for k, r in zip(table_keys(table), rows) if str(table.get_row(k)[-1]).endswith("!")]
        assert marked == [r.client_id for r in rows if r.stale_referrals][: len(marked)]
        assert len(marked) == sum(1 for r in rows if r.open_referrals)


def test_caseload_of_given_clients_equals_their_rows_in_the_full_caseload(tui_store):
    for scope in ("mine", None):
        full = caseload_service.caseload(tui_store, worker_id=scope, today=TODAY, now=FROZEN_NOW)
        everyone = caseload_service.caseload(
            tui_store, worker_id=None, include_closed=True, today=TODAY, now=FROZEN_NOW
        )
        outside = [r.client_id for r in everyone if r.client_id not in {f.client_id for f in full}]
        picked = [full[0].client_id, full[len(full) // 2].client_id, full[-1].client_id] + outside[:2]
        some = caseload_service.caseload(tui_store, worker_id=scope, today=TODAY, now=FROZEN_NOW, client_ids=picked)
        assert some == [r for r in full if r.client_id in set(picked)]
        assert [r.search_text for r in some] == [r.search_text for r in full if r.client_id in set(picked)]
    assert caseload_service.caseload(tui_store, today=TODAY, now=FROZEN_NOW, client_ids=[]) == []


async def test_a_saved_contact_updates_only_that_clients_row(tui_path, tui_store):
    from vipterm.tui import display
    from vipterm.tui.forms import ContactForm

    before = _expected(tui_store)
    # One with no follow-up due behind another such: a contact schedules one, so it moves up.
    index = next(
        i
        for i, r in enumerate(before)
        if i > 0 and all(x.urgency == caseload_service.UPCOMING and x.next_due is None for x in (r, before[i - 1]))
    )
    target = before[index]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one(CaseloadTable)
        table.move_cursor(row=index)
        await pilot.pause()
        generation = screen.generation
        old_rows = screen.rows
        built = dict(table.lines_built)
        assert built, "the lines on screen were drawn"
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ContactForm)
        await pilot.press("r", "enter", *"check-in", "ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert screen.generation == generation, "a save must not reload the whole caseload"
        after = _expected(tui_store)
        assert screen.rows is not old_rows
        assert screen.rows == after
        assert table_keys(table) == [r.client_id for r in after]
        new_index = next(i for i, r in enumerate(after) if r.client_id == target.client_id)
        assert new_index != index, "the saved client moved in the order"
        saved = after[new_index]
        assert saved.last_contact != target.last_contact
        cells = table.get_row(target.client_id)
        assert str(cells[-3]) == display.ago(saved.last_contact, TODAY)
        assert table.cursor_row == new_index, "the cursor stays on the saved client"
        # Only the saved client's line was drawn again; every other line came from the cache.
        assert table.lines_built[target.client_id] == built.get(target.client_id, 0) + 1
        assert {k: n for k, n in table.lines_built.items() if k != target.client_id} == {
            k: n for k, n in built.items() if k != target.client_id
        }
        assert display.ago(saved.last_contact, TODAY) in _painted(table)
        # Unchanged rows are the same objects: nothing else was re-read.
        untouched = {r.client_id: r for r in old_rows if r.client_id != target.client_id}
        assert all(r is untouched[r.client_id] for r in screen.rows if r.client_id != target.client_id)


async def test_the_privacy_mask_redraws_every_line_with_initials_and_back(tui_path, tui_store):
    expected = _expected(tui_store)
    named = [r for r in expected if r.name]
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(CaseloadTable)
        shown = _painted(table)
        assert named[0].name[:12] in shown
        await pilot.press("ctrl+backslash")
        await settle(pilot)
        masked = _painted(table)
        for row in named:
            # The name column is 16 wide at 100 columns: the start of each name is enough to spot it.
            assert row.name[:10] not in masked, "a cached line outlived the mask"
            aka = row.name.partition("“")[2].rstrip("”")
            assert not aka or aka not in masked
        assert named[0].initials in masked and "names masked" in screen_text(app.screen)
        await pilot.press("ctrl+backslash")
        await settle(pilot)
        assert _painted(table) == shown
