"""``RemoteBackend``: the commands against a Task API server, through ``TaskClient``.

The client answers the Python API's records and raises its errors (``TaskNotFound``, ``InvalidInput``
naming the field, ``ServiceUnavailable`` as a ``StoreUnavailable``), so the commands print the same
and exit the same as on a database. What only a server can meet becomes a one-line message and an
exit code of its own (``connect``): 4 a refused token, 5 no connection (refused, timed out, TLS), 6 an
answer that is not the Task API's (a proxy's HTML page). Differences that remain, by nature:

- tasks created or cancelled here are the token's in their timeline, not ``cli``'s;
- ``papers import`` reads the export here and sends its records (``POST /api/v1/papers``, in chunks
  of 10,000); the local PDFs it names cannot be sent (the API has no upload), so none is attached;
- a pipeline run's steps carry their tasks' progress, read with one ``get`` per step still moving.

Input is checked here first with the services' own rules (``check_new_task``, ``plan_run``...), so a
mistake reads as it does on a database (the API's request validation words some differently); the
server checks again, with its handlers' params rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from taskapi.cli.exits import (
    EXIT_NO_CONNECTION,
    EXIT_PROTOCOL,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CommandFailed,
    fail,
)
from taskapi.cli.reading import TaskPage
from taskapi.cli.stream import StreamFeed
from taskapi.client import (
    ApiError,
    ClientError,
    ConnectionFailed,
    Forbidden,
    ProtocolError,
    ServiceUnavailable,
    TaskClient,
    Unauthorized,
)
from taskapi.domain import InvalidInput, Task, TaskEvent, TaskNotFound, check_id
from taskapi.papers.formats import read_records
from taskapi.papers.records import PaperDetail, PaperRecord
from taskapi.papers.service import MAX_IMPORT, ImportFileResult, PaperPage
from taskapi.run_records import PipelineRun, RunStep
from taskapi.runs import plan_run
from taskapi.service import check_new_task, check_status, check_task_type

RECORD_FIELDS = (
    "title",
    "abstract",
    "authors",
    "year",
    "venue",
    "volume",
    "issue",
    "pages",
    "doi",
    "arxiv_id",
    "s2_id",
    "openalex_id",
    "pmid",
    "pdf_url",
    "oa_status",
)
"""The fields of a paper record that ``POST /api/v1/papers`` takes."""


def worded(exc: ClientError) -> CommandFailed:
    """What a failure only a server can meet means to the person at the terminal, and its exit code."""
    if isinstance(exc, Unauthorized):
        return CommandFailed(
            f"the server refused the token (HTTP 401: {exc.message}): give --token or TASKAPI_TOKEN",
            EXIT_REFUSED,
        )
    if isinstance(exc, Forbidden):
        return CommandFailed(
            f"the server refused this to the token's role (HTTP 403: {exc.message})", EXIT_REFUSED
        )
    if isinstance(exc, ServiceUnavailable):
        return CommandFailed(
            f"task store unavailable: the server answered 503: {exc.message}", EXIT_UNAVAILABLE
        )
    if isinstance(exc, ConnectionFailed):
        return CommandFailed(str(exc), EXIT_NO_CONNECTION)
    if isinstance(exc, ProtocolError):
        return CommandFailed(str(exc), EXIT_PROTOCOL)
    if isinstance(exc, ApiError):
        return CommandFailed(f"the server answered an error this command cannot use: {exc}", EXIT_PROTOCOL)
    return CommandFailed(f"the live stream failed: {exc}", EXIT_PROTOCOL)


@contextmanager
def connect(server: str, token: str | None) -> Iterator[RemoteBackend]:
    """The backend on ``server`` for one command; what only a server can meet is worded here."""
    try:
        client = TaskClient(server, token=token)
    except InvalidInput as exc:
        fail(f"--server: {exc.detail}", EXIT_USAGE)
    try:
        with client:
            yield RemoteBackend(client, token)
    except ClientError as exc:
        raise worded(exc) from None


def _check_filters(project_id: int | None, status: str | None, task_type: str | None) -> None:
    if project_id is not None:
        check_id("project_id", project_id)
    if status is not None:
        check_status(status)
    if task_type is not None:
        check_task_type(task_type)


def record_json(record: PaperRecord) -> dict[str, Any]:
    """A record of an import file as ``POST /api/v1/papers`` takes it (the fields it has)."""
    values = {name: getattr(record, name) for name in RECORD_FIELDS}
    return {name: value for name, value in values.items() if value not in (None, [])}


class RemoteBackend:
    """The commands' ``Backend`` on a Task API server."""

    def __init__(self, client: TaskClient, token: str | None) -> None:
        self.client = client
        self._token = token
        self._ended: dict[int, Task] = {}  # ended tasks of a run's steps: they no longer move

    # -- tasks

    def get(self, task_id: int) -> Task:
        return self.client.get(task_id)

    def get_many(self, task_ids: Sequence[int]) -> list[Task]:
        """The tasks that exist, by id (one request each: the API reads tasks one at a time)."""
        found = []
        for task_id in task_ids:
            try:
                found.append(self.client.get(task_id))
            except TaskNotFound:
                continue
        return found

    def task_page(
        self,
        *,
        project_id: int | None = None,
        status: str | None = None,
        task_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        after: str | None = None,
        limit: int,
    ) -> TaskPage:
        _check_filters(project_id, status, task_type)
        page = self.client.page(
            project_id=project_id,
            status=status,
            task_type=task_type,
            created_after=created_after,
            created_before=created_before,
            after=after,
            limit=limit,
        )
        return TaskPage(page.items, page.next_cursor)

    def create(self, project_id: int, task_type: str, params: Mapping[str, Any]) -> Task:
        check_new_task(project_id, task_type, params)
        # With an idempotency key: a create whose answer was lost is resent safely.
        return self.client.create(project_id, task_type, params, retry=True)

    def cancel(self, task_id: int) -> None:
        self.client.cancel(task_id)

    def cancel_many(self, project_id: int, status: str | None, task_type: str | None) -> int:
        check_id("project_id", project_id)
        _check_filters(project_id, status, task_type)
        return self.client.cancel_many(project_id, status=status, task_type=task_type)

    def events(self, task_id: int) -> list[TaskEvent]:
        return self.client.events(task_id)

    # -- papers

    def paper_page(
        self, project_id: int | None, q: str | None, limit: int, cursor: str | None, include_duplicates: bool
    ) -> PaperPage:
        if project_id is not None:
            check_id("project_id", project_id)
        page = self.client.papers_page(
            project_id, q=q, include_duplicates=include_duplicates, cursor=cursor, limit=limit
        )
        return PaperPage(page.items, page.next_cursor)

    def paper_detail(self, paper_id: int) -> PaperDetail:
        return self.client.paper(paper_id)

    def import_file(self, project_id: int, path: Path, fmt: str | None) -> tuple[ImportFileResult, list[str]]:
        """The export read here (a file that does not parse sends nothing), its records sent in chunks;
        the PDFs it names stay here: those that exist are answered apart, to be warned about."""
        check_id("project_id", project_id)
        imported = read_records(path, fmt)
        records = [record_json(item.record) for item in imported]
        created = merged = 0
        ids: list[int] = []
        for start in range(0, len(records), MAX_IMPORT):
            answer = self.client.import_papers(project_id, records[start : start + MAX_IMPORT])
            created, merged, ids = created + answer.created, merged + answer.merged, ids + answer.ids
        missing = list(dict.fromkeys(str(p) for item in imported for p in item.missing_files))
        unsent = list(dict.fromkeys(str(p) for item in imported for p in item.pdf_files))
        return ImportFileResult(created, merged, ids, 0, missing + unsent), unsent

    # -- pipeline runs

    def run_start(
        self,
        project_id: int,
        query: str | None,
        *,
        sources: list[str] | None,
        limit: int | None,
        steps: list[str] | None,
        params: dict[str, Any] | None,
    ) -> PipelineRun:
        plan_run(project_id, query, sources=sources, limit=limit, steps=steps, params=params)
        run = self.client.start_run(
            project_id, query, sources=sources, limit=limit, steps=steps, params=params
        )
        return self._with_progress(run)

    def run_get(self, run_id: int) -> PipelineRun:
        return self._with_progress(self.client.run(run_id))

    def run_cancel(self, run_id: int) -> PipelineRun:
        return self._with_progress(self.client.cancel_run(run_id))

    def _with_progress(self, run: PipelineRun) -> PipelineRun:
        """The run with its steps' progress, which a run's answer leaves out: each step's task is read
        (once it has ended, never again)."""
        return replace(run, steps=tuple(self._step(step) for step in run.steps))

    def _step(self, step: RunStep) -> RunStep:
        if step.task_id is None:
            return step
        task = self._ended.get(step.task_id)
        if task is None:
            try:
                task = self.client.get(step.task_id)
            except TaskNotFound:
                return step  # pruned
            if task.status.is_final:
                self._ended[task.id] = task
        return replace(step, progress=task.progress, total=task.total)

    def changes(self, project_id: int | None, task_id: int | None) -> Callable[[], StreamFeed] | None:
        server = str(self.client.base_url)
        return functools.partial(StreamFeed, server, self._token, project_id=project_id, task_id=task_id)


__all__ = ["RemoteBackend", "connect", "record_json", "worded"]
