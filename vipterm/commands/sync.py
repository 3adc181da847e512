"""Sync subcommands: coordinator init, enroll request|approve|accept, revoke, sync export|import|status,
conflicts list|resolve, purge-client.

Every refusal is one line on stderr; a refused bundle makes `sync import` exit with 7
(BUNDLE_REFUSED) after trying the other files; "already imported" and "waiting in the inbox" are
notices (exit 0). Nothing printed here names a client: bundles, devices and records are named by
their ids and pseudonyms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from vipterm.commands.common import (
    add_db_argument,
    database_path,
    emit_json,
    new_passphrase,
    note,
    print_table,
    short_id,
    unique_prefixes,
    unlock,
)
from vipterm.errors import DatabaseExists, ExitCode, ValidationError
from vipterm.timekeeping import check_time_zone


class _LazySyncService:
    """`vipterm.services.sync`, imported on first use: building the parser must stay cheap."""

    def __getattr__(self, name):
        from vipterm.services import sync

        return getattr(sync, name)


sync_service = _LazySyncService()


# Ids typed by a person: a full id, a unique prefix, a pseudonym (services.resolve, loaded on use).
def resolve_client(store, ref: str) -> str:
    from vipterm.services.resolve import resolve_client as resolve

    return resolve(store, ref)


def resolve_device(store, ref: str) -> str:
    from vipterm.services.resolve import resolve_device as resolve

    return resolve(store, ref)


def resolve_id(store, kind: str, ref: str) -> str:
    from vipterm.services.resolve import resolve_id as resolve

    return resolve(store, kind, ref)


def register(sub: argparse._SubParsersAction) -> None:
    coord = sub.add_parser("coordinator", help="coordinator set-up")
    csub = coord.add_subparsers(dest="coordinator_cmd", required=True, metavar="init|export-root")
    p = csub.add_parser(
        "init",
        help="create a coordinator database with the program's root key "
        "(or add the keys to an existing coordinator database with --existing)",
    )
    add_db_argument(p)
    p.add_argument("--worker-name", default="Coordinator", help="the coordinator's name as staff see it")
    p.add_argument("--existing", action="store_true", help="set up keys in an existing coordinator database")
    p.add_argument(
        "--escrow",
        default="",
        metavar="AGE_RECIPIENT",
        help="also encrypt every bundle to this age recipient (an escrow key kept offline)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing database (its data is lost)")
    p.add_argument(
        "--time-zone",
        default=None,
        metavar="ZONE",
        help="the program's IANA time zone (default America/Denver): it cuts the report's months "
        "and decides 'today' on every laptop, which receive it in their return bundles",
    )
    p.add_argument(
        "--from-root",
        type=Path,
        metavar="FILE",
        help="rebuild a lost coordinator from its recovery file (coordinator export-root): laptops keep "
        "trusting it; see `vipterm help recovery`",
    )
    p.add_argument(
        "--backup",
        type=Path,
        metavar="FILE",
        help="with --from-root: start from this coordinator backup (its passphrase is the one asked for)",
    )
    from vipterm.commands.recovery import add_recovery_passphrase_argument, register_coordinator

    add_recovery_passphrase_argument(p)
    p.set_defaults(func=cmd_coordinator_init)
    register_coordinator(csub)

    enroll = sub.add_parser("enroll", help="enroll a laptop in person (request, approve, accept)")
    esub = enroll.add_subparsers(dest="enroll_cmd", required=True, metavar="request|approve|accept")
    p = esub.add_parser("request", help="on the laptop: write an enrollment request file and show its fingerprint")
    add_db_argument(p)
    p.add_argument("--out", type=Path, default=Path("."), help="file or folder to write the request to")
    p.set_defaults(func=cmd_enroll_request)
    p = esub.add_parser("approve", help="on the coordinator: add the laptop to the signed roster")
    add_db_argument(p)
    p.add_argument("request", type=Path, help="the laptop's request file")
    p.add_argument(
        "--worker",
        metavar="NAME|ID",
        help="the worker this laptop serves: an existing worker's id or name, or a new worker's name "
        "(asked for when not given)",
    )
    p.add_argument(
        "--replaces", metavar="DEVICE", help="this laptop replaces that worker's old laptop, which is revoked"
    )
    p.add_argument("--fingerprint", help="the fingerprint shown on the laptop (asked for when not given)")
    p.add_argument("--out", type=Path, default=Path("."), help="file or folder to write the enrollment file to")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (scripts)")
    p.set_defaults(func=cmd_enroll_approve)
    p = esub.add_parser("accept", help="on the laptop: import the coordinator's enrollment file")
    add_db_argument(p)
    p.add_argument("grant", type=Path, help="the enrollment file from the coordinator")
    p.set_defaults(func=cmd_enroll_accept)

    keys = sub.add_parser("keys", help="public keys for an auditor (stock minisign/age files)")
    keysub = keys.add_subparsers(dest="keys_cmd", required=True, metavar="export")
    p = keysub.add_parser(
        "export",
        help="write the program root's and every device's public key (minisign .pub) "
        "and keys.json; on the coordinator, its age identity with confirmation",
    )
    add_db_argument(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write the key files to")
    p.add_argument(
        "--include-age-identity",
        action="store_true",
        help="coordinator: also write its age identity (a SECRET that opens every laptop bundle)",
    )
    p.add_argument("--yes", action="store_true", help="confirm writing the age identity without a prompt")
    p.set_defaults(func=cmd_keys_export)

    p = sub.add_parser("revoke", help="on the coordinator: refuse every later bundle from a (lost) laptop")
    add_db_argument(p)
    p.add_argument("device", help="the device id or a unique prefix of it (see `vipterm sync status`)")
    p.set_defaults(func=cmd_revoke)

    sync = sub.add_parser("sync", help="exchange signed, encrypted change bundles")
    ssub = sync.add_subparsers(dest="sync_cmd", required=True, metavar="export|import|status|rebase|quarantine")
    p = ssub.add_parser("export", help="write the next bundle (a laptop) or one return bundle per laptop (coordinator)")
    add_db_argument(p)
    p.add_argument("--to", type=Path, required=True, metavar="DIR", help="folder to write the bundle(s) to")
    p.add_argument(
        "--only-new",
        action="store_true",
        help="a laptop: only changes not yet in an earlier bundle (default: all not acknowledged)",
    )
    p.add_argument("--device", help="coordinator: only the return bundle for this device")
    p.add_argument(
        "--rebase",
        action="store_true",
        help="a laptop whose clock ran ahead (its date was wrong): bring it back first (see `sync rebase`)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    # How many changes go in one bundle before the next one starts (tests; the default suits every laptop).
    p.add_argument("--bundle-changes", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_sync_export)
    p = ssub.add_parser(
        "rebase",
        help="a laptop whose date was wrong (ahead), now fixed: bring its sync clock "
        "and pending changes back to now so the coordinator accepts them",
    )
    add_db_argument(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_sync_rebase)
    p = ssub.add_parser("import", help="import bundle files or folders of them")
    add_db_argument(p)
    p.add_argument("sources", type=Path, nargs="+", metavar="FILE|DIR")
    p.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    p.add_argument("--archive", type=Path, metavar="DIR", help="move each imported file here after it is committed")
    p.add_argument("--max-changes", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--accept-revoked",
        action="store_true",
        help="coordinator: hold a revoked device's bundle in the quarantine for review instead of refusing it",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_sync_import)
    p = ssub.add_parser("status", help="keys, roster, pending changes, inbox, conflicts")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_sync_status)
    _register_quarantine(ssub)

    conflicts = sub.add_parser("conflicts", help="the coordinator's review queue of concurrent edits")
    ksub = conflicts.add_subparsers(dest="conflicts_cmd", required=True, metavar="list|resolve")
    p = ksub.add_parser("list", help="open conflicts: both values, who and when")
    add_db_argument(p)
    p.add_argument("--all", action="store_true", help="include resolved conflicts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_conflicts_list)
    p = ksub.add_parser("resolve", help="keep the current value, take the other one, or set a value")
    add_db_argument(p)
    p.add_argument("conflict_id", help="the conflict's id or a unique prefix of it")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--keep", choices=["current", "other"], help="which of the two values to keep")
    group.add_argument("--value", help="set this value instead")
    p.set_defaults(func=cmd_conflicts_resolve)

    p = sub.add_parser("purge-client", help="coordinator: erase a client for good (retention); spreads to laptops")
    add_db_argument(p)
    p.add_argument("client_id", help="client id, unique prefix or pseudonym")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_purge_client)


def cmd_coordinator_init(args) -> int:
    path = database_path(args)
    if args.from_root or args.backup:
        from vipterm.commands.recovery import cmd_init_from_root

        return cmd_init_from_root(args)
    if args.existing:
        with unlock(args) as store:
            _store, keys = sync_service.coordinator_init(path, store=store, time_zone=args.time_zone)
            if args.escrow:
                sync_service.set_escrow_recipient(store, args.escrow)
    else:
        if path.exists() and not args.force:
            raise DatabaseExists(f"{path} already exists (use --existing to add keys to it, or --force to replace it)")
        if args.time_zone is not None:
            check_time_zone(args.time_zone)  # before asking for a passphrase
        passphrase = new_passphrase(args, "Passphrase for the coordinator database")
        store, keys = sync_service.coordinator_init(
            path, passphrase, worker_name=args.worker_name, force=args.force, time_zone=args.time_zone
        )
        try:
            if args.escrow:
                sync_service.set_escrow_recipient(store, args.escrow)
        finally:
            store.close()
        print(f"created {path}")
    print(f"device {keys.device_id}")
    print(f"program time zone: {store.time_zone}")
    print(f"program root key fingerprint: {keys.root_fingerprint}")
    note(args, "laptops compare this fingerprint when they accept their enrollment")
    return ExitCode.OK


def cmd_enroll_request(args) -> int:
    with unlock(args) as store:
        result = sync_service.enroll_request(store, args.out)
    print(f"wrote {result.path}")
    print(f"device {result.device_id}")
    print(f"fingerprint: {result.fingerprint}")
    note(args, "show this fingerprint to the coordinator, who types it when approving")
    return ExitCode.OK


def cmd_enroll_approve(args) -> int:
    try:
        data = args.request.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {args.request}: {exc.strerror}", field="request") from None
    request = sync_service.read_request(data)
    interactive = sys.stdin.isatty()
    fingerprint, worker = args.fingerprint, args.worker
    if not fingerprint or not (worker or args.replaces):
        if not interactive:
            raise ValidationError(
                "give --fingerprint (as shown on the laptop) and --worker NAME|ID to approve",
                field="fingerprint" if not fingerprint else "worker",
            )
        print(f"device {request.device_id}", file=sys.stderr)
        if not fingerprint:
            fingerprint = input("Fingerprint shown on the laptop: ")
        if not (worker or args.replaces):
            worker = input("Worker this laptop serves (name or id): ")
    with unlock(args) as store:
        if args.replaces:
            args.replaces = resolve_device(store, args.replaces)
        plan = sync_service.preview_approval(
            store, data, fingerprint=fingerprint, worker=worker, replaces=args.replaces
        )
        # Say who the laptop will be before anything is written (on stderr: what the prompt asks about).
        who = f"{plan.worker_name} (new worker)" if plan.new_worker else f"{plan.worker_name} ({plan.worker_id})"

        def say(text: str) -> None:  # with --yes, part of the result; before a prompt, what it asks about
            print(text, file=sys.stdout if args.yes else sys.stderr)

        say(f"device      {plan.device_id}")
        say(f"fingerprint {plan.fingerprint}")
        say(f"serves      {who}")
        if plan.replaces:
            say(f"replaces    device {plan.replaces}, which is revoked")
        if plan.reissue:
            say("this laptop is enrolled already: the enrollment file is written again")
        if not args.yes:
            if not interactive:
                raise ValidationError("add --yes to approve without a prompt", field="yes")
            if input("Approve? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing was changed", file=sys.stderr)
                return ExitCode.OK
        result = sync_service.enroll_approve(
            store, data, args.out, fingerprint=fingerprint, worker=worker, replaces=args.replaces
        )
    print(f"enrolled device {result.device_id} for {result.plan.worker_name} ({result.plan.worker_id})")
    print(f"wrote {result.path}")
    print(f"program root key fingerprint: {result.fingerprint}")
    return ExitCode.OK


def cmd_enroll_accept(args) -> int:
    try:
        data = args.grant.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {args.grant}: {exc.strerror}", field="grant") from None
    with unlock(args) as store:
        root = sync_service.enroll_accept(store, data)
        name = sync_service.worker_name(store)
    print(f"enrolled: this laptop serves {name} ({store.worker_id})")
    print(f"program root key fingerprint: {root}")
    note(args, "check that it matches the one shown on the coordinator's screen")
    return ExitCode.OK


def cmd_keys_export(args) -> int:
    if args.include_age_identity and not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError("the age identity opens every laptop's bundles: add --yes to write it", field="yes")
        print("The age identity is a secret: whoever holds the file can read every laptop's bundles.", file=sys.stderr)
        print("Write it only to a RAM-backed folder (/dev/shm) and delete it after the check.", file=sys.stderr)
        if input("Write the coordinator's age identity? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing was written", file=sys.stderr)
            return ExitCode.OK
    with unlock(args) as store:
        result = sync_service.export_keys(store, args.out, include_age_identity=args.include_age_identity)
    for path in result.files:
        print(f"wrote {path}")
    if result.age_identity:
        print(f"wrote {result.age_identity} (SECRET: delete it after use)")
    return ExitCode.OK


def cmd_revoke(args) -> int:
    with unlock(args) as store:
        device = resolve_device(store, args.device)
        version = sync_service.revoke(store, device)
    print(f"revoked device {device}; roster version {version}")
    return ExitCode.OK


def cmd_sync_export(args) -> int:
    from vipterm.commands.progress import progress_for
    from vipterm.sync.bundle import Limits

    limits = Limits() if args.bundle_changes is None else Limits(bundle_changes=max(1, args.bundle_changes))
    with unlock(args) as store:
        if args.device:
            args.device = resolve_device(store, args.device)
        try:
            results = sync_service.export(
                store,
                args.to,
                only_new=args.only_new,
                device=args.device,
                rebase_clock=args.rebase,
                limits=limits,
                progress=progress_for(args),
            )
        except sync_service.ClockAhead as exc:
            if not sys.stdin.isatty():
                raise
            print(exc.message, file=sys.stderr)
            if input("Bring the clock back to now and export? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing was exported", file=sys.stderr)
                return ExitCode.USAGE
            results = sync_service.export(
                store,
                args.to,
                only_new=args.only_new,
                device=args.device,
                rebase_clock=True,
                limits=limits,
                progress=progress_for(args),
            )
    if args.json:
        emit_json(
            [
                {
                    "file": str(r.path),
                    "bundle_id": r.bundle_id,
                    "for_device": r.for_device,
                    "changes": r.changes,
                    "seq_first": r.seq_first,
                    "seq_last": r.seq_last,
                }
                for r in results
            ],
            store.clock,
            key="bundles",
        )
        return ExitCode.OK
    for r in results:
        print(f"wrote {r.path} ({r.changes:,} change record(s) for device {r.for_device})")
    if not results:
        note(args, "no laptops are enrolled: nothing to export")
    elif store.role.value == "worker" and len(results) > 1:
        note(
            args,
            f"{len(results)} bundles in sequence (too many changes for one): take them all; the "
            "coordinator imports them in any order",
        )
    return ExitCode.OK


def cmd_sync_rebase(args) -> int:
    with unlock(args) as store:
        days = sync_service.clock_ahead_days(store)
        if days <= 0:
            print("this device's sync clock is not ahead of its date and time: nothing to do")
            return ExitCode.OK
        if not args.yes:
            if not sys.stdin.isatty():
                raise ValidationError("add --yes to rebase without a prompt", field="yes")
            print(
                f"the sync clock is {days:.1f} day(s) ahead of this computer's date and time "
                f"({store.clock.local_now():%Y-%m-%d %H:%M} program time now): check the date is right before going on",
                file=sys.stderr,
            )
            if input("Bring pending changes back to now? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing was changed", file=sys.stderr)
                return ExitCode.OK
        result = sync_service.rebase(store)
    print(
        f"rebased: {result.changes:,} pending change(s) and {result.fields:,} field clock(s) now dated now; "
        "export again (`vipterm sync export --to DIR`)"
    )
    return ExitCode.OK


def cmd_sync_import(args) -> int:
    from vipterm.commands.progress import progress_for
    from vipterm.sync.bundle import Limits

    limits = Limits() if args.max_changes is None else Limits(max_changes=max(1, args.max_changes))
    with unlock(args) as store:
        results = sync_service.import_bundles(
            store,
            args.sources,
            dry_run=args.dry_run,
            limits=limits,
            archive_dir=args.archive,
            accept_revoked=args.accept_revoked,
            progress=progress_for(args),
        )
    if args.json:
        emit_json([r.as_dict() for r in results], store.clock, key="results")
    else:
        console = Console(highlight=False)
        skipped = sync_service.skipped_line(results)
        results_shown = [r for r in results if r.status != sync_service.SKIPPED]
        if skipped:
            console.print(escape(skipped))
        for r in _flatten(results_shown):
            style = "bold red" if r.refused else ""
            line = f"{r.source}: {r.status}: {r.message}"
            console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))
            if args.dry_run and r.summary:
                for label in ("new_rows", "updated_rows"):
                    counts = r.summary.get(label) or {}
                    if counts:
                        console.print(
                            f"  {label.replace('_', ' ')}: " + ", ".join(f"{t} {n}" for t, n in counts.items())
                        )
                if r.summary.get("new_client_ids"):
                    console.print("  new clients: " + ", ".join(r.summary["new_client_ids"][:20]))
                if r.summary.get("conflict_fields"):
                    console.print("  conflicts would arise in: " + ", ".join(r.summary["conflict_fields"]))
        if not results:
            print("no bundle files found")
    if any(r.refused for r in results):
        return ExitCode.BUNDLE_REFUSED
    return ExitCode.OK


def _flatten(results):
    for r in results:
        yield r
        yield from _flatten(r.released)


def _register_quarantine(ssub) -> None:
    q = ssub.add_parser(
        "quarantine",
        help="changes held for review: out of a laptop's write scope, invalid, a laptop's deletes, held bundles",
    )
    qsub = q.add_subparsers(dest="quarantine_cmd", required=True, metavar="list|show|accept|discard")
    p = qsub.add_parser("list", help="open entries: record, reason, device and bundle")
    add_db_argument(p)
    p.add_argument("--all", action="store_true", help="include entries already accepted or discarded")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_quarantine_list)
    p = qsub.add_parser("show", help="one entry with the values it holds")
    add_db_argument(p)
    p.add_argument("entry_id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_quarantine_show)
    p = qsub.add_parser(
        "accept", help="apply the held change (checked again), confirm a delete, or import a held bundle"
    )
    add_db_argument(p)
    p.add_argument("entry_id")
    p.set_defaults(func=cmd_quarantine_accept)
    p = qsub.add_parser("discard", help="leave the records as they are; for a delete: restore the record")
    add_db_argument(p)
    p.add_argument("entry_id")
    p.set_defaults(func=cmd_quarantine_discard)


def cmd_quarantine_list(args) -> int:
    from vipterm.services import quarantine

    with unlock(args) as store:
        items = quarantine.list_quarantine(store, include_decided=args.all)
        if args.json:
            emit_json([q.as_dict() for q in items], store.clock, key="entries")
            return ExitCode.OK
        prefixes = unique_prefixes([q.id for q in items], _all_ids(store, "sync_quarantine") if items else [])
    print_table(
        ["id", "kind", "record", "reason", "sent by", "bundle", "status"],
        [[short_id(q.id, prefixes), q.kind, q.record, q.reason, q.sent_by, q.bundle_id, q.status] for q in items],
        whole=("id",),
    )
    note(args, f"{len(items)} entr{'y' if len(items) == 1 else 'ies'}")
    return ExitCode.OK


def cmd_quarantine_show(args) -> int:
    from vipterm.services import quarantine

    with unlock(args) as store:
        q = quarantine.show(store, resolve_id(store, "quarantine", args.entry_id))
        if args.json:
            emit_json(q.as_dict(), store.clock)
            return ExitCode.OK
    console = Console(highlight=False)
    for label, value in (
        ("entry", q.id),
        ("kind", q.kind),
        ("record", q.record),
        ("reason", q.reason),
        ("sent by", f"{q.sent_by} (device {q.device})"),
        ("bundle", q.bundle_id),
        ("held at", quarantine.when(q.detected_at)),
        ("status", q.status),
        ("decision", q.decision or "—"),
    ):
        console.print(f"{label:9} {escape(str(value))}")
    for col, value in q.fields:
        console.print(f"  {col} = {escape(sync_service.value_text(value))}")
    return ExitCode.OK


def cmd_quarantine_accept(args) -> int:
    from vipterm.services import quarantine

    with unlock(args) as store:
        print(quarantine.accept(store, resolve_id(store, "quarantine", args.entry_id)))
    return ExitCode.OK


def cmd_quarantine_discard(args) -> int:
    from vipterm.services import quarantine

    with unlock(args) as store:
        print(quarantine.discard(store, resolve_id(store, "quarantine", args.entry_id)))
    return ExitCode.OK


def cmd_sync_status(args) -> int:
    with unlock(args) as store:
        status = sync_service.sync_status(store)
        if args.json:
            emit_json(status.as_dict(), store.clock)
            return ExitCode.OK
    print(f"device {status.device_id} ({status.role})")
    if not status.enrolled:
        print("not enrolled" if status.role == "worker" else "no keys yet: run `vipterm coordinator init --existing`")
    else:
        print(f"device fingerprint {status.device_fingerprint}")
        print(f"program root key   {status.root_fingerprint} (roster version {status.roster_version})")
    print(f"last export {status.last_export_at or '—'}   last import {status.last_import_at or '—'}")
    if status.role == "worker":
        print(
            f"pending changes {status.pending_changes:,}   exported, not yet acknowledged "
            f"{status.exported_unacknowledged:,}"
        )
    else:
        print(
            f"open conflicts {status.open_conflicts}   held in the quarantine {status.quarantine_open}"
            + ("  (`vipterm sync quarantine list`)" if status.quarantine_open else "")
        )
    if status.inbox:
        print(f"inbox: {len(status.inbox)} bundle(s) waiting for an earlier one")
        for b in status.inbox:
            # Only a laptop's bundle is ranged by sequence numbers; a return bundle's range is clocks.
            where = f" (seq {b.seq_first}..{b.seq_last})" if b.kind == "worker" else ""
            who = next((d.worker for d in status.devices if d.device_id == b.source_device), None)
            print(f"  {b.bundle_id} from {b.source_device}" + (f" ({who})" if who else "") + where)
    if status.devices:
        prefixes = unique_prefixes([d.device_id for d in status.devices])
        print_table(
            ["device", "worker", "role", "fingerprint", "last bundle", "revoked"],
            [
                [
                    short_id(d.device_id, prefixes),
                    d.worker or "—",
                    d.role,
                    d.fingerprint,
                    str(d.last_bundle_at)[:16] if d.last_bundle_at else "—",
                    d.revoked_at or "",
                ]
                for d in status.devices
            ],
            whole=("device",),
        )
    return ExitCode.OK


def cmd_conflicts_list(args) -> int:
    with unlock(args) as store:
        items = sync_service.list_conflicts(store, include_resolved=args.all)
        if args.json:
            emit_json(
                [
                    {
                        "id": c.id,
                        "record": c.record,
                        "table": c.tbl,
                        "row_id": c.row_id,
                        "field": c.col,
                        "current": c.current_value,
                        "current_by": c.current_by,
                        "current_at": c.current_at,
                        "other": c.other_value,
                        "other_by": c.other_by,
                        "other_at": c.other_at,
                        "status": c.status,
                    }
                    for c in items
                ],
                store.clock,
                key="conflicts",
            )
            return ExitCode.OK
        prefixes = unique_prefixes([c.id for c in items], _all_ids(store, "sync_conflict") if items else [])
    print_table(
        ["id", "record", "field", "current value", "by, when", "other value", "by, when"],
        [
            [
                short_id(c.id, prefixes),
                c.record,
                c.col,
                sync_service.value_text(c.current_value),
                f"{c.current_by}, {c.current_at:%Y-%m-%d %H:%M}",
                sync_service.value_text(c.other_value),
                f"{c.other_by}, {c.other_at:%Y-%m-%d %H:%M}",
            ]
            for c in items
        ],
        whole=("id",),
    )
    note(args, f"{len(items)} conflict(s)")
    return ExitCode.OK


def _all_ids(store, table: str) -> list[str]:
    """Every id of a table a command resolves against: a prefix shown is unique among them all."""
    with store.read() as session:
        return [r[0] for r in session.connection().exec_driver_sql(f"SELECT id FROM {table}")]


def cmd_conflicts_resolve(args) -> int:
    with unlock(args) as store:
        conflict_id = resolve_id(store, "conflict", args.conflict_id)
        if args.value is not None:
            value = sync_service.resolve_conflict(store, conflict_id, "edit", args.value)
        else:
            value = sync_service.resolve_conflict(store, conflict_id, args.keep)
    print(f"resolved: the field now holds {sync_service.value_text(value)}")
    return ExitCode.OK


def cmd_purge_client(args) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError("a purge cannot be undone: add --yes to confirm", field="yes")
        if (
            input(f"Erase client {args.client_id} and everything about them, here and on every laptop? [y/N] ").lower()
            != "y"
        ):
            print("nothing was changed", file=sys.stderr)
            return ExitCode.OK
    with unlock(args) as store:
        counts = sync_service.purge_client(store, resolve_client(store, args.client_id))
    print("purged: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    return ExitCode.OK
