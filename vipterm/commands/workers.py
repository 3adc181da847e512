"""The coordinator's staff subcommands: `clients assign` (assignment and handover) and `workers …`.

`clients assign ID… --to WORKER` gives clients to a worker; `clients assign --from WORKER --to
WORKER` hands over every open client of a departing worker. Ids are a full id, a unique prefix or
a pseudonym; a worker is a name or an id (services.resolve). On a laptop both refuse: assignment
is the coordinator's, and the laptop receives it in its next return bundle.
"""

from __future__ import annotations

import argparse

from vipterm.commands.common import add_db_argument, emit_json, note, print_table, short_id, unique_prefixes, unlock
from vipterm.errors import ExitCode, ValidationError


def register_clients(csub: argparse._SubParsersAction) -> None:
    """`clients assign`, added to the `clients` command of commands.core."""
    p = csub.add_parser("assign", help="assign clients to a worker, or hand over a worker's open clients (coordinator)")
    add_db_argument(p)
    p.add_argument("client_ids", nargs="*", metavar="ID", help="client ids, unique id prefixes or pseudonyms")
    p.add_argument(
        "--from", dest="from_worker", metavar="WORKER", help="every open client of this worker (name or id): a handover"
    )
    p.add_argument(
        "--to", dest="to_worker", metavar="WORKER", required=True, help="the worker who takes the clients (name or id)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_clients_assign)


def register(sub: argparse._SubParsersAction) -> None:
    """Nothing at the top level yet; `workers …` is registered by `register_workers`."""
    register_workers(sub)


def register_workers(sub: argparse._SubParsersAction) -> None:
    workers = sub.add_parser("workers", help="the program's peer support workers (coordinator)")
    wsub = workers.add_subparsers(dest="workers_cmd", required=True, metavar="list|add|rename|deactivate")
    p = wsub.add_parser(
        "list", help="workers with their laptops, open clients, overdue follow-ups, contacts this month"
    )
    add_db_argument(p)
    p.add_argument("--all", action="store_true", help="also deactivated workers")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_workers_list)
    p = wsub.add_parser("add", help="add a peer support worker")
    add_db_argument(p)
    p.add_argument("name", help="the worker's name as staff see it")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_workers_add)
    p = wsub.add_parser("rename", help="change a worker's name")
    add_db_argument(p)
    p.add_argument("worker", help="name or id")
    p.add_argument("new_name")
    p.set_defaults(func=cmd_workers_rename)
    p = wsub.add_parser("deactivate", help="a worker who left: no new clients; hand over their open clients first")
    add_db_argument(p)
    p.add_argument("worker", help="name or id")
    p.add_argument("--to", dest="to_worker", metavar="WORKER", help="hand their open clients over to this worker first")
    p.set_defaults(func=cmd_workers_deactivate)


def cmd_clients_assign(args) -> int:
    from vipterm.services import assignment
    from vipterm.services.resolve import resolve_clients, resolve_worker

    if args.from_worker and args.client_ids:
        raise ValidationError("give client ids or --from WORKER, not both", field="client")
    if not args.from_worker and not args.client_ids:
        raise ValidationError(
            "say which clients: their ids, or --from WORKER for all of a worker's open clients", field="client"
        )
    with unlock(args) as store:
        assignment.require_coordinator(store, "assigning clients")
        to_worker = assignment.resolve_assignable(store, args.to_worker)
        if args.from_worker:
            result = assignment.handover(store, resolve_worker(store, args.from_worker), to_worker)
        else:
            result = assignment.assign_clients(store, resolve_clients(store, args.client_ids), to_worker)
    if args.json:
        emit_json(
            {
                "worker_id": result.worker_id,
                "worker": result.worker_name,
                "assigned": list(result.moved),
                "already_assigned": list(result.already),
                "follow_ups_moved": result.follow_ups_moved,
                "plans_moved": result.plans_moved,
            },
            store.clock,
        )
        return ExitCode.OK
    n = result.count
    print(
        f"{n} client{'s' if n != 1 else ''} assigned to {result.worker_name}"
        + (f" ({len(result.already)} already were)" if result.already else "")
        + (f"; {result.follow_ups_moved} open follow-up(s) moved with them" if result.follow_ups_moved else "")
        + (f"; {result.plans_moved} planned notification(s) now theirs to follow up" if result.plans_moved else "")
    )
    if n:
        note(args, "their laptops receive the change at the next `vipterm sync export` from here")
    return ExitCode.OK


