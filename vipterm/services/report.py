"""The monthly informational report, computed from the program's records.

`build_report(store, month)` returns a `MonthlyReport`: every section of the city's monthly
report (seed 003) plus the extra sections of issue 5, each a small table of exact numbers;
`build_reports(store, months, progress)` one per month of a range (`month_range(first, last)`).
`clients_behind(store, month, table, row, column)` returns the pseudonymous clients behind one
count of it (the TUI's drill-down).

Every number is defined in docs/metrics.md; the SQL here is the executable form of those
definitions, and the two are kept word for word in step. Rules shared by every section:

* The report for month M is computed **as of the end of M**: no event dated after the last
  day of M counts, so the November report reads the same when it is run in December or years
  later, and on any database holding the same records.
* Only live rows count: a row whose `deleted_at` is set (a tombstone), or that belongs to a
  tombstoned client or referral, is left out everywhere; so is a fact (contact, notification
  attempt, outcome, referral event) that a correction superseded or voided (`services.corrections`).
  Closed clients count like any other: closing changes no count.
* Days and months are the program's (its IANA time zone, `store.clock`): event times
  (`referral_event.at`, `contact.occurred_at`) are stored UTC, so a month's events are those
  between the UTC instants at which its first day and the next month's first day begin in the
  program zone, and an event's day is its program-local date (`local_day()` in the SQL). Dates
  (`attempted_on`, `first_service_on`, `occurred_on`, `identified_on`) are the program-local
  calendar days recorded by the worker.

Each table's counts come from a *membership* query listing `(row, column, counted item,
client)`; counts are `COUNT(DISTINCT item)` over it, and the drill-down lists the clients of the
same query, so a count and the clients behind it can never disagree. Nothing here reads the
identity table: the report is aggregates only, and the drill-down gives pseudonyms.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from vipterm import domain
from vipterm.domain import AgeGroup, AreaCommand, ServiceCategory
from vipterm.errors import NotFound, ValidationError
from vipterm.progress import NO_PROGRESS, Progress
from vipterm.services.corrections import any_live_correction, live_sql
from vipterm.services.database import Store
from vipterm.timekeeping import ProgramClock

REPORT_FORMAT = "vipterm-monthly-report"
REPORT_VERSION = 1
SMALL_CELL_LIMIT = 5  # with --suppress-small, counts of 1–4 are shown as "<5"

ENGAGED_STATUSES = tuple(sorted(s.value for s in domain.ENGAGED_REFERRAL_STATUSES))
KNOWN_RESULT_STATUSES = ("cancelled", "completed", "failed", "rejected")
UNSPECIFIED_CATEGORY = "unspecified"
UNATTRIBUTED_WORKER = ""


# --- months -----------------------------------------------------------------------------------


def parse_month(text_value: str) -> date:
    """'2022-11' -> date(2022, 11, 1); a clear one-line error for anything else."""
    value = (text_value or "").strip()
    try:
        year_text, month_text = value.split("-")
        if len(year_text) != 4 or not 1 <= len(month_text) <= 2:
            raise ValueError
        month = date(int(year_text), int(month_text), 1)
    except ValueError:
        raise ValidationError(f"the month {value!r} is not in the form YYYY-MM, e.g. 2022-11", field="month") from None
    if month.year < 2000:
        raise ValidationError("the month is before 2000", field="month")
    return month


def add_months(first_day: date, months: int) -> date:
    index = first_day.year * 12 + first_day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_key(first_day: date) -> str:
    return first_day.strftime("%Y-%m")


def month_label(first_day: date, *, short: bool = False) -> str:
    return first_day.strftime("%b %Y" if short else "%B %Y")


@dataclass(frozen=True)
class Windows:
    """The calendar windows of the report for month M (each a half-open [start, end))."""

    month: date  # first day of M
    next_month: date  # first day of M+1: the report counts nothing on or after it
    prev_month: date  # first day of M−1
    prev2_month: date  # first day of M−2: also the age summary's month
    fiscal_year_start: date

    @classmethod
    def for_month(cls, month: date) -> Windows:
        month = month.replace(day=1)
        return cls(
            month=month,
            next_month=add_months(month, 1),
            prev_month=add_months(month, -1),
            prev2_month=add_months(month, -2),
            fiscal_year_start=domain.fiscal_year_start(month),
        )

    @property
    def as_of(self) -> date:
        return self.next_month - timedelta(days=1)

    def params(self, clock: ProgramClock) -> dict[str, str]:
        """The windows' bounds: local days for date columns, and (`*_ts`) the UTC instants at
        which those days begin in the program zone, for stored event times."""

        def instant(day: date) -> str:
            return clock.day_start_utc(day).isoformat(sep=" ", timespec="microseconds")

        return {
            "m0_ts": instant(self.month),
            "m_next_ts": instant(self.next_month),
            "m0": self.month.isoformat(),
            "m_next": self.next_month.isoformat(),
            "m1": self.prev_month.isoformat(),
            "m2": self.prev2_month.isoformat(),
            "fy": self.fiscal_year_start.isoformat(),
            "y1": add_months(self.month, -11).isoformat(),
            "lo": min(self.prev2_month, self.fiscal_year_start).isoformat(),
        }


# --- the report's shape -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a report table.

    kind: "count" (people or events; suppressible), "rate" (a share 0–1 of two count columns,
    `of`=(numerator, denominator)), "days" (a median; `of`=(count column of the people it is
    over,)) or "work" (staff activity, never suppressed).
    """

    key: str
    label: str
    kind: str = "count"
    of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    values: Mapping[str, int | float | None]


