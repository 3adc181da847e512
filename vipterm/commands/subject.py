"""`vipterm clients consent|safety-plan|export`: a client's consents, safety plan, and their own
record, through the same services as the app (`services.consent`, `services.subject`).

- `clients consent ID list [--json]`; `clients consent ID add KIND [--provider NAME|ID] [--method
  written|verbal] [--given DAY] [--expires DAY] [--note TEXT]`; `clients consent ID withdraw
  CONSENT [--on DAY]`.
- `clients safety-plan ID [--json]` shows it; with any of `--threats --safe-contacts --safe-places
  --avoid --check-in --review DAY` it saves it.
- `clients export ID --format json|html --out FILE [--redact-staff] [--force]`: everything held
  about the client, audited.

Output names the client by pseudonym; it never echoes a plan's or a consent's text.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from vipterm import domain
from vipterm.commands.common import add_db_argument, emit_json, note, short_id, unique_prefixes, unlock
from vipterm.errors import ExitCode, NotFound, ValidationError


def _day(option: str, text: str | None) -> date | None:
    """A day given on the command line; a bad one is refused like any other bad value (exit 2)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{option}: {text!r} is not a date (YYYY-MM-DD)", field=option.strip("-")) from None


def register_clients(csub: argparse._SubParsersAction) -> None:
    p = csub.add_parser("consent", help="a client's consents: list, add, withdraw")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique id prefix or pseudonym")
    ops = p.add_subparsers(dest="consent_cmd", required=True, metavar="list|add|withdraw")
    q = ops.add_parser("list", help="every consent, current ones first")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_consent_list)
    q = ops.add_parser("add", help="record a consent")
    q.add_argument("kind", help="one of: " + ", ".join(m.value for m in domain.ConsentKind))
    q.add_argument("--provider", help="the provider shared with (share_provider): its id, id prefix or name")
    q.add_argument("--method", default="written", help="written (default) or verbal")
    q.add_argument("--given", help="the day it was given (default: today)")
    q.add_argument("--expires", help="the day it expires")
    q.add_argument("--note", default="", help="an optional note")
    q.set_defaults(func=cmd_consent_add)
    q = ops.add_parser("withdraw", help="mark a consent withdrawn")
    q.add_argument("consent_id", help="the consent's id or a unique prefix (consent ID list shows them)")
    q.add_argument("--on", help="the day it was withdrawn (default: today)")
    q.set_defaults(func=cmd_consent_withdraw)

    p = csub.add_parser("safety-plan", help="show a client's safety plan, or save it with the options given")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique id prefix or pseudonym")
    for option, dest, what in PLAN_OPTIONS:
        p.add_argument(f"--{option}", dest=dest, default=None, help=what)
    p.add_argument("--review", help="the day of the next review (default: in 30 days)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_safety_plan)

    p = csub.add_parser("export", help="everything held about one client, for the client (audited)")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique id prefix or pseudonym")
    p.add_argument("--format", choices=("json", "html"), required=True, help="json, or a printable html page")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write it")
    p.add_argument("--redact-staff", action="store_true", help="replace staff names with 'staff member N'")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=cmd_export)


PLAN_OPTIONS = (
    ("threats", "threats", "known threats or conflicts, in general terms"),
    ("safe-contacts", "safe_contacts", "safe contacts"),
    ("safe-places", "safe_places", "safe places"),
    ("avoid", "places_to_avoid", "places to avoid"),
    ("check-in", "check_in_plan", "the check-in plan"),
)


def _client(store, ref: str) -> str:
    from vipterm.services.resolve import resolve_client

    return resolve_client(store, ref)


def _pseudonym(store, client_id: str) -> str:
    from vipterm.store.models import Client

    with store.read() as session:
        return session.get(Client, client_id).pseudonym


