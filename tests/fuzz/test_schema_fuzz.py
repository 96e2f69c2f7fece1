"""Schema fuzzing of the whole HTTP API with schemathesis, driven by the OpenAPI document a real
``taskapi serve`` serves (SQLite, the papers and pipelines routes included).

Every operation is called with data the document says is valid and with data it says is not, and
every answer must keep the contract: no 5xx, every answer in the ``{"code","message","data"}``
envelope (``code`` equal to the status; the PDF and ``/metrics`` excepted), a status the document
lists for the operation, a body that matches the schema it documents, the content type it documents,
and schema-invalid input refused with a 4xx. Schema-valid input must be accepted too
(``positive_data_acceptance``), except on the operations listed in ``POSITIVE_EXCEPTIONS`` with
the reason each cannot.

The live stream (``GET /api/v1/tasks/events``) is left out: its answer never ends, so a generated
case would hang; its bad input is covered by ``tests/e2e/test_events_stream*.py``.

Bounded for the suite: ``TASKAPI_FUZZ_EXAMPLES`` cases per operation and phase (default 100, the
same cases every run); the long run (``make fuzz``: ``TASKAPI_FUZZ_EXAMPLES=2000``) draws new cases
each time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]
from schemathesis.checks import CheckContext, CheckFunction
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from taskapi.api import create_app
from taskapi.domain import utcnow
from taskapi.papers import PaperFile
from taskapi.papers.files import LocalFileStore
from taskapi.papers.repository import PapersRepository
from taskapi.papers.service import PaperService
from taskapi.service import TaskService
from taskapi.store.sqlite import SQLiteStore
from tests.helpers.server import ServerProcess, running_server

pytestmark = pytest.mark.slow

SUITE_EXAMPLES = 100
EXAMPLES = int(os.environ.get("TASKAPI_FUZZ_EXAMPLES", SUITE_EXAMPLES))
"""Cases per operation and phase: about 100-200 per operation in all at the suite's 100."""
STREAM = "/api/v1/tasks/events"

POSITIVE_EXCEPTIONS = {
    "POST /api/v1/tasks/{id}/cancel": "the contract answers 400 for a task that already finished",
    "POST /api/v1/pipelines/{id}/cancel": "a run that already ended answers 400, as a finished task does",
    "POST /api/v1/pipelines": "a run's rules span fields (the order of steps, query required by search"
    " and keyword_expand, sources and limit only with search, each step's params checked by its"
    " task type's validator): JSON Schema cannot say them all; the 400 names the field",
    "POST /api/v1/tasks": "params are checked by the task type's validator, which the document knows"
    " only as an object; the 400 names the param",
    "POST /api/v1/tasks/batch": "as POST /api/v1/tasks, for each item",
    "GET /api/v1/tasks": "a cursor of the right form that this API did not issue is refused (400 naming"
    " cursor): the document can give a cursor's form, not which ones were issued",
    "GET /api/v1/papers": "q must leave a word to search for, and a cursor is valid only for the query"
    " that issued it",
    "POST /api/v1/papers": "a record's identifiers are checked for their form (DOI, arXiv, PubMed, ...)"
    " and it needs a title or one of them; the document describes a record as an object",
}
"""Operations where schema-valid input may rightly answer 400 (input the document cannot describe),
and why; the other checks still hold there."""

UNENVELOPED = {"GET /metrics", "GET /api/v1/papers/{id}/pdf"}
"""Operations whose 200 is not JSON (Prometheus text, the PDF); their errors are still enveloped."""


@schemathesis.check
def envelope(ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]) -> bool | None:
    """Every JSON answer, and every error, is exactly ``{"code","message","data"}`` with ``code``
    equal to the HTTP status and a message to show."""
    is_error = response.status_code >= 400
    if not is_error and case.operation.label in UNENVELOPED:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"not JSON: {content_type!r}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"code", "message", "data"}, f"not the envelope: {body!r}"
    assert body["code"] == response.status_code, f"code {body['code']} != status {response.status_code}"
    assert isinstance(body["message"], str) and body["message"], f"no message: {body!r}"
    assert "Traceback" not in response.text
    return True