@dataclass(frozen=True)
class ReportTable:
    key: str
    title: str
    unit: str  # what a count counts: "notifications", "people", "referrals", "contacts"
    definition: str  # one line; docs/metrics.md has the whole definition
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    total: Row | None = None

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(key)

    def row(self, key: str) -> Row:
        if self.total is not None and key == self.total.key:
            return self.total
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def all_rows(self) -> tuple[Row, ...]:
        return self.rows + ((self.total,) if self.total is not None else ())


@dataclass(frozen=True)
class RunningPoint:
    """The running success rate at the end of one month."""

    month: str  # YYYY-MM
    notified: int
    engaged: int

    @property
    def rate(self) -> float | None:
        return self.engaged / self.notified if self.notified else None


@dataclass(frozen=True)
class MonthlyReport:
    month: date
    as_of: date
    fiscal_year_start: date
    age_summary_month: date
    first_notification_month: str | None
    notifications_by_area: ReportTable
    running_success: tuple[RunningPoint, ...]
    age_summary: ReportTable
    services: ReportTable
    funnel: ReportTable
    closed_loop: ReportTable
    time_to_service: ReportTable
    after_notification: ReportTable
    contacts_per_worker: ReportTable
    # The program's today when the month is not over yet (this month or a later one): the numbers
    # count only up to that day and will still change. None for a month that is over.
    partial_as_of: date | None = None
    # The weekly review: candidates identified per week of M and the days to their first attempt.
    weekly_review: ReportTable | None = None
    tables: tuple[ReportTable, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "tables",
            (
                self.notifications_by_area,
                self.age_summary,
                self.services,
                self.funnel,
                self.closed_loop,
                self.time_to_service,
                self.after_notification,
                self.contacts_per_worker,
            )
            + ((self.weekly_review,) if self.weekly_review is not None else ()),
        )

    def table(self, key: str) -> ReportTable:
        if key == RUNNING_KEY:
            return running_table(self)
        for table in self.tables:
            if table.key == key:
                return table
        raise NotFound(f"the report has no table {key!r}")

    @property
    def month_key(self) -> str:
        return month_key(self.month)

    @property
    def partial(self) -> bool:
        return self.partial_as_of is not None

    @property
    def partial_note(self) -> str:
        """'partial: month not over (as of 2026-11-23)', or '' for a month that is over."""
        return f"partial: month not over (as of {self.partial_as_of.isoformat()})" if self.partial_as_of else ""


RUNNING_KEY = "running_success_rate"


def running_table(report: MonthlyReport) -> ReportTable:
    """The running success rate as a table (for CSV, text and the TUI's drill-down)."""
    rows = tuple(
        Row(
            p.month,
            month_label(date.fromisoformat(p.month + "-01"), short=True),
            {"notified": p.notified, "engaged": p.engaged, "rate": p.rate},
        )
        for p in report.running_success
    )
    return ReportTable(
        key=RUNNING_KEY,
        title="VIP running success rate",
        unit="people",
        definition="Of everyone notified by the end of each month, the share engaged with a service by then.",
        columns=(
            Column("notified", "Notified by then"),
            Column("engaged", "Engaged by then"),
            Column("rate", "Success rate", "rate", ("engaged", "notified")),
        ),
        rows=rows,
    )


# --- SQL: the definitions -------------------------------------------------------------------------

_ENGAGED_SQL = ", ".join(f"'{s}'" for s in ENGAGED_STATUSES)
_KNOWN_SQL = ", ".join(f"'{s}'" for s in KNOWN_RESULT_STATUSES)

# Facts computed once per report, each in one pass over its table (sequential scans grouped in
# temporary B-trees, rather than one index probe per row: on an encrypted file every random page
# read costs a decryption). Everything else is read from these.
_FACTS = f"""
event_facts AS MATERIALIZED (
    -- per referral, from its live status history up to the report's end
    SELECT e.referral_id,
        MIN(CASE WHEN e.status IN ({_ENGAGED_SQL}) THEN e.at END) AS connected_at,
        MIN(CASE WHEN e.status = 'sent' THEN e.at END) AS sent_at,
        MIN(CASE WHEN e.status = 'completed' THEN e.at END) AS completed_at,
        MAX(e.status IN ({_KNOWN_SQL})) AS known
    FROM referral_event e NOT INDEXED
    WHERE e.deleted_at IS NULL AND e.at < :m_next_ts AND {live_sql("referral_event", "e")}
    GROUP BY e.referral_id
),
referral_facts AS MATERIALIZED (
    -- live referrals of live clients, with their provider's service category
    SELECT r.id, r.client_id, COALESCE(p.category, '{UNSPECIFIED_CATEGORY}') AS category,
        CASE WHEN r.first_service_on < :m_next THEN r.first_service_on END AS first_service_on,
        -- from here on an event is known by its program-local day
        local_day(f.connected_at) AS connected_at, local_day(f.sent_at) AS sent_at,
        local_day(f.completed_at) AS completed_at, COALESCE(f.known, 0) AS known
    FROM referral r NOT INDEXED
    JOIN client c ON c.id = r.client_id AND c.deleted_at IS NULL
    LEFT JOIN event_facts f ON f.referral_id = r.id
    LEFT JOIN provider p ON p.id = r.provider_id
    WHERE r.deleted_at IS NULL
),
notification_facts AS MATERIALIZED (
    -- per client: first custom notification attempt (any outcome) and first delivered one
    SELECT n.client_id, MIN(n.attempted_on) AS first_attempt,
        MIN(CASE WHEN n.outcome = 'delivered' THEN n.attempted_on END) AS first_notified
    FROM notification_attempt n NOT INDEXED
    WHERE n.deleted_at IS NULL AND n.attempted_on < :m_next AND {live_sql("notification_attempt", "n")}
    GROUP BY n.client_id
),
engagement_facts AS MATERIALIZED (
    SELECT client_id, MIN(connected_at) AS first_engaged, MIN(completed_at) AS first_completed
    FROM referral_facts GROUP BY client_id
),
client_facts AS MATERIALIZED (
    -- one row per live client identified by the report's end
    SELECT c.id, c.age_group, c.identified_on, n.first_attempt, n.first_notified,
        g.first_engaged, g.first_completed
    FROM client c NOT INDEXED
    LEFT JOIN notification_facts n ON n.client_id = c.id
    LEFT JOIN engagement_facts g ON g.client_id = c.id
    WHERE c.deleted_at IS NULL AND c.identified_on < :m_next
),
notified_windows AS MATERIALIZED (
    -- people by when they were first notified: fiscal year to date, and since the start
    SELECT 'fytd' AS row_key, id AS client_id, first_notified AS day FROM client_facts
        WHERE first_notified >= :fy
    UNION ALL
    SELECT 'ptd', id, first_notified FROM client_facts WHERE first_notified IS NOT NULL
)"""

