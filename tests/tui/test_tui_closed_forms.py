"""A closed form lets go of what it held: the form, its note (the text typed about a client) and
the lines its widgets drew are freed once it closes, not kept reachable from the app. Three
retentions kept them (see `ScreenHooks.on_unmount` and `_letting_go` in vipterm/tui/base.py):
memory that grew with the forms opened, all of it walked by every full garbage collection (the
slow contact saves in bench/FINDINGS.md). The outcome form stands for every form here: the contact
form is kept and opened again (tests/tui/test_tui_contact_form_reopened.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import pytest
from textual.worker import active_worker

from tests.tui_support import make_app, settle
from vipterm import domain
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.forms import OutcomeForm
from vipterm.tui.widgets import FormModal, NoteArea

SAVES = 6


@pytest.fixture(autouse=True)
def quick_drafts(monkeypatch):
    # A form's pending draft timer (asyncio's handle of it) names the form until it is due, even
    # once stopped: a short wait keeps that out of what is checked here.
    monkeypatch.setattr(FormModal, "DRAFT_DELAY", 0.05)


async def _record_outcomes(pilot, keep: Callable[[OutcomeForm], list]) -> list:
    """Record SAVES outcomes through the form (open, type a note, ctrl+s); what `keep` took from
    each form while it was open, once the forms are closed and a full collection has run."""
    app = pilot.app
    kept = []
    for n in range(SAVES):
        await pilot.press("o")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, OutcomeForm)
        form.query_one("#kind").value = domain.OutcomeKind.choices()[0][0]
        form.query_one("#note", NoteArea).focus()
        await pilot.press(*f"outcome {n}")
        kept += keep(form)
        del form
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CaseloadScreen)
    await pilot.pause(FormModal.DRAFT_DELAY * 2)
    gc.collect()
    return kept


def _held(refs) -> int:
    """How many of the forms are still held. One may be, for a moment: a timer or a callback the
    form scheduled names it until it is due (asyncio keeps the context it was scheduled in)."""
    return sum(ref() is not None for ref in refs)


async def test_a_saved_form_its_note_and_the_lines_it_drew_are_freed(tui_path, tui_store):
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        kept = await _record_outcomes(
            pilot,
            lambda form: [
                (
                    weakref.ref(form),
                    weakref.ref(form.query_one(NoteArea)),
                    # Each widget's style cache holds the lines it last drew (the title names the client).
                    [weakref.ref(widget._styles_cache) for widget in form.query("*")],
                )
            ],
        )
        forms, notes, caches = zip(*kept)
        assert min(len(form) for form in caches) > 20
        # The thread that ran a form's save kept the save's worker, and so the form, until it ran
        # another worker; so did what the save's callback started.
        assert _held(forms) <= 1
        # Textual's TextArea watches the app's theme and never stops: every note stayed reachable.
        assert _held(notes) <= 1
        # Textual's colour memo (`lru_cache` on a method) kept the style caches of 1,024 widgets.
        assert _held([lambda form=form: any(cache() is not None for cache in form) or None for form in caches]) <= 1


async def test_a_screens_thread_work_runs_without_naming_its_worker(tui_path, tui_store):
    # Textual names the worker in the pool thread's own context and never takes the name off: the
    # idle thread, and every callback its work sends to the app, kept the worker and its screen.
    app = make_app(tui_path, tui_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        named = []
        worker = app.screen.run_worker(lambda: named.append(active_worker.get(None)), thread=True)
        await worker.wait()
        assert named == [None]
