"""`vipterm audit`: read the audit log — who viewed, unmasked or exported identifiable data, and who
enrolled, revoked, reassigned, purged or decided a held change, on which device, when.

The coordinator lists every device's entries (they arrive with the laptops' bundles); a laptop
lists its own device's. Filters: `--since DATE` (a program day), `--worker NAME`, `--client ID`
(id, id prefix or pseudonym; a purged client's full id too). Reading the log is not itself audited:
it shows pseudonyms, never names.
"""

from __future__ import annotations

import argparse
import re
from datetime import date

from vipterm.commands.common import add_db_argument, emit_json, note, short_id, unique_prefixes, unlock
from vipterm.errors import ExitCode, ValidationError

_FULL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="the audit log: views, unmasking, exports, enrollments, purges, decisions")
    add_db_argument(p)
    p.add_argument("--since", metavar="DATE", help="only entries on or after this day (YYYY-MM-DD)")
    p.add_argument("--worker", metavar="NAME", help="only this staff member's entries (name or id)")
    p.add_argument("--client", metavar="ID", help="only entries about this client (id, prefix or pseudonym)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_audit)


def parse_since(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"--since takes a day as YYYY-MM-DD, not {text!r}", field="since") from None


def resolve_audited_client(store, ref: str) -> str:
    """The client an audit filter names; a full id is taken as it is (a purged client is no longer
    in the records, but its entries are still in the log)."""
    from vipterm.errors import NotFound
    from vipterm.services.resolve import resolve_client

    try:
        return resolve_client(store, ref)
    except NotFound:
        if _FULL_ID.match(ref.strip().lower()):
            return ref.strip().lower()
        raise


def cmd_audit(args) -> int:
    from vipterm.services.audit import list_entries

    since = parse_since(args.since)  # a bad day is refused before asking for the passphrase
    with unlock(args) as store:
        worker = client = None
        if args.worker:
            from vipterm.services.resolve import resolve_worker

            worker = resolve_worker(store, args.worker)
        if args.client:
            client = resolve_audited_client(store, args.client)
        rows = list_entries(store, since=since, worker_id=worker, client_id=client)
        shown = [(store.clock.to_local(_at(r.at)).strftime("%Y-%m-%d %H:%M"), r) for r in rows]
        if args.json:  # the action's machine value only: its label is for people
            emit_json(
                [{k: v for k, v in r.as_dict().items() if k != "action_label"} for r in rows],
                store.clock,
                key="entries",
            )
            return ExitCode.OK
    # A purged client has no pseudonym left: their id (a unique prefix of it on a terminal).
    prefixes = unique_prefixes(sorted({r.client_id for r in rows if r.client_id and not r.client}))
    for when, r in shown:
        about = r.client or short_id(r.client_id, prefixes)
        print(
            f"{when}  {r.worker or 'unknown worker':<16}  {r.device:<16}  {r.action_label:<30}  "
            f"{about:<10}  {r.detail}".rstrip()
        )
    note(args, f"{len(rows)} audit entr{'y' if len(rows) == 1 else 'ies'}")
    return ExitCode.OK


def _at(iso: str):
    from datetime import datetime

    return datetime.fromisoformat(iso)
