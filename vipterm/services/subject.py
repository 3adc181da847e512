"""A client's own record: everything vipterm holds about one client, to hand to them.

Provides `subject_record(store, client_id, redact_staff=False)` (a JSON-ready dict: identity,
the client's program fields, every record about them with its notes — notification attempts,
contacts, assessments and their levels, referrals and every status change, outcomes, follow-ups,
corrections, planned notifications, consents, the safety plan — the field history and the audit
entries about the record), `render_html(record)` (a printable, self-contained page: inline style,
no script, no network resource), `write_subject_export(...)` (writes the file and audits the
export), and `show_extras(store, client_id)` (what `clients show --json` adds to the client file).

Records are read by their link to the client (`sync.outbox.CLIENT_LINK`, the one list of what
belongs to a client), so a record type added there is exported without a change here; deleted
(tombstoned) records are included and marked, because they are still held. Staff are named by
name; `redact_staff` replaces each with "staff member N" (the same N throughout), including the
names of a notification's team. Nothing of any other client is read.
"""

from __future__ import annotations

import html
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from vipterm import domain
from vipterm.errors import NotFound, ValidationError
from vipterm.services.database import Store
from vipterm.store.files import write_atomically

FORMAT_VERSION = 1
# Columns that name a staff member (a worker row's id).
STAFF_COLUMNS = frozenset(
    {
        "worker_id",
        "recorded_by",
        "assessed_by",
        "created_by",
        "by_worker",
        "owner_id",
        "done_by",
        "withdrawn_by",
        "updated_by",
        "held_by",
        "assigned_worker_id",
    }
)
# Order and headings of the sections (tables not named here follow, under their own name).
SECTIONS = {
    "notification_attempt": "Custom notification attempts",
    "contact": "Contacts",
    "assessment": "Needs assessments",
    "referral": "Referrals",
    "outcome": "Outcomes",
    "follow_up": "Follow-ups",
    "fact_correction": "Corrections of recorded facts",
    "planned_notification": "Planned custom notifications",
    "consent": "Consents",
    "safety_plan": "Safety plan",
}
# Children listed under their parent record, not as sections of their own.
CHILDREN = {
    "assessment_item": ("assessment", "assessment_id", "levels"),
    "referral_event": ("referral", "referral_id", "history"),
}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


class _Staff:
    """Staff ids -> names, or -> "staff member N" when redacted (numbered as first met)."""

    def __init__(self, names: dict[str, str], redact: bool):
        self.names, self.redact = names, redact
        self.seen: dict[str, str] = {}

    def __call__(self, worker_id: str | None) -> str | None:
        if not worker_id:
            return None
        if not self.redact:
            return self.names.get(worker_id, "unknown staff member")
        if worker_id not in self.seen:
            self.seen[worker_id] = f"staff member {len(self.seen) + 1}"
        return self.seen[worker_id]

    def name(self, name: str) -> str:
        """A free staff name (a notification team member's)."""
        if not self.redact:
            return name
        key = "name:" + name.strip().lower()
        if key not in self.seen:
            self.seen[key] = f"staff member {len(self.seen) + 1}"
        return self.seen[key]


