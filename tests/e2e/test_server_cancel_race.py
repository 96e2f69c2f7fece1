"""Every status change is one conditional UPDATE: fifty cancels of one task racing over HTTP against a
real server process give exactly one 200 and forty-nine 400s."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from taskapi.store.sqlite import SQLiteStore
from tests.helpers.server import TASKS, TIME_FORMAT, ServerProcess, envelope, start

pytestmark = pytest.mark.slow

RACERS = 50


async def cancel_all_at_once(base_url: str, task_id: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
        return list(await asyncio.gather(*(client.post(f"{TASKS}/{task_id}/cancel") for _ in range(RACERS))))


@pytest.mark.parametrize("state", ["pending", "running"])
def test_fifty_concurrent_cancels_of_one_task_have_exactly_one_winner(
    shared_server: ServerProcess, side_store: SQLiteStore, state: str
) -> None:
    with httpx.Client(base_url=shared_server.base_url, timeout=10.0) as client:
        # the shared server runs no worker: this test plays it (side_store)
        created = envelope(client.post(TASKS, json={"project_id": 1, "task_type": "search"}), 201)
        task_id = created["data"]["id"]
        if state == "running":
            start(side_store, task_id)  # a worker in another process holds it
        assert envelope(client.get(f"{TASKS}/{task_id}"), 200)["data"]["status"] == state

        responses = asyncio.run(cancel_all_at_once(shared_server.base_url, task_id))

        assert Counter(r.status_code for r in responses) == {200: 1, 400: RACERS - 1}
        for response in responses:
            body = envelope(response, response.status_code)
            if response.status_code == 200:
                assert body == {"code": 200, "message": "Task cancelled", "data": None}
            else:
                assert "already cancelled" in body["message"], body
        detail = envelope(client.get(f"{TASKS}/{task_id}"), 200)["data"]
    assert detail["status"] == "cancelled"
    assert TIME_FORMAT.match(detail["completed_at"])
