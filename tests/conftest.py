"""Fixtures every test layer shares: a fresh SQLite database per test and waiting on a condition."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from tests.helpers.polling import poll

T = TypeVar("T")
WaitUntil = Callable[..., object]


def wait_until(
    condition: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.001, what: str = "condition"
) -> T:
    """Answer ``condition()`` as soon as it is truthy; fail the test if it is not after ``timeout`` s.

    The stand-in for a sleep: tests wait for the state they need, never for a guessed duration (the
    loop is ``tests.helpers.polling.poll``); a condition may fail the test itself (a process that died).
    """
    value = poll(condition, timeout=timeout, interval=interval)
    if value is None:
        pytest.fail(f"timed out after {timeout} s waiting for {what}")
    return value


def unavailable(reason: str) -> NoReturn:
    """What a test does when something it needs is not here (a browser, a server binary, a limit):
    skip, saying ``reason``, except under ``CI=true``, where every test must run and this fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this test must run here)", pytrace=False)
    pytest.skip(reason)


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