# Each table's membership query yields (row_key, col, item, client_id, days): a cell's count is the
# number of distinct items in it, and its drill-down lists the distinct clients. `days` is only
# used by the time-to-service table (its medians). A membership is (its own CTEs, its SELECT);
# CTE names carry the table's prefix so that every table fits in one statement.
_MEMBERSHIP: dict[str, tuple[str, str]] = {}

_MEMBERSHIP["notifications_by_area"] = (
    f"""
notif_delivered AS MATERIALIZED (
    SELECT n.id AS item, n.client_id, n.area_command AS row_key, n.attempted_on AS day
    FROM notification_attempt n
    JOIN client c ON c.id = n.client_id AND c.deleted_at IS NULL
    WHERE n.deleted_at IS NULL AND n.outcome = 'delivered' AND {live_sql("notification_attempt", "n")}
      AND n.attempted_on >= :lo AND n.attempted_on < :m_next
)""",
    """
    SELECT row_key, 'm' AS col, item, client_id, NULL AS days FROM notif_delivered WHERE day >= :m0
    UNION ALL SELECT row_key, 'm1', item, client_id, NULL FROM notif_delivered WHERE day >= :m1 AND day < :m0
    UNION ALL SELECT row_key, 'm2', item, client_id, NULL FROM notif_delivered WHERE day >= :m2 AND day < :m1
    UNION ALL SELECT row_key, 'fytd', item, client_id, NULL FROM notif_delivered WHERE day >= :fy""",
)

_MEMBERSHIP["running_success_rate"] = (
    "",
    """
    -- per month: people first notified in it, and people who count as engaged from it on
    -- (the later of their first notification and their first engagement)
    SELECT substr(first_notified, 1, 7) AS row_key, 'notified' AS col, id AS item, id AS client_id, NULL AS days
        FROM client_facts WHERE first_notified IS NOT NULL
    UNION ALL
    SELECT substr(MAX(first_notified, first_engaged), 1, 7), 'engaged', id, id, NULL
        FROM client_facts WHERE first_notified IS NOT NULL AND first_engaged IS NOT NULL""",
)

_MEMBERSHIP["age_summary"] = (
    "",
    """
    SELECT age_group AS row_key, 'notified' AS col, id AS item, id AS client_id, NULL AS days
        FROM client_facts WHERE first_notified >= :m2 AND first_notified < :m1
    UNION ALL
    SELECT age_group, 'engaged', id, id, NULL
        FROM client_facts WHERE first_notified >= :m2 AND first_notified < :m1 AND first_engaged IS NOT NULL""",
)

_MEMBERSHIP["services"] = (
    "",
    """
    -- a referral connects its client to its category when it first reaches an engaged status
    SELECT category AS row_key, 'm' AS col, client_id AS item, client_id, NULL AS days
        FROM referral_facts WHERE connected_at >= :m0
    UNION ALL
    SELECT category, 'fytd', client_id, client_id, NULL FROM referral_facts WHERE connected_at >= :fy""",
)

_MEMBERSHIP["funnel"] = (
    """
funnel_stages AS MATERIALIZED (
    SELECT id, identified_on >= :fy AS in_fy, 'identified' AS row_key FROM client_facts
    UNION ALL SELECT id, identified_on >= :fy, 'attempted' FROM client_facts
        WHERE first_attempt IS NOT NULL
    UNION ALL SELECT id, identified_on >= :fy, 'notified' FROM client_facts
        WHERE first_notified IS NOT NULL
    UNION ALL SELECT id, identified_on >= :fy, 'engaged' FROM client_facts
        WHERE first_notified IS NOT NULL AND first_engaged IS NOT NULL
    UNION ALL SELECT id, identified_on >= :fy, 'completed' FROM client_facts
        WHERE first_notified IS NOT NULL AND first_engaged IS NOT NULL AND first_completed IS NOT NULL
)""",
    """
    SELECT row_key, 'fytd' AS col, id AS item, id AS client_id, NULL AS days FROM funnel_stages WHERE in_fy
    UNION ALL SELECT row_key, 'ptd', id, id, NULL FROM funnel_stages""",
)

_MEMBERSHIP["closed_loop"] = (
    "",
    """
    SELECT 'fytd' AS row_key, 'sent' AS col, id AS item, client_id, NULL AS days
        FROM referral_facts WHERE sent_at >= :fy
    UNION ALL SELECT 'ptd', 'sent', id, client_id, NULL FROM referral_facts WHERE sent_at IS NOT NULL
    UNION ALL SELECT 'fytd', 'known', id, client_id, NULL FROM referral_facts WHERE sent_at >= :fy AND known
    UNION ALL SELECT 'ptd', 'known', id, client_id, NULL FROM referral_facts WHERE sent_at IS NOT NULL AND known""",
)

