"""How long to wait before trying a source again: its ``Retry-After``, else our own backoff."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for: delta-seconds (``"120"``, decimals tolerated) or an
    HTTP date; ``None`` when absent or unreadable (the caller then backs off by itself), never < 0."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now or datetime.now(UTC))
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may parse without a zone
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def backoff_seconds(retry: int, base: float, cap: float) -> float:
    """Exponential backoff for the ``retry``-th retry (0 first): ``base * 2**retry``, at most ``cap``."""
    return min(cap, base * 2.0 ** min(retry, 32))
