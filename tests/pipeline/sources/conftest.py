"""A replay server per test: its requests log is this test's alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pipeline.source_server import SourceServer


@pytest.fixture
def server() -> Iterator[SourceServer]:
    with SourceServer() as replay:
        yield replay
    assert not replay.errors, replay.errors[0]