def _rows(conn: Connection, tbl: str, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cur = conn.exec_driver_sql(f'SELECT * FROM "{tbl}" WHERE {where}', params)
    cols = list(cur.keys())
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _clean(row: dict[str, Any], staff: _Staff, providers: dict[str, str], tbl: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col, value in row.items():
        if col in STAFF_COLUMNS:
            out[col] = staff(value)
        elif col == "provider_id":
            out[col] = value
            out["provider"] = providers.get(value, "") if value else None
        elif tbl == "notification_attempt" and col == "team" and value:
            try:
                team = json.loads(value)
                out[col] = [{"name": staff.name(m.get("name", "")), "role": m.get("role", "")} for m in team]
            except (ValueError, AttributeError):
                out[col] = value if not staff.redact else "(team names withheld)"
        else:
            out[col] = _plain(value)
    return out


def subject_record(store: Store, client_id: str, *, redact_staff: bool = False) -> dict[str, Any]:
    """Everything held about the client (see the module docstring), as JSON-ready data."""
    from vipterm.services.field_history import field_history
    from vipterm.sync.outbox import CLIENT_LINK

    with store.read() as session:
        conn = session.connection()
        client_rows = _rows(conn, "client", "id = ?", (client_id,))
        if not client_rows:
            raise NotFound(f"no client with id {client_id}")
        staff = _Staff(dict(conn.exec_driver_sql("SELECT id, display_name FROM worker").all()), redact_staff)
        providers: dict[str, str] = dict(conn.exec_driver_sql("SELECT id, name FROM provider").all())
        identity = _rows(conn, "client_identity", "client_id = ?", (client_id,))
        records: dict[str, list[dict[str, Any]]] = {}
        parents: dict[str, list[str]] = {}
        for tbl, (col, via) in CLIENT_LINK.items():
            if tbl in ("client", "client_identity") or via is not None:
                continue
            rows = _rows(conn, tbl, f'"{col}" = ? ORDER BY rowid', (client_id,))
            records[tbl] = [_clean(r, staff, providers, tbl) for r in rows]
            parents[tbl] = [r["id"] for r in rows]
        for child, (parent, col, key) in CHILDREN.items():
            by_parent: dict[str, list[dict[str, Any]]] = {}
            for pid in parents.get(parent, []):
                kids = _rows(conn, child, f'"{col}" = ? ORDER BY rowid', (pid,))
                by_parent[pid] = [_clean(k, staff, providers, child) for k in kids]
            for rec in records.get(parent, []):
                rec[key] = by_parent.get(rec["id"], [])
        audit = _rows(conn, "audit_entry", "client_id = ? ORDER BY at, id", (client_id,))
    client = _clean(client_rows[0], staff, providers, "client")
    history = []
    for change in field_history(store, client_id):
        value = _plain(change.value)
        if change.field == "assigned_worker_id":
            value = staff(value)
        history.append(
            {
                "at": _plain(change.at),
                "field": change.field,
                "value": value,
                "device": change.device,
                "by": staff.name(change.by) if redact_staff else change.by,
            }
        )
    out = {
        "format": "vipterm subject export",
        "format_version": FORMAT_VERSION,
        "generated_at": _plain(store.clock.utcnow()) + " UTC",
        "staff_redacted": redact_staff,
        "client": client,
        "identity": _clean(identity[0], staff, providers, "client_identity") if identity else None,
        "consents": records.pop("consent", []),
        "safety_plan": records.pop("safety_plan", []),
        "records": records,
        "field_history": history,
        "audit": [
            {
                "at": _plain(a["at"]),
                "action": a["action"],
                "by": staff(a["worker_id"]),
                "device_id": a["device_id"],
                "detail": a["detail"],
            }
            for a in audit
        ],
    }
    return out


# --- HTML ---------------------------------------------------------------------------------------

_STYLE = """
body { font-family: Georgia, serif; margin: 2em; color: #111; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #444; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .4em 0 1em; width: 100%; }
th, td { border: 1px solid #999; padding: .2em .4em; text-align: left; vertical-align: top; font-size: .9em; }
th { background: #eee; width: 14em; }
td.note { white-space: pre-wrap; }
.deleted { color: #666; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } table { page-break-inside: avoid; } }
"""


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, (list, dict)):
        return html.escape(json.dumps(value, ensure_ascii=False))
    return html.escape(str(value))


def _kv(rec: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    rows = []
    for key, value in rec.items():
        if key in skip or isinstance(value, list) and value and isinstance(value[0], dict) and key != "team":
            continue
        rows.append(f'<tr><th>{html.escape(key.replace("_", " "))}</th><td class="note">{_cell(value)}</td></tr>')
    cls = ' class="deleted"' if rec.get("deleted_at") else ""
    return f"<table{cls}>" + "".join(rows) + "</table>"


def render_html(record: dict[str, Any]) -> str:
    """A printable page of the record: every value escaped, no script, no external resource."""
    client = record["client"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Client record {html.escape(client.get('pseudonym') or '')}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Client record {html.escape(client.get('pseudonym') or '')}</h1>",
        f"<p>Everything the program holds about this client, as of {html.escape(record['generated_at'])}."
        + (" Staff names are replaced." if record["staff_redacted"] else "")
        + "</p>",
    ]
    parts.append("<h2>Identity</h2>" + (_kv(record["identity"]) if record["identity"] else "<p>—</p>"))
    parts.append("<h2>Program record</h2>" + _kv(client))
    parts.append("<h2>Consents</h2>" + ("".join(_kv(c) for c in record["consents"]) or "<p>none recorded</p>"))
    parts.append("<h2>Safety plan</h2>" + ("".join(_kv(p) for p in record["safety_plan"]) or "<p>none</p>"))
    names = list(SECTIONS) + [t for t in record["records"] if t not in SECTIONS]
    for tbl in names:
        if tbl not in record["records"]:
            continue
        rows = record["records"][tbl]
        body = []
        for rec in rows:
            body.append(_kv(rec))
            for key in ("levels", "history"):
                if rec.get(key):
                    body.append(
                        f"<p>{'Levels' if key == 'levels' else 'Status history'}:</p>"
                        + "".join(_kv(k) for k in rec[key])
                    )
        parts.append(
            f"<h2>{html.escape(SECTIONS.get(tbl, tbl.replace('_', ' ')))}</h2>" + ("".join(body) or "<p>none</p>")
        )
    hist = "".join(
        f'<tr><td>{_cell(h["at"])}</td><td>{_cell(h["field"])}</td><td class="note">{_cell(h["value"])}'
        f"</td><td>{_cell(h['by'])}</td><td>{_cell(h['device'])}</td></tr>"
        for h in record["field_history"]
    )
    parts.append(
        "<h2>Field history</h2><table><tr><th>when (UTC)</th><th>field</th><th>value</th><th>by</th>"
        f"<th>device</th></tr>{hist}</table>"
    )
    audit = "".join(
        f"<tr><td>{_cell(a['at'])}</td><td>{_cell(a['action'])}</td><td>{_cell(a['by'])}</td>"
        f"<td>{_cell(a['detail'])}</td></tr>"
        for a in record["audit"]
    )
    parts.append(
        "<h2>Who viewed or exported this record</h2><table><tr><th>when (UTC)</th><th>what</th><th>by</th>"
        f"<th>detail</th></tr>{audit}</table>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_subject_export(
    store: Store, client_id: str, out: Path, fmt: str, *, redact_staff: bool = False, force: bool = False
) -> dict[str, Any]:
    """Write the client's record to `out` as json or html, and audit the export. Returns the record."""
    if fmt not in ("json", "html"):
        raise ValidationError("the format is json or html", field="format")
    out = Path(out)
    if out.exists() and not force:
        raise ValidationError(f"{out} already exists (use --force to replace it)", field="out")
    if not out.parent.is_dir():
        raise ValidationError(f"{out.parent} is not a folder", field="out")
    record = subject_record(store, client_id, redact_staff=redact_staff)
    text = (
        json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n" if fmt == "json" else render_html(record)
    )
    write_atomically(out, text)  # 0600 from the start: it is a person's whole record
    _audit(store, client_id, f"subject export {fmt}" + (", staff redacted" if redact_staff else ""))
    return record


def _audit(store: Store, client_id: str, detail: str) -> None:
    action = getattr(domain.AuditAction, "SUBJECT_EXPORT", domain.AuditAction.EXPORT)
    from vipterm.services.audit import record_audit

    record_audit(store, action, client_id, detail)


# --- clients show --json -------------------------------------------------------------------------


def show_extras(store: Store, client_id: str) -> dict[str, Any]:
    """What `clients show --json` adds to the client file: the phone, every assessment with its
    levels, every referral with its status history and feedback, every outcome with its note,
    consents and the safety plan."""
    record = subject_record(store, client_id)
    recs = record["records"]

    def alive(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if not r.get("deleted_at")]

    return {
        "phone": (record["identity"] or {}).get("phone", ""),
        "assessments": [
            {
                "id": a["id"],
                "kind": a["kind"],
                "assessed_on": a["assessed_on"],
                "by": a["assessed_by"],
                "note": a["note"],
                "levels": {i["domain"]: i["level"] for i in alive(a.get("levels", []))},
                "priorities": [i["domain"] for i in alive(a.get("levels", [])) if i["client_priority"]],
            }
            for a in alive(recs.get("assessment", []))
        ],
        "referral_history": [
            {
                "id": r["id"],
                "need": r["need_domain"],
                "provider": r.get("provider"),
                "status": r["status"],
                "first_service_on": r["first_service_on"],
                "feedback": r["feedback"],
                "shares_info": bool(r.get("shares_info")),
                "events": [
                    {"status": e["status"], "at": e["at"], "by": e["by_worker"], "reason": e["reason"]}
                    for e in alive(r.get("history", []))
                ],
            }
            for r in alive(recs.get("referral", []))
        ],
        "outcomes": [
            {
                "id": o["id"],
                "kind": o["kind"],
                "occurred_on": o["occurred_on"],
                "source": o["source"],
                "note": o["note"],
                "recorded_by": o["recorded_by"],
            }
            for o in alive(recs.get("outcome", []))
        ],
        "consents": alive(record["consents"]),
        "safety_plan": next(iter(alive(record["safety_plan"])[-1:]), None),
    }