def cmd_workers_list(args) -> int:
    from vipterm.services import workers as workers_service

    with unlock(args) as store:
        # A laptop holds only its own caseload: its counts of other workers would mislead.
        workers_service.require_coordinator(store, "the workers list")
        rows = workers_service.worker_summaries(store, include_inactive=args.all)
        zone_today = store.clock.today()
        if args.json:
            emit_json([workers_service.summary_as_dict(r) for r in rows], store.clock, key="workers")
            return ExitCode.OK
        # Every staff row a command accepts, so that a shown prefix names one worker.
        with store.read() as session:
            every_id = [
                r[0] for r in session.connection().exec_driver_sql("SELECT id FROM worker WHERE deleted_at IS NULL")
            ]
    prefixes = unique_prefixes([r.id for r in rows], every_id)
    devices = unique_prefixes([d.device_id for r in rows for d in r.devices])

    def laptops(r) -> str:  # each enrolled laptop by its id (a unique prefix on a terminal), as devices_line
        if not r.enrolled_devices:
            return "none"
        revoked = len(r.devices) - len(r.enrolled_devices)
        return ", ".join(
            short_id(d.device_id, devices) + (f" ({d.pending} pending)" if d.pending else "")
            for d in r.enrolled_devices
        ) + (f" +{revoked} revoked" if revoked else "")

    print_table(
        ["worker", "id", "laptops", "last bundle", "clients", "overdue", "contacts (month)"],
        [
            [
                r.name + ("" if r.active else " (inactive)"),
                short_id(r.id, prefixes),
                laptops(r),
                r.last_bundle_line(zone_today),
                str(r.open_clients),
                str(r.overdue_follow_ups),
                str(r.contacts_this_month),
            ]
            for r in rows
        ],
        whole=("id",),
    )
    note(args, f"{len(rows)} worker(s)")
    return ExitCode.OK


def cmd_workers_add(args) -> int:
    from vipterm.services import workers as workers_service

    with unlock(args) as store:
        worker = workers_service.add_worker(store, args.name)
    if getattr(args, "json", False):
        emit_json({"id": worker.id, "name": worker.display_name}, store.clock)
    else:
        print(f"added {worker.display_name} ({worker.id})")
    return ExitCode.OK


def cmd_workers_rename(args) -> int:
    from vipterm.services import workers as workers_service
    from vipterm.services.resolve import resolve_worker

    with unlock(args) as store:
        workers_service.require_coordinator(store, "renaming a worker")
        old, new = workers_service.rename_worker(store, resolve_worker(store, args.worker), args.new_name)
    print(f"renamed {old} to {new}")
    return ExitCode.OK


def cmd_workers_deactivate(args) -> int:
    from vipterm.services import assignment
    from vipterm.services import workers as workers_service
    from vipterm.services.resolve import resolve_worker

    with unlock(args) as store:
        workers_service.require_coordinator(store, "deactivating a worker")
        worker_id = resolve_worker(store, args.worker)
        moved = None
        if args.to_worker:
            to_worker = assignment.resolve_assignable(store, args.to_worker)
            if assignment.open_clients_of(store, worker_id):
                moved = assignment.handover(store, worker_id, to_worker)
        result = workers_service.deactivate_worker(store, worker_id)
    if moved is not None:
        print(f"{moved.count} client(s) handed over to {moved.worker_name}")
    print(f"{result.name} deactivated")
    if result.active_devices:
        note(
            args,
            f"their laptop(s) {', '.join(result.active_devices)} are still enrolled: "
            "`vipterm revoke DEVICE` when one is handed back or lost",
        )
    return ExitCode.OK
