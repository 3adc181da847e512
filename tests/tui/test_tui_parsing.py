"""The form parsers: dates, times, minutes and choices, each with the message a worker reads."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vipterm import domain
from vipterm.errors import ValidationError
from vipterm.tui.parsing import complete_choice, match_choice, parse_date, parse_minutes, parse_when

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 9, 30)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-20", date(2026, 11, 20)),
        ("today", TODAY),
        ("yesterday", date(2026, 11, 22)),
        ("+7", date(2026, 11, 30)),
        ("-2", date(2026, 11, 21)),
        ("11-02", date(2026, 11, 2)),
        ("5", date(2026, 11, 5)),
        ("2024/02/29", date(2024, 2, 29)),
    ],
)
def test_dates_and_shortcuts(text, expected):
    assert parse_date(text, today=TODAY, field="d") == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("2026-02-30", "not a real date"),
        ("2025-02-29", "not a real date"),
        ("next tuesday", "is not a date"),
        ("2026-11", "not a real date"),
        ("", "a date is required"),
    ],
)
def test_bad_dates_name_the_field(text, message):
    with pytest.raises(ValidationError) as caught:
        parse_date(text, today=TODAY, field="due_on")
    assert message in caught.value.message
    assert caught.value.field == "due_on"


def test_optional_date_may_be_empty():
    assert parse_date("  ", today=TODAY, field="d", required=False) is None


def test_when_accepts_now_time_date_and_both():
    assert parse_when("", now=NOW, field="w") == NOW
    assert parse_when("14:05", now=NOW, field="w") == datetime(2026, 11, 23, 14, 5)
    assert parse_when("yesterday", now=NOW, field="w") == datetime(2026, 11, 22, 9, 30)
    assert parse_when("2026-11-01 18:00", now=NOW, field="w") == datetime(2026, 11, 1, 18, 0)
    with pytest.raises(ValidationError, match="not a time of day"):
        parse_when("2026-11-01 25:00", now=NOW, field="w")


@pytest.mark.parametrize("text, minutes", [("20", 20), ("1h30", 90), ("90m", 90), ("2h", 120), ("", None)])
def test_minutes(text, minutes):
    assert parse_minutes(text, "duration_min") == minutes


@pytest.mark.parametrize("text", ["abc", "-5", "h30", "1x"])
def test_bad_minutes(text):
    with pytest.raises(ValidationError) as caught:
        parse_minutes(text, "duration_min")
    assert caught.value.field == "duration_min"


def test_choice_by_label_value_or_unique_prefix():
    choices = domain.ContactMode.choices()
    assert match_choice("Phone", choices, "mode") == "phone"
    assert match_choice("via_family", choices, "mode") == "via_family"
    assert match_choice("in p", choices, "mode") == "in_person"
    with pytest.raises(ValidationError, match="is not one of: in person, phone, text, via family"):
        match_choice("bike", choices, "mode")


def test_ambiguous_prefix_is_refused():
    # "s" begins Southeast and Southwest: the worker must say which.
    with pytest.raises(ValidationError):
        match_choice("south", domain.AreaCommand.choices(), "area_command")
    assert complete_choice("south", [label for label, _ in domain.AreaCommand.choices()]) == "Southeast"


@given(st.text(max_size=20))
def test_parsers_never_raise_anything_but_validation_errors(text):
    for parse in (
        lambda: parse_date(text, today=TODAY, field="f"),
        lambda: parse_when(text, now=NOW, field="f"),
        lambda: parse_minutes(text, "f"),
        lambda: match_choice(text, domain.ContactMode.choices(), "f"),
    ):
        try:
            parse()
        except ValidationError as exc:
            assert exc.field == "f" and exc.message


@pytest.mark.parametrize("text", ["²", "+²", "1-99999999999", "٣:٣", "99999999999:1", "1h²"])
def test_odd_digits_and_huge_numbers_are_refused_cleanly(text):
    for parse in (
        lambda: parse_date(text, today=TODAY, field="f"),
        lambda: parse_when(text, now=NOW, field="f"),
        lambda: parse_minutes(text, "f"),
    ):
        try:
            parse()
        except ValidationError as exc:
            assert exc.field == "f"
