"""The command palette (`ctrl+p`): find any client by name, alias or id and open them, and run
any action by name.

Clients are searched in the app's in-memory index (loaded in a worker after unlock), first by
the caseload's word filter, then ranked by Textual's fuzzy matcher on the few that remain, so a
coordinator's 20k clients stay instant. While the mask is on, hits show initials only.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Iterable

from textual.app import SystemCommand
from textual.command import Hit, Hits, Provider
from textual.screen import Screen


MAX_CLIENT_HITS = 20


class ClientCommands(Provider):
    """Clients by name, alias, pseudonym or id."""

    async def search(self, query: str) -> Hits:
        app = self.app
        if app.store is None or not query.strip():
            return
        from vipterm.domain import fold
        from vipterm.services.caseload import filter_rows  # here, not at import: start-up stays light

        # Ranked on folded text too, so "nunez" ranks "Núñez" as high as "Nunez" would.
        matcher = self.matcher(fold(query))
        # A coordinator's index holds 20k+ clients: filter off the event loop so typing stays smooth.
        candidates = (await asyncio.to_thread(filter_rows, app.client_index, query))[: MAX_CLIENT_HITS * 5]
        scored = []
        for row in candidates:
            shown = f"{row.pseudonym} {app.shown_name(row.name, row.pseudonym)}"
            score = max(matcher.match(fold(f"{row.pseudonym} {row.name}")), 0.01)
            scored.append((score, shown, row))
        scored.sort(key=lambda item: -item[0])
        for score, shown, row in scored[:MAX_CLIENT_HITS]:
            yield Hit(score, matcher.highlight(shown) if not app.masked else shown,
                      partial(app.open_client, row.client_id), text=shown, help="open the client file")

    async def discover(self) -> Hits:
        return
        yield  # pragma: no cover - nothing to list before typing: names stay off the screen


def system_commands(app, screen: Screen) -> Iterable[SystemCommand]:
    """The app's own actions, by name."""
    if app.store is None:
        return
    from vipterm.tui.caseload import CaseloadScreen
    from vipterm.tui.client_file import ClientFileScreen

    yield SystemCommand("Lock", "Lock now (ctrl+l)", app.action_lock)
    yield SystemCommand("Privacy mask", "Show names as initials, or show them again", app.action_toggle_mask)
    yield SystemCommand("Next theme", "dark → light → high contrast (ctrl+t)", app.action_cycle_theme)
    for theme in ("textual-dark", "textual-light", "vipterm-high-contrast"):
        yield SystemCommand(f"Theme: {theme}", "Switch to this theme", partial(setattr, app, "theme", theme))
    yield SystemCommand("Help", "Keys of this screen (?)", app.action_help)
    if isinstance(screen, (CaseloadScreen, ClientFileScreen)):
        yield SystemCommand("Log contact", "Log a contact with the client in focus (l)", screen.action_log_contact)
        yield SystemCommand("Custom notification", "Record a notification attempt (u)", screen.action_notification)
        yield SystemCommand("Needs assessment", "Assess the client's needs (a)", screen.action_assessment)
        yield SystemCommand("Referral", "Refer the client to a provider (r)", screen.action_referral)
        yield SystemCommand("Outcome", "Record an outcome (o)", screen.action_outcome)
        yield SystemCommand("Follow-up", "Schedule a follow-up (f)", screen.action_follow_up)
        yield SystemCommand("Follow-up done", "Close a follow-up: asks which and what happened (d)",
                            screen.action_follow_up_done)
        yield SystemCommand("Attempt", "Log an attempt that did not reach the client (A)", screen.action_log_attempt)
    if isinstance(screen, ClientFileScreen):
        yield SystemCommand("Referral status", "Change the status of a referral (t)", screen.action_referral_status)
        yield SystemCommand("Edit client", "Names, alias, birth date, phone, area, flags (e)", screen.action_edit_client)
        yield SystemCommand("Close or reopen client", "Close with a reason, or reopen (C; asks y/n)",
                            screen.action_close_or_reopen)
        yield SystemCommand("Correct entry", "Correct the timeline entry under the cursor (c)", screen.action_correct_fact)
        yield SystemCommand("Void entry", "Void the timeline entry under the cursor (x; asks why, then y/n)",
                            screen.action_void_fact)
        yield SystemCommand("Field history", "Every value the client's fields have held (h)", screen.action_field_history)
    if isinstance(screen, CaseloadScreen):
        yield SystemCommand("New client", "Intake a new client (n)", screen.action_new_client)
        yield SystemCommand("Mine / all", "Switch between my clients and all clients (m)", screen.action_toggle_scope)
        yield SystemCommand("Tasks", "Open follow-ups and planned notifications: overdue, today, this week (T)",
                            screen.action_open_tasks)
        yield SystemCommand("Audit log", "Who viewed, unmasked, exported, enrolled, reassigned, purged, decided (U)",
                            screen.action_audit_log)
        if screen.check_action("assign", ()):  # the coordinator's: assignment and the staff
            yield SystemCommand("Assign", "Assign the marked clients, or the one in focus, to a worker (w)",
                                screen.action_assign)
            yield SystemCommand("Workers", "Workers, their laptops and caseloads; hand over (W)",
                                screen.action_workers)
            yield SystemCommand("Weekly review", "Incidents, candidates and planned notifications (v)",
                                screen.action_weekly_review)
    yield SystemCommand("Sync", "Exchange bundles with the coordinator", partial(app.open_screen, "sync"))
    yield SystemCommand("Conflicts", "Review conflicting edits", partial(app.open_screen, "conflicts"))
    yield SystemCommand("Monthly report", "The program's monthly report", partial(app.open_screen, "report"))
