"""`vipterm clients update|close|reopen|history|correct|void`: correcting and closing a client's records
from the command line, through the same services as the app (`vipterm.services.records`).

Every command takes the client as a full id, a unique id prefix or a pseudonym. Output names the
client by pseudonym and the fields changed, never their values (they may identify a person).
"""

from __future__ import annotations

import argparse
from datetime import date, datetime

from vipterm import domain
from vipterm.commands.common import add_db_argument, emit_json, note, unlock
from vipterm.errors import ExitCode, NotFound, ValidationError

# --option -> service field; "" clears a text field or the date of birth.
UPDATE_OPTIONS = (
    ("first-name", "first_name", "first name"),
    ("last-name", "last_name", "last name"),
    ("aka", "aka", "alias"),
    ("date-of-birth", "date_of_birth", 'date of birth, YYYY-MM-DD ("" clears it)'),
    ("phone", "phone", "phone number"),
    ("area", "area_command", "area command: " + ", ".join(m.value for m in domain.AreaCommand)),
    ("age-group", "age_group", "age group: " + ", ".join(m.value for m in domain.AgeGroup)),
    ("referral-source", "referral_source", "how they came: " + ", ".join(m.value for m in domain.ReferralSource)),
    (
        "risk-flags",
        "risk_flags",
        'comma-separated, replacing the current ones ("" clears them): ' + ", ".join(m.value for m in domain.RiskFlag),
    ),
)


