"""The domain: states and keyset cursors (the opaque tokens of the X-Next-Cursor header)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskapi.domain import (
    CANCELLABLE_STATUSES,
    MAX_ID,
    Cursor,
    InvalidInput,
    TaskNotCancellable,
    TaskNotFound,
    TaskPruned,
    TaskStatus,
    decode_cursor,
    describe_duration,
    encode_cursor,
    utcnow,
)


def token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_final_and_cancellable_statuses_split_the_five_states() -> None:
    final = {s for s in TaskStatus if s.is_final}
    assert final == {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    assert set(TaskStatus) - final == CANCELLABLE_STATUSES


def test_utcnow_is_aware_utc() -> None:
    assert utcnow().utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(datetime(2025, 3, 12, 10, 0, 0, 123456, tzinfo=UTC), 42),
        Cursor(datetime(1970, 1, 1, tzinfo=UTC), 1),
        Cursor(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), MAX_ID),
    ],
)
def test_cursor_round_trip_keeps_full_precision(cursor: Cursor) -> None:
    encoded = encode_cursor(cursor)
    assert decode_cursor(encoded) == cursor
    assert "=" not in encoded and "/" not in encoded and "+" not in encoded  # safe in a URL as it is


def test_cursor_of_another_timezone_names_the_same_instant_in_utc() -> None:
    moment = datetime(2025, 3, 12, 18, 0, tzinfo=timezone(timedelta(hours=8)))
    decoded = decode_cursor(encode_cursor(Cursor(moment, 7)))
    assert decoded.created_at == moment and decoded.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a cursor",
        "!!!!",
        "ünïcode",
        token(b"\xff\xfe\xfd"),  # not UTF-8
        token(b"2025-03-12T10:00:00+00:00"),  # no id
        token(b"2025-03-12T10:00:00+00:00|"),
        token(b"2025-03-12T10:00:00+00:00|abc"),
        token(b"yesterday|5"),
        token(b"2025-03-12T10:00:00|5"),  # naive time: not one this API issues
        token(b"2025-03-12T10:00:00+00:00|0"),
        token(b"2025-03-12T10:00:00+00:00|-5"),
        token(f"2025-03-12T10:00:00+00:00|{MAX_ID + 1}".encode()),
        token(b"2025-03-12T10:00:00+00:00|5|6"),
    ],
)
def test_garbage_cursor_is_invalid_input_naming_the_cursor(garbage: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(garbage)
    assert caught.value.field == "cursor"
    assert "X-Next-Cursor" in caught.value.detail


def test_domain_errors_say_what_happened() -> None:
    assert str(TaskNotFound(42)) == "Task 42 not found"
    refused = TaskNotCancellable(42, TaskStatus.COMPLETED)
    assert "already completed" in str(refused) and refused.status is TaskStatus.COMPLETED
    invalid = InvalidInput("limit", "must be an integer between 1 and 1000")
    assert (invalid.field, str(invalid)) == ("limit", "limit: must be an integer between 1 and 1000")


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (30 * 86_400, "30 days"),
        (86_400, "1 day"),
        (7_200, "2 hours"),
        (90_000, "25 hours"),
        (120, "2 minutes"),
        (90, "90 seconds"),
        (0.5, "0.5 seconds"),
        (1, "1 second"),
    ],
)
def test_a_retention_is_said_in_its_largest_whole_unit(seconds: float, said: str) -> None:
    assert describe_duration(seconds) == said


def test_a_pruned_task_is_not_found_and_says_when_and_why() -> None:
    moment = datetime(2025, 4, 11, 10, 0, 0, 123_456, tzinfo=UTC)
    error = TaskPruned(5, moment.astimezone(timezone(timedelta(hours=8))), 30 * 86_400)
    assert isinstance(error, TaskNotFound)
    assert str(error) == "Task 5 was pruned on 2025-04-11T10:00:00 (retention 30 days)"
    assert (error.task_id, error.pruned_at, error.older_than_seconds) == (5, moment, 30 * 86_400)
