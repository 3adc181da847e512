"""`vipterm review …`: the coordinator's weekly review from the command line (the `v` screen's work).

- `review show [--week DAY] [--json]`: the week's incidents and candidates with their plans;
- `review incident --day DAY --area AREA --source SOURCE [--week DAY]`: an incident considered;
- `review candidate (--first-name … | --client ID) --worker WORKER --notify-on DAY [--time HH:MM]
  [--setting S] [--team ROLE,…] [--incident ID] [--flags F,…] [--yes]`: a candidate and the custom
  notification planned for them; the client is assigned to the follow-up worker. A new client who
  may be an existing one is refused (exit 2, the matches by pseudonym) unless `--yes`;
- `review cancel PLAN_ID`: call off a planned notification.

Everything goes through `services.review`; on a laptop every command refuses (the review is the
coordinator's; a laptop receives its clients' plans in its next return bundle).
"""

from __future__ import annotations

import argparse
from datetime import date

from vipterm.commands.common import add_db_argument, emit_json, note, short_id, unique_prefixes, unlock
from vipterm.errors import NeedsConfirmation, ValidationError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    rv = sub.add_parser("review", help="the weekly review: incidents, candidates, planned notifications (coordinator)")
    rsub = rv.add_subparsers(dest="review_cmd", required=True, metavar="show|incident|candidate|cancel")

    p = rsub.add_parser("show", help="a week's review (default: this week)")
    add_db_argument(p)
    p.add_argument("--week", type=_day, metavar="DAY", help="any day of the week (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_show)

    p = rsub.add_parser("incident", help="add an incident the review considers (no narrative is kept)")
    add_db_argument(p)
    p.add_argument("--week", type=_day, metavar="DAY", help="the review's week (default: this week)")
    p.add_argument("--day", type=_day, required=True, metavar="DAY", help="the incident's day (YYYY-MM-DD)")
    p.add_argument("--area", default="na", help="area command (default: N/A)")
    p.add_argument(
        "--source",
        default="shooting_review",
        help="shooting_review, crime_data, hospital or community (default: shooting_review)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_incident)

    p = rsub.add_parser("candidate", help="add a candidate and plan their custom notification")
    add_db_argument(p)
    p.add_argument("--week", type=_day, metavar="DAY", help="the review's week (default: this week)")
    p.add_argument("--incident", metavar="ID", help="the incident they were identified from (id or unique prefix)")
    p.add_argument("--client", metavar="ID", help="an existing client (id, unique prefix or pseudonym)")
    p.add_argument("--first-name", default="")
    p.add_argument("--last-name", default="")
    p.add_argument("--aka", default="")
    p.add_argument("--dob", type=_day, metavar="DAY", help="date of birth")
    p.add_argument("--phone", default="")
    p.add_argument("--area", default="na", help="area command of a new client")
    p.add_argument("--source", default="shooting_review", help="referral source of a new client")
    p.add_argument("--age-group", help="under_18, 18_24, 25_29, 30_plus (default: from the date of birth)")
    p.add_argument("--flags", type=_list, default=[], metavar="F,…", help="risk flags the review saw")
    p.add_argument("--worker", required=True, help="who follows up (name or id); the client is assigned to them")
    p.add_argument("--notify-on", type=_day, required=True, metavar="DAY", help="the day planned")
    p.add_argument("--time", default="", metavar="HH:MM", help="the time planned (optional)")
    p.add_argument("--setting", default="home", help="home, hospital, jail, community, office, other")
    p.add_argument(
        "--team",
        type=_list,
        default=["peer_support"],
        metavar="ROLE,…",
        help="team roles going (default: peer_support)",
    )
    p.add_argument("--yes", action="store_true", help="create the new client even if they may be an existing one")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_candidate)

    p = rsub.add_parser("cancel", help="call off a planned notification")
    add_db_argument(p)
    p.add_argument("plan_id", metavar="PLAN_ID", help="the plan's id or a unique prefix")
    p.set_defaults(func=cmd_cancel)


def _plan_dict(plan) -> dict | None:
    if plan is None:
        return None
    return {
        "id": plan.id,
        "client_id": plan.client_id,
        "pseudonym": plan.pseudonym,
        "planned_on": plan.planned_on,
        "planned_time": plan.planned_time,
        "setting": plan.setting,
        "team_roles": list(plan.team_roles),
        "worker_id": plan.worker_id,
        "worker": plan.worker_name,
        "serving": plan.serving_name,
        "identified_on": plan.identified_on,
        "state": plan.state,
    }


def cmd_show(args) -> int:
    from vipterm.services import review

    with unlock(args) as store:
        review.require_coordinator(store)
        week = review.week_of(args.week or store.clock.today())
        found = review.find_review(store, week)
        view = review.review_view(store, found.id) if found else None
        if args.json:
            emit_json(
                {
                    "week_of": week,
                    "review_id": view.review.id if view else None,
                    "incidents": [
                        {"id": i.id, "day": i.occurred_on, "area_command": i.area_command, "source": i.source}
                        for i in (view.incidents if view else ())
                    ],
                    # Pseudonyms only: a script's output may end up in a file.
                    "candidates": [
                        {
                            "id": c.id,
                            "client_id": c.client_id,
                            "pseudonym": c.pseudonym,
                            "new_client": c.new_client,
                            "incident_id": c.incident_id,
                            "age_group": c.age_group,
                            "risk_flags": list(c.risk_flags),
                            "plan": _plan_dict(c.plan),
                        }
                        for c in (view.candidates if view else ())
                    ],
                },
                store.clock,
            )
            return 0
    print(f"week of {week.isoformat()}" + (f" · held by {view.held_by_name}" if view and view.held_by_name else ""))
    if view is None:
        note(args, "no review of this week yet")
        return 0
    print(f"incidents ({len(view.incidents)}):")
    prefixes = unique_prefixes([i.id for i in view.incidents])
    for i in view.incidents:
        print(f"  {short_id(i.id, prefixes)}  {i.occurred_on.isoformat()}  {i.area_command:<10} {i.source}")
    print(f"candidates ({len(view.candidates)}):")
    for c in view.candidates:
        plan = (
            f"{c.plan.summary} · {c.plan.serving_name or c.plan.worker_name} · {c.plan.state}" if c.plan else "no plan"
        )
        print(f"  {c.pseudonym:<10} {'new' if c.new_client else 'existing':<8} {plan}")
    return 0


def _incident_id(store, review_id: str, ref: str | None) -> str | None:
    """An incident of this review from its id or a unique prefix (services.resolve's rules and messages)."""
    from vipterm.services import review
    from vipterm.services.resolve import match_prefix

    if not ref:
        return None
    return match_prefix([i.id for i in review.review_view(store, review_id).incidents], ref, "incident")


def cmd_incident(args) -> int:
    from vipterm.services import review

    with unlock(args) as store:
        rv = review.open_review(store, args.week)
        incident = review.add_incident(store, rv.id, review.IncidentDraft(args.day, args.area, args.source))
    if args.json:
        emit_json({"id": incident.id, "review_id": rv.id, "week_of": rv.week_of}, store.clock)
    else:
        print(f"incident {incident.id} added to the review of the week of {rv.week_of.isoformat()}")
    return 0


def cmd_candidate(args) -> int:
    from vipterm.services import records, review
    from vipterm.services.resolve import resolve_client, resolve_worker

    new = any((args.first_name, args.last_name, args.aka))
    if new == bool(args.client):
        raise ValidationError(
            "a candidate is a new client (--first-name/--last-name/--aka) or an existing one "
            "(--client ID), one of the two",
            field="client",
        )
    with unlock(args) as store:
        review.require_coordinator(store)
        rv = review.open_review(store, args.week)
        client = None
        if new:
            client = records.ClientDraft(
                first_name=args.first_name,
                last_name=args.last_name,
                aka=args.aka,
                date_of_birth=args.dob,
                phone=args.phone,
                area_command=args.area,
                referral_source=args.source,
                age_group=args.age_group,
                confirm_duplicate=args.yes,
            )
        draft = review.CandidateDraft(
            review_id=rv.id,
            incident_id=_incident_id(store, rv.id, args.incident),
            client=client,
            client_id=None if new else resolve_client(store, args.client),
            age_group=args.age_group if not new else None,
            risk_flags=args.flags,
            plan=review.PlanDraft(
                planned_on=args.notify_on,
                worker_id=resolve_worker(store, args.worker),
                team_roles=args.team,
                planned_time=args.time,
                setting=args.setting,
            ),
        )
        try:
            result = review.add_candidate(store, draft)
        except NeedsConfirmation as exc:
            # Pseudonyms only (never names): the coordinator looks them up, then --yes or --client.
            seen = ", ".join(m.pseudonym for m in exc.matches)
            raise NeedsConfirmation(
                f"{exc.message} ({seen}): use --client for one of them, or --yes to create a new client anyway",
                field="first_name",
                matches=exc.matches,
            ) from None
    if args.json:
        emit_json(
            {
                "candidate_id": result.candidate.id,
                "client_id": result.client_id,
                "pseudonym": result.pseudonym,
                "new_client": result.new_client,
                "plan_id": result.plan.id,
                "worker": result.worker_name,
            },
            store.clock,
        )
    else:
        print(
            f"{result.pseudonym}: {'new client, ' if result.new_client else ''}notification planned "
            f"{args.notify_on.isoformat()}{' ' + result.plan.planned_time if result.plan.planned_time else ''}, "
            f"follow-up by {result.worker_name} (plan {result.plan.id})"
        )
    return 0


def cmd_cancel(args) -> int:
    from sqlmodel import select

    from vipterm.services import review
    from vipterm.services.resolve import MIN_PREFIX, match_prefix
    from vipterm.store.models import PlannedNotification

    with unlock(args) as store:
        review.require_coordinator(store)
        ref = args.plan_id.strip()
        with store.read() as session:
            ids = (
                session.exec(
                    select(PlannedNotification.id).where(PlannedNotification.id.startswith(ref.lower())).limit(1000)
                ).all()
                if len(ref) >= MIN_PREFIX
                else []
            )
        plan = review.cancel_plan(store, match_prefix(list(ids), ref, "planned notification"))
    print(f"planned notification {plan.id} called off")
    return 0
