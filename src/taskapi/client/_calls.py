"""One shared layer of request building and answer decoding: each route is a ``Call`` (method, path,
query, body, headers, whether it may be resent, how its ``data`` decodes), built here once and sent by
the sync and the async client alike, which add only the I/O.

Also where the client's settings are read: the server's URL (``TASKAPI_SERVER``, default
``http://localhost:8000``) and the token (``TASKAPI_TOKEN``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import httpx

from taskapi.client import _decode as d
from taskapi.client._errors import ProtocolError, Subject, error_of
from taskapi.domain import (
    DEFAULT_LIST_LIMIT,
    Cursor,
    InvalidInput,
    ListedTask,
    Task,
    TaskEvent,
    TaskNotCancellable,
    TaskStatus,
    check_id,
    check_limit,
    encode_cursor,
)
from taskapi.papers.records import ListedPaper, PaperDetail
from taskapi.papers.texts import PaperText
from taskapi.run_records import PipelineRun

T = TypeVar("T")
Decoder = Callable[[Any, httpx.Headers], T]

DEFAULT_SERVER = "http://localhost:8000"
SERVER_ENV = "TASKAPI_SERVER"
TOKEN_ENV = "TASKAPI_TOKEN"  # noqa: S105 (the variable's name, not a secret)
TASKS = "/api/v1/tasks"
PAPERS = "/api/v1/papers"
PIPELINES = "/api/v1/pipelines"
STREAM = f"{TASKS}/events"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "taskapi-client/0.1"
_JSON = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and how to read its answer. ``resend`` says the call may be sent again after it may
    have reached the server (a read, an idempotent write, a create with an idempotency key); a call
    that certainly never left (the connection was refused) may always be sent again."""

    method: str
    path: str
    decode: Decoder[T]
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    resend: bool = False
    subject: Subject | None = None
    raw: bool = False  # the answer's bytes themselves (a PDF), not an envelope
    body_field: str = "body"  # what a body that is not JSON is named as (``params``)

    def content(self) -> bytes | None:
        """The body as JSON; ``InvalidInput`` for what JSON cannot hold (NaN, a set), checked here
        since a lenient encoder would send NaN as ``null``."""
        if self.body is None:
            return None
        try:
            return _JSON.encode(self.body).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidInput(self.body_field, f"must be JSON-serialisable: {exc}") from None

    def request_headers(self) -> dict[str, str]:
        if self.body is None:
            return self.headers
        return {**self.headers, "Content-Type": "application/json"}

    def answer(self, status: int, headers: httpx.Headers, content: bytes, url: str, *, resent: bool) -> T:
        """The decoded ``data`` of a success; the Python API's exception (or a ``ClientError``) for
        an error; ``ProtocolError`` for anything that is not the API's answer."""
        if self.raw and status == 200:
            return self.decode(content, headers)
        body = d.envelope(content, status, headers.get("content-type", ""), url)
        if 200 <= status < 300:
            try:
                return self.decode(body["data"], headers)
            except d.Malformed as exc:
                raise ProtocolError(url, status, str(exc)) from None
        error = error_of(status, body, self.subject, headers)
        if resent and self._done_before(error):
            return self.decode(None, headers)
        raise error

    def _done_before(self, error: Exception) -> bool:
        """A resent task cancel that finds the task cancelled: the first attempt did it."""
        return (
            self.subject is not None
            and self.subject.kind == "task"
            and self.subject.cancel
            and isinstance(error, TaskNotCancellable)
            and error.status is TaskStatus.CANCELLED
        )


def data_only(decode: Callable[[Any], T]) -> Decoder[T]:
    """A route whose answer is its ``data`` alone (no header matters)."""
    return lambda data, headers: decode(data)


def _paged(decode: Callable[[Any], list[T]]) -> Decoder[d.Page[T]]:
    """A list route: its items, and the next page's cursor from ``X-Next-Cursor`` (a full page)."""
    return lambda data, headers: d.Page(decode(data), headers.get("x-next-cursor"))


# -- settings ----------------------------------------------------------------------------------------