def register_clients(csub: argparse._SubParsersAction) -> None:
    """Add update, close, reopen, correct and void to `vipterm clients`."""
    p = csub.add_parser("update", help="edit a client's identity and program fields")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique id prefix or pseudonym")
    for option, dest, what in UPDATE_OPTIONS:
        p.add_argument(f"--{option}", dest=dest, default=None, help=what)
    p.set_defaults(func=cmd_clients_update)

    p = csub.add_parser("close", help="close a client (they leave the caseload, stay in the report)")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique id prefix or pseudonym")
    p.add_argument("--reason", required=True, help="one of: " + ", ".join(m.value for m in domain.ClosedReason))
    p.set_defaults(func=cmd_clients_close)

    p = csub.add_parser("reopen", help="reopen a closed client")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique id prefix or pseudonym")
    p.set_defaults(func=cmd_clients_reopen)

    p = csub.add_parser("history", help="every value a client's fields have held: when, on whose device")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique id prefix or pseudonym")
    p.add_argument("--field", help="only this field (e.g. phone, area_command, status)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_clients_history)

    kinds = ", ".join(FACT_KINDS)
    p = csub.add_parser("void", help="void a mistaken fact (it stays in the history, marked, and counts nowhere)")
    add_db_argument(p)
    p.add_argument("kind", help=f"one of: {kinds} (referral: its latest status change)")
    p.add_argument(
        "fact_id",
        help="the fact's id or a unique prefix (clients show --json lists them); for a referral, the referral's id",
    )
    p.add_argument("--reason", required=True, help="why (kept in the history)")
    p.set_defaults(func=cmd_clients_void)

    p = csub.add_parser("correct", help="enter a fact in place of a mistaken one (the old one stays, superseded)")
    add_db_argument(p)
    p.add_argument("kind", help="contact, notification or outcome")
    p.add_argument("fact_id", help="the fact's id or a unique prefix (clients show --json lists them)")
    p.add_argument("--reason", required=True, help="why (kept in the history)")
    p.add_argument("--outcome", help="contact: reached, no_answer, …; notification: delivered, not_found, …")
    p.add_argument("--mode", help="contact: " + ", ".join(m.value for m in domain.ContactMode))
    p.add_argument("--purpose", help="contact: " + ", ".join(m.value for m in domain.ContactPurpose))
    p.add_argument("--when", help="contact: YYYY-MM-DD HH:MM, program-local time")
    p.add_argument("--minutes", type=int, help="contact: how long it took")
    p.add_argument("--date", help="notification or outcome: YYYY-MM-DD")
    p.add_argument("--setting", help="notification: " + ", ".join(m.value for m in domain.NotificationSetting))
    p.add_argument("--area", help="contact or notification: area command")
    p.add_argument("--kind", dest="outcome_kind", help="outcome: " + ", ".join(m.value for m in domain.OutcomeKind))
    p.add_argument("--source", help="outcome: " + ", ".join(m.value for m in domain.OutcomeSource))
    p.add_argument("--note", help="the note (replaces the old one)")
    p.set_defaults(func=cmd_clients_correct)


# The command's word for each correctable fact -> its table.
FACT_KINDS = {
    "contact": "contact",
    "notification": "notification_attempt",
    "outcome": "outcome",
    "referral": "referral",
}


def _fact_table(kind: str) -> str:
    table = FACT_KINDS.get(kind.strip().lower())
    if table is None:
        raise ValidationError(f"{kind!r} is not one of: {', '.join(FACT_KINDS)}", field="kind")
    return table


def resolve_fact(store, table: str, ref: str) -> str:
    """A fact's full id from its id or a unique prefix (at least 8 characters)."""
    from sqlalchemy import text

    ref = ref.strip().lower()
    if len(ref) < 8 or not all(ch in "0123456789abcdef-" for ch in ref):
        raise ValidationError(
            f"give the {table.replace('_', ' ')}'s id or at least its first 8 characters", field="fact_id"
        )
    with store.read() as session:
        ids = [
            r[0]
            for r in session.execute(
                text(f"SELECT id FROM {table} WHERE id LIKE :p AND deleted_at IS NULL LIMIT 3"), {"p": ref + "%"}
            )
        ]
    if not ids:
        raise NotFound(f"no {table.replace('_', ' ')} with an id starting {ref}")
    if len(ids) > 1:
        raise ValidationError(
            f"several {table.replace('_', ' ')}s have ids starting {ref}: give more of it", field="fact_id"
        )
    return ids[0]


def resolve_client(store, ref: str) -> str:
    """11A's resolver (id, unique prefix, pseudonym) when present, else the caseload's."""
    try:
        from vipterm.services.resolve import resolve_client as resolver
    except ImportError:  # pragma: no cover - the shared resolver is the normal path
        from vipterm.services.caseload import resolve_client_id as resolver
    return resolver(store, ref)


def _parse_update(args) -> dict:
    changes: dict = {}
    for option, dest, _what in UPDATE_OPTIONS:
        value = getattr(args, dest)
        if value is None:
            continue
        if dest == "date_of_birth":
            if value.strip():
                try:
                    value = date.fromisoformat(value.strip())
                except ValueError:
                    raise ValidationError(f"--{option}: {value!r} is not a date (YYYY-MM-DD)", field=dest) from None
            else:
                value = None
        elif dest == "risk_flags":
            value = [f.strip() for f in value.split(",") if f.strip() and f.strip().lower() != "none"]
        changes[dest] = value
    if not changes:
        raise ValidationError(
            "nothing to change: give at least one of " + ", ".join(f"--{o}" for o, _d, _w in UPDATE_OPTIONS)
        )
    return changes


def cmd_clients_update(args) -> int:
    from vipterm.services import records

    changes = _parse_update(args)
    with unlock(args) as store:
        client_id = resolve_client(store, args.client_id)
        client = records.edit_client(store, client_id, **changes)
    print(f"updated {client.pseudonym}: " + ", ".join(name.replace("_", " ") for name in changes))
    return ExitCode.OK


def cmd_clients_close(args) -> int:
    from vipterm.services import records

    with unlock(args) as store:
        client_id = resolve_client(store, args.client_id)
        client = records.close_client(store, client_id, args.reason)
    print(f"closed {client.pseudonym}: {domain.ClosedReason(client.closed_reason).label}")
    return ExitCode.OK


def cmd_clients_reopen(args) -> int:
    from vipterm.services import records

    with unlock(args) as store:
        client_id = resolve_client(store, args.client_id)
        client = records.reopen_client(store, client_id)
    print(f"reopened {client.pseudonym}: {domain.ClientStatus(client.status).label}")
    return ExitCode.OK


def cmd_clients_void(args) -> int:
    from vipterm.services import corrections

    table = _fact_table(args.kind)
    with unlock(args) as store:
        fact_id = resolve_fact(store, table, args.fact_id)
        if table == "referral":
            table, fact_id = "referral_event", corrections.latest_referral_event(store, fact_id)
        correction = corrections.void_fact(store, table, fact_id, args.reason)
    print(f"voided {domain.CorrectableFact(table).label} {fact_id} (correction {correction.id})")
    return ExitCode.OK


def _parse_correction(table: str, args, clock) -> dict:
    given = {
        name: getattr(args, name)
        for name in (
            "outcome",
            "mode",
            "purpose",
            "when",
            "minutes",
            "date",
            "setting",
            "area",
            "outcome_kind",
            "source",
            "note",
        )
        if getattr(args, name) is not None
    }
    allowed = {
        "contact": {"outcome", "mode", "purpose", "when", "minutes", "area", "note"},
        "notification_attempt": {"outcome", "date", "setting", "area", "note"},
        "outcome": {"outcome_kind", "date", "source", "note"},
    }[table]
    wrong = sorted(set(given) - allowed)
    if wrong:
        option = {"outcome_kind": "kind"}.get(wrong[0], wrong[0])
        raise ValidationError(f"--{option} is not a field of a {table.replace('_', ' ')}", field=wrong[0])
    if not given:
        raise ValidationError("nothing to correct: give the fields that were wrong (or use `clients void`)")
    changes: dict = {}
    for name, value in given.items():
        if name == "when":
            try:
                changes["occurred_at"] = clock.to_utc(datetime.fromisoformat(value.strip()))
            except ValueError:
                raise ValidationError(f"--when: {value!r} is not YYYY-MM-DD HH:MM", field="occurred_at") from None
        elif name == "date":
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                raise ValidationError(f"--date: {value!r} is not YYYY-MM-DD", field="date") from None
            changes["attempted_on" if table == "notification_attempt" else "occurred_on"] = day
        elif name == "minutes":
            changes["duration_min"] = value
        elif name == "area":
            changes["area_command"] = value
        elif name == "outcome_kind":
            changes["kind"] = value
        else:
            changes[name] = value
    return changes


def cmd_clients_correct(args) -> int:
    from vipterm.services import corrections

    table = _fact_table(args.kind)
    if table == "referral":
        raise ValidationError(
            "a referral's status is corrected by voiding it (`clients void referral ID`) and "
            "setting the right one in the app",
            field="kind",
        )
    with unlock(args) as store:
        changes = _parse_correction(table, args, store.clock)
        fact_id = resolve_fact(store, table, args.fact_id)
        correct = {
            "contact": corrections.correct_contact,
            "notification_attempt": corrections.correct_notification,
            "outcome": corrections.correct_outcome,
        }[table]
        correction = correct(store, fact_id, args.reason, **changes)
    print(f"corrected {domain.CorrectableFact(table).label} {fact_id}: superseded by {correction.replacement_id}")
    return ExitCode.OK


def cmd_clients_history(args) -> int:
    from vipterm.services import records
    from vipterm.services.field_history import field_history

    with unlock(args) as store:
        client_id = resolve_client(store, args.client_id)
        changes = field_history(store, client_id, args.field)
        records.record_audit(store, domain.AuditAction.VIEW_IDENTITY, client_id, "cli clients history")
        shown = [(store.clock.to_local(c.at).strftime("%Y-%m-%d %H:%M"), c) for c in changes]
        if args.json:
            emit_json(
                [
                    {
                        "at": c.at,
                        "field": c.field,
                        "value": c.value,
                        "device": c.device,
                        "by": c.by,
                        "worker": c.worker or None,
                        "device_name": c.device_name,
                        "conflict": c.conflict or None,
                        "conflict_open": c.conflict_open,
                    }
                    for _, c in shown
                ],
                store.clock,
                key="changes",
            )
            return ExitCode.OK
    for when, c in shown:
        value = "—" if c.value in (None, "") else c.value
        who = f"{c.worker} on {c.device_name}" if c.worker else c.device_name
        print(f"{when}  {c.field:<18} {value}  ({who})" + (f"  {c.conflict_text}" if c.conflict else ""))
    if not shown:
        note(args, "no recorded changes")
    return ExitCode.OK


__all__ = ["register_clients", "emit_json"]
