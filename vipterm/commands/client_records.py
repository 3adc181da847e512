"""`vipterm clients update|close|reopen|correct|void`: correcting and closing a client's records
from the command line, through the same services as the app (`vipterm.services.records`).

Every command takes the client as a full id, a unique id prefix or a pseudonym. Output names the
client by pseudonym and the fields changed, never their values (they may identify a person).
"""

from __future__ import annotations

import argparse
from datetime import date

from vipterm import domain
from vipterm.commands.common import add_db_argument, emit_json, unlock
from vipterm.errors import ExitCode, ValidationError

# --option -> service field; "" clears a text field or the date of birth.
UPDATE_OPTIONS = (
    ("first-name", "first_name", "first name"),
    ("last-name", "last_name", "last name"),
    ("aka", "aka", "alias"),
    ("date-of-birth", "date_of_birth", "date of birth, YYYY-MM-DD (\"\" clears it)"),
    ("phone", "phone", "phone number"),
    ("area", "area_command", "area command: " + ", ".join(m.value for m in domain.AreaCommand)),
    ("age-group", "age_group", "age group: " + ", ".join(m.value for m in domain.AgeGroup)),
    ("referral-source", "referral_source", "how they came: " + ", ".join(m.value for m in domain.ReferralSource)),
    ("risk-flags", "risk_flags", "comma-separated, replacing the current ones (\"\" clears them): "
     + ", ".join(m.value for m in domain.RiskFlag)),
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
                    raise ValidationError(f"--{option}: {value!r} is not a date (YYYY-MM-DD)",
                                          field=dest) from None
            else:
                value = None
        elif dest == "risk_flags":
            value = [f.strip() for f in value.split(",") if f.strip() and f.strip().lower() != "none"]
        changes[dest] = value
    if not changes:
        raise ValidationError("nothing to change: give at least one of "
                              + ", ".join(f"--{o}" for o, _d, _w in UPDATE_OPTIONS))
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


__all__ = ["register_clients", "emit_json"]
