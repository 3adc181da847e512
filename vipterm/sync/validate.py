"""The value rules every incoming change passes before the merge applies it.

Provides `check_value(table, column, value, made_ms)` and `check_row(table, values, made_ms)`:
each returns None, or a `Problem` (code and a one-line reason that names the field, never the
value: a forged value may be a person's name).

The rules are the services' rules, stated once per stored column: the same `vipterm.domain` enums
(`services.records` parses input with them), the column's type as the models declare it (a date
is `YYYY-MM-DD` text, a timestamp `YYYY-MM-DD HH:MM:SS[.ffffff]`, an integer is not a boolean),
nullability, the note length of `services.records.MAX_NOTE_LENGTH` (a test keeps the two equal),
need levels 0–3, a contact's 0–1440 minutes, dates not in the future and births not before 1900.
"In the future" is measured against the change's own clock (a change cannot describe what had
not happened when it was made), plus the services' day of slack; a bundle whose clock is ahead
is refused as a whole before this runs.

What needs the database — references that exist, pseudonyms that are unique, who may write
what — is checked by the merge (`vipterm.sync.merge`) and the write scope (`vipterm.sync.scope`).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, String

from vipterm import domain
from vipterm.store.models import SYNC_POLICY

MAX_NOTE_LENGTH = 4000  # = services.records.MAX_NOTE_LENGTH
MAX_SHORT_TEXT = 200  # names, phones, pseudonyms and other one-line fields
MAX_ID_LENGTH = 64  # UUIDs are 36 characters
LONG_TEXT = frozenset(
    {
        "note",
        "feedback",
        "reason",
        "detail",
        "address",
        "team",
        # a safety plan's parts (schema 8)
        "threats",
        "safe_contacts",
        "safe_places",
        "places_to_avoid",
        "check_in_plan",
    }
)

ENUMS: dict[tuple[str, str], type[domain.LabelledEnum]] = {
    ("worker", "role"): domain.Role,
    ("client", "status"): domain.ClientStatus,
    ("client", "age_group"): domain.AgeGroup,
    ("client", "area_command"): domain.AreaCommand,
    ("client", "referral_source"): domain.ReferralSource,
    ("notification_attempt", "setting"): domain.NotificationSetting,
    ("notification_attempt", "area_command"): domain.AreaCommand,
    ("notification_attempt", "outcome"): domain.NotificationOutcome,
    ("contact", "mode"): domain.ContactMode,
    ("contact", "purpose"): domain.ContactPurpose,
    ("contact", "outcome"): domain.ContactOutcome,
    ("contact", "area_command"): domain.AreaCommand,
    ("assessment", "kind"): domain.AssessmentKind,
    ("assessment_item", "domain"): domain.NeedDomain,
    ("provider", "category"): domain.ServiceCategory,
    ("referral", "need_domain"): domain.NeedDomain,
    ("referral", "status"): domain.ReferralStatus,
    ("referral_event", "status"): domain.ReferralStatus,
    ("outcome", "kind"): domain.OutcomeKind,
    ("outcome", "source"): domain.OutcomeSource,
    ("follow_up", "kind"): domain.FollowUpKind,
    ("follow_up", "closed_as"): domain.FollowUpClosed,
    ("audit_entry", "action"): domain.AuditAction,
    ("client", "closed_reason"): domain.ClosedReason,
    ("fact_correction", "tbl"): domain.CorrectableFact,
    ("review_incident", "area_command"): domain.AreaCommand,
    ("review_incident", "source"): domain.IncidentSource,
    ("review_candidate", "age_group"): domain.AgeGroup,
    ("planned_notification", "setting"): domain.NotificationSetting,
    ("planned_notification", "status"): domain.PlanStatus,
    ("consent", "kind"): domain.ConsentKind,
    ("consent", "method"): domain.ConsentMethod,
}
# Comma-separated lists of enum values ("" is the empty list).
ENUM_LISTS: dict[tuple[str, str], type[domain.LabelledEnum]] = {
    ("client", "risk_flags"): domain.RiskFlag,
    ("notification_attempt", "messages"): domain.NotificationMessage,
    ("review_candidate", "risk_flags"): domain.RiskFlag,
    ("planned_notification", "team_roles"): domain.TeamRole,
}
# Dates and times of events: never after the change that records them.
NOT_FUTURE = frozenset(
    {
        ("client", "identified_on"),
        ("client_identity", "date_of_birth"),
        ("notification_attempt", "attempted_on"),
        ("contact", "occurred_at"),
        ("assessment", "assessed_on"),
        ("referral", "status_changed_at"),
        ("referral", "first_service_on"),
        ("referral_event", "at"),
        ("outcome", "occurred_on"),
        ("follow_up", "done_at"),
        ("client", "closed_on"),
        ("fact_correction", "at"),
        ("review", "held_on"),
        ("review_incident", "occurred_on"),
        ("review_candidate", "identified_on"),
        ("planned_notification", "identified_on"),
        ("consent", "given_on"),
        ("consent", "withdrawn_on"),
    }
)
# A time of day, "HH:MM" (a follow-up's optional time).
TIME_OF_DAY = frozenset({("follow_up", "due_time"), ("planned_notification", "planned_time")})
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d\Z")
NOT_EMPTY = frozenset({("client", "pseudonym"), ("worker", "display_name"), ("provider", "name")})
INT_RANGES = {
    ("assessment_item", "level"): (min(domain.NEED_LEVELS), max(domain.NEED_LEVELS)),
    ("contact", "duration_min"): (0, 24 * 60),
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # escape sequences could rewrite a terminal
_SLACK = timedelta(days=1)


class Problem(NamedTuple):
    code: str  # invalid (the rules here); the merge adds missing-reference, duplicate
    reason: str


class _Spec(NamedTuple):
    """Everything the rules say about one column, looked up once (the merge checks every value)."""

    pytype: type[Any]
    nullable: bool
    limit: int
    enum: frozenset[str] | None
    enum_list: frozenset[str] | None
    not_future: bool
    not_empty: bool
    low: int
    high: int


def _columns() -> dict[tuple[str, str], _Spec]:
    out = {}
    for tbl, policy in SYNC_POLICY.items():
        for column in policy.table.columns:
            col = column.name
            key = (tbl, col)
            limit = (
                MAX_NOTE_LENGTH
                if col in LONG_TEXT
                else (MAX_ID_LENGTH if col.endswith(("_id", "_by")) or col == "by_worker" else MAX_SHORT_TEXT)
            )
            enum_cls, list_cls = ENUMS.get(key), ENUM_LISTS.get(key)
            low, high = INT_RANGES.get(key, (-(2**63), 2**63 - 1))
            # Text columns are SQLModel's AutoString, whose python_type is `object`.
            pytype = str if isinstance(getattr(column.type, "impl", column.type), String) else column.type.python_type
            out[key] = _Spec(
                pytype,
                bool(column.nullable),
                limit,
                frozenset(m.value for m in enum_cls) if enum_cls else None,
                frozenset(m.value for m in list_cls) if list_cls else None,
                key in NOT_FUTURE,
                key in NOT_EMPTY,
                low,
                high,
            )
    return out


_COLUMNS: dict[tuple[str, str], _Spec] = {}


def _label(tbl: str, col: str) -> str:
    return f"{tbl}.{col}"


def _made_at(made_ms: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(milliseconds=max(0, made_ms))


def check_value(tbl: str, col: str, value: Any, made_ms: int) -> Problem | None:
    """None when `value` (as the database stores it) may be written to `tbl.col`."""
    if not _COLUMNS:
        _COLUMNS.update(_columns())
    spec = _COLUMNS.get((tbl, col))
    if spec is None:
        return Problem("invalid", f"{_label(tbl, col)} is not a field vipterm knows")
    pytype = spec.pytype
    if value is None:
        return None if spec.nullable else Problem("invalid", f"{_label(tbl, col)} cannot be empty")
    if (
        pytype is str
        and type(value) is str
        and len(value) <= spec.limit
        and spec.enum is None
        and spec.enum_list is None
        and not spec.not_empty
        and (tbl, col) != ("notification_attempt", "team")
        and (tbl, col) not in TIME_OF_DAY
        and (value.isprintable() if col not in LONG_TEXT else not _CONTROL.search(value))
    ):
        return None  # the common case: plain text within its length
    if pytype is str and spec.enum is not None and value in spec.enum:
        return None
    name = _label(tbl, col)
    if pytype is bool:
        if value not in (0, 1) or type(value) not in (int, bool):
            return Problem("invalid", f"{name} is not yes/no")
        return None
    if pytype is int:
        if type(value) is not int:
            return Problem("invalid", f"{name} is not a whole number")
        low, high = spec.low, spec.high
        if not low <= value <= high:
            return Problem("invalid", f"{name} is outside {low}..{high}")
        return None
    if type(value) is not str:
        what = {date: "a date (YYYY-MM-DD)", datetime: "a date and time"}.get(pytype, "text")
        return Problem("invalid", f"{name} is not {what}")
    if pytype is date:
        try:
            when = date.fromisoformat(value) if _DATE.match(value) else None
        except ValueError:
            when = None
        if when is None:
            return Problem("invalid", f"{name} is not a date (YYYY-MM-DD)")
        if when.year < 1900:
            return Problem("invalid", f"{name} is before 1900")
        if spec.not_future and when > (_made_at(made_ms) + _SLACK).date():
            return Problem("invalid", f"{name} is in the future")
        return None
    if pytype is datetime:
        try:
            when = datetime.fromisoformat(value) if _STAMP.match(value) else None
        except ValueError:
            when = None
        if when is None:
            return Problem("invalid", f"{name} is not a date and time")
        if when.year < 1900:
            return Problem("invalid", f"{name} is before 1900")
        if spec.not_future and when > _made_at(made_ms) + _SLACK:
            return Problem("invalid", f"{name} is in the future")
        return None
    # text
    limit = spec.limit
    if len(value) > limit:
        return Problem("invalid", f"{name} is longer than {limit} characters")
    if _CONTROL.search(value if col in LONG_TEXT else value.replace("\n", "\x00")):
        return Problem("invalid", f"{name} holds control characters")
    if (tbl, col) in NOT_EMPTY and not value.strip():
        return Problem("invalid", f"{name} cannot be empty")
    enum_cls = ENUMS.get((tbl, col))
    if enum_cls is not None and value not in enum_cls._value2member_map_:
        return Problem("invalid", f"{name} is not one of: {', '.join(m.value for m in enum_cls)}")
    list_cls = ENUM_LISTS.get((tbl, col))
    if list_cls is not None and value:
        if any(v not in list_cls._value2member_map_ for v in value.split(",")):
            return Problem(
                "invalid", f"{name} holds a value that is not one of: {', '.join(m.value for m in list_cls)}"
            )
    if (tbl, col) == ("notification_attempt", "team"):
        return _check_team(value)
    if (tbl, col) in TIME_OF_DAY and not _TIME.match(value):
        return Problem("invalid", f"{name} is not a time of day (HH:MM)")
    return None


def _check_team(text: str) -> Problem | None:
    bad = Problem("invalid", "notification_attempt.team is not a list of names with team roles")
    try:
        team = json.loads(text)
    except ValueError:
        return bad
    if not isinstance(team, list):
        return bad
    for member in team:
        if (
            not isinstance(member, dict)
            or set(member) != {"name", "role"}
            or not isinstance(member["name"], str)
            or member.get("role") not in domain.TeamRole._value2member_map_
        ):
            return bad
    return None


def check_row(tbl: str, values: dict[str, Any], made_ms: int) -> Problem | None:
    """The first problem of a new record's values (every column present), or None."""
    for col, value in values.items():
        problem = check_value(tbl, col, value, made_ms)
        if problem is not None:
            return problem
    return None