_MEMBERSHIP["time_to_service"] = (
    f"""
tts_cohort AS MATERIALIZED (
    -- people first notified in the fiscal year to date, and in the twelve months ending with M
    SELECT 'fytd' AS row_key, id AS client_id, first_notified AS day FROM client_facts
        WHERE first_notified >= :fy
    UNION ALL
    SELECT 'last12', id, first_notified FROM client_facts WHERE first_notified >= :y1
),
tts_people AS MATERIALIZED (
    SELECT DISTINCT client_id, day FROM tts_cohort
),
tts_contact AS MATERIALIZED (
    -- each one's first reached contact on or after their first notification day: walk the
    -- (client, time) index in order and stop at the first match
    SELECT k.client_id,
        (SELECT t.occurred_at FROM contact t
          WHERE t.client_id = k.client_id AND t.occurred_at >= day_start_utc(k.day) AND t.occurred_at < :m_next_ts
            AND t.deleted_at IS NULL AND t.outcome = 'reached' AND {live_sql("contact", "t")}
          ORDER BY t.occurred_at LIMIT 1) AS first_contact
    FROM tts_people k
),
tts_service AS MATERIALIZED (
    -- and their first service (a referral's first-service date) on or after that day
    SELECT k.client_id, MIN(r.first_service_on) AS first_service
    FROM tts_people k JOIN referral_facts r ON r.client_id = k.client_id AND r.first_service_on >= k.day
    GROUP BY k.client_id
),
tts_days AS MATERIALIZED (
    SELECT w.row_key, w.client_id,
        CAST(julianday(local_day(c.first_contact)) - julianday(w.day) AS INTEGER) AS to_contact,
        CAST(julianday(s.first_service) - julianday(w.day) AS INTEGER) AS to_service
    FROM tts_cohort w
    JOIN tts_contact c ON c.client_id = w.client_id
    LEFT JOIN tts_service s ON s.client_id = w.client_id
)""",
    """
    SELECT row_key, 'notified' AS col, client_id AS item, client_id, NULL AS days FROM tts_days
    UNION ALL SELECT row_key, 'contact_n', client_id, client_id, to_contact FROM tts_days
        WHERE to_contact IS NOT NULL
    UNION ALL SELECT row_key, 'service_n', client_id, client_id, to_service FROM tts_days
        WHERE to_service IS NOT NULL""",
)

_MEMBERSHIP["after_notification"] = (
    f"""
after_later AS MATERIALIZED (
    -- re-arrests and re-victimizations dated after the first notification day, by the report's end
    SELECT DISTINCT w.row_key, w.client_id, o.kind
    FROM outcome o NOT INDEXED JOIN notified_windows w ON w.client_id = o.client_id
    WHERE o.deleted_at IS NULL AND o.kind IN ('re_arrest', 're_victimization') AND {live_sql("outcome", "o")}
      AND o.occurred_on > w.day AND o.occurred_on < :m_next
)""",
    """
    SELECT row_key, 'notified' AS col, client_id AS item, client_id, NULL AS days FROM notified_windows
    UNION ALL SELECT row_key, kind, client_id, client_id, NULL FROM after_later""",
)

_MEMBERSHIP["contacts_per_worker"] = (
    f"""
work_contacts AS MATERIALIZED (
    -- the month's contacts through the date index (one range), not a probe per client
    SELECT t.id, t.client_id, COALESCE(t.worker_id, '{UNATTRIBUTED_WORKER}') AS row_key, t.outcome
    FROM contact t INDEXED BY ix_contact_occurred
    JOIN client c ON c.id = t.client_id AND c.deleted_at IS NULL
    WHERE t.occurred_at >= :m0_ts AND t.occurred_at < :m_next_ts AND t.deleted_at IS NULL
      AND {live_sql("contact", "t")}
)""",
    """
    SELECT row_key, 'contacts' AS col, id AS item, client_id, NULL AS days FROM work_contacts
    UNION ALL SELECT row_key, 'reached', id, client_id, NULL FROM work_contacts WHERE outcome = 'reached'
    UNION ALL SELECT row_key, 'clients', client_id, client_id, NULL FROM work_contacts""",
)


_MEMBERSHIP["weekly_review"] = (
    """
review_candidates AS MATERIALIZED (
    -- candidates of live reviews identified in M (live clients), by the week (its Monday) of the
    -- identification day, with their client's first notification attempt (any outcome) dated on or
    -- after that day and by the report's end
    SELECT k.id AS item, k.client_id, k.new_client,
        date(k.identified_on, '-6 days', 'weekday 1') AS row_key,
        CAST(julianday((SELECT MIN(n.attempted_on) FROM notification_attempt n
                        WHERE n.client_id = k.client_id AND n.deleted_at IS NULL
                          AND n.attempted_on >= k.identified_on AND n.attempted_on < :m_next))
             - julianday(k.identified_on) AS INTEGER) AS to_attempt
    FROM review_candidate k NOT INDEXED
    JOIN review r ON r.id = k.review_id AND r.deleted_at IS NULL
    JOIN client c ON c.id = k.client_id AND c.deleted_at IS NULL
    WHERE k.deleted_at IS NULL AND k.identified_on >= :m0 AND k.identified_on < :m_next
)""",
    """
    SELECT row_key, 'candidates' AS col, item, client_id, NULL AS days FROM review_candidates
    UNION ALL SELECT row_key, 'new', item, client_id, NULL FROM review_candidates WHERE new_client
    UNION ALL SELECT row_key, 'attempted', item, client_id, to_attempt FROM review_candidates
        WHERE to_attempt IS NOT NULL""",
)


