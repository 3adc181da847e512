"""`vipterm tasks`: the task view on the command line — every open follow-up and planned custom
notification of a caseload, grouped overdue / today / this week (the program's days).

A laptop lists its worker's tasks; the coordinator everyone's, or one worker's with `--worker`.
"""

from __future__ import annotations

import argparse

from vipterm.commands.common import add_db_argument, emit_json, note, unlock
from vipterm.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="open follow-ups and planned notifications: overdue, today, this week")
    add_db_argument(p)
    p.add_argument("--worker", help="coordinator: only this worker's (name or id)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_tasks)


def cmd_tasks(args) -> int:
    from vipterm.domain import Role
    from vipterm.services.tasks import GROUPS, open_tasks

    with unlock(args) as store:
        if args.worker:
            from vipterm.services.resolve import resolve_worker

            worker = resolve_worker(store, args.worker)
        else:
            worker = None if store.role is Role.COORDINATOR else "mine"
        tasks = open_tasks(store, worker_id=worker)
        if args.json:  # a group's machine value: "this_week", not the heading "this week"
            emit_json(
                {
                    "today": tasks.today,
                    "later": tasks.later,
                    "tasks": [
                        {
                            "group": t.group.replace(" ", "_"),
                            "kind": t.kind,
                            "id": t.id,
                            "client_id": t.client_id,
                            "pseudonym": t.pseudonym,
                            "due_on": t.due_on,
                            "due_time": t.due_time,
                            "what": t.what,
                            "note": t.note,
                            "worker": t.worker_name,
                        }
                        for t in tasks.tasks
                    ],
                },
                store.clock,
            )
            return ExitCode.OK
    for group in GROUPS:
        members = [t for t in tasks.tasks if t.group == group]
        if not members:
            continue
        print(f"{group.upper()} ({len(members)})")
        for t in members:
            text = " ".join(t.note.split())
            text = text if len(text) <= 40 else text[:39] + "…"
            print(f"  {t.when:<16}  {t.pseudonym:<10}  {t.what:<30}  {t.worker_name:<14}  {text}".rstrip())
    note(args, f"{len(tasks.tasks)} open this week" + (f", {tasks.later} later" if tasks.later else ""))
    return ExitCode.OK
