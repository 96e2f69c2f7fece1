"""The fast path over PostgreSQL, where its reads go to a worker thread as its writes do: the same
bytes as FastAPI's routes for lists, details and cancels (``test_api_fast_path.py`` covers SQLite,
where reads run on the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taskapi.api import create_app
from taskapi.api.encoding import CANCELLED
from taskapi.domain import encode_cursor
from taskapi.service import TaskService, next_cursor
from taskapi.store.postgres import PostgresStore
from tests.helpers.server import TASKS
from tests.integration.pg import make_postgres_store

pytestmark = pytest.mark.postgres

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with make_postgres_store(tmp_path) as opened:
        yield opened


def answers(store: PostgresStore, requests: list[tuple[str, str]]) -> tuple[list[Answer], list[Answer]]:
    """Each request to the app with the fast path, then to the app without, over one database."""
    service = TaskService(store)
    apps = [create_app(service, listen=False), create_app(service, listen=False, fast_path=False)]

    async def call() -> tuple[list[Answer], list[Answer]]:
        found: list[list[Answer]] = [[], []]
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") for app in apps
        ]
        for method, url in requests:
            for client, into in zip(clients, found, strict=True):
                response = await client.request(method, url)
                into.append((response.status_code, list(response.headers.raw), response.content))
        for client in clients:
            await client.aclose()
        return found[0], found[1]

    return asyncio.run(call())


def test_reads_and_cancels_over_postgres_are_fastapis_bytes(store: PostgresStore) -> None:
    service = TaskService(store)
    ids = [service.create(1 + n % 2, "ocr", {"n": n, "f": 0.1}).id for n in range(5)]
    cursor = encode_first_cursor(service)
    requests = [
        ("GET", TASKS),
        ("GET", f"{TASKS}?limit=2"),
        ("GET", f"{TASKS}?limit=2&project_id=1&cursor={cursor}"),
        ("GET", f"{TASKS}?status=done"),
        ("GET", f"{TASKS}/{ids[0]}"),
        ("GET", f"{TASKS}/999999"),
        ("POST", f"{TASKS}/999999/cancel"),
    ]

    fast, framework = answers(store, requests)

    assert fast == framework
    assert [status for status, _, _ in fast] == [200, 200, 200, 400, 200, 404, 404]


def test_a_cancel_over_postgres_answers_the_spec_body(store: PostgresStore) -> None:
    task_id = TaskService(store).create(1, "search").id

    (first, again), (_, again_framework) = answers(
        store, [("POST", f"{TASKS}/{task_id}/cancel"), ("POST", f"{TASKS}/{task_id}/cancel")]
    )

    assert (first[0], first[2]) == (200, CANCELLED)
    assert again == again_framework and again[0] == 400


def encode_first_cursor(service: TaskService) -> str:
    cursor = next_cursor(service.list(project_id=1, limit=2), 2)
    assert cursor is not None
    return encode_cursor(cursor)
