"""A report for the current or a future month says it is partial (the month is not over), in the
program time zone: the service, the text/JSON/HTML outputs and the report screen under Pilot."""

from __future__ import annotations

import json

from tests.tui_support import make_app, screen_text, settle
from vipterm.services.report import build_report
from vipterm.services.report_render import render


def test_the_current_and_a_future_month_are_partial_a_past_one_is_not(demo_store):
    today = demo_store.clock.today().isoformat()  # 2026-11-23, frozen by the suite
    assert today == "2026-11-23"
    for month in ("2026-11", "2027-02"):
        report = build_report(demo_store, month)
        assert report.partial and report.partial_as_of.isoformat() == today
        assert report.partial_note == f"partial: month not over (as of {today})"
    past = build_report(demo_store, "2026-10")
    assert not past.partial and past.partial_note == ""


def test_the_month_ends_at_local_midnight_not_at_utc_midnight(demo_store, monkeypatch):
    # 1 December 01:00 UTC is still 30 November, 18:00, in the program's zone (America/Denver).
    monkeypatch.setenv("VIPTERM_NOW", "2026-12-01T01:00:00+00:00")
    assert build_report(demo_store, "2026-11").partial
    # 1 December 08:00 UTC is 01:00 on 1 December in Denver: November is over.
    monkeypatch.setenv("VIPTERM_NOW", "2026-12-01T08:00:00+00:00")
    assert not build_report(demo_store, "2026-11").partial


def test_text_json_and_html_say_partial(demo_store):
    current = build_report(demo_store, "2026-11")
    past = build_report(demo_store, "2026-10")
    note = "partial: month not over (as of 2026-11-23)"
    assert note in render(current, "text")
    assert "partial" not in render(past, "text").lower()
    data = json.loads(render(current, "json"))
    assert data["partial"] is True and data["partial_as_of"] == "2026-11-23"
    old = json.loads(render(past, "json"))
    assert old["partial"] is False and old["partial_as_of"] is None
    assert "Partial: month not over (as of 2026-11-23)" in render(current, "html")
    assert "month not over" not in render(past, "html")


async def test_the_report_screen_marks_the_current_month_partial(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        screen = app.screen
        assert screen.report.month_key == "2026-10"
        assert "partial" not in screen_text(screen)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.report.month_key == "2026-11"
        assert "partial: month not over (as of 2026-11-23)" in screen_text(screen)