def _clock_text(span: timedelta) -> str:
    """A span under a day as the time of day it reaches from midnight: 'HH:MM:SS'."""
    seconds = int(span.total_seconds())
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _program_day_functions(session: Session, clock: ProgramClock) -> None:
    """`local_day(ts)`: a stored UTC time's program-local date ('YYYY-MM-DD'); `day_start_utc(d)`:
    the stored instant at which a program-local day begins. SQLite knows no IANA zones, so the
    report's SQL calls these (once per referral or per person, never per contact)."""
    # Called for every referral event time the report keeps (tens of thousands on a large
    # program), so the zone is asked once per UTC day: on a day with one offset, the local date
    # is the UTC date or its neighbour, depending only on whether the time of day is before the
    # hour at which local midnight falls ("07:00:00" in UTC−7). A day on which the offset
    # changes (daylight saving) converts each time exactly instead.
    days: dict[str, tuple[str, str, str] | None] = {}

    def utc_day_rule(utc_day: str) -> tuple[str, str, str] | None:
        start = datetime.fromisoformat(utc_day).replace(tzinfo=UTC)
        offsets = {clock.zone.utcoffset(start + timedelta(hours=h)) for h in (0, 6, 12, 18, 24)}
        if len(offsets) != 1:
            return None
        offset = offsets.pop()
        if offset is None:  # a zone always has an offset; None only for a naive zone
            return None
        day = start.date()
        if offset < timedelta(0):  # before local midnight: still the day before
            return _clock_text(-offset), (day - timedelta(days=1)).isoformat(), day.isoformat()
        if offset > timedelta(0):  # from local midnight on: already the next day
            return _clock_text(timedelta(days=1) - offset), day.isoformat(), (day + timedelta(days=1)).isoformat()
        return "", day.isoformat(), day.isoformat()

    def local_day(stamp: str | None) -> str | None:
        if stamp is None:
            return None
        utc_day = stamp[:10]
        if utc_day not in days:
            days[utc_day] = utc_day_rule(utc_day)
        rule = days[utc_day]
        if rule is None:
            return clock.local_day(datetime.fromisoformat(stamp)).isoformat()
        turn, before, after = rule
        return before if stamp[11:] < turn else after

    def day_start_utc(day: str | None) -> str | None:
        if day is None:
            return None
        return clock.day_start_utc(date.fromisoformat(day[:10])).isoformat(sep=" ", timespec="microseconds")

    raw = session.connection().connection.driver_connection
    assert raw is not None  # an open session's connection has its driver connection
    raw.create_function("local_day", 1, local_day, deterministic=True)
    raw.create_function("day_start_utc", 1, day_start_utc, deterministic=True)


# The correction checks the SQL above makes per fact. Each is two index probes per row (a
# hundred thousand rows on a large program); on a database with no live correction (the usual
# case) every one of them is true, so the statement leaves them out: same numbers, less work.
_LIVE_CHECKS = tuple(
    live_sql(table, alias)
    for table, alias in (("referral_event", "e"), ("notification_attempt", "n"), ("contact", "t"), ("outcome", "o"))
)


def _statement(session: Session, ctes: list[str], final: str) -> str:
    """WITH <the facts>, <ctes> <final>."""
    sql = "WITH " + ",".join([_FACTS, *(c for c in ctes if c)]) + "\n" + final
    if not any_live_correction(session):
        for check in _LIVE_CHECKS:
            sql = sql.replace(check, "1")
    return sql


def _members_query(session: Session, key: str, outer: str) -> str:
    """One table's membership as the CTE `members`, then `outer` over it."""
    ctes, select = _MEMBERSHIP[key]
    return _statement(session, [ctes, f"\nmembers AS MATERIALIZED ({select})"], outer)


# The tables with a total row: only these need their counts over all rows.
_TOTAL_ROWS = frozenset({"notifications_by_area", "age_summary", "services", "contacts_per_worker", "weekly_review"})


def _all_counts(session: Session, params: dict[Any, Any]) -> dict[str, tuple[dict[Any, Any], dict[Any, Any]]]:
    """Every table's {(row, col): count} and (for a table with a total row) {col: count over all
    rows}, in one statement.

    Cells of the time-to-service table are keyed (row, col, days): a histogram for the medians.
    """
    ctes, counts = [], []
    for key, (own_ctes, select) in _MEMBERSHIP.items():
        # A membership read twice (cells and total row) is computed once; one read only once can
        # stream into its count.
        twice = key in _TOTAL_ROWS
        ctes += [own_ctes, f"\nm_{key} AS {'' if twice else 'NOT '}MATERIALIZED ({select})"]
        counts.append(
            f"SELECT '{key}', row_key, col, days, COUNT(DISTINCT item) FROM m_{key} GROUP BY row_key, col, days"
        )
        if twice:
            counts.append(f"SELECT '{key}', NULL, col, NULL, COUNT(DISTINCT item) FROM m_{key} GROUP BY col")
    result: dict[str, tuple[dict[Any, Any], dict[Any, Any]]] = {key: ({}, {}) for key in _MEMBERSHIP}
    for key, row_key, col, days, n in session.execute(
        text(_statement(session, ctes, "\nUNION ALL\n".join(counts))), params
    ):
        cells, totals = result[key]
        if row_key is None:
            totals[col] = n
        elif days is not None:
            cells[(row_key, col, days)] = n
            cells[(row_key, col)] = cells.get((row_key, col), 0) + n
        else:
            cells[(row_key, col)] = cells.get((row_key, col), 0) + n
    return result