def check_row_id(row_id: str) -> Problem | None:
    if len(row_id) > MAX_ID_LENGTH or _CONTROL.search(row_id):
        return Problem("invalid", "a record id is malformed")
    return None


def stored_problems(conn: Connection) -> dict[str, int]:
    """Values already stored that break the rules ("table.column" -> how many rows), found with one
    scan per table: for `vipterm doctor`, on a database that merged before these checks existed.
    Enum members, lists of them, and the stored shape of dates, times and numbers."""
    if not _COLUMNS:
        _COLUMNS.update(_columns())
    by_table: dict[str, list[tuple[str, str, tuple[Any, ...]]]] = {}
    for (tbl, col), spec in _COLUMNS.items():
        q = f'"{col}"'
        if spec.enum is not None:
            marks = ",".join("?" * len(spec.enum))
            cond, params = f"{q} IS NOT NULL AND ({q} NOT IN ({marks}) OR typeof({q}) != 'text')", tuple(spec.enum)
        elif spec.pytype is date:
            cond, params = (
                (
                    f"{q} IS NOT NULL AND (typeof({q}) != 'text' OR {q} NOT GLOB "
                    f"'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' OR date({q}) IS NULL)"
                ),
                (),
            )
        elif spec.pytype is datetime:
            cond, params = (
                (
                    f"{q} IS NOT NULL AND (typeof({q}) != 'text' OR {q} NOT GLOB "
                    "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]*' "
                    f"OR datetime({q}) IS NULL)"
                ),
                (),
            )
        elif spec.pytype in (int, bool):
            cond, params = f"{q} IS NOT NULL AND typeof({q}) != 'integer'", ()
        else:  # text
            cond, params = f"{q} IS NOT NULL AND typeof({q}) != 'text'", ()
        by_table.setdefault(tbl, []).append((col, cond, params))
    out: dict[str, int] = {}
    for tbl, checks in by_table.items():
        sums = ", ".join(f"coalesce(sum(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)" for _c, cond, _p in checks)
        params = tuple(p for _c, _cond, ps in checks for p in ps)
        counts = conn.exec_driver_sql(f'SELECT {sums} FROM "{tbl}"', params).one()
        for (col, _cond, _p), n in zip(checks, counts):
            spec = _COLUMNS[(tbl, col)]
            if spec.enum_list is not None:
                for value, k in conn.exec_driver_sql(
                    f'SELECT "{col}", count(*) FROM "{tbl}" WHERE "{col}" != \'\' GROUP BY "{col}"'
                ):
                    if not isinstance(value, str) or any(v not in spec.enum_list for v in value.split(",")):
                        n += k
            if n:
                out[f"{tbl}.{col}"] = int(n)
    return out
