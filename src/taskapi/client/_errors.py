"""The client's own errors, and how an answer or a transport failure becomes an exception.

A caller's mistake raises what the Python API raises (``TaskNotFound``, ``TaskNotCancellable``,
``InvalidInput`` naming the field; ``PaperNotFound``, ``RunNotFound``, ``RunNotCancellable``), so code
written against ``TaskService`` handles the HTTP client's answers unchanged. What only a remote call can
meet derives from ``ClientError``: a refused token, an unavailable service, an answer that is not the
API's envelope (a proxy's HTML page), a connection that could not be made.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from taskapi.domain import (
    InvalidInput,
    StoreUnavailable,
    TaskNotCancellable,
    TaskNotFound,
    TaskPruned,
    TaskStatus,
)
from taskapi.papers.errors import PaperNotFound
from taskapi.run_records import RunNotCancellable, RunNotFound, RunStatus


class ClientError(Exception):
    """Base of what only a remote call can meet (never raised for a caller's mistake, which raises the
    Python API's own errors)."""


class ApiError(ClientError):
    """The API answered an error that has no more precise exception (a 405, a 500); ``status`` and
    ``message`` are the envelope's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Unauthorized(ApiError):
    """401: no token, or one the server does not know (``TASKAPI_TOKEN``)."""


class Forbidden(ApiError):
    """403: the token's role does not allow this call (a ``read`` token cannot create or cancel)."""


class ServiceUnavailable(ApiError, StoreUnavailable):
    """503: the service cannot reach its store right now; retried by reads and idempotent calls.

    Also a ``StoreUnavailable``, so code written against the Python API treats it the same way."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class ProtocolError(ClientError):
    """The answer is not the Task API's envelope: a proxy's HTML error page, another service at that
    address, a truncated body. The message says what came back, from where."""

    def __init__(self, url: str, status: int, problem: str, excerpt: str = "") -> None:
        shown = f": {excerpt!r}" if excerpt else ""
        super().__init__(f"{url} answered HTTP {status} that is not the Task API's answer ({problem}){shown}")
        self.url = url
        self.status = status


class ConnectionFailed(ClientError):
    """No answer: the connection was refused or timed out, the name did not resolve, TLS failed, or the
    connection broke before the answer. ``sent`` says whether the request may have reached the server
    (only then is a retry of a non-idempotent call unsafe); ``tls`` marks a failed TLS handshake."""

    def __init__(self, url: str, reason: str, *, sent: bool, tls: bool = False) -> None:
        super().__init__(f"cannot reach the Task API at {url}: {reason}")
        self.url = url
        self.reason = reason
        self.sent = sent
        self.tls = tls


class WaitTimeout(ClientError, TimeoutError):
    """``wait()`` ran out of time; ``task`` is the task as last seen (still pending or running)."""

    def __init__(self, task_id: int, timeout: float, status: TaskStatus | None) -> None:
        seen = "" if status is None else f" (last seen {status.value})"
        super().__init__(f"Task {task_id} did not end within {timeout:g} s{seen}")
        self.task_id = task_id
        self.status = status


class ChangesMissed(ClientError):
    """The stream could not replay everything missed since ``Last-Event-ID`` (more than the server
    keeps for a resume): reload what you show, then ``watch(last_event_id=resume_from)``."""

    def __init__(self, resume_from: int, message: str) -> None:
        super().__init__(message)
        self.resume_from = resume_from


@dataclass(frozen=True, slots=True)
class Subject:
    """What a call is about, so a 404 or a refused cancel becomes the Python API's exception."""

    kind: str  # "task", "paper" or "run"
    id: int
    cancel: bool = False


_NOT_CANCELLABLE = re.compile(r"cannot be cancelled: it is already (\w+)")
_PRUNED = re.compile(r"was pruned on (\S+) \(retention (\d+(?:\.\d+)?) (day|hour|minute|second)s?\)")
_SECONDS = {"day": 86_400, "hour": 3_600, "minute": 60, "second": 1}


def error_of(
    status: int, body: Mapping[str, Any], subject: Subject | None, headers: httpx.Headers
) -> Exception:
    """The exception an error envelope stands for."""
    message = str(body.get("message") or "")
    if status == 401:
        return Unauthorized(status, message)
    if status == 403:
        return Forbidden(status, message)
    if status == 503:
        return ServiceUnavailable(status, message, _retry_after(headers.get("retry-after")))
    if subject is not None and status == 404:
        found = _not_found(subject, message)
        if found is not None:
            return found
    if subject is not None and subject.cancel and status == 400:
        refused = _not_cancellable(subject, message)
        if refused is not None:
            return refused
    if status in (400, 413):
        return _invalid(body, message)
    return ApiError(status, message)


def _with_message(exc: Exception, message: str) -> Exception:
    """``exc`` saying what the server said (it may say more than the local default, e.g. when)."""
    if message:
        exc.args = (message,)
    return exc


def _not_found(subject: Subject, message: str) -> Exception | None:
    """A 404 that names the subject (not a wrong base URL's "Not found: /path")."""
    if subject.kind == "task" and message.startswith(f"Task {subject.id} "):
        pruned = _PRUNED.search(message)
        if pruned is not None:
            when = datetime.fromisoformat(pruned.group(1)).replace(tzinfo=UTC)
            seconds = float(pruned.group(2)) * _SECONDS[pruned.group(3)]
            return TaskPruned(subject.id, when, seconds)
        return _with_message(TaskNotFound(subject.id), message)
    if subject.kind == "paper" and message.startswith(f"Paper {subject.id} "):
        return PaperNotFound(subject.id, message)
    if subject.kind == "run" and message.startswith(f"Pipeline run {subject.id} "):
        return _with_message(RunNotFound(subject.id), message)
    return None


def _not_cancellable(subject: Subject, message: str) -> Exception | None:
    found = _NOT_CANCELLABLE.search(message)
    if found is None:
        return None
    if subject.kind == "run" and found.group(1) in RunStatus.__members__.values():
        return _with_message(RunNotCancellable(subject.id, RunStatus(found.group(1))), message)
    if subject.kind == "task" and found.group(1) in TaskStatus.__members__.values():
        return _with_message(TaskNotCancellable(subject.id, TaskStatus(found.group(1))), message)
    return None


def _invalid(body: Mapping[str, Any], message: str) -> InvalidInput:
    """``InvalidInput`` naming the first field the envelope lists (``limit``, ``tasks.3.task_type``)."""
    data = body.get("data")
    errors = data.get("errors") if isinstance(data, Mapping) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        return InvalidInput(str(first.get("field") or "request"), str(first.get("message") or message))
    return InvalidInput("request", message.removeprefix("Invalid request: "))


def _retry_after(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff decides


def transport_error(exc: httpx.TransportError, url: str) -> ConnectionFailed:
    """What an httpx transport failure means to the caller, worded for a person."""
    if _is_tls(exc):
        reason = (
            f"the TLS handshake failed ({_root(exc)}); is the server speaking plain HTTP? "
            "Then use an http:// URL"
        )
        return ConnectionFailed(url, reason, sent=False, tls=True)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        what = "timed out" if isinstance(exc, httpx.ConnectTimeout) else str(_root(exc)) or "failed"
        return ConnectionFailed(url, f"could not connect ({what})", sent=False)
    if isinstance(exc, httpx.ReadTimeout):
        return ConnectionFailed(url, "no answer within the read timeout", sent=True)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConnectionFailed(url, f"unsupported URL ({exc})", sent=False)
    return ConnectionFailed(url, f"the connection broke ({_root(exc) or type(exc).__name__})", sent=True)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _root(exc: BaseException) -> BaseException:
    return _chain(exc)[-1]


def _is_tls(exc: BaseException) -> bool:
    return any(isinstance(link, ssl.SSLError | ssl.CertificateError) for link in _chain(exc))


def may_have_arrived(exc: BaseException) -> bool:
    """Whether a failed attempt may have reached the server (so a resend may find it done)."""
    if isinstance(exc, ConnectionFailed):
        return exc.sent
    return isinstance(exc, ServiceUnavailable)