# --- building the report ------------------------------------------------------------------------

_NOTIFICATION_COLUMNS = ("m", "m1", "m2", "fytd")


def _values(cells: dict[Any, Any], row_key: str, columns: Sequence[str], default: Any = 0) -> dict[str, Any]:
    return {c: cells.get((row_key, c), default) for c in columns}


def _rate(num: int | None, den: int | None) -> float | None:
    return num / den if num is not None and den else None


def build_report(store: Store, month: date | str, progress: Progress = NO_PROGRESS) -> MonthlyReport:
    """Every section of the monthly report for `month` (a first-of-month date or 'YYYY-MM')."""
    if isinstance(month, str):
        month = parse_month(month)
    return build_reports(store, [month], progress)[0]


def build_reports(store: Store, months: Sequence[date], progress: Progress = NO_PROGRESS) -> list[MonthlyReport]:
    """The monthly report of each of `months`, in that order (a report over a range of months:
    about a second each on a large program, so it reports progress, one step per month)."""
    reports = []
    with progress.task("building monthly reports", total=len(months)) as task:
        for month in months:
            reports.append(_build_one(store, month.replace(day=1)))
            task.advance(1)
    return reports


def month_range(first: date | str, last: date | str) -> list[date]:
    """Every month from `first` to `last`, both included ('YYYY-MM' or first-of-month dates)."""
    first = parse_month(first) if isinstance(first, str) else first.replace(day=1)
    last = parse_month(last) if isinstance(last, str) else last.replace(day=1)
    if last < first:
        raise ValidationError(
            f"the range ends ({month_key(last)}) before it starts ({month_key(first)})", field="month"
        )
    months = [first]
    while months[-1] < last:
        months.append(add_months(months[-1], 1))
    return months


def _build_one(store: Store, month: date) -> MonthlyReport:
    w = Windows.for_month(month)
    with store.read() as session:
        _program_day_functions(session, store.clock)
        counts = _all_counts(session, w.params(store.clock))
        workers = session.execute(
            text("SELECT id, display_name, active, deleted_at FROM worker ORDER BY display_name, id")
        ).all()
    running = _running_points(counts["running_success_rate"][0], w)
    today = store.clock.today()  # in the program time zone: a month is over after its last local day
    return MonthlyReport(
        month=w.month,
        as_of=w.as_of,
        partial_as_of=today if today <= w.as_of else None,
        fiscal_year_start=w.fiscal_year_start,
        age_summary_month=w.prev2_month,
        first_notification_month=running[0].month if running else None,
        notifications_by_area=_notifications_table(w, *counts["notifications_by_area"]),
        running_success=running,
        age_summary=_age_summary_table(w, *counts["age_summary"]),
        services=_services_table(w, *counts["services"]),
        funnel=_funnel_table(counts["funnel"][0]),
        closed_loop=_closed_loop_table(counts["closed_loop"][0]),
        time_to_service=_time_to_service_table(counts["time_to_service"][0]),
        after_notification=_after_notification_table(counts["after_notification"][0]),
        contacts_per_worker=_contacts_per_worker_table(workers, *counts["contacts_per_worker"]),
        weekly_review=_weekly_review_table(w, *counts["weekly_review"]),
    )


# One builder per section: each turns its membership's counts ({(row, col): n} and, where the
# table has a total row, {col: n}) into the table that is shown.


def _short_month(day: date) -> str:
    return day.strftime("%b").upper()


def _notifications_table(w: Windows, cells: dict[Any, Any], totals: dict[Any, Any]) -> ReportTable:
    return ReportTable(
        key="notifications_by_area",
        title="Custom notifications by area command",
        unit="notifications",
        definition="Custom notifications delivered (attempts with outcome delivered), by the attempt's area command "
        "and the month of the attempt; FYTD from 1 July.",
        columns=(
            Column("m", _short_month(w.month)),
            Column("m1", _short_month(w.prev_month)),
            Column("m2", _short_month(w.prev2_month)),
            Column("fytd", "FYTD"),
        ),
        rows=tuple(Row(a.value, a.label, _values(cells, a.value, _NOTIFICATION_COLUMNS)) for a in AreaCommand),
        total=Row("total", "Total", {c: totals.get(c, 0) for c in _NOTIFICATION_COLUMNS}),
    )


def _age_summary_table(w: Windows, cells: dict[Any, Any], totals: dict[Any, Any]) -> ReportTable:
    def age_row(key: str, label: str, counts: Mapping[str, int]) -> Row:
        notified, engaged = counts.get("notified", 0), counts.get("engaged", 0)
        return Row(key, label, {"notified": notified, "engaged": engaged, "rate": _rate(engaged, notified)})

    return ReportTable(
        key="age_summary",
        title=f"{w.prev2_month.strftime('%B').capitalize()} summary by age group",
        unit="people",
        definition=f"People first notified in {month_label(w.prev2_month)} (two months back, so outcomes have time), "
        f"and those of them engaged with a service by {w.as_of.isoformat()}.",
        columns=(
            Column("notified", "Notified"),
            Column("engaged", "Engaged"),
            Column("rate", "Success rate", "rate", ("engaged", "notified")),
        ),
        rows=tuple(
            age_row(g.value, g.label, {c: cells.get((g.value, c), 0) for c in ("notified", "engaged")})
            for g in AgeGroup
        ),
        total=age_row("total", "Total", totals),
    )


