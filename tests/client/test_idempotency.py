"""Creates and retries: a create is never sent twice once it may have arrived, unless it carries an
idempotency key, and then the server answers the same task for the same key (enforced by the store,
on both dialects). A proxy that forwards a create and then hangs up plays the lost answer."""

from __future__ import annotations

import pytest

from taskapi.client import ConnectionFailed, TaskClient
from taskapi.service import TaskService
from tests.client.conftest import Served
from tests.client.fakes import FORWARD, HANG_UP, Seen, fake_server

pytestmark = pytest.mark.slow


def lose_the_first_answer(seen: Seen) -> str:
    return HANG_UP if seen.number == 1 else FORWARD


def test_a_create_without_a_key_whose_answer_was_lost_is_not_sent_again(
    server: Served, service: TaskService, project: int
) -> None:
    with fake_server(lose_the_first_answer, upstream=server.base_url) as proxy:
        with TaskClient(proxy.base_url) as client, pytest.raises(ConnectionFailed) as raised:
            client.create(project, "search", {"query": "once"})
        posts = [s for s in proxy.seen if s.method == "POST"]
    assert raised.value.sent is True and len(posts) == 1
    assert len(service.list(project_id=project)) == 1  # it arrived: sending it again would make two


def test_the_key_is_sent_as_the_idempotency_key_header(server: Served, project: int) -> None:
    with fake_server(lambda seen: FORWARD, upstream=server.base_url) as proxy:
        with TaskClient(proxy.base_url) as client:
            client.create(project, "ocr", idempotency_key="import-2025-03-12")
            client.create_many([(project, "ocr", None)], idempotency_key="batch-7")
            client.create(project, "ocr", retry=True)
            client.create(project, "ocr")
        keys = [s.headers.get("Idempotency-Key") for s in proxy.seen]
    assert keys[:2] == ["import-2025-03-12", "batch-7"]
    assert keys[2] is not None and len(keys[2]) >= 32  # generated for retry=True
    assert keys[3] is None


def test_the_same_key_answers_the_same_task(server: Served, service: TaskService, project: int) -> None:
    with TaskClient(server.base_url) as client:
        first = client.create(project, "search", {"query": "q"}, idempotency_key=f"k-{project}")
        again = client.create(project, "search", {"query": "q"}, idempotency_key=f"k-{project}")
    assert again.id == first.id
    assert [t.id for t in service.list(project_id=project)] == [first.id]


def test_the_same_key_answers_the_same_batch(server: Served, service: TaskService, project: int) -> None:
    specs = [(project, "ocr", None), (project, "index", None)]
    with TaskClient(server.base_url) as client:
        first = client.create_many(specs, idempotency_key=f"b-{project}")
        again = client.create_many(specs, idempotency_key=f"b-{project}")
    assert again == first
    assert len(service.list(project_id=project)) == 2


def test_a_create_with_retry_whose_answer_was_lost_makes_one_task(
    server: Served, service: TaskService, project: int
) -> None:
    with fake_server(lose_the_first_answer, upstream=server.base_url) as proxy:
        with TaskClient(proxy.base_url) as client:
            task = client.create(project, "search", {"query": "once"}, retry=True)
        posts = [s for s in proxy.seen if s.method == "POST"]
    assert len(posts) == 2 and posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert [t.id for t in service.list(project_id=project)] == [task.id]
