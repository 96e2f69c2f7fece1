"""Fixtures every test layer shares: a fresh SQLite database per test and waiting on a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

WaitUntil = Callable[..., None]


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 5.0, interval: float = 0.001, what: str = "condition"
) -> None:
    """Return as soon as ``condition()`` holds; fail the test if it still does not after ``timeout`` s.

    The stand-in for a sleep: tests wait for the state they need, never for a guessed duration.
    """
    deadline = time.monotonic() + timeout
    while not condition():
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
