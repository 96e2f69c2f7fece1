"""Every time the API shows: ISO 8601 in UTC to the second, without an offset, as the spec renders it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from taskapi.api.schemas import render_time


def test_a_utc_time_is_cut_to_the_second_never_rounded_up() -> None:
    assert render_time(datetime(2025, 3, 12, 10, 0, 0, 999_999, tzinfo=UTC)) == "2025-03-12T10:00:00"


def test_a_time_in_another_zone_is_shown_in_utc() -> None:
    paris = datetime(2025, 3, 12, 11, 0, 7, tzinfo=ZoneInfo("Europe/Paris"))
    assert render_time(paris) == "2025-03-12T10:00:07"
    plus_two = datetime(2025, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert render_time(plus_two) == "2024-12-31T23:30:00"
