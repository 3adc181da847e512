"""Reading what a worker types into a form: dates, times, minutes and choices.

Pure functions (no Textual), so every rule is unit-tested directly. Each raises
`ValidationError(field=...)` with a one-line message that says what is accepted; the form shows it
beside the field and keeps what was typed. Shortcuts follow hledger-add: `today`, `yesterday`,
`+7` / `-2` (days from today), and a bare `MM-DD` or `DD` within the current year and month.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from vipterm.errors import ValidationError

DATE_HELP = "use YYYY-MM-DD, today, yesterday or +N/-N days"
WHEN_HELP = "use YYYY-MM-DD HH:MM, HH:MM, now, or a date"


def parse_date(text: str, *, today: date, field: str, required: bool = True) -> date | None:
    """A date from `text`; None for an empty optional field."""
    value = (text or "").strip().lower()
    if not value:
        if required:
            raise ValidationError("a date is required", field=field)
        return None
    if value in ("today", "t", "."):
        return today
    if value in ("yesterday", "y"):
        return today - timedelta(days=1)
    if value in ("tomorrow",):
        return today + timedelta(days=1)
    if value[0] in "+-" and value[1:].isascii() and value[1:].isdigit():
        days = int(value[1:])
        if days > 3660:
            raise ValidationError(f"{text.strip()} is too far away", field=field)
        return today + timedelta(days=days if value[0] == "+" else -days)
    parts = value.replace("/", "-").split("-")
    if not all(p.isascii() and p.isdigit() and len(p) <= 4 for p in parts):
        raise ValidationError(f"{text.strip()!r} is not a date ({DATE_HELP})", field=field)
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ValidationError(f"{text.strip()!r} is not a date ({DATE_HELP})", field=field) from None
    try:
        if len(numbers) == 3 and len(parts[0]) == 4:
            return date(numbers[0], numbers[1], numbers[2])
        if len(numbers) == 2:
            return date(today.year, numbers[0], numbers[1])
        if len(numbers) == 1 and len(parts[0]) <= 2:
            return date(today.year, today.month, numbers[0])
    except (ValueError, OverflowError):
        raise ValidationError(f"{text.strip()} is not a real date ({DATE_HELP})", field=field) from None
    raise ValidationError(f"{text.strip()!r} is not a date ({DATE_HELP})", field=field)


def parse_time(text: str, field: str) -> time:
    value = text.strip()
    try:
        hours, minutes = value.split(":")
        if not (hours.isascii() and hours.isdigit() and minutes.isascii() and minutes.isdigit()):
            raise ValueError(value)
        return time(int(hours), int(minutes))
    except (ValueError, OverflowError):
        raise ValidationError(f"{value!r} is not a time of day (use HH:MM)", field=field) from None


def parse_when(text: str, *, now: datetime, field: str) -> datetime:
    """A moment: `now`, `HH:MM` (today), a date (at the current time of day) or both."""
    value = (text or "").strip().lower()
    if not value or value == "now":
        return now.replace(second=0, microsecond=0)
    pieces = value.split()
    if len(pieces) == 1 and ":" in pieces[0]:
        return datetime.combine(now.date(), parse_time(pieces[0], field))
    if len(pieces) == 1:
        day = parse_date(pieces[0], today=now.date(), field=field)
        return datetime.combine(day, now.time().replace(second=0, microsecond=0))
    if len(pieces) == 2:
        day = parse_date(pieces[0], today=now.date(), field=field)
        return datetime.combine(day, parse_time(pieces[1], field))
    raise ValidationError(f"{text.strip()!r} is not a date and time ({WHEN_HELP})", field=field)


def parse_minutes(text: str, field: str) -> int | None:
    """Whole minutes, `1h`, `1h30` or `90m`; None when left empty."""
    value = (text or "").strip().lower().replace(" ", "")
    if not value:
        return None
    if not value.isascii():
        raise ValidationError(f"{text.strip()!r} is not a number of minutes", field=field)
    if not value[0].isdigit():  # "-5" is not a length of time
        raise ValidationError(f"{text.strip()!r} is not a number of minutes", field=field)
    try:
        if "h" in value:
            hours, _, rest = value.partition("h")
            minutes = int(hours) * 60 + (int(rest.rstrip("m")) if rest.rstrip("m") else 0)
        else:
            minutes = int(value.rstrip("m"))
    except ValueError:
        raise ValidationError(f"{text.strip()!r} is not a number of minutes", field=field) from None
    return minutes  # how long a contact may be is the service's rule (records.log_contact)


def match_choice(text: str, choices: list[tuple[str, str]], field: str, *, required: bool = True) -> str | None:
    """The value of the choice whose label or value `text` names, or that it uniquely begins.

    `choices` are (label, value) pairs, the shape `LabelledEnum.choices()` returns.
    """
    value = (text or "").strip().casefold()
    if not value:
        if required:
            raise ValidationError("choose one: " + ", ".join(label for label, _ in choices), field=field)
        return None
    for label, stored in choices:
        if value in (label.casefold(), stored.casefold()):
            return stored
    starts = [stored for label, stored in choices if label.casefold().startswith(value)]
    if len(starts) == 1:
        return starts[0]
    raise ValidationError(f"{text.strip()!r} is not one of: " + ", ".join(label for label, _ in choices), field=field)


def complete_choice(text: str, labels: list[str]) -> str | None:
    """The first label that begins with `text` (case-insensitive), else one that contains it."""
    value = text.strip().casefold()
    if not value:
        return None
    for label in labels:
        if label.casefold().startswith(value):
            return label
    for label in labels:
        if value in label.casefold():
            return label
    return None
