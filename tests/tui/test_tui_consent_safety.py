"""Pilot: consents (k) and the safety plan (p) in the client file, the referral form's consent line
and refusal, the offer of a safety plan after an urgent safety need, and a due review in the task
view."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from tests.tui.test_tui_forms import TODAY, _error, _first_row, _open, _type_into
from tests.tui_support import FROZEN_NOW, make_app, settle, wait_for
from vipterm import domain
from vipterm.services import caseload as caseload_service
from vipterm.services import consent, records
from vipterm.store.models import Consent, Referral
from vipterm.tui.client_file import ClientFileScreen
from vipterm.tui.consent_forms import ConsentForm, SafetyPlanForm
from vipterm.tui.forms import AssessmentForm, ReferralForm
from vipterm.tui.widgets import ConfirmModal


def _header(app) -> str:
    found = app.screen.query("#cf-header")  # empty until the client file is composed
    return str(found.first().render()) if found else ""


async def test_consent_referral_check_and_safety_plan_in_the_client_file(tui_path, tui_store):
    rows = caseload_service.caseload(tui_store, today=TODAY, now=FROZEN_NOW)
    row = next(
        r
        for r in rows
        if consent.safety_plan(tui_store, r.client_id) is None and not consent.list_consents(tui_store, r.client_id)
    )
    legal = records.search_providers(tui_store, "", need="legal")[:2]
    assert len(legal) == 2
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await wait_for(pilot, lambda: "safety plan: none" in _header(app))
        assert "consents: none current" in _header(app)

        # k: a consent to share, first without its provider (refused, nothing written, draft kept).
        form = await _open(pilot, "k", ConsentForm)
        await _type_into(pilot, "kind", "sharing")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "names the provider" in _error(form, "provider_id")
        assert app.screen is form and form.value("kind").startswith("sharing")
        await _type_into(pilot, "provider", legal[0].name)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        await wait_for(pilot, lambda: legal[0].name in _header(app))
        with tui_store.read() as s:
            [given] = s.exec(select(Consent).where(Consent.client_id == row.client_id)).all()
        assert given.kind == "share_provider" and given.provider_id == legal[0].id and given.method == "written"

        # r: sharing with the other provider is refused and said under the provider.
        form = await _open(pilot, "r", ReferralForm)
        await _type_into(pilot, "need_domain", "legal")
        await settle(pilot)
        await _type_into(pilot, "provider_search", legal[1].name)
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        assert form.chosen.id == legal[1].id
        await wait_for(pilot, lambda: "no written consent" in str(form.query_one("#consent-line").render()))
        await _type_into(pilot, "shares_info", "yes")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "no written consent to share" in _error(form, "provider_id")
        # The consented provider: the line says so and the referral is sent.
        await _type_into(pilot, "provider_search", legal[0].name)
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        assert form.chosen.id == legal[0].id
        await wait_for(pilot, lambda: "✓ written consent" in str(form.query_one("#consent-line").render()))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        with tui_store.read() as s:
            sent = s.exec(
                select(Referral).where(Referral.client_id == row.client_id, Referral.shares_info.is_(True))
            ).all()
        assert [(r.provider_id, r.status) for r in sent] == [(legal[0].id, "sent")]

        # a: an urgent safety/retaliation need offers the safety plan; y opens it.
        form = await _open(pilot, "a", AssessmentForm)
        form.query_one("#needs-grid").focus()
        order = list(domain.NeedDomain)
        await pilot.press(*(["0"] * order.index(domain.NeedDomain.SAFETY)), "3")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "no safety plan" in str(app.screen.query_one("Static").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, SafetyPlanForm))
        form = app.screen
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "empty" in _error(form, "threats") and app.screen is form
        await _type_into(pilot, "threats", "dispute with a group")
        await _type_into(pilot, "review_on", (TODAY + timedelta(days=2)).isoformat())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
        await wait_for(pilot, lambda: f"review {(TODAY + timedelta(days=2)).isoformat()}" in _header(app))
    plan = consent.safety_plan(tui_store, row.client_id)
    assert plan.threats == "dispute with a group" and plan.review_on == TODAY + timedelta(days=2)


async def test_a_due_safety_plan_review_is_in_the_task_view_and_d_opens_the_plan(tui_path, tui_store):
    row = _first_row(tui_store)
    consent.save_safety_plan(tui_store, row.client_id, threats="conflict", review_on=TODAY)
    client = caseload_service.client_file(tui_store, row.client_id).client
    assert client.assigned_worker_id == tui_store.worker_id
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("T")
        await settle(pilot)
        screen = app.screen
        key = next(k for k in screen.rows if k.startswith("safety_plan:"))
        table = screen.query_one("#tasks-table")
        table.move_cursor(row=table.get_row_index(key))
        assert screen.current_task().kind == "safety_plan" and screen.current_task().group == "today"
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, SafetyPlanForm))
        assert app.screen.value("threats") == "conflict"
        await _type_into(pilot, "review_on", (TODAY + timedelta(days=30)).isoformat())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen)
        await settle(pilot)
        assert not [k for k in screen.rows if k.startswith("safety_plan:")]


async def test_flagging_retaliation_risk_in_the_edit_form_offers_a_safety_plan(tui_path, tui_store):
    from vipterm.tui.client_forms import ClientEditForm

    rows = caseload_service.caseload(tui_store, today=TODAY, now=FROZEN_NOW)
    row = next(
        r
        for r in rows
        if consent.safety_plan(tui_store, r.client_id) is None
        and "retaliation_risk" not in caseload_service.client_file(tui_store, r.client_id).client.risk_flags
    )
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_client(row.client_id)
        await wait_for(pilot, lambda: "safety plan: none" in _header(app))
        form = await _open(pilot, "e", ClientEditForm)
        flags = form.query_one("#risk_flags")
        flags.focus()
        flags.highlighted = 0  # retaliation risk, the first flag
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "retaliation risk" in str(app.screen.query_one("Static").render())
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ClientFileScreen)
    assert consent.safety_plan(tui_store, row.client_id) is None
    assert "retaliation_risk" in caseload_service.client_file(tui_store, row.client_id).client.risk_flags
