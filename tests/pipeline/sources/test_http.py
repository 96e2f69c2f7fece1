"""What every request does: headers and keys, retries on 429/5xx/timeouts with ``Retry-After``
honoured, at once a ``SourceError`` for what no retry mends, and never a secret in a message."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from taskapi.pipeline.sources import SearchQuery
from tests.pipeline.source_server import SourceServer
from tests.pipeline.sources.support import CONTACT, fast_config, gaps, records, search_error

QUERY = SearchQuery("graphs", limit=5)
KEY = "sekrit-key-0123"


@pytest.mark.parametrize("name", ["semantic_scholar", "arxiv", "openalex", "crossref"])
def test_every_request_names_taskapi_and_the_contact(server: SourceServer, name: str) -> None:
    records(fast_config(server, name), QUERY)

    agent = server.requests(name)[0].headers["user-agent"]
    assert agent.startswith("taskapi/") and agent.endswith(f"(mailto:{CONTACT})")


def test_crossref_gets_the_contact_as_mailto(server: SourceServer) -> None:
    records(fast_config(server, "crossref"), QUERY)

    assert server.requests("crossref")[0].query["mailto"] == CONTACT


def test_semantic_scholar_key_goes_in_the_x_api_key_header(server: SourceServer) -> None:
    server.require_key("s2", KEY)
    found = records(fast_config(server, "semantic_scholar", api_key=KEY), QUERY)

    assert len(found) == 5
    assert server.requests("s2")[0].headers["x-api-key"] == KEY


def test_openalex_key_goes_in_the_api_key_parameter(server: SourceServer) -> None:
    server.require_key("openalex", KEY)
    found = records(fast_config(server, "openalex", api_key=KEY), QUERY)

    assert len(found) == 5
    assert server.requests("openalex")[0].query["api_key"] == KEY


def test_no_key_no_key_header_or_parameter(server: SourceServer) -> None:
    records(fast_config(server, "semantic_scholar"), QUERY)
    records(fast_config(server, "openalex"), QUERY)

    assert "x-api-key" not in server.requests("s2")[0].headers
    assert "api_key" not in server.requests("openalex")[0].query


def test_the_key_never_reaches_a_log_line_or_an_error(
    server: SourceServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.fail_next("openalex", status=400, body={"error": f"bad request: api_key={KEY}"})
    with caplog.at_level(logging.DEBUG):
        message = search_error(fast_config(server, "openalex", api_key=KEY), QUERY)

    assert server.requests("openalex")[0].query["api_key"] == KEY, "the key was sent"
    assert message == "HTTP 400 from openalex: bad request: api_key=***"
    assert caplog.records, "httpx logged the request"
    assert KEY not in caplog.text


def test_the_key_does_not_follow_a_redirect_to_another_host(server: SourceServer) -> None:
    elsewhere = server.url("files").replace("127.0.0.1", "localhost") + "/moved"
    server.respond_next("openalex", status=302, headers={"Location": elsewhere})
    message = search_error(fast_config(server, "openalex", api_key=KEY), QUERY)

    moved = server.requests("files")[0]
    assert moved.path == "/files/moved" and "api_key" not in moved.query
    assert message == "HTTP 404 from openalex"


def test_429_with_retry_after_waits_that_long(server: SourceServer) -> None:
    server.fail_next("openalex", status=429, retry_after="0.2")
    found = records(fast_config(server, "openalex"), QUERY)

    assert len(found) == 5
    (gap,) = gaps(server.requests("openalex"))
    assert gap >= 0.2


def test_retry_after_is_bounded_by_max_backoff(server: SourceServer) -> None:
    server.fail_next("crossref", status=503, retry_after="3600")
    found = records(fast_config(server, "crossref", max_backoff=0.2), QUERY)

    assert len(found) == 5
    (gap,) = gaps(server.requests("crossref"))
    assert 0.2 <= gap < 2


def test_semantic_scholar_429_without_retry_after_backs_off_exponentially(server: SourceServer) -> None:
    server.fail_next("s2", status=429, times=3)
    found = records(fast_config(server, "semantic_scholar", backoff_base=0.03, max_retries=3), QUERY)

    assert len(found) == 5
    first, second, third = gaps(server.requests("s2"))
    assert first >= 0.03 and second >= 0.06 and third >= 0.12


def test_429_every_time_gives_up_after_max_retries(server: SourceServer) -> None:
    server.fail_next("openalex", status=429, times=10)
    message = search_error(fast_config(server, "openalex", max_retries=2), QUERY)

    assert message == "HTTP 429 from openalex: rate limited, gave up after 2 retries (source unavailable)"
    assert len(server.requests("openalex")) == 3


def test_a_5xx_is_retried(server: SourceServer) -> None:
    server.fail_next("crossref", status=500)
    server.fail_next("crossref", status=502)

    assert len(records(fast_config(server, "crossref"), QUERY)) == 5
    assert [r.status for r in server.requests("crossref")] == [500, 502, 200]


def test_a_5xx_every_time_ends_in_a_source_error(server: SourceServer) -> None:
    server.fail_next("arxiv", status=503, times=10)
    message = search_error(fast_config(server, "arxiv", max_retries=2), QUERY)

    assert message == "HTTP 503 from arxiv: server error, gave up after 2 retries"
    assert len(server.requests("arxiv")) == 3


@pytest.mark.parametrize(
    ("name", "status", "word"), [("openalex", 401, "unauthorized"), ("semantic_scholar", 403, "forbidden")]
)
def test_an_unauthorised_answer_fails_at_once(
    server: SourceServer, name: str, status: int, word: str
) -> None:
    server.require_key(name, KEY)
    message = search_error(fast_config(server, name, api_key="wrong-key"), QUERY)

    assert message == f"HTTP {status} from {name}: {word} (api key missing or invalid)"
    assert len(server.requests(name)) == 1
    assert "wrong-key" not in message


def test_a_4xx_says_the_sources_own_message(server: SourceServer) -> None:
    crossref_error = {"status": "failed", "message": [{"type": "parameter", "message": "rows is too big"}]}
    server.fail_next("crossref", status=400, body=crossref_error)
    message = search_error(fast_config(server, "crossref"), QUERY)

    assert message == "HTTP 400 from crossref: rows is too big"
    assert len(server.requests("crossref")) == 1


def test_a_timeout_is_retried_then_reported(server: SourceServer) -> None:
    server.respond_next("openalex", delay=2.0, times=2)
    message = search_error(fast_config(server, "openalex", timeout=0.2, max_retries=1), QUERY)

    assert message == "openalex: no answer within 0.2 s, gave up after 1 retries"
    assert len(server.requests("openalex")) == 2


def test_a_slow_answer_then_a_fast_one_is_a_success(server: SourceServer) -> None:
    server.respond_next("openalex", delay=3.0)
    assert len(records(fast_config(server, "openalex", timeout=0.5), QUERY)) == 5
    assert len(server.requests("openalex")) == 2


def test_a_body_dripping_in_slowly_is_cut_at_the_timeout(server: SourceServer) -> None:
    server.respond_next("openalex", body=b'{"meta": {}, "results": []}' * 20, drip=0.05)
    started = time.monotonic()
    message = search_error(fast_config(server, "openalex", timeout=0.3, max_retries=0), QUERY)

    assert message == "openalex: no answer within 0.3 s, gave up after 0 retries"
    assert time.monotonic() - started < 1.5, "the whole exchange is bounded, not each read"


def test_a_refused_connection_is_retried_then_reported(server: SourceServer) -> None:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    config = fast_config(server, "crossref", max_retries=1)
    config = type(config)(**{**config.__dict__, "url": f"http://127.0.0.1:{port}/crossref"})

    assert (
        search_error(config, QUERY) == "crossref: connection failed (ConnectError), gave up after 1 retries"
    )


def test_a_body_over_the_bound_is_refused(server: SourceServer) -> None:
    message = search_error(fast_config(server, "openalex", max_response_bytes=1_000), QUERY)

    assert message == "response from openalex over 1000 bytes"


@pytest.mark.parametrize("body", [b'{"data": [{"paperId": ', b"[1, 2]", b"\xff\xfe not json", b"[" * 100_000])
def test_a_body_that_is_not_a_json_object_is_a_source_error(server: SourceServer, body: bytes) -> None:
    server.respond_next("s2", body=body)
    message = search_error(fast_config(server, "semantic_scholar"), QUERY)

    assert message.startswith("bad JSON from semantic_scholar: ")
    assert len(server.requests("s2")) == 1
