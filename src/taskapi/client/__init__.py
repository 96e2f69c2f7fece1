"""``taskapi.client``: the Task API over HTTP, typed, sync (``TaskClient``) and async
(``AsyncTaskClient``), answering the Python API's records and raising its errors::

    from taskapi.client import TaskClient

    with TaskClient("http://tasks.internal:8000", token="...") as tasks:  # or TASKAPI_SERVER/TASKAPI_TOKEN
        task = tasks.create(1, "search", {"query": "graphene"}, retry=True)
        done = tasks.wait(task.id, timeout=600)
        print(done.status, done.result)

It loads no web framework or server (FastAPI, Starlette, uvicorn: a test keeps it so) and talks to
no database itself. The records it answers are the Python API's: ``taskapi.domain.Task``,
``TaskEvent`` and ``ListedTask``, ``taskapi.run_records.PipelineRun``, the papers library's ``Paper``,
``ListedPaper``, ``PaperDetail`` and ``PaperText``; only ``TaskChange`` (a stream message),
``Page`` and ``ImportedPapers`` are its own. Reads, cancels and keyed creates are retried on 503 and
connection errors (``RetryPolicy``); ``watch()`` resumes the live stream with ``Last-Event-ID``;
``wait()`` also polls while the stream cannot be had.
"""

from __future__ import annotations

from taskapi.client._async import AsyncTaskClient
from taskapi.client._calls import DEFAULT_SERVER, IDEMPOTENCY_HEADER, SERVER_ENV, TOKEN_ENV, Call
from taskapi.client._decode import ImportedPapers, Page, TaskChange
from taskapi.client._errors import (
    ApiError,
    ChangesMissed,
    ClientError,
    ConnectionFailed,
    Forbidden,
    ProtocolError,
    ServiceUnavailable,
    Unauthorized,
    WaitTimeout,
)
from taskapi.client._retry import RetryPolicy
from taskapi.client._sync import TaskClient

__all__ = [
    "DEFAULT_SERVER",
    "IDEMPOTENCY_HEADER",
    "SERVER_ENV",
    "TOKEN_ENV",
    "ApiError",
    "AsyncTaskClient",
    "Call",
    "ChangesMissed",
    "ClientError",
    "ConnectionFailed",
    "Forbidden",
    "ImportedPapers",
    "Page",
    "ProtocolError",
    "RetryPolicy",
    "ServiceUnavailable",
    "TaskChange",
    "TaskClient",
    "Unauthorized",
    "WaitTimeout",
]
