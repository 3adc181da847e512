"""Which facts are corrected: a contact, notification attempt, outcome or referral event that a
`FactCorrection` supersedes (a new fact entered in its place) or voids.

Facts are add-only and never edited; a correction is a new fact of its own, synced like any other.
Every count and list that reads facts (the report, the caseload's last contact, the client's
funnel, follow-up closing) leaves corrected ones out; the client file shows them, marked.

A correction counts only when it names the same client as the fact it corrects: a laptop may
write corrections about its own clients only (the write scope), and so cannot void another
worker's client's fact by naming its id.

Provides `corrected_ids` (for Python readers), `live_sql` (a SQL condition for SQL readers) and
`corrections_of` (what the client file shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

# How each correctable fact reaches its client (the correction must name the same one).
_CLIENT_OF = {
    "contact": "{a}.client_id",
    "notification_attempt": "{a}.client_id",
    "outcome": "{a}.client_id",
    "referral_event": "(SELECT r.client_id FROM referral r WHERE r.id = {a}.referral_id)",
}


def live_sql(table: str, alias: str) -> str:
    """A SQL condition true when the fact `alias` (a row of `table`) has no live correction."""
    client = _CLIENT_OF[table].format(a=alias)
    return (f"NOT EXISTS (SELECT 1 FROM fact_correction x WHERE x.row_id = {alias}.id "
            f"AND x.tbl = '{table}' AND x.deleted_at IS NULL AND x.client_id = {client})")


def corrected_ids(session: Session, client_id: str | None = None) -> set[str]:
    """Ids of the facts (of `client_id`, or of everyone) that a live correction supersedes or voids."""
    out: set[str] = set()
    for table, client in _CLIENT_OF.items():
        sql = (f"SELECT f.id FROM {table} f JOIN fact_correction x ON x.row_id = f.id AND x.tbl = '{table}' "
               f"AND x.deleted_at IS NULL AND x.client_id = {client.format(a='f')}")
        params = {}
        if client_id is not None:
            sql += " WHERE x.client_id = :client"
            params["client"] = client_id
        out.update(r[0] for r in session.execute(text(sql), params))
    return out


@dataclass(frozen=True)
class CorrectionView:
    """How a fact was corrected: superseded by `replacement_id`, or voided (no replacement)."""

    correction_id: str
    tbl: str
    row_id: str
    replacement_id: str | None
    reason: str
    at: datetime

    @property
    def voided(self) -> bool:
        return self.replacement_id is None


def corrections_of(session: Session, client_id: str) -> dict[str, CorrectionView]:
    """The live corrections of the client's facts, by the corrected fact's id (the first one
    made wins when two laptops corrected the same fact)."""
    ids = corrected_ids(session, client_id)
    rows = session.execute(text(
        "SELECT id, tbl, row_id, replacement_id, reason, at FROM fact_correction "
        "WHERE client_id = :client AND deleted_at IS NULL ORDER BY at, id"), {"client": client_id}).all()
    out: dict[str, CorrectionView] = {}
    for cid, tbl, row_id, replacement, reason, at in rows:
        if row_id in ids and row_id not in out:
            when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            out[row_id] = CorrectionView(cid, tbl, row_id, replacement, reason or "", when)
    return out
