"""What only a server can meet, as a person sees it: each is one line on stderr and an exit code of its
own, never a traceback or a JSON decoding error. A refused token (4), a port nobody listens on, TLS
spoken to a plain HTTP port (5), a proxy's HTML error page or another service (6), a server whose
store is down (3), and the usage errors of the options themselves (2)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli_remote.conftest import OPERATE, READ, TOKENS, Served, invoke, one_line_failure, serving
from tests.helpers.server import free_port

pytestmark = pytest.mark.slow

PROXY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server that wants tokens: ``read`` may read, ``operate`` also create and cancel."""
    root = tmp_path_factory.mktemp("guarded")
    with serving(f"sqlite:///{root / 'x.db'}", root / "serve.log", {"TASKAPI_API_TOKENS": TOKENS}) as server:
        yield server


@contextmanager
def answering(status: int, content_type: str, body: bytes) -> Iterator[str]:
    """An HTTP server on a thread that answers every request with ``status`` and ``body``: a proxy's
    error page, or some other service at the address the CLI was given."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads the CLI's output, not this server's."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- tokens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["list"], ["show", "1"], ["watch", "1"], ["papers", "list"], ["pipeline", "show", "1"]]
)
def test_no_token_or_an_unknown_one_exits_4_naming_the_token(guarded: Served, command: list[str]) -> None:
    for token in ([], ["--token", "not-a-token"]):
        line = one_line_failure(invoke(*command, "--server", guarded.base_url, *token), 4)
        assert "refused the token (HTTP 401" in line and "--token" in line
        assert "not-a-token" not in line


def test_a_read_token_reads_but_may_not_write(guarded: Served) -> None:
    created = invoke("submit", "search", "-p", "1", "--server", guarded.base_url, "--token", OPERATE)
    assert created.exit_code == 0, created.stderr
    reader = ["--server", guarded.base_url, "--token", READ]
    assert invoke("list", "--json", *reader).exit_code == 0
    for command in (["submit", "ocr", "-p", "1"], ["cancel", "1"], ["cancel", "-p", "1", "--yes"]):
        line = one_line_failure(invoke(*command, *reader), 4)
        assert "refused this to the token's role (HTTP 403" in line
    shown = invoke("show", "1", "--json", *reader)
    assert shown.exit_code == 0 and '"status": "pending"' in shown.stdout  # nothing was cancelled


def test_the_server_and_token_come_from_the_environment(guarded: Served) -> None:
    env = {"TASKAPI_SERVER": guarded.base_url, "TASKAPI_TOKEN": READ}
    listed = invoke("list", "--json", env=env)
    assert listed.exit_code == 0 and listed.stdout.startswith("["), listed.stderr
    assert one_line_failure(invoke("list", env={"TASKAPI_SERVER": guarded.base_url}), 4)


# -- no connection, not the API ----------------------------------------------------------------------


def test_a_port_nobody_listens_on_exits_5() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for command in (["list"], ["submit", "search", "-p", "1"], ["watch", "--project", "1"]):
        line = one_line_failure(invoke(*command, "--server", url), 5)
        assert line.startswith(f"error: cannot reach the Task API at {url}/") and "could not connect" in line


def test_tls_to_a_plain_http_port_exits_5_and_says_to_use_http(guarded: Served) -> None:
    url = guarded.base_url.replace("http://", "https://")
    line = one_line_failure(invoke("list", "--server", url), 5)
    assert "TLS handshake failed" in line and "use an http:// URL" in line


@pytest.mark.parametrize(
    ("status", "content_type", "body", "says"),
    [
        (502, "text/html", PROXY_PAGE, "answered HTTP 502 that is not the Task API's answer"),
        (200, "text/html", b"<html>a landing page</html>", "content type 'text/html'"),
        (200, "application/json", b'{"detail": "Not Found"}', "not the {code, message, data} envelope"),
        (200, "application/json", b'{"code": 200, "message": "ok", "da', "the body is not valid JSON"),
    ],
)
def test_an_answer_that_is_not_the_api_exits_6(
    status: int, content_type: str, body: bytes, says: str
) -> None:
    with answering(status, content_type, body) as url:
        for command in (["list"], ["show", "1", "--json"], ["papers", "list"], ["submit", "ocr", "-p", "1"]):
            line = one_line_failure(invoke(*command, "--server", url), 6)
            assert says in line, line


def test_a_server_whose_store_is_down_exits_3() -> None:
    body = b'{"code": 503, "message": "Task store unavailable", "data": null}'
    with answering(503, "application/json", body) as url:
        line = one_line_failure(invoke("list", "--server", url), 3)
    assert line == "error: task store unavailable: the server answered 503: Task store unavailable"


# -- the options themselves --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["list", "--server", "http://127.0.0.1:1", "--db", "sqlite:///x.db"], "give --db (a database) or"),
        (["list", "--token", "t", "--db", "sqlite:///x.db"], "--token is for a server"),
        (["list", "--server", "ftp://example.org"], "--server: must be an http:// or https:// URL"),
        (["list", "--server", "http://"], "--server: "),
        (["papers", "import", "x.bib", "-p", "1", "--server", "http://h:1", "--data-dir", "d"], "--data-dir"),
    ],
)
def test_bad_server_options_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    assert says in one_line_failure(invoke(*args), 2)


def test_serve_worker_and_migrate_stay_local() -> None:
    for command in ("serve", "worker", "migrate"):
        result = invoke(command, "--server", "http://127.0.0.1:1")
        assert result.exit_code == 2 and "No such option: --server" in result.stderr
