"""How records read on screen: short relative dates, compact labels, flag codes.

Pure functions (no Textual), shared by the caseload, the client file and the forms.
"""

from __future__ import annotations

from datetime import date, datetime

from vipterm import domain

SHORT_STATUS = {
    "identified": "identified",
    "notification_attempted": "attempted",
    "notified": "notified",
    "engaged": "engaged",
    "active": "active",
    "inactive": "inactive",
    "closed": "closed",
}

FLAG_CODES = {
    "retaliation_risk": "RET",
    "recent_gunshot_victim": "GSW",
    "group_involved": "GRP",
    "on_supervision": "SUP",
    "unstable_housing": "HSG",
    "minor_in_home": "MIN",
}


def ago(moment: date | datetime | None, today: date) -> str:
    """'today', '3d', '2w', '4mo', '2y' since `moment`; '—' for never."""
    if moment is None:
        return "—"
    day = moment.date() if isinstance(moment, datetime) else moment
    days = (today - day).days
    if days <= 0:
        return "today" if days == 0 else "future"
    if days < 14:
        return f"{days}d"
    if days < 60:
        return f"{days // 7}w"
    if days < 730:
        return f"{days // 30}mo"
    return f"{days // 365}y"


def due_in(day: date | None, today: date) -> str:
    """'today', '+2d', '-3d' relative to `today`; '—' when nothing is due."""
    if day is None:
        return "—"
    days = (day - today).days
    if days == 0:
        return "today"
    return f"{days:+d}d"


def status_label(value: str, short: bool = False) -> str:
    """A client's status; `short` for the caseload's narrow column."""
    return SHORT_STATUS.get(value, value) if short else domain.ClientStatus.label_of(value)


def flag_codes(flags: tuple[str, ...] | list[str]) -> str:
    return " ".join(FLAG_CODES.get(f, f[:3].upper()) for f in flags)


def flag_labels(flags: tuple[str, ...] | list[str]) -> str:
    return ", ".join(domain.RiskFlag.label_of(f) for f in flags)
