"""Nothing is misrecorded (issue "Nothing a worker types is lost…"), under Pilot in the real app
on a real encrypted database: the referral provider saved is the one shown as chosen; keys that
change data ask or can be undone; an unreached attempt is quick to log and never "reached";
automatic follow-ups replace each other; notifications are consistent; intake warns of a
possible duplicate."""

from __future__ import annotations

from sqlmodel import select
from textual.widgets import Input, OptionList, Static

from tests.tui_support import (  # noqa: F401
    FROZEN_NOW,
    make_app,
    screen_text,
    settle,
    tui_path,
    tui_store,
    tui_template,
)
from vipterm import domain
from vipterm.services import caseload as caseload_service
from vipterm.services import records
from vipterm.store.models import Referral
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.forms import ReferralForm
from vipterm.tui.widgets import FormRow

TODAY = FROZEN_NOW.date()


def _first_row(store):
    return caseload_service.caseload(store, today=TODAY, now=FROZEN_NOW)[0]


def _error(screen, field) -> str:
    row = next(r for r in screen.query(FormRow) if r.field_name == field)
    return row.error_text


async def _open(pilot, key, form_class):
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, form_class), type(pilot.app.screen).__name__
    return pilot.app.screen


async def _type_into(pilot, field_id: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#{field_id}", Input)
    field.focus()
    field.value = ""
    if text:
        await pilot.press(*text)
    await pilot.pause()


def _referrals(store, client_id):
    with store.read() as session:
        return session.exec(select(Referral).where(Referral.client_id == client_id)).all()


# --- 1. the referral provider -------------------------------------------------------------------------


async def test_the_provider_saved_is_the_one_shown_chosen_and_a_need_change_clears_it(tui_path, tui_store):
    row = _first_row(tui_store)
    legal = records.search_providers(tui_store, "", need="legal")
    legal = [p for p in legal if p.category == "legal"]
    assert len(legal) >= 2
    before = {r.id for r in _referrals(tui_store, row.client_id)}
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        form = await _open(pilot, "r", ReferralForm)
        await _type_into(pilot, "need_domain", "legal")
        await settle(pilot)
        options = form.query_one("#provider_id", OptionList)
        assert options.highlighted is None, "a freshly listed directory chooses nobody"
        await _type_into(pilot, "provider_search", "")
        await pilot.press("down", "down")  # into the list, then onto the second legal provider
        await settle(pilot)
        assert form.chosen.id == legal[1].id
        assert legal[1].name in str(form.query_one("#provider-chosen", Static).render())

        # Correcting the need to one this provider does not serve clears the choice and says so.
        await _type_into(pilot, "need_domain", "housing")
        await settle(pilot)
        assert form.chosen is None
        assert options.highlighted is None
        assert "does not serve it" in _error(form, "provider_id")
        assert "no provider chosen" in str(form.query_one("#provider-chosen", Static).render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form, "no referral is sent without a provider"
        assert "choose a provider" in _error(form, "provider_id")
        assert {r.id for r in _referrals(tui_store, row.client_id)} == before

        # Back to legal, choose the second one again; a new search keeps the choice.
        await _type_into(pilot, "need_domain", "legal")
        await settle(pilot)
        options.focus()
        await pilot.press("down", "down")
        await settle(pilot)
        assert form.chosen.id == legal[1].id
        assert _error(form, "provider_id") == ""
        await _type_into(pilot, "provider_search", "zzzz")
        await settle(pilot)
        assert options.option_count == 0 and form.chosen.id == legal[1].id
        await _type_into(pilot, "provider_search", "")
        await settle(pilot)
        assert options.highlighted is not None
        assert options.get_option_at_index(options.highlighted).id == legal[1].id
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
    new = [r for r in _referrals(tui_store, row.client_id) if r.id not in before]
    assert len(new) == 1
    assert new[0].provider_id == legal[1].id and new[0].need_domain == "legal" and new[0].status == "sent"


async def test_a_need_change_keeps_a_provider_that_serves_the_new_need(tui_path, tui_store):
    row = _first_row(tui_store)
    shelters = [p for p in records.search_providers(tui_store, "", need="housing") if p.category == "shelter"]
    assert shelters
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await settle(pilot)
        form = await _open(pilot, "r", ReferralForm)
        await _type_into(pilot, "need_domain", "housing")
        await settle(pilot)
        form.query_one("#provider_id", OptionList).focus()
        await pilot.press("down")
        await settle(pilot)
        chosen = form.chosen
        assert chosen is not None and chosen.category in ("shelter", "rental_assistance")
        await _type_into(pilot, "need_domain", "safety")  # relocation: does not serve it
        await settle(pilot)
        assert form.chosen is None
        await _type_into(pilot, "need_domain", "housing")
        await settle(pilot)
        assert form.chosen is None, "a cleared choice does not come back on its own"
