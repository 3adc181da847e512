"""The caseload's in-memory filter index against `filter_rows`, on the TUI's worker database (its
clients have accents, aliases and every urgency)."""

from __future__ import annotations

from vipterm.services import caseload


def test_the_index_answers_every_key_as_filter_rows_does(tui_store):
    """The in-memory index narrows from the previous answer and remembers recent ones; typed,
    erased and retyped, with urgency tokens that select other rows as they grow, every answer is
    the one `filter_rows` gives over all rows."""
    rows = caseload.caseload(tui_store, worker_id=None)
    assert any(r.urgency == caseload.OVERDUE for r in rows) and any(r.urgency == caseload.DUE_TODAY for r in rows)
    index = caseload.CaseloadIndex(rows)
    texts = []
    for word in ("gar", "ma ", "Núñez", "!", "!!", "!today", "!ov sou", "act", "vip-", "zzq"):
        texts += [word[:n] for n in range(1, len(word) + 1)] + [word[:n] for n in range(len(word) - 1, -1, -1)]
    texts += ["maria  ", "  maria", "MARIA", "!later vall", "!due", "!d", "!"]
    for query in texts:
        assert index.filter(query) == caseload.filter_rows(rows, query), query
    assert index.filter("") is rows
    # A replaced row is found by its new text, the old one no longer.
    target = rows[-1]
    index.filter("zzz")  # an answer remembered before the change must not survive it
    fresh = [
        caseload.CaseloadRow(
            **{
                **{f: getattr(target, f) for f in target.__dataclass_fields__},
                "search_text": target.search_text + " zzz",
            }
        )
    ]
    index.replace([target.client_id], fresh)
    assert [r.client_id for r in index.filter("zzz")] == [target.client_id]
    assert len(index.rows) == len(rows) and index.rows is not rows
    index.replace([target.client_id], [])  # left the caseload (closed, reassigned)
    assert index.filter("zzz") == [] and len(index) == len(rows) - 1
