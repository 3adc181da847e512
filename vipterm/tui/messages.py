"""Small dataclass messages that thread workers post back to screens, and the client reference
forms are opened with.

Workers never touch widgets: they call a service and post one of these; the screen's handler
updates the display on the UI thread. Each message carries what it was asked for (a generation
number or the query text), so a slow answer to an old question is dropped instead of shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass(frozen=True)
class ClientRef:
    """Which client a form is about: enough to title it and default its area."""

    client_id: str
    pseudonym: str
    name: str
    area_command: str


@dataclass
class Unlocked(Message):
    store: Any  # vipterm.services.database.Store
    last_mode: str
    # The first unlock reads the caseload too, in the same thread, so that the caseload screen is
    # composed with its rows; None when it was not read (after a lock, or the read failed).
    caseload: list | None = None


@dataclass
class UnlockFailed(Message):
    message: str
    retry: bool = True  # False when retrying cannot help (not a database, newer schema)


@dataclass
class CaseloadLoaded(Message):
    rows: list
    scope: str
    generation: int


@dataclass
class ClientFileLoaded(Message):
    client_file: Any  # vipterm.services.caseload.ClientFile
    generation: int


@dataclass
class FollowUpDone(Message):
    client_id: str
    due_on: Any


@dataclass
class ProvidersFound(Message):
    query: str
    need: str
    providers: list


@dataclass
class PreviousLevels(Message):
    levels: dict = field(default_factory=dict)


@dataclass
class Saved(Message):
    """A form's record was written; `result` is what the service returned."""

    result: Any