def _services_table(w: Windows, cells: dict[Any, Any], totals: dict[Any, Any]) -> ReportTable:
    rows = [Row(c.value, c.label, _values(cells, c.value, ("m", "fytd"))) for c in ServiceCategory]
    rows.append(Row(UNSPECIFIED_CATEGORY, "no provider recorded", _values(cells, UNSPECIFIED_CATEGORY, ("m", "fytd"))))
    return ReportTable(
        key="services",
        title="Services connected to",
        unit="people",
        definition="People with a referral, in the provider's service category, that first reached accepted, "
        "in progress or completed in the window.",
        columns=(Column("m", _short_month(w.month)), Column("fytd", "FYTD")),
        rows=tuple(rows),
        total=Row("total", "Any service (people)", {c: totals.get(c, 0) for c in ("m", "fytd")}),
    )


_FUNNEL_STAGES = (
    ("identified", "Identified"),
    ("attempted", "Notification attempted"),
    ("notified", "Notified"),
    ("engaged", "Engaged with a service"),
    ("completed", "Completed a referral"),
)


def _funnel_table(cells: dict[Any, Any]) -> ReportTable:
    return ReportTable(
        key="funnel",
        title="Program funnel",
        unit="people",
        definition="People identified in the window, and how far each got by the end of the month; "
        "each stage is a subset of the one before.",
        columns=(Column("fytd", "Identified FYTD"), Column("ptd", "Since the start")),
        rows=tuple(Row(k, label, _values(cells, k, ("fytd", "ptd"))) for k, label in _FUNNEL_STAGES),
    )


def _closed_loop_table(cells: dict[Any, Any]) -> ReportTable:
    def loop_row(key: str, label: str) -> Row:
        sent, known = cells.get((key, "sent"), 0), cells.get((key, "known"), 0)
        return Row(key, label, {"sent": sent, "known": known, "rate": _rate(known, sent)})

    return ReportTable(
        key="closed_loop",
        title="Referral closed-loop rate",
        unit="referrals",
        definition="Referrals sent in the window, and those whose result was known by the end of the month "
        "(completed, failed, rejected or cancelled).",
        columns=(
            Column("sent", "Referrals sent"),
            Column("known", "Result known"),
            Column("rate", "Closed-loop rate", "rate", ("known", "sent")),
        ),
        rows=(loop_row("fytd", "Sent FYTD"), loop_row("ptd", "Sent since the start")),
    )


def _time_to_service_table(cells: dict[Any, Any]) -> ReportTable:
    def days_row(key: str, label: str) -> Row:
        return Row(
            key,
            label,
            {
                "notified": cells.get((key, "notified"), 0),
                "contact_n": cells.get((key, "contact_n"), 0),
                "contact_days": _median(cells, key, "contact_n"),
                "service_n": cells.get((key, "service_n"), 0),
                "service_days": _median(cells, key, "service_n"),
            },
        )

    return ReportTable(
        key="time_to_service",
        title="Days from notification to first contact and first service",
        unit="people",
        definition="Median days from a person's first delivered notification to their first reached contact "
        "and to their first service, over those who had one by the end of the month.",
        columns=(
            Column("notified", "Notified"),
            Column("contact_n", "Reached"),
            Column("contact_days", "Median days to contact", "days", ("contact_n",)),
            Column("service_n", "Served"),
            Column("service_days", "Median days to service", "days", ("service_n",)),
        ),
        rows=(days_row("fytd", "Notified FYTD"), days_row("last12", "Notified in the last 12 months")),
    )


def _after_notification_table(cells: dict[Any, Any]) -> ReportTable:
    def after_row(key: str, label: str) -> Row:
        n = cells.get((key, "notified"), 0)
        arrested = cells.get((key, "re_arrest"), 0)
        victimized = cells.get((key, "re_victimization"), 0)
        return Row(
            key,
            label,
            {
                "notified": n,
                "re_arrest": arrested,
                "re_arrest_rate": _rate(arrested, n),
                "re_victimization": victimized,
                "re_victimization_rate": _rate(victimized, n),
            },
        )

    return ReportTable(
        key="after_notification",
        title="Re-arrest and re-victimization after notification",
        unit="people",
        definition="Of the people first notified in the window, those with a re-arrest (or a re-victimization) "
        "recorded after their notification day and by the end of the month.",
        columns=(
            Column("notified", "Notified"),
            Column("re_arrest", "Re-arrested"),
            Column("re_arrest_rate", "%", "rate", ("re_arrest", "notified")),
            Column("re_victimization", "Re-victimized"),
            Column("re_victimization_rate", "%", "rate", ("re_victimization", "notified")),
        ),
        rows=(after_row("fytd", "Notified FYTD"), after_row("ptd", "Notified since the start")),
    )


def _contacts_per_worker_table(workers: Sequence[Any], cells: dict[Any, Any], totals: dict[Any, Any]) -> ReportTable:
    columns = ("contacts", "reached", "clients")
    rows = []
    seen = set()
    for worker_id, name, active, deleted_at in workers:
        has_contacts = (worker_id, "contacts") in cells
        if not has_contacts and (deleted_at is not None or not active):
            continue
        seen.add(worker_id)
        rows.append(Row(worker_id, name, _values(cells, worker_id, columns)))
    for row_key in sorted({row_key for row_key, _ in cells} - seen):
        # contacts by no worker, or by a worker row not (yet) on this database
        rows.append(
            Row(
                row_key,
                "not recorded" if row_key == UNATTRIBUTED_WORKER else "unknown worker",
                _values(cells, row_key, columns),
            )
        )
    return ReportTable(
        key="contacts_per_worker",
        title="Contacts per worker",
        unit="contacts",
        definition="Contacts logged in the month (any outcome), those that reached the client, and the distinct "
        "clients contacted, by the worker who logged them.",
        columns=(
            Column("contacts", "Contacts", "work"),
            Column("reached", "Reached", "work"),
            Column("clients", "Clients", "work"),
        ),
        rows=tuple(rows),
        total=Row("total", "All workers", {c: totals.get(c, 0) for c in columns}),
    )


