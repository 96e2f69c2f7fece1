"""What only a real HTTP server shows: a chunked body is counted and refused at 1 MiB, and unknown paths
and wrong methods answer in the envelope over the wire."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from taskapi.api import DEFAULT_MAX_BODY_BYTES
from tests.helpers.server import TASKS, ServerProcess, body_of_size, envelope, table_rows

pytestmark = pytest.mark.slow

CHUNK = 64 * 1024


def test_chunked_body_over_1_mib_is_413_and_the_server_carries_on(shared_server: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        """One byte over the limit, crossed by the last chunk (so the client has sent all when refused)."""
        payload = body_of_size(DEFAULT_MAX_BODY_BYTES + 1)
        for start in range(0, len(payload), CHUNK):
            yield payload[start : start + CHUNK]

    rows = table_rows(shared_server.db_path)
    with httpx.Client(base_url=shared_server.base_url, timeout=10.0) as client:
        response = client.post(TASKS, content=chunks(), headers={"content-type": "application/json"})

        assert "content-length" not in response.request.headers
        assert str(DEFAULT_MAX_BODY_BYTES) in envelope(response, 413)["message"]
        assert table_rows(shared_server.db_path) == rows
        envelope(client.post(TASKS, json={"project_id": 1, "task_type": "search"}), 201)


def test_unknown_path_and_wrong_method_answer_in_the_envelope(shared_server: ServerProcess) -> None:
    with httpx.Client(base_url=shared_server.base_url, timeout=10.0) as client:
        missing = client.get("/api/v1/nothing-here")
        wrong = client.delete(f"{TASKS}/1")

    assert envelope(missing, 404)["data"] is None
    assert envelope(wrong, 405)["data"] is None
    assert wrong.headers["allow"] == "GET"