def _provider(store, ref: str) -> str:
    """A provider's id from its id, a unique id prefix (4+ characters) or its name (any case)."""
    from vipterm.services.resolve import match_prefix

    with store.read() as session:
        rows = session.connection().exec_driver_sql("SELECT id, name FROM provider WHERE deleted_at IS NULL").all()
    named = [pid for pid, name in rows if name.strip().lower() == ref.strip().lower()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise ValidationError(f"{len(named)} providers are named {ref!r}: give the id", field="provider_id")
    try:
        return match_prefix([pid for pid, _ in rows], ref, "provider")
    except NotFound:
        raise NotFound(f"no provider named {ref!r} or with an id starting so") from None


def cmd_consent_list(args) -> int:
    from vipterm.services import consent

    with unlock(args) as store:
        client_id = _client(store, args.client_id)
        rows = consent.list_consents(store, client_id)
        if args.json:
            emit_json(
                [
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "provider_id": r.provider_id,
                        "provider": r.provider or None,
                        "method": r.method,
                        "given_on": r.given_on,
                        "expires_on": r.expires_on,
                        "withdrawn_on": r.withdrawn_on,
                        "state": r.state,
                        "note": r.note,
                        "recorded_by": r.recorded_by,
                    }
                    for r in rows
                ],
                store.clock,
                key="consents",
            )
            return ExitCode.OK
    prefixes = unique_prefixes([r.id for r in rows])
    for r in rows:
        print(f"{short_id(r.id, prefixes)}  {r.summary}")
    if not rows:
        note(args, "no consents recorded")
    return ExitCode.OK


def cmd_consent_add(args) -> int:
    from vipterm.services import consent

    with unlock(args) as store:
        client_id = _client(store, args.client_id)
        provider_id = _provider(store, args.provider) if args.provider else None
        made = consent.add_consent(
            store,
            client_id,
            args.kind,
            method=args.method,
            given_on=_day("--given", args.given),
            expires_on=_day("--expires", args.expires),
            provider_id=provider_id,
            note=args.note,
        )
        pseudonym = _pseudonym(store, client_id)
    print(f"recorded consent {made.id} for {pseudonym}: {domain.ConsentKind(made.kind).label}, {made.method}")
    return ExitCode.OK


def cmd_consent_withdraw(args) -> int:
    from vipterm.services import consent
    from vipterm.services.resolve import match_prefix

    with unlock(args) as store:
        client_id = _client(store, args.client_id)
        ids = [r.id for r in consent.list_consents(store, client_id)]
        consent_id = match_prefix(ids, args.consent_id, "consent")
        done = consent.withdraw_consent(store, consent_id, on=_day("--on", args.on))
        pseudonym = _pseudonym(store, client_id)
    print(f"withdrew consent {done.id} of {pseudonym} on {done.withdrawn_on.isoformat()}")
    return ExitCode.OK


def cmd_safety_plan(args) -> int:
    from vipterm.services import consent

    parts = {dest: getattr(args, dest) for _o, dest, _w in PLAN_OPTIONS if getattr(args, dest) is not None}
    with unlock(args) as store:
        client_id = _client(store, args.client_id)
        pseudonym = _pseudonym(store, client_id)
        review = _day("--review", args.review)
        if parts or review:
            if not parts and consent.safety_plan(store, client_id) is None:
                raise ValidationError("the safety plan is empty: give at least one part (e.g. --threats)")
            plan = consent.save_safety_plan(store, client_id, review_on=review, **parts)
            print(f"saved the safety plan of {pseudonym}; next review {plan.review_on.isoformat()}")
            return ExitCode.OK
        plan = consent.safety_plan(store, client_id)
        clock = store.clock
    if plan is None:
        if args.json:
            emit_json({"client_id": client_id, "pseudonym": pseudonym, "safety_plan": None}, clock)
        else:
            note(args, f"{pseudonym} has no safety plan")
        return ExitCode.OK
    data = {name: getattr(plan, name) for name in consent.PLAN_PARTS}
    data.update(
        id=plan.id, review_on=plan.review_on.isoformat() if plan.review_on else None, updated_at=plan.updated_at
    )
    if args.json:
        emit_json({"client_id": client_id, "pseudonym": pseudonym, "safety_plan": data}, clock)
        return ExitCode.OK
    for name in consent.PLAN_PARTS:
        print(f"{consent.PLAN_LABELS[name]}:\n  {data[name] or '—'}")
    print(f"review on: {data['review_on'] or '—'}")
    return ExitCode.OK


def cmd_export(args) -> int:
    from vipterm.services.subject import write_subject_export

    with unlock(args) as store:
        client_id = _client(store, args.client_id)
        write_subject_export(store, client_id, args.out, args.format, redact_staff=args.redact_staff, force=args.force)
        pseudonym = _pseudonym(store, client_id)
    # The record went where --out said: stdout stays empty, as for `report --out` (docs/cli-json.md).
    note(args, f"wrote the record of {pseudonym} ({args.format}) to {args.out}")
    return ExitCode.OK