def _weekly_review_table(w: Windows, cells: dict[Any, Any], totals: dict[Any, Any]) -> ReportTable:
    """One row per week with a day in M (its days in M only), and the month's total."""

    def values(counts: dict[Any, Any], median: float | None) -> dict[str, Any]:
        return {
            "candidates": counts.get("candidates", 0),
            "new": counts.get("new", 0),
            "attempted": counts.get("attempted", 0),
            "attempt_days": median,
        }

    rows = []
    monday = w.month - timedelta(days=w.month.weekday())
    while monday < w.next_month:
        key = monday.isoformat()
        start, end = max(monday, w.month), min(monday + timedelta(days=6), w.as_of)
        rows.append(
            Row(
                key,
                f"{start.isoformat()} to {end.isoformat()}",
                values(
                    {c: cells.get((key, c), 0) for c in ("candidates", "new", "attempted")},
                    _median(cells, key, "attempted"),
                ),
            )
        )
        monday += timedelta(days=7)
    every: dict[Any, Any] = {}  # the month's histogram of days, every week together
    for key, n in cells.items():
        if len(key) == 3:
            every[(None, key[1], key[2])] = every.get((None, key[1], key[2]), 0) + n
    return ReportTable(
        key="weekly_review",
        title="Weekly review: candidates and days to the first attempt",
        unit="people",
        definition="Candidates the weekly reviews identified in the month, by the week of identification; those "
        "with a custom notification attempt since, and the median days from identification to the first.",
        columns=(
            Column("candidates", "Candidates"),
            Column("new", "New clients"),
            Column("attempted", "Attempted"),
            Column("attempt_days", "Median days to attempt", "days", ("attempted",)),
        ),
        rows=tuple(rows),
        total=Row("total", "Month", values(totals, _median(every, None, "attempted"))),
    )


def _median(cells: dict[Any, Any], row_key: str | None, col: str) -> float | None:
    """The median of one cell's histogram of days ({(row, col, days): people})."""
    values: list[int] = []
    for key, n in sorted(cells.items(), key=lambda item: item[0][2] if len(item[0]) == 3 else -1):
        if len(key) == 3 and key[0] == row_key and key[1] == col:
            values += [key[2]] * n
    return statistics.median(values) if values else None


def _running_points(cells: dict[Any, Any], w: Windows) -> tuple[RunningPoint, ...]:
    """Cumulate the monthly increments from the first notification month to the report month."""
    notified_in = {r: n for (r, c), n in cells.items() if c == "notified"}
    engaged_in = {r: n for (r, c), n in cells.items() if c == "engaged"}
    if not notified_in:
        return ()
    current = date.fromisoformat(min(notified_in) + "-01")
    points = []
    notified = engaged = 0
    while current <= w.month:
        key = month_key(current)
        notified += notified_in.get(key, 0)
        engaged += engaged_in.get(key, 0)
        points.append(RunningPoint(key, notified, engaged))
        current = add_months(current, 1)
    return tuple(points)


# --- drill-down -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillClient:
    """A client behind a count: pseudonym and report attributes, never identity."""

    client_id: str
    pseudonym: str
    age_group: str
    area_command: str
    status: str


def clients_behind(store: Store, month: date | str, table_key: str, row_key: str, column_key: str) -> list[DrillClient]:
    """The clients counted in one cell of the report (for the total row: in any row).

    For a rate, the clients of its numerator; for a median, the people it is taken over.
    """
    if isinstance(month, str):
        month = parse_month(month)
    w = Windows.for_month(month)
    if table_key not in _MEMBERSHIP:
        raise NotFound(f"the report has no table {table_key!r}")
    column_key = _numerator(table_key, column_key)
    if table_key == RUNNING_KEY:
        # Cumulative: everyone counted in this month or an earlier one.
        where = "col = :col AND row_key <= :row_key"
    elif row_key == "total":
        where = "col = :col"
    else:
        where = "col = :col AND row_key = :row_key"
    params = dict(w.params(store.clock), row_key=row_key, col=column_key)
    with store.read() as session:
        _program_day_functions(session, store.clock)
        query = _members_query(session, table_key, f"SELECT DISTINCT client_id FROM members WHERE {where}")
        ids = [r[0] for r in session.execute(text(query), params)]
        return _drill_clients(session, ids)


def _numerator(table_key: str, column_key: str) -> str:
    rates = {
        "rate": {"age_summary": "engaged", "closed_loop": "known", RUNNING_KEY: "engaged"},
        "contact_days": {"time_to_service": "contact_n"},
        "service_days": {"time_to_service": "service_n"},
        "re_arrest_rate": {"after_notification": "re_arrest"},
        "re_victimization_rate": {"after_notification": "re_victimization"},
        "attempt_days": {"weekly_review": "attempted"},
    }
    return rates.get(column_key, {}).get(table_key, column_key)


def _drill_clients(session: Session, ids: list[str]) -> list[DrillClient]:
    if not ids:
        return []
    found: list[Any] = []
    # Chunks keep under SQLite's bound-parameter limit at a coordinator's 20k clients.
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ", ".join(f":id{n}" for n in range(len(chunk)))
        found += session.execute(
            text(f"SELECT id, pseudonym, age_group, area_command, status FROM client WHERE id IN ({marks})"),
            {f"id{n}": cid for n, cid in enumerate(chunk)},
        ).all()
    return sorted((DrillClient(*r) for r in found), key=lambda d: (d.pseudonym, d.client_id))
