"""Fixtures shared by the API unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import InProcessApi, in_process_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    """The app in this process over a fresh SQLite file."""
    with in_process_api(tmp_path / "t.db") as opened:
        yield opened
