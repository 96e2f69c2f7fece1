"""``TaskClient``: the Task API over HTTP, blocking (httpx), with the Python API's records and errors.

Every method builds its request with ``taskapi.client._calls`` and reads the answer there; this module
only sends, retries (``RetryPolicy``) and waits. ``AsyncTaskClient`` is the same over ``asyncio``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource

from taskapi.client import _calls as calls
from taskapi.client._calls import STREAM, Call
from taskapi.client._decode import ImportedPapers, Page, TaskChange
from taskapi.client._errors import ClientError, WaitTimeout, may_have_arrived, transport_error
from taskapi.client._retry import RetryPolicy
from taskapi.client._sse import StreamEnded, StreamState, transient
from taskapi.domain import DEFAULT_LIST_LIMIT, Cursor, ListedTask, Task, TaskEvent, TaskStatus, check_id
from taskapi.papers.records import ListedPaper, PaperDetail
from taskapi.papers.texts import PaperText
from taskapi.run_records import PipelineRun

T = TypeVar("T")
# Aliases for annotations inside the class, where ``list`` names a method.
_Ids = list[int]
_Events = list[TaskEvent]
_Runs = list[PipelineRun]
Specs = Sequence[tuple[int, str, Mapping[str, Any] | None]]


class TaskClient:
    """The Task API at ``base_url`` (default ``TASKAPI_SERVER``, else ``http://localhost:8000``) with
    ``token`` (default ``TASKAPI_TOKEN``). Use it in a ``with`` block, or ``close()`` it.

    Reads and idempotent calls are retried on a 503 and on connection errors under ``retry``; a
    create is retried only with an idempotency key (``create(..., retry=True)`` makes one). ``timeout``
    bounds each request; ``give_up_after`` bounds how long ``watch``/``wait`` try to reconnect."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        give_up_after: float = 60.0,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = calls.server_url(base_url)
        self.retry = retry or RetryPolicy()
        self.give_up_after = give_up_after
        self._root = str(self.base_url).rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=calls.client_headers(token),
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TaskClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------------------------

    def send(self, call: Call[T]) -> T:
        """Send ``call``, retried as its kind allows; its decoded answer, or the error it stands for.

        The first try goes out directly (most calls succeed: no retry machinery on the hot path);
        after a failure a retry may cure, tenacity replays that failure as its first attempt, so its
        waits and limits count it."""
        try:
            return self._once(call, False)
        except ClientError as exc:
            if not self.retry.may_retry(call, exc):
                raise
            first: ClientError | None = exc
            arrived = may_have_arrived(exc)
        for attempt in self.retry.retrying(call):
            with attempt:
                try:
                    if first is not None:
                        failure, first = first, None
                        raise failure
                    return self._once(call, arrived)
                except ClientError as exc:
                    arrived = arrived or may_have_arrived(exc)
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    def _once(self, call: Call[T], resent: bool) -> T:
        url = self._root + call.path
        try:
            response = self._http.request(
                call.method,
                call.path,
                params=call.params or None,
                content=call.content(),
                headers=call.request_headers(),
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from None
        return call.answer(response.status_code, response.headers, response.content, url, resent=resent)

    # -- tasks ---------------------------------------------------------------------------------------

    def create(
        self,
        project_id: int,
        task_type: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        retry: bool | None = None,
    ) -> Task:
        """Create a task. With ``idempotency_key`` (or ``retry=True``, which makes one) the create is
        retried after a 503 or a broken connection, and the server answers the same task for the same
        key within a day; without, it is never sent twice once it may have arrived."""
        return self.send(calls.create(project_id, task_type, params, idempotency_key, retry))

    def create_many(
        self, specs: Specs, *, idempotency_key: str | None = None, retry: bool | None = None
    ) -> _Ids:
        """Create all of ``specs`` (``(project_id, task_type, params)``) or, if one is invalid
        (``InvalidInput`` naming ``tasks.3.task_type``), none; answers the new ids in order."""
        return self.send(calls.create_many(specs, idempotency_key, retry))

    def get(self, task_id: int) -> Task:
        """One task in full; ``TaskNotFound`` (``TaskPruned`` once retention deleted it) if none."""
        return self.send(calls.get(task_id))

    def page(
        self,
        *,
        project_id: int | None = None,
        status: str | None = None,
        task_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        after: Cursor | str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
    ) -> Page[ListedTask]:
        """One page of tasks, newest first; pass its ``next_cursor`` as ``after`` for the next one."""
        return self.send(
            calls.task_page(
                project_id=project_id,
                status=status,
                task_type=task_type,
                created_after=created_after,
                created_before=created_before,
                after=after,
                limit=limit,
            )
        )

    def list(
        self,
        *,
        project_id: int | None = None,
        status: str | None = None,
        task_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int = DEFAULT_LIST_LIMIT,
    ) -> Iterator[ListedTask]:
        """Every matching task, newest first, fetched a page at a time as the iteration goes."""
        after: str | None = None
        while True:
            found = self.page(
                project_id=project_id,
                status=status,
                task_type=task_type,
                created_after=created_after,
                created_before=created_before,
                after=after,
                limit=page_size,
            )
            yield from found.items
            if found.next_cursor is None:
                return
            after = found.next_cursor

    def cancel(self, task_id: int) -> None:
        """Cancel a pending or running task; ``TaskNotCancellable`` once it has ended."""
        self.send(calls.cancel(task_id))

    def cancel_many(self, project_id: int, *, status: str | None = None, task_type: str | None = None) -> int:
        """Cancel a project's pending and running tasks (only ``status``/``task_type``); how many."""
        return self.send(calls.cancel_many(project_id, status, task_type))

    def events(self, task_id: int) -> _Events:
        """The task's timeline, oldest first."""
        return self.send(calls.events(task_id))

    # -- the live stream -----------------------------------------------------------------------------

    def _state(
        self, project_id: int | None, task_id: int | None, last: int | None, timeout: float | None
    ) -> StreamState:
        return StreamState(
            project_id=project_id,
            task_id=task_id,
            last_event_id=last,
            timeout=timeout,
            policy=self.retry,
            give_up_after=self.give_up_after,
            url=self._root + STREAM,
        )

    @contextmanager
    def _stream(self, state: StreamState) -> Iterator[Iterator[TaskChange]]:
        """One connection of the stream, open and checked when the block starts (so the server has
        subscribed it); every failure comes out as a ``ClientError``."""
        connect = state.connect()
        try:
            with self._http.stream(
                "GET", STREAM, params=connect.params, headers=connect.headers, timeout=connect.timeout
            ) as response:
                content = b"" if response.status_code == 200 else response.read()
                state.opened(response.status_code, response.headers, content)
                yield self._changes(state, EventSource(response))
        except (httpx.TransportError, ClientError) as exc:
            raise state.failure(exc) from None

    @staticmethod
    def _changes(state: StreamState, source: EventSource) -> Iterator[TaskChange]:
        for sse in source.iter_sse():
            change = state.message(sse)
            if change is not None:
                yield change
        raise StreamEnded("the server ended the stream")

    def watch(
        self,
        *,
        project_id: int | None = None,
        task_id: int | None = None,
        last_event_id: int | None = None,
        timeout: float | None = None,
        on_connect: Callable[[bool], None] | None = None,
    ) -> Iterator[TaskChange]:
        """The changes of every task (a project's, one task's) as they happen, from the live stream;
        with ``last_event_id``, first those after it. Reconnects by itself (resuming after the last
        change received, so none is lost or repeated) until ``give_up_after`` seconds of failures;
        ends after ``timeout`` seconds if given. ``ChangesMissed`` if the server could not replay.

        ``on_connect(resumed)`` is called each time a connection is open (the server has subscribed
        it) and before its first change, ``resumed`` saying whether it resumes after a change already
        received: a caller that shows the tasks reads their state there when not resuming, and so
        misses no change between its reading and the stream."""
        state = self._state(project_id, task_id, last_event_id, timeout)
        while not state.expired():
            try:
                with self._stream(state) as changes:
                    if on_connect is not None:
                        on_connect(state.last_event_id is not None)
                    for change in changes:
                        yield change
                        if state.expired() or state.stale():
                            break
            except ClientError as exc:
                time.sleep(state.failed(exc))

    def wait(self, task_id: int, timeout: float | None = None, *, poll_interval: float = 1.0) -> Task:
        """The task once it has ended (completed, failed or cancelled), in full. Follows the live
        stream; while the stream cannot be reached it polls the task every ``poll_interval`` s or
        faster. ``WaitTimeout`` after ``timeout`` seconds; ``TaskNotFound`` if there is no such task."""
        check_id("id", task_id)
        state = self._state(None, task_id, None, timeout)
        seen: TaskStatus | None = None
        while not state.expired():
            try:
                with self._stream(state) as changes:
                    if state.last_event_id is None:  # what happened before the stream: read it
                        task = self.get(task_id)
                        if task.status.is_final:
                            return task
                        seen = task.status
                    for change in changes:
                        seen = change.status
                        if seen.is_final:
                            return self.get(task_id)
                        if state.stale():
                            break
            except ClientError as exc:
                delay = min(state.failed(exc, polling=True), poll_interval)
                polled = self._poll(task_id)
                if polled is not None:
                    if polled.status.is_final:
                        return polled
                    seen, delay = polled.status, poll_interval
                    state.reachable()
                remaining = state.remaining()
                time.sleep(delay if remaining is None else min(delay, remaining))
        raise WaitTimeout(task_id, timeout or 0.0, seen)

    def _poll(self, task_id: int) -> Task | None:
        """The task, or ``None`` while the server cannot be reached."""
        try:
            return self.get(task_id)
        except ClientError as exc:
            if transient(exc):
                return None
            raise

    # -- papers --------------------------------------------------------------------------------------

    def papers_page(
        self,
        project_id: int | None = None,
        *,
        q: str | None = None,
        include_duplicates: bool = False,
        cursor: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
    ) -> Page[ListedPaper]:
        """One page of a project's papers, newest first, or ranked by the full-text index with ``q``."""
        return self.send(
            calls.paper_page(
                project_id=project_id, q=q, include_duplicates=include_duplicates, cursor=cursor, limit=limit
            )
        )

    def papers(
        self,
        project_id: int | None = None,
        *,
        q: str | None = None,
        include_duplicates: bool = False,
        page_size: int = DEFAULT_LIST_LIMIT,
    ) -> Iterator[ListedPaper]:
        """Every matching paper, a page at a time as the iteration goes."""
        cursor: str | None = None
        while True:
            found = self.papers_page(
                project_id, q=q, include_duplicates=include_duplicates, cursor=cursor, limit=page_size
            )
            yield from found.items
            if found.next_cursor is None:
                return
            cursor = found.next_cursor

    def paper(self, paper_id: int) -> PaperDetail:
        """One paper in full with its text summary; ``PaperNotFound`` if none."""
        return self.send(calls.paper(paper_id))

    def paper_text(self, paper_id: int) -> PaperText:
        return self.send(calls.paper_text(paper_id))

    def paper_pdf(self, paper_id: int) -> bytes:
        """The stored PDF; ``PaperNotFound`` (``PaperFileNotFound``'s message) when there is none."""
        return self.send(calls.paper_pdf(paper_id))

    def import_papers(self, project_id: int, records: Sequence[Mapping[str, Any]]) -> ImportedPapers:
        """Import 1..10,000 records (all or none; ``InvalidInput`` names ``papers.3``)."""
        return self.send(calls.import_papers(project_id, records))

    # -- pipeline runs -------------------------------------------------------------------------------

    def start_run(
        self,
        project_id: int,
        query: str | None = None,
        *,
        sources: Sequence[str] | None = None,
        limit: int | None = None,
        steps: Sequence[str] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> PipelineRun:
        """Start a pipeline run (its first step is a pending task when this returns)."""
        return self.send(
            calls.start_run(project_id, query, sources=sources, limit=limit, steps=steps, params=params)
        )

    def run(self, run_id: int) -> PipelineRun:
        return self.send(calls.run(run_id))

    def runs(self, project_id: int | None = None, limit: int = DEFAULT_LIST_LIMIT) -> _Runs:
        """The newest runs (of a project), newest first."""
        return self.send(calls.runs(project_id, limit))

    def cancel_run(self, run_id: int) -> PipelineRun:
        """Cancel a running run; ``RunNotCancellable`` once it has ended."""
        return self.send(calls.cancel_run(run_id))
