"""The one poll loop of the tests and the chaos run: ask a condition until it holds or time is up.

``tests.conftest.wait_until`` fails the test on time-out; the chaos run and the private PostgreSQL
raise their own errors, since they also run outside pytest."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(condition: Callable[[], T], *, timeout: float, interval: float) -> T | None:
    """``condition()``'s first truthy answer, asked every ``interval`` s; ``None`` if none came within
    ``timeout`` s (it is asked once more at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
