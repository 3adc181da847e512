"""One label rule for stored enum values (`LabelledEnum.label_of`): what every screen, timeline
and task list shows, including a value synced in from a newer vipterm that this one does not know."""

from __future__ import annotations

from vipterm import domain


def test_a_stored_value_shows_its_label():
    assert domain.AreaCommand.label_of("southeast") == "Southeast"
    assert domain.AgeGroup.label_of(domain.AgeGroup.AGE_18_24) == "18–24"


def test_a_value_from_a_newer_vipterm_shows_as_itself_or_as_asked():
    assert domain.ContactMode.label_of("video_call") == "video_call"
    assert domain.ContactMode.label_of("video_call", "") == ""  # a form starts empty instead


def test_nothing_stored_shows_nothing():
    assert domain.ClientStatus.label_of(None) == ""
    assert domain.ClientStatus.label_of("") == ""
