"""Fixtures every test layer shares: a fresh SQLite database per test and waiting on a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
WaitUntil = Callable[..., object]


def wait_until(
    condition: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.001, what: str = "condition"
) -> T:
    """Answer ``condition()`` as soon as it is truthy; fail the test if it is not after ``timeout`` s.

    The stand-in for a sleep: tests wait for the state they need, never for a guessed duration. The
    one poll loop of the suite; a condition may fail the test itself (a process that died).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def wait() -> WaitUntil:
    """``wait(condition, timeout=5.0, what="...")``: block until the condition holds or fail."""
    return wait_until


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A database file of this test alone (not created yet: the store creates and migrates it)."""
    return tmp_path / "taskapi.db"


@pytest.fixture
def database_url(sqlite_path: Path) -> str:
    """``sqlite:////abs/path`` URL of this test's own database file."""
    return f"sqlite:///{sqlite_path}"
