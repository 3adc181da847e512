"""Drafts survive a crash: a form's input is kept in the encrypted database as it is typed (never
in a plain file, never synced), deleted when the form is saved or discarded, kept across a lock,
and offered back (restore / discard / later) at the next start."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import DEMO_PASSPHRASE
from tests.tui_support import (  # noqa: F401
    FROZEN_NOW,
    make_app,
    screen_text,
    settle,
    unlock,
    wait_for,
)
from vipterm.services import caseload as caseload_service
from vipterm.services import drafts
from vipterm.store.models import Assessment, AssessmentItem, Contact
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.drafts import DraftOfferModal
from vipterm.tui.forms import AssessmentForm, ContactForm, NeedsGrid
from vipterm.tui.unlock import UnlockScreen
from vipterm.tui.widgets import ConfirmModal, FormModal, NoteArea

TODAY = FROZEN_NOW.date()
NOTE = "Met at the bus stop.\nHe asked about the job program\n— call Tuesday"


@pytest.fixture(autouse=True)
def quick_drafts(monkeypatch):
    monkeypatch.setattr(FormModal, "DRAFT_DELAY", 0.05)


def _first_row(store):
    return caseload_service.caseload(store, today=TODAY, now=FROZEN_NOW)[0]


async def _wait_for_draft(pilot, store, predicate=lambda found: bool(found)):
    await wait_for(pilot, lambda: predicate(drafts.list_drafts(store)))


# --- the service --------------------------------------------------------------------------------


def test_a_draft_is_local_encrypted_and_never_in_the_change_log(store, db_path):
    marker = "draft-marker-7f3a9 Núñez"
    with store.read() as session:
        logged = session.exec(text("SELECT count(*) FROM change_log")).scalar_one()
    drafts.save_draft(store, "contact:c1", "contact", "c1", {"note": marker, "mode": "phone"})
    drafts.save_draft(store, "contact:c1", "contact", "c1", {"note": marker + " (more)", "mode": "phone"})
    [kept] = drafts.list_drafts(store)
    assert (kept.key, kept.form, kept.client_id) == ("contact:c1", "contact", "c1")
    assert kept.fields == {"note": marker + " (more)", "mode": "phone"}
    with store.read() as session:
        assert session.exec(text("SELECT count(*) FROM change_log")).scalar_one() == logged
        assert session.exec(text("SELECT count(*) FROM change_log WHERE tbl = 'form_draft'")).scalar_one() == 0
    from vipterm.store.models import SYNC_POLICY

    assert "form_draft" not in SYNC_POLICY
    # Nothing readable on disk: the database and its journal files are encrypted.
    for path in db_path.parent.iterdir():
        if path.name.startswith(db_path.name):
            assert marker.encode() not in path.read_bytes(), path.name
            assert "Núñez".encode() not in path.read_bytes(), path.name
    drafts.delete_draft(store, "contact:c1")
    assert drafts.list_drafts(store) == []


def test_drafts_of_another_worker_or_unreadable_are_not_offered(store):
    drafts.save_draft(store, "outcome:c2", "outcome", "c2", {"note": "mine"})
    with store.write(capture=False) as session:
        session.execute(
            text(
                "INSERT INTO form_draft (key, form, client_id, worker_id, fields, updated_at) "
                "VALUES ('contact:c3', 'contact', 'c3', 'someone-else', '{}', '2026-11-23 10:00:00'),"
                " ('contact:c4', 'contact', 'c4', :me, 'not json', '2026-11-23 10:00:00')"
            ),
            {"me": store.worker_id},
        )
    assert [d.key for d in drafts.list_drafts(store)] == ["outcome:c2"]
    assert drafts.discard_drafts_of_client(store, "c2") == 1
    assert [d.key for d in drafts.list_drafts(store)] == []


# --- the forms keep their draft -----------------------------------------------------------------


async def test_typing_keeps_a_draft_and_saving_deletes_it(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ContactForm)
        app.screen.query_one("#outcome").value = "reached"
        app.screen.query_one("#note", NoteArea).focus()
        await pilot.press(*["enter" if c == "\n" else c for c in "met him at the park\ncall back friday"])
        await _wait_for_draft(pilot, tui_store)
        await _wait_for_draft(pilot, tui_store, lambda found: found and "friday" in found[0].fields["note"])
        [kept] = drafts.list_drafts(tui_store)
        assert kept.key == f"contact:{row.client_id}" and kept.client_id == row.client_id
        assert kept.fields["note"] == "met him at the park\ncall back friday"
        assert kept.fields["outcome"] == "reached"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert drafts.list_drafts(tui_store) == []


async def test_a_save_that_fails_in_the_database_keeps_the_draft(tui_path, tui_store):
    # The draft is deleted in the save's own transaction: a save refused inside it (the client was
    # removed meanwhile) rolls the deletion back with the contact.
    row = _first_row(tui_store)
    with tui_store.read() as session:
        contacts = session.execute(text("SELECT count(*) FROM contact")).scalar_one()
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ContactForm)
        app.screen.query_one("#outcome").value = "reached"
        app.screen.query_one("#note", NoteArea).focus()
        await pilot.press(*"kept when the save fails")
        await _wait_for_draft(pilot, tui_store, lambda found: found and "fails" in found[0].fields["note"])
        with tui_store.write(capture=False) as session:
            session.execute(
                text("UPDATE client SET deleted_at = '2026-01-01 00:00:00' WHERE id = :id"), {"id": row.client_id}
            )
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ContactForm)
        assert not app.screen.saving
    assert [d.fields["note"] for d in drafts.list_drafts(tui_store)] == ["kept when the save fails"]
    with tui_store.read() as session:
        assert session.execute(text("SELECT count(*) FROM contact")).scalar_one() == contacts


async def test_a_lock_right_after_typing_keeps_every_word(tui_path, tui_store):
    """Locked before typing paused (no draft written yet): the lock writes it, so a terminal
    killed while locked loses nothing typed."""
    app = make_app(tui_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        app.screen.query_one("#note", NoteArea).focus()
        await pilot.press(*"typed just before the lock", "ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert [d.fields["note"] for d in drafts.list_drafts(tui_store)] == ["typed just before the lock"]


async def test_discarding_the_form_discards_the_draft_and_a_lock_keeps_it(tui_path, tui_store):
    app = make_app(tui_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        app.screen.query_one("#note", NoteArea).focus()
        await pilot.press(*"kept through the lock")
        await _wait_for_draft(pilot, tui_store)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert [d.fields["note"] for d in drafts.list_drafts(tui_store)] == ["kept through the lock"]
        await unlock(pilot, DEMO_PASSPHRASE)
        assert app.screen.query_one("#note", NoteArea).value == "kept through the lock"
        assert not any(isinstance(s, DraftOfferModal) for s in app.screen_stack)  # its form is open
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert drafts.list_drafts(tui_store) == []


async def test_a_change_back_to_the_defaults_deletes_the_draft(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        app.screen.query_one("#note", NoteArea).focus()
        await pilot.press(*"abc")
        await _wait_for_draft(pilot, tui_store)
        await pilot.press("backspace", "backspace", "backspace")
        await _wait_for_draft(pilot, tui_store, lambda found: not found)


# --- offered back at the next start ---------------------------------------------------------------


async def test_a_draft_left_by_a_crash_is_offered_and_restored(tui_path, tui_store):
    row = _first_row(tui_store)
    drafts.save_draft(
        tui_store,
        f"contact:{row.client_id}",
        "contact",
        row.client_id,
        {"note": NOTE, "mode": "phone", "outcome": "no answer", "duration_min": "15"},
    )
    app = make_app(tui_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        await wait_for(pilot, lambda: isinstance(app.screen, DraftOfferModal))
        shown = screen_text(app.screen)
        assert "Unsaved draft" in shown and "Log contact" in shown and row.pseudonym in shown
        assert "Met at the bus stop." in shown
        await pilot.press("r")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ContactForm) and form.ref.client_id == row.client_id
        assert form.query_one("#note", NoteArea).value == NOTE
        assert form.query_one("#mode").value == "phone" and form.query_one("#duration_min").value == "15"
        assert form.is_dirty()  # restored, not saved: escape would ask
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert drafts.list_drafts(tui_store) == []
    with tui_store.read() as session:
        saved = session.exec(
            select(Contact)
            .where(Contact.client_id == row.client_id)
            .order_by(Contact.created_at.desc(), Contact.id.desc())
        ).first()
    assert saved.note == NOTE and saved.mode == "phone" and saved.outcome == "no_answer" and saved.duration_min == 15


async def test_an_offered_draft_can_be_discarded_or_left_for_later(tui_path, tui_store):
    rows = caseload_service.caseload(tui_store, today=TODAY, now=FROZEN_NOW)
    drafts.save_draft(tui_store, f"outcome:{rows[0].client_id}", "outcome", rows[0].client_id, {"note": "first"})
    drafts.save_draft(tui_store, f"follow_up:{rows[1].client_id}", "follow_up", rows[1].client_id, {"note": "second"})
    app = make_app(tui_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        await wait_for(pilot, lambda: isinstance(app.screen, DraftOfferModal))
        assert "1 more" in screen_text(app.screen)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)  # discarding asks first
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, DraftOfferModal)  # then the next one
        await pilot.press("escape")  # later
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    assert len(drafts.list_drafts(tui_store)) == 1  # one discarded, one kept for later


async def test_a_needs_assessment_draft_comes_back_with_its_levels(tui_path, tui_store):
    row = _first_row(tui_store)
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AssessmentForm)
        await pilot.press("3", "up", "p", "down", "1")
        # The draft as of the last key (one kept after the first keys would be a race to win).
        await _wait_for_draft(
            pilot, tui_store, lambda found: found and ["food", 1] in found[0].fields.get("levels", [])
        )
        kind = app.screen.query_one("#kind").value
    kept = drafts.list_drafts(tui_store)[0]
    assert kept.key == f"assessment:{row.client_id}"
    app = make_app(tui_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        await wait_for(pilot, lambda: isinstance(app.screen, DraftOfferModal))
        await pilot.press("r")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AssessmentForm)
        grid = form.query_one(NeedsGrid)
        assert grid.levels == {"housing": 3, "food": 1} and grid.priorities == {"housing"}
        assert str(grid.get_row("housing")[2]).startswith("3")
        assert form.query_one("#kind").value == kind
        await pilot.press("ctrl+s")
        await settle(pilot)
    with tui_store.read() as session:
        latest = session.exec(
            select(Assessment).where(Assessment.client_id == row.client_id).order_by(Assessment.created_at.desc())
        ).first()
        items = {
            i.domain: (i.level, i.client_priority)
            for i in session.exec(select(AssessmentItem).where(AssessmentItem.assessment_id == latest.id))
        }
    assert items == {"housing": (3, True), "food": (1, False)}
    assert drafts.list_drafts(tui_store) == []


def test_a_retention_purge_erases_the_drafts_about_the_client(tmp_path):
    from tests.conftest import PASSPHRASE
    from vipterm.domain import Role
    from vipterm.services import records
    from vipterm.services import sync as sync_service
    from vipterm.services.database import create_store

    with create_store(tmp_path / "coord.db", PASSPHRASE, worker_name="Coordinator", role=Role.COORDINATOR) as store:
        gone = records.create_client(store, records.ClientDraft(first_name="Ana", area_command="valley"))
        kept = records.create_client(store, records.ClientDraft(first_name="Bea", area_command="valley"))
        drafts.save_draft(store, f"contact:{gone.id}", "contact", gone.id, {"note": "about Ana"})
        drafts.save_draft(store, f"contact:{kept.id}", "contact", kept.id, {"note": "about Bea"})
        sync_service.purge_client(store, gone.id)
        assert [d.client_id for d in drafts.list_drafts(store)] == [kept.id]


def test_a_draft_too_large_to_keep_is_refused_not_written(store):
    from vipterm.errors import ValidationError

    with pytest.raises(ValidationError):
        drafts.save_draft(store, "contact:c9", "contact", "c9", {"note": "x" * (drafts.MAX_DRAFT_BYTES + 1)})
    assert drafts.list_drafts(store) == []


async def test_a_form_opened_right_after_the_unlock_is_not_offered_its_own_draft(tui_path, tui_store, monkeypatch):
    # Drafts are offered once, at the first paint: what a crash left. The reads that wait until the
    # screen has settled must not offer the draft of a form the worker opened and typed in since.
    monkeypatch.setattr("vipterm.tui.app.BACKGROUND_AFTER_FIRST_PAINT_S", 2.0)  # the draft is kept before it
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ContactForm))
        app.screen.query_one("#note", NoteArea).focus()
        await pilot.press(*"called back")
        await _wait_for_draft(pilot, tui_store)
        assert not app.warmed.is_set()  # the settling delay is not over
        await wait_for(pilot, lambda: app.warmed.is_set())  # past it: the index and warm-up have started
        assert isinstance(app.screen, ContactForm), type(app.screen).__name__