BASE_CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
    envelope,
]


def _seed(base: str, db: Path, data_dir: Path) -> None:
    """Something for the ``{id}`` routes to find: papers (the first with a PDF), tasks (pending: no
    worker runs), a run."""
    with httpx.Client(base_url=base, timeout=30) as client:
        papers = [{"title": f"Paper {n}", "year": 2000 + n, "doi": f"10.1000/seed.{n}"} for n in range(1, 4)]
        assert client.post("/api/v1/papers", json={"project_id": 1, "papers": papers}).status_code == 201
        for n in range(3):
            body = {"project_id": 1, "task_type": "keyword_expand", "params": {"keywords": [f"k{n}"]}}
            assert client.post("/api/v1/tasks", json=body).status_code == 201
        run = {"project_id": 1, "steps": ["dedup", "index"]}
        assert client.post("/api/v1/pipelines", json=run).status_code == 201
    _attach_pdf(db, data_dir, paper_id=1)


def _attach_pdf(db: Path, data_dir: Path, paper_id: int) -> None:
    """A real one-page PDF stored for the paper, as the crawl step stores one (the import takes none)."""
    pdf = data_dir.parent / "seed.pdf"
    page = canvas.Canvas(str(pdf))
    page.drawString(72, 720, "A paper to fetch")
    page.save()
    store = SQLiteStore(db)
    try:
        stored = LocalFileStore(data_dir).put_file(pdf)
        file = PaperFile(stored.sha256, stored.size, None, "application/pdf", stored.path, utcnow())
        PapersRepository(store).file_attach(paper_id, file)
    finally:
        store.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``taskapi serve`` on SQLite with the papers routes, no embedded worker (handlers would reach
    the network), seeded."""
    root: Path = tmp_path_factory.mktemp("fuzz")
    env = {"TASKAPI_RUN_WORKER": "false", "TASKAPI_DATA_DIR": str(root / "data")}
    with running_server(root / "x.db", root / "server.log", env=env) as server:
        _seed(server.base_url, server.db_path, root / "data")
        yield server


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One keep-alive connection for every case (a connection per case costs both sides more than
    most cases do)."""
    with requests.Session() as http:
        yield http


def _document() -> dict[str, Any]:
    """The OpenAPI document ``taskapi serve`` serves, built by the same ``create_app`` call (without
    tokens, with the papers routes) at collection time, so that each operation is a test of its own;
    ``test_the_fuzzed_document_is_the_served_one`` checks that it is the served one."""
    with tempfile.TemporaryDirectory(prefix="taskapi-fuzz-doc-") as root:
        store = SQLiteStore(Path(root) / "doc.db")
        try:
            store.migrate()
            papers = PaperService(PapersRepository(store), LocalFileStore(Path(root) / "data"))
            document: dict[str, Any] = create_app(TaskService(store), papers=papers).openapi()
        finally:
            store.close()
    return document


REFUSALS = ["400", "404", "405", "413", "415"]
"""How the API refuses schema-invalid input: 413 too, when a body is over the size limit before it is
over a ``maxItems`` (a batch of 10,001 tasks)."""

DOCUMENT = _document()
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG).exclude(path=STREAM)


def test_the_fuzzed_document_is_the_served_one(served: ServerProcess) -> None:
    assert httpx.get(f"{served.base_url}/openapi.json", timeout=30).json() == DOCUMENT
    # and the seed gives the {id} routes something to answer 200 with, the PDF included
    pdf = httpx.get(f"{served.base_url}/api/v1/papers/1/pdf", timeout=30)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=EXAMPLES <= SUITE_EXAMPLES,  # the suite's run is reproducible, a long one explores
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_the_contract(
    case: schemathesis.Case[Any], served: ServerProcess, session: requests.Session
) -> None:
    label = case.operation.label
    checks = list(BASE_CHECKS)
    if label not in POSITIVE_EXCEPTIONS:
        checks.append(positive_data_acceptance)
    case.call_and_validate(base_url=served.base_url, session=session, checks=checks, timeout=30)
