"""The program clock: what "now" and "today" mean for vipterm, in the program's time zone.

Provides `ProgramClock` (every `Store` carries one as `store.clock`), `system_now()` (the one
place the real time is read), `check_time_zone()` and `DEFAULT_TIME_ZONE`.

Why one clock: the TUI, the CLI, the spreadsheet import and the services must agree on "today"
(a follow-up due today, a date "in the future", the month a contact counts in). Times are stored
as naive UTC; the program's IANA zone (a program setting the coordinator chooses and return
bundles carry to laptops) decides days and months, what is displayed, and how a time typed or
imported without an offset is read.

`VIPTERM_NOW` (an ISO time with an offset, e.g. `2026-11-23T09:00-07:00`) freezes the clock for
the whole process and its children: the test suite, demos and training sessions set it. It is
read on every call, so a test may move it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vipterm.errors import ValidationError

DEFAULT_TIME_ZONE = "America/Denver"
FROZEN_NOW_VARIABLE = "VIPTERM_NOW"


@lru_cache(maxsize=8)
def _parse_frozen(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"{FROZEN_NOW_VARIABLE} must be an ISO time with an offset, e.g. 2026-11-23T09:00-07:00",
            field=FROZEN_NOW_VARIABLE,
        ) from None
    if moment.tzinfo is None:
        raise ValidationError(f"{FROZEN_NOW_VARIABLE} needs an offset, e.g. -07:00", field=FROZEN_NOW_VARIABLE)
    return moment.astimezone(UTC)


def system_now() -> datetime:
    """The current instant, aware UTC: the machine's clock, or `VIPTERM_NOW` when it is set."""
    frozen = os.environ.get(FROZEN_NOW_VARIABLE)
    if frozen:
        return _parse_frozen(frozen)
    return datetime.now(UTC)


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_time_zone(name: str) -> str:
    """`name` if it is an IANA time zone this machine knows, else a ValidationError."""
    name = (name or "").strip()
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise ValidationError("the time zone is empty or not an IANA name such as America/Denver", field="time_zone")
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"{name!r} is not a time zone this computer knows (an IANA name such as America/Denver)",
            field="time_zone",
        ) from None
    return name


class ProgramClock:
    """Now, today and conversions in one program time zone.

    `source` returns the current instant (aware); it defaults to `system_now`. Stored times are
    naive UTC with whole seconds; local times handed to and from the screens are naive wall
    times in the program zone.
    """

    def __init__(self, time_zone: str = DEFAULT_TIME_ZONE, source: Callable[[], datetime] | None = None):
        self.time_zone = check_time_zone(time_zone)
        self.zone = _zone(self.time_zone)
        self._source = source or system_now

    def __repr__(self) -> str:
        return f"ProgramClock({self.time_zone!r})"

    def with_zone(self, time_zone: str) -> ProgramClock:
        return ProgramClock(time_zone, self._source)

    # --- now --------------------------------------------------------------------------------

    def instant(self) -> datetime:
        """The current instant, aware, in the program zone."""
        return self._source().astimezone(self.zone)

    def utcnow(self) -> datetime:
        """Naive UTC to the second: how the database stores "now"."""
        return self._source().astimezone(UTC).replace(tzinfo=None, microsecond=0)

    def local_now(self) -> datetime:
        """The program's wall-clock time, naive, to the minute: what a worker means by "now"."""
        return self.instant().replace(tzinfo=None, second=0, microsecond=0)

    def today(self) -> date:
        """Today's date in the program zone (decides due, overdue and "in the future")."""
        return self.instant().date()

    # --- conversions ------------------------------------------------------------------------

    def to_utc(self, moment: datetime) -> datetime:
        """A time as stored: naive UTC. A naive `moment` is a wall time in the program zone; an
        aware one keeps its own offset. A wall time that a daylight-saving change skips or
        repeats is read as the first of its meanings (fold=0)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(UTC).replace(tzinfo=None)

    def to_local(self, stored: datetime) -> datetime:
        """A stored naive-UTC time as a naive wall time in the program zone, for display."""
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        return stored.astimezone(self.zone).replace(tzinfo=None)

    def local_day(self, stored: datetime) -> date:
        """The program-zone date of a stored naive-UTC time."""
        return self.to_local(stored).date()

    def day_start_utc(self, day: date) -> datetime:
        """The stored (naive UTC) instant at which `day` begins in the program zone."""
        return self.to_utc(datetime.combine(day, time(0, 0)))

    def day_bounds_utc(self, day: date) -> tuple[datetime, datetime]:
        """[start, end) of `day` in the program zone, as stored instants (23 or 25 hours on a
        daylight-saving change)."""
        return self.day_start_utc(day), self.day_start_utc(day + timedelta(days=1))
