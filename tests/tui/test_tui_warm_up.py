"""After unlock: the caseload first, then (once it is painted) the palette's index, the drafts to
offer and the warm-up of the screens opened next, which only reads."""

from __future__ import annotations

import gc
import sys

from sqlalchemy import text

from tests.conftest import DEMO_PASSPHRASE
from tests.tui_support import make_app, unlock, wait_for
from vipterm.services import drafts
from vipterm.tui.app import WARM_MODULES, YOUNG_GC_THRESHOLD
from vipterm.tui.caseload import CaseloadScreen
from vipterm.tui.drafts import DraftOfferModal


def _written(store) -> tuple[int, int]:
    with store.read() as session:
        return (
            session.execute(text("SELECT COUNT(*) FROM change_log")).scalar_one(),
            session.execute(text("SELECT COUNT(*) FROM audit_entry")).scalar_one(),
        )


async def test_after_the_caseload_the_index_drafts_and_a_read_only_warm_up(tui_path, tui_store):
    with tui_store.read() as session:
        client_id = session.execute(text("SELECT id FROM client WHERE status = 'active' LIMIT 1")).scalar_one()
    drafts.save_draft(tui_store, f"outcome:{client_id}", "outcome", client_id, {"note": "kept"})
    before = _written(tui_store)
    frozen_before, thresholds_before = gc.get_freeze_count(), gc.get_threshold()
    app = make_app(tui_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot, DEMO_PASSPHRASE)
        await wait_for(pilot, lambda: app.warmed.is_set() and len(app.client_index) > 0)
        # The session's objects are kept out of the full garbage collections from here on
        assert gc.get_freeze_count() > frozen_before
        # and young collections come less often (a closed screen's objects die young, uncollected).
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *thresholds_before[1:])
        caseload = next(s for s in app.screen_stack if isinstance(s, CaseloadScreen))
        assert caseload.loaded and caseload.rows
        await wait_for(pilot, lambda: isinstance(app.screen, DraftOfferModal))  # still offered
        await pilot.press("escape")  # later
    assert gc.get_freeze_count() == frozen_before  # and collectable again once the app is gone
    assert gc.get_threshold() == thresholds_before
    assert all(name in sys.modules for name in WARM_MODULES)
    assert _written(tui_store) == before  # nothing of the unlock's background work wrote
