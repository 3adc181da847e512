"""Core subcommands: init, passwd, doctor, clients list|show, demo-data."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path

from vipterm import domain
from vipterm.commands.common import (
    add_db_argument,
    database_path,
    emit_json,
    new_passphrase,
    note,
    print_table,
    read_passphrase,
    unlock,
)
from vipterm.errors import CheckFailed, DatabaseExists, ExitCode, ValidationError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a new encrypted database for this device")
    add_db_argument(p)
    p.add_argument("--worker-name", default="Peer support worker", help="the name of the worker using this laptop")
    p.add_argument("--force", action="store_true", help="replace an existing database (its data is lost)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("passwd", help="change the passphrase (re-encrypts the file)")
    add_db_argument(p)
    p.add_argument("--new-passphrase-file", type=Path, metavar="FILE", help="read the new passphrase from FILE")
    p.set_defaults(func=cmd_passwd)

    p = sub.add_parser("doctor", help="unlock, check integrity and schema, print counts")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)

    clients = sub.add_parser("clients", help="list or show clients")
    csub = clients.add_subparsers(
        dest="clients_cmd",
        required=True,
        metavar="list|show|assign|update|close|reopen|history|correct|void|consent|safety-plan|export",
    )
    p = csub.add_parser("list", help="the caseload, most urgent first")
    add_db_argument(p)
    p.add_argument("--all", action="store_true", help="every client, not only this worker's")
    p.add_argument("--closed", action="store_true", help="include inactive and closed clients")
    p.add_argument("--filter", default="", help="only clients matching these words")
    p.add_argument("--worker", metavar="NAME|ID", help="only the clients assigned to this worker (implies --all)")
    p.add_argument("--unassigned", action="store_true", help="only clients assigned to no worker (implies --all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_clients_list)
    p = csub.add_parser("show", help="one client's file")
    add_db_argument(p)
    p.add_argument("client_id", help="client id (or its pseudonym, e.g. VIP-1A2B3C)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_clients_show)
    from vipterm.commands.client_records import register_clients

    register_clients(csub)  # update, close, reopen, correct, void
    from vipterm.commands.workers import register_clients  # assignment and handover (coordinator)

    register_clients(csub)
    from vipterm.commands.subject import register_clients  # consent, safety-plan, export

    register_clients(csub)

    p = sub.add_parser("demo-data", help="create a database of synthetic program data")
    add_db_argument(p)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--clients", type=int, default=900)
    p.add_argument("--contact-rate", type=float, default=1.0, help="contacts per engaged client-week")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--until", type=date.fromisoformat, help="last day of data, YYYY-MM-DD (default: today)")
    p.add_argument("--capture", action="store_true", help="record every row as a pending sync change")
    p.add_argument("--force", action="store_true", help="replace an existing database")
    p.set_defaults(func=cmd_demo_data)


def cmd_init(args) -> int:
    from vipterm.services.database import create_store

    path = database_path(args)
    if path.exists() and not args.force:
        raise DatabaseExists(f"{path} already exists (use --force to replace it)")
    passphrase = new_passphrase(args, "Passphrase for the new database")
    store = create_store(path, passphrase, worker_name=args.worker_name, force=args.force)
    store.close()
    print(f"created {path}")
    print(f"device {store.device_id}")
    return ExitCode.OK


def cmd_passwd(args) -> int:
    from vipterm.services.database import change_passphrase

    path = database_path(args)
    old = read_passphrase(args, "Current passphrase: ")
    new = new_passphrase(args)
    change_passphrase(path, old, new)
    print(f"passphrase changed; {path} re-encrypted")
    return ExitCode.OK


def cmd_doctor(args) -> int:
    from rich.console import Console

    from vipterm.services.backup import last_backup_at
    from vipterm.services.database import integrity_report

    with unlock(args) as store:
        report = integrity_report(store)
        last_backup = last_backup_at(store)
    report["last_backup_at"] = last_backup
    if args.json:
        emit_json(report, store.clock)
    else:
        console = Console()
        console.print(f"database  {database_path(args)}")
        console.print(f"integrity {report['integrity']}   foreign keys: {report['foreign_key_problems']} problem(s)")
        console.print(
            f"schema    {report['schema_version']} (this vipterm: {report['schema_expected']})   SQLCipher {report['cipher_version']}"
        )
        console.print(f"device    {report['device_id']} ({report['role']})")
        console.print(
            f"backup    last taken {store.clock.to_local(last_backup):%Y-%m-%d %H:%M} ({store.time_zone})"
            if last_backup
            else "backup    never taken here (vipterm backup --to DIR)"
        )
        for where, n in report["values_breaking_rules"].items():
            console.print(f"[bold red]{n:,} stored value(s) of {where} break the rules[/] (edit those records)")
        print_table(["table", "rows"], [[name, f"{count:,}"] for name, count in report["counts"].items()])
        console.print("healthy" if report["healthy"] else "[bold red]PROBLEMS FOUND[/]")
    if not report["healthy"]:
        raise CheckFailed("the database failed its checks (see above)")
    return ExitCode.OK


# Machine values of a caseload row's urgency (--json); the table shows the labels.
URGENCY_VALUE = {0: "overdue", 1: "due_today", 2: "upcoming"}


def cmd_clients_list(args) -> int:
    from vipterm.services import caseload as caseload_service
    from vipterm.services.resolve import resolve_worker

    if args.worker and args.unassigned:
        raise ValidationError("give --worker NAME or --unassigned, not both", field="worker")
    with unlock(args) as store:
        if args.worker:
            scope = resolve_worker(store, args.worker)
        else:
            scope = None if (args.all or args.unassigned) else "mine"
        rows = caseload_service.caseload(store, worker_id=scope, include_closed=args.closed)
        if args.unassigned:
            rows = [r for r in rows if r.unassigned]
        rows = caseload_service.filter_rows(rows, args.filter)
        # A list of names leaves an audit entry: as JSON it is an export, on the terminal a view.
        from vipterm.services.audit import record_audit

        record_audit(
            store,
            domain.AuditAction.EXPORT if args.json else domain.AuditAction.VIEW_IDENTITY,
            None,
            f"cli clients list{' --json' if args.json else ''}, {len(rows)} client(s)",
        )
    if args.json:
        emit_json(
            [
                {
                    "id": r.client_id,
                    "pseudonym": r.pseudonym,
                    "name": r.name,
                    "age_group": r.age_group,
                    "area_command": r.area_command,
                    "status": r.status,
                    "risk_flags": list(r.risk_flags),
                    "last_contact": r.last_contact,
                    "next_due": r.next_due,
                    "open_referrals": r.open_referrals,
                    "stale_referrals": r.stale_referrals,
                    "urgency": URGENCY_VALUE[r.urgency],
                    "worker_id": r.assigned_worker_id,
                    "worker": r.worker_name or None,
                }
                for r in rows
            ],
            store.clock,
            key="clients",
        )
        return ExitCode.OK
    print_table(
        ["due", "pseudonym", "name", "worker", "area", "status", "last contact", "next due", "refs"],
        [
            [
                caseload_service.URGENCY_LABEL[r.urgency],
                r.pseudonym,
                r.name,
                r.worker_name or "unassigned",
                domain.AreaCommand(r.area_command).label,
                domain.ClientStatus(r.status).label,
                store.clock.to_local(r.last_contact).strftime("%Y-%m-%d") if r.last_contact else "—",
                r.next_due.isoformat() if r.next_due else "—",
                str(r.open_referrals),
            ]
            for r in rows
        ],
        whole=("pseudonym", "last contact", "next due"),
    )
    note(args, f"{len(rows):,} client(s)")
    return ExitCode.OK


def cmd_clients_show(args) -> int:
    from rich.console import Console

    from vipterm.services import caseload as caseload_service
    from vipterm.services.records import record_audit

    with unlock(args) as store:
        client_id = caseload_service.resolve_client_id(store, args.client_id)
        cf = caseload_service.client_file(store, client_id)
        if args.json:  # the whole file, in a form that leaves the screen: an export
            record_audit(store, domain.AuditAction.EXPORT, client_id, "cli clients show --json")
        else:
            record_audit(store, domain.AuditAction.VIEW_IDENTITY, client_id, "cli clients show")
        data = caseload_service.client_as_dict(cf)
        data["last_contact"] = cf.last_contact  # a stored time: --json gives it its offset
        if args.json:  # the phone, assessment levels, referral history, outcome notes, consents, safety plan
            from vipterm.services.subject import show_extras, subject_record

            data.update(show_extras(store, client_id))
            # A timeline entry's fields as stored (machine values), not as the screen words them.
            stored = {row["id"]: row for rows in subject_record(store, client_id)["records"].values() for row in rows}
            for entry in data["timeline"]:
                row = stored.get(entry["id"]) or {}
                entry["fields"] = {k: v for k, v in row.items() if k not in ("id", "client_id", "deleted_at")}
    if args.json:
        for entry in data["timeline"]:
            if not entry["timed"]:  # a day is a day: no time of day to carry an offset
                entry["when"] = entry["when"][:10]
        emit_json(data, store.clock)
        return ExitCode.OK
    console = Console()
    console.print(
        f"[bold]{data['pseudonym']}[/]  {data['name']}  · {data['age_group']} · {data['area_command']} · {data['status']}"
    )
    console.print(f"worker: {data['assigned_worker']}   flags: {', '.join(data['risk_flags']) or '—'}")
    for f in data["follow_ups"]:
        console.print(f"follow-up {f['due_on']} {f['kind']}{' OVERDUE' if f['overdue'] else ''}")
    for e in data["timeline"]:
        # --json carries the offset; people read program-local time. A day is a day (no time to shift).
        if e["timed"]:
            shown = store.clock.to_local(datetime.fromisoformat(e["when"])).strftime("%Y-%m-%d %H:%M")
        else:
            shown = e["when"][:10].ljust(16)
        console.print(
            f"{shown}  {e['summary']}" + (f"  ({e['recorded_by']})" if e["recorded_by"] else ""), markup=False
        )
        for item in e["history"]:
            console.print(
                f"{'':16}  · {item['what']}" + (f": {item['reason']}" if item["reason"] else ""), markup=False
            )
    return ExitCode.OK


def cmd_demo_data(args) -> int:
    from vipterm.services.demo_data import DemoSize, generate

    path = database_path(args)
    if path.exists() and not args.force:
        raise DatabaseExists(f"{path} already exists (use --force to replace it)")
    if args.workers < 1 or args.clients < 0:
        raise ValidationError("--workers must be at least 1 and --clients at least 0")
    passphrase = new_passphrase(args, "Passphrase for the demo database")
    from vipterm.commands.progress import progress_for

    counts = generate(
        path,
        passphrase,
        seed=args.seed,
        until=args.until,
        capture=args.capture,
        force=args.force,
        size=DemoSize(workers=args.workers, clients=args.clients, contact_rate=args.contact_rate),
        progress=progress_for(args),
    )
    print(f"created {path}: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
    return ExitCode.OK