def server_url(base_url: str | None) -> httpx.URL:
    """The server's URL (argument, else ``TASKAPI_SERVER``, else ``http://localhost:8000``), checked:
    a URL that cannot be right fails here, naming itself, rather than at the first call."""
    text = base_url if base_url is not None else os.environ.get(SERVER_ENV) or DEFAULT_SERVER
    try:
        url = httpx.URL(text.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidInput("base_url", f"not a URL ({exc}): {text!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInput(
            "base_url", f"must be an http:// or https:// URL such as {DEFAULT_SERVER}, got {text!r}"
        )
    if url.query or url.fragment:
        raise InvalidInput("base_url", f"must not carry a query or fragment, got {text!r}")
    return url


def client_headers(token: str | None) -> dict[str, str]:
    """Headers of every request: the token (argument, else ``TASKAPI_TOKEN``) as a bearer."""
    secret = token if token is not None else os.environ.get(TOKEN_ENV) or None
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    return headers


# -- tasks -------------------------------------------------------------------------------------------


def create(
    project_id: int,
    task_type: str,
    params: Mapping[str, Any] | None,
    idempotency_key: str | None,
    retry: bool | None,
) -> Call[Task]:
    """A create; resent only with an idempotency key (the server then answers the same task), which
    ``retry=True`` generates when none is given. Without a key it is never resent once it may have
    reached the server."""
    key = idempotency_key or (str(uuid.uuid4()) if retry else None)
    resend = key is not None if retry is None else bool(retry)
    body = {"project_id": project_id, "task_type": task_type, "params": dict(params or {})}
    headers = {} if key is None else {IDEMPOTENCY_HEADER: key}
    return Call(
        "POST", TASKS, data_only(d.task_of), body=body, headers=headers, resend=resend, body_field="params"
    )


def create_many(
    specs: Sequence[tuple[int, str, Mapping[str, Any] | None]],
    idempotency_key: str | None,
    retry: bool | None,
) -> Call[list[int]]:
    """Create all of ``specs`` (``(project_id, task_type, params)``) or none; answers their ids in order."""
    key = idempotency_key or (str(uuid.uuid4()) if retry else None)
    resend = key is not None if retry is None else bool(retry)
    tasks = [{"project_id": p, "task_type": t, "params": dict(params or {})} for p, t, params in specs]
    headers = {} if key is None else {IDEMPOTENCY_HEADER: key}
    return Call(
        "POST",
        f"{TASKS}/batch",
        data_only(d.ids_of),
        body={"tasks": tasks},
        headers=headers,
        resend=resend,
        body_field="tasks",
    )


def get(task_id: int) -> Call[Task]:
    check_id("id", task_id)
    return Call(
        "GET", f"{TASKS}/{task_id}", data_only(d.task_of), resend=True, subject=Subject("task", task_id)
    )


def task_page(
    *,
    project_id: int | None,
    status: str | None,
    task_type: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    after: Cursor | str | None,
    limit: int,
) -> Call[d.Page[ListedTask]]:
    """One page of the list; ``after`` is a ``Cursor`` (as ``TaskService.list`` takes) or the
    ``X-Next-Cursor`` token of the page before."""
    cursor = encode_cursor(after) if isinstance(after, Cursor) else after
    params = d.params_of(
        {
            "project_id": project_id,
            "status": status,
            "task_type": task_type,
            "created_after": created_after,
            "created_before": created_before,
            "cursor": cursor,
            "limit": check_limit(limit),
        }
    )
    return Call("GET", TASKS, _paged(d.listed_tasks_of), params=params, resend=True)


def cancel(task_id: int) -> Call[None]:
    """A cancel, resent when it may not have arrived: a resend that finds the task cancelled is the
    first attempt's success."""
    check_id("id", task_id)
    subject = Subject("task", task_id, cancel=True)
    return Call("POST", f"{TASKS}/{task_id}/cancel", data_only(d.nothing), resend=True, subject=subject)


def cancel_many(project_id: int, status: str | None, task_type: str | None) -> Call[int]:
    """Cancel a project's pending and running tasks (only ``status``, only ``task_type``); resent when
    it may not have arrived, so after a resend the count is the resend's (what was left to cancel)."""
    body = {"project_id": project_id, "status": status, "task_type": task_type}
    return Call("POST", f"{TASKS}/cancel", data_only(d.field_of("cancelled", int)), body=body, resend=True)


def events(task_id: int) -> Call[list[TaskEvent]]:
    check_id("id", task_id)
    subject = Subject("task", task_id)
    return Call("GET", f"{TASKS}/{task_id}/events", data_only(d.events_of), resend=True, subject=subject)


# -- papers ------------------------------------------------------------------------------------------


def paper_page(
    *, project_id: int | None, q: str | None, include_duplicates: bool, cursor: str | None, limit: int
) -> Call[d.Page[ListedPaper]]:
    params = d.params_of(
        {
            "project_id": project_id,
            "q": q,
            "include_duplicates": include_duplicates or None,
            "cursor": cursor,
            "limit": check_limit(limit),
        }
    )
    return Call("GET", PAPERS, _paged(d.listed_papers_of), params=params, resend=True)


def paper(paper_id: int) -> Call[PaperDetail]:
    check_id("id", paper_id)
    subject = Subject("paper", paper_id)
    return Call("GET", f"{PAPERS}/{paper_id}", data_only(d.paper_detail_of), resend=True, subject=subject)


def paper_text(paper_id: int) -> Call[PaperText]:
    check_id("id", paper_id)
    subject = Subject("paper", paper_id)
    return Call("GET", f"{PAPERS}/{paper_id}/text", data_only(d.paper_text_of), resend=True, subject=subject)


def paper_pdf(paper_id: int) -> Call[bytes]:
    check_id("id", paper_id)
    return Call(
        "GET",
        f"{PAPERS}/{paper_id}/pdf",
        lambda content, headers: bytes(content),
        headers={"Accept": "application/pdf, application/json"},
        resend=True,
        subject=Subject("paper", paper_id),
        raw=True,
    )


def import_papers(project_id: int, records: Sequence[Mapping[str, Any]]) -> Call[d.ImportedPapers]:
    """An import; not resent once it may have arrived (a record without an identifier would be
    imported twice)."""
    body = {"project_id": project_id, "papers": [dict(record) for record in records]}
    return Call("POST", PAPERS, data_only(d.imported_of), body=body, body_field="papers")


# -- pipeline runs -----------------------------------------------------------------------------------


def start_run(
    project_id: int,
    query: str | None,
    *,
    sources: Sequence[str] | None,
    limit: int | None,
    steps: Sequence[str] | None,
    params: Mapping[str, Mapping[str, Any]] | None,
) -> Call[PipelineRun]:
    body: dict[str, Any] = {"project_id": project_id, "query": query}
    optional = {
        "sources": None if sources is None else list(sources),
        "limit": limit,
        "steps": None if steps is None else list(steps),
        "params": None if params is None else {step: dict(p) for step, p in params.items()},
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    return Call("POST", PIPELINES, data_only(d.run_of), body=body, body_field="params")


def run(run_id: int) -> Call[PipelineRun]:
    check_id("id", run_id)
    return Call(
        "GET", f"{PIPELINES}/{run_id}", data_only(d.run_of), resend=True, subject=Subject("run", run_id)
    )


def runs(project_id: int | None, limit: int = DEFAULT_LIST_LIMIT) -> Call[list[PipelineRun]]:
    params = d.params_of({"project_id": project_id, "limit": check_limit(limit)})
    return Call("GET", PIPELINES, data_only(d.runs_of), params=params, resend=True)


def cancel_run(run_id: int) -> Call[PipelineRun]:
    """Not resent once it may have arrived: a resend would answer "already cancelled" without the run."""
    check_id("id", run_id)
    subject = Subject("run", run_id, cancel=True)
    return Call("POST", f"{PIPELINES}/{run_id}/cancel", data_only(d.run_of), subject=subject)
