"""Bad input of the remote kind: a wrong URL, a refused port, a TLS error, a refused token, a proxy's
HTML error page, an unavailable service. Each is one clear exception (never a traceback of httpx or
a JSON decoding error), and reads are retried where a retry can help, within bounds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskapi.client import (
    ApiError,
    AsyncTaskClient,
    ConnectionFailed,
    Forbidden,
    ProtocolError,
    RetryPolicy,
    ServiceUnavailable,
    TaskClient,
    Unauthorized,
)
from taskapi.domain import InvalidInput, StoreUnavailable, TaskNotFound, TaskPruned
from tests.client.conftest import Served, serving
from tests.client.fakes import FORWARD, Answer, Seen, fake_server, html_502
from tests.helpers.server import free_port

pytestmark = pytest.mark.slow

QUICK = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.05, total=5.0)
UNAVAILABLE = b'{"code":503,"message":"The task store is unavailable; retry shortly","data":null}'


@pytest.mark.parametrize(
    "url", ["localhost:8000", "ftp://example.org", "http://", "http://host:8000/?x=1", "not a url at all"]
)
def test_a_wrong_url_is_refused_at_once_naming_itself(url: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        TaskClient(url)
    assert raised.value.field == "base_url" and repr(url) in str(raised.value)


def test_the_url_and_token_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKAPI_SERVER", "http://tasks.example:9000")
    with TaskClient() as client:
        assert str(client.base_url) == "http://tasks.example:9000"
    monkeypatch.delenv("TASKAPI_SERVER")
    with TaskClient() as client:
        assert str(client.base_url) == "http://localhost:8000"


def test_a_refused_port_is_connection_failed_after_bounded_retries() -> None:
    port = free_port()  # nothing listens there
    with TaskClient(f"http://127.0.0.1:{port}", retry=QUICK) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as raised:
            client.get(1)
        took = time.monotonic() - started
    assert raised.value.sent is False and not raised.value.tls
    assert f"127.0.0.1:{port}" in str(raised.value) and "could not connect" in str(raised.value)
    assert took < 2.0
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_https_to_a_plain_http_port_is_a_tls_error_not_retried(tmp_path: Path) -> None:
    with fake_server(html_502) as plain, TaskClient(plain.base_url.replace("http:", "https:")) as client:
        with pytest.raises(ConnectionFailed) as raised:
            client.get(1)
        requests, connections = len(plain.seen), plain.connections
    assert raised.value.tls and "TLS" in str(raised.value) and "http://" in str(raised.value)
    assert (requests, connections) == (0, 1)  # the handshake failed once, and was not tried again


def test_a_proxys_html_502_page_is_a_protocol_error_saying_what_came() -> None:
    with fake_server(html_502) as proxy, TaskClient(proxy.base_url, retry=QUICK) as client:
        with pytest.raises(ProtocolError) as raised:
            client.get(1)
        with pytest.raises(ProtocolError):
            client.create(1, "ocr")
    message = str(raised.value)
    assert raised.value.status == 502 and "text/html" in message and "502 Bad Gateway" in message


def test_a_json_body_that_is_not_the_envelope_is_a_protocol_error() -> None:
    def other_service(seen: Seen) -> Answer:
        return Answer(200, b'{"detail": "hello from another service"}')

    with (
        fake_server(other_service) as other,
        TaskClient(other.base_url) as client,
        pytest.raises(ProtocolError) as raised,
    ):
        client.get(1)
    assert "envelope" in str(raised.value)


def test_reads_are_retried_on_503_and_creates_are_not(server: Served) -> None:
    def unavailable_twice(seen: Seen) -> Answer | str:
        if seen.number <= 2:
            return Answer(503, UNAVAILABLE, headers={"Retry-After": "0"})
        return FORWARD

    with fake_server(unavailable_twice, upstream=server.base_url) as proxy:
        with TaskClient(proxy.base_url, retry=QUICK) as client:
            listed = client.page(limit=1)  # answered by the third try
        assert len(proxy.seen) == 3 and isinstance(listed.items, list)

    with fake_server(unavailable_twice, upstream=server.base_url) as proxy:
        with TaskClient(proxy.base_url, retry=QUICK) as client, pytest.raises(ServiceUnavailable) as raised:
            client.create(1, "ocr")  # no idempotency key: never sent twice
        assert len(proxy.seen) == 1
    assert isinstance(raised.value, StoreUnavailable) and raised.value.retry_after == 0


def test_a_read_gives_up_after_the_policys_attempts() -> None:
    def always_unavailable(seen: Seen) -> Answer:
        return Answer(503, UNAVAILABLE, headers={"Retry-After": "0"})

    with fake_server(always_unavailable) as down, TaskClient(down.base_url, retry=QUICK) as client:
        with pytest.raises(ServiceUnavailable):
            client.get(1)
        assert len(down.seen) == QUICK.attempts


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {"TASKAPI_API_TOKENS": "read:reader-secret-0123456789,operate:operator-secret-0123456789"}
    with serving("sqlite", tmp_path_factory.mktemp("guarded"), env) as served:
        yield served


def test_tokens_missing_unknown_and_of_the_wrong_role(
    guarded: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TaskClient(guarded.base_url) as anonymous, pytest.raises(Unauthorized) as missing:
        anonymous.page()
    with TaskClient(guarded.base_url, token="wrong") as stranger, pytest.raises(Unauthorized):
        stranger.get(1)
    with TaskClient(guarded.base_url, token="reader-secret-0123456789") as reader:
        assert reader.page().items == []
        with pytest.raises(Forbidden) as refused:
            reader.create(1, "ocr")
    with TaskClient(guarded.base_url) as anonymous, pytest.raises(Unauthorized):
        list(anonymous.watch(timeout=5))  # the stream too: raised, not a reconnect loop
    monkeypatch.setenv("TASKAPI_TOKEN", "operator-secret-0123456789")
    with TaskClient(guarded.base_url) as operator:
        created = operator.create(1, "ocr")
        operator.cancel(created.id)
    assert missing.value.status == 401 and refused.value.status == 403
    assert "reader-secret" not in str(refused.value)


def test_the_async_client_raises_the_same(guarded: Served) -> None:
    async def scenario() -> None:
        async with AsyncTaskClient(guarded.base_url) as anonymous:
            with pytest.raises(Unauthorized):
                await anonymous.get(1)
        async with AsyncTaskClient(f"http://127.0.0.1:{free_port()}", retry=QUICK) as nowhere:
            with pytest.raises(ConnectionFailed):
                await nowhere.get(1)
        with fake_server(html_502) as proxy:
            async with AsyncTaskClient(proxy.base_url, retry=QUICK) as behind:
                with pytest.raises(ProtocolError):
                    await behind.page()

    asyncio.run(scenario())


def test_a_pruned_task_and_a_wrong_base_path_are_told_apart() -> None:
    pruned = (
        b'{"code":404,"message":"Task 5 was pruned on 2025-04-11T10:00:00 (retention 30 days)","data":null}'
    )
    no_route = b'{"code":404,"message":"Not found: /tasks/api/v1/tasks/6","data":null}'

    def answers(seen: Seen) -> Answer:
        return Answer(404, pruned if seen.path.endswith("/5") else no_route)

    with fake_server(answers) as fake, TaskClient(fake.base_url) as client:
        with pytest.raises(TaskPruned) as gone:
            client.get(5)
        with pytest.raises(ApiError) as wrong:
            client.get(6)
    assert gone.value.pruned_at == datetime(2025, 4, 11, 10, tzinfo=UTC)
    assert gone.value.older_than_seconds == 30 * 86_400 and str(gone.value).startswith("Task 5 was pruned")
    assert not isinstance(wrong.value, TaskNotFound) and wrong.value.status == 404
