"""The command palette (`ctrl+p`): find any client by name, alias or id and open them, and run
any action of the screen in front by name: the actions are its active bindings (as help's list
is), so a rebound key, a coordinator's action or a new binding shows there without a second list.

Clients are searched in the app's in-memory index (loaded in a worker after unlock), first by
the caseload's word filter, then ranked by Textual's fuzzy matcher on the few that remain, so a
coordinator's 20k clients stay instant. While the mask is on, hits show initials only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial

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
        from vipterm.services.caseload import (
            filter_rows,  # here, not at import: start-up stays light
        )

        # Ranked on folded text too, so "nunez" ranks "Núñez" as high as "Nunez" would.
        matcher = self.matcher(fold(query))
        # A coordinator's index holds 20k+ clients: filter off the event loop so typing stays smooth.
        index = await app.ready_client_index()
        candidates = (await asyncio.to_thread(filter_rows, index, query))[: MAX_CLIENT_HITS * 5]
        scored = []
        for row in candidates:
            shown = f"{row.pseudonym} {app.shown_name(row.name, row.pseudonym)}"
            score = max(matcher.match(fold(f"{row.pseudonym} {row.name}")), 0.01)
            scored.append((score, shown, row))
        scored.sort(key=lambda item: -item[0])
        for score, shown, row in scored[:MAX_CLIENT_HITS]:
            yield Hit(
                score,
                matcher.highlight(shown) if not app.masked else shown,
                partial(app.open_client, row.client_id),
                text=shown,
                help="open the client file",
            )

    async def discover(self) -> Hits:
        return
        yield  # pragma: no cover - nothing to list before typing: names stay off the screen


# The palette's words for an action: a title to find it by, and what it does. Which actions are
# offered, under which keys, and whether they are allowed here (a coordinator's only) comes from
# the bindings active on the screen, as help's list does; an action without words here is
# offered under its binding's description.
WORDS: dict[str, tuple[str, str]] = {
    "lock": ("Lock", "Lock now"),
    "toggle_mask": ("Privacy mask", "Show names as initials, or show them again"),
    "cycle_theme": ("Next theme", "dark → light → high contrast"),
    "help": ("Help", "Keys of this screen"),
    "log_contact": ("Log contact", "Log a contact with the client in focus"),
    "notification": ("Custom notification", "Record a notification attempt"),
    "assessment": ("Needs assessment", "Assess the client's needs"),
    "referral": ("Referral", "Refer the client to a provider"),
    "outcome": ("Outcome", "Record an outcome"),
    "follow_up": ("Follow-up", "Schedule a follow-up"),
    "follow_up_done": ("Follow-up done", "Close a follow-up: asks which and what happened"),
    "log_attempt": ("Attempt", "Log an attempt that did not reach the client"),
    "referral_status": ("Referral status", "Change the status of a referral"),
    "edit_client": ("Edit client", "Names, alias, birth date, phone, area, flags"),
    "close_or_reopen": ("Close or reopen client", "Close with a reason, or reopen (asks y/n)"),
    "correct_fact": ("Correct entry", "Correct the timeline entry under the cursor"),
    "void_fact": ("Void entry", "Void the timeline entry under the cursor (asks why, then y/n)"),
    "field_history": ("Field history", "Every value the client's fields have held"),
    "new_client": ("New client", "Intake a new client"),
    "toggle_scope": ("Mine / all", "Switch between my clients and all clients"),
    "open_tasks": ("Tasks", "Open follow-ups and planned notifications: overdue, today, this week"),
    "audit_log": ("Audit log", "Who viewed, unmasked, exported, enrolled, reassigned, purged, decided"),
    "assign": ("Assign", "Assign the marked clients, or the one in focus, to a worker"),
    "workers": ("Workers", "Workers, their laptops and caseloads; hand over"),
    "weekly_review": ("Weekly review", "Incidents, candidates and planned notifications"),
    "app.open_screen('sync')": ("Sync", "Exchange bundles with the coordinator"),
    "app.open_screen('conflicts')": ("Conflicts", "Review conflicting edits"),
    "app.open_screen('report')": ("Monthly report", "The program's monthly report"),
}
# Offered from every screen, beside the bindings of the one in front (their keys live on the caseload).
EVERYWHERE = ("app.open_screen('sync')", "app.open_screen('conflicts')", "app.open_screen('report')")
# Textual's palette has its own entries for these.
NOT_OFFERED = frozenset({"quit", "command_palette"})
THEMES = ("textual-dark", "textual-light", "vipterm-high-contrast")


def system_commands(app, screen: Screen) -> Iterable[SystemCommand]:
    """The actions of the screen's and the app's vipterm bindings active on `screen` (allowed
    ones only), then the screens every screen can open, then the themes by name."""
    if app.store is None:
        return
    from vipterm.tui.help import vipterm_bindings

    offered: set[str] = set()
    for active in vipterm_bindings(app, screen):
        action = active.binding.action
        if active.node not in (screen, app) or not active.enabled or action in NOT_OFFERED or action in offered:
            continue  # a focused widget's keys move its cursor: nothing to run by name
        offered.add(action)
        description = active.binding.description or action.replace("_", " ")
        title, does = WORDS.get(action, (description.rstrip("…").capitalize(), description))
        yield SystemCommand(
            title, f"{does} ({app.get_key_display(active.binding)})", partial(app.run_action, action, active.node)
        )
    for action in EVERYWHERE:
        if action not in offered:
            title, does = WORDS[action]
            yield SystemCommand(title, does, partial(app.run_action, action, app))
    for theme in THEMES:
        yield SystemCommand(f"Theme: {theme}", "Switch to this theme", partial(setattr, app, "theme", theme))
