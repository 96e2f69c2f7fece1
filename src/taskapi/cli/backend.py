"""The one seam between the commands and where the tasks are: a ``Backend``. Each command is written
once against it; ``LocalBackend`` opens the database (``TaskService``, ``PaperService``,
``RunService`` on the store, no HTTP) and ``RemoteBackend`` (``taskapi.cli.remote``) talks to a Task
API server through ``TaskClient``. Both answer the Python API's records and raise its errors, so
output and exit codes are the same either way.

``open_backend`` picks one: ``--server`` (or ``TASKAPI_SERVER`` when no ``--db`` is given) is a
server, else the database of ``--db`` / ``TASKAPI_DATABASE_URL`` as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from taskapi.cli.exits import EXIT_UNAVAILABLE, EXIT_USAGE, exit_codes, fail, opening, settings_of
from taskapi.cli.reading import TaskPage, TaskReader
from taskapi.domain import Task, TaskEvent, decode_cursor, encode_cursor
from taskapi.papers.records import PaperDetail
from taskapi.papers.service import ImportFileResult, PaperPage, PaperService
from taskapi.run_records import PipelineRun
from taskapi.runs import RunService
from taskapi.service import TaskService, next_cursor
from taskapi.settings import Settings
from taskapi.store.base import Store

if TYPE_CHECKING:
    from taskapi.cli.stream import StreamFeed

CLI_ACTOR = "cli"  # who the timeline says created or cancelled a task from here (on a database)
SERVER_ENV = "TASKAPI_SERVER"


class Backend(TaskReader, Protocol):
    """Everything the task, papers and pipeline commands do, on a database or on a server."""

    def create(self, project_id: int, task_type: str, params: Mapping[str, Any]) -> Task: ...

    def cancel(self, task_id: int) -> None: ...

    def cancel_many(self, project_id: int, status: str | None, task_type: str | None) -> int: ...

    def events(self, task_id: int) -> list[TaskEvent]: ...

    def paper_page(
        self, project_id: int | None, q: str | None, limit: int, cursor: str | None, include_duplicates: bool
    ) -> PaperPage: ...

    def paper_detail(self, paper_id: int) -> PaperDetail: ...

    def import_file(self, project_id: int, path: Path, fmt: str | None) -> tuple[ImportFileResult, list[str]]:
        """The import, and the local PDFs that exist but could not be sent (a server has no upload)."""
        ...

    def run_start(
        self,
        project_id: int,
        query: str | None,
        *,
        sources: list[str] | None,
        limit: int | None,
        steps: list[str] | None,
        params: dict[str, Any] | None,
    ) -> PipelineRun: ...

    def run_get(self, run_id: int) -> PipelineRun: ...

    def run_cancel(self, run_id: int) -> PipelineRun: ...

    def changes(self, project_id: int | None, task_id: int | None) -> Callable[[], StreamFeed] | None:
        """How to open the live stream of these tasks' changes, or ``None``: the caller reads the
        tasks each tick."""
        ...


class LocalTasks:
    """The task reads of ``TaskService`` as a ``TaskReader`` (a page's cursor is the encoded one)."""

    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    def get(self, task_id: int) -> Task:
        return self.tasks.get(task_id)

    def get_many(self, task_ids: Sequence[int]) -> list[Task]:
        return self.tasks.get_many(task_ids)

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
        items = self.tasks.list(
            project_id=project_id,
            status=status,
            task_type=task_type,
            created_after=created_after,
            created_before=created_before,
            after=None if after is None else decode_cursor(after),
            limit=limit,
        )
        following = next_cursor(items, limit)
        return TaskPage(items, None if following is None else encode_cursor(following))


class LocalBackend(LocalTasks):
    """The services over the migrated store, no HTTP. New tasks' params are checked with the configured
    handlers' rules, as the API does (loaded when a command first creates a task or a run)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(TaskService(store))
        self.store = store
        self.settings = settings
        self._validating: TaskService | None = None

    def _checked(self) -> TaskService:
        if self._validating is None:
            from taskapi.wiring import params_validators_for

            self._validating = TaskService(self.store, validators=params_validators_for(self.settings))
        return self._validating

    # -- tasks

    def create(self, project_id: int, task_type: str, params: Mapping[str, Any]) -> Task:
        return self._checked().create(project_id, task_type, params, actor=CLI_ACTOR)

    def cancel(self, task_id: int) -> None:
        self.tasks.cancel(task_id, actor=CLI_ACTOR)

    def cancel_many(self, project_id: int, status: str | None, task_type: str | None) -> int:
        return self.tasks.cancel_many(project_id, status=status, task_type=task_type, actor=CLI_ACTOR)

    def events(self, task_id: int) -> list[TaskEvent]:
        return self.tasks.events(task_id)

    # -- papers

    def _papers(self, *, files: bool = False) -> PaperService:
        """The library; with ``files``, over the file store too (reading commands leave the data
        directory alone: the file store creates it on first use)."""
        from taskapi.papers import PapersRepository
        from taskapi.papers.files import LocalFileStore

        if not files:
            return PaperService(PapersRepository(self.store))
        root = self.settings.data_dir
        try:
            store = LocalFileStore(root)
        except OSError as exc:
            fail(f"file store unavailable: cannot use {str(root)!r}: {exc}", EXIT_UNAVAILABLE)
        return PaperService(PapersRepository(self.store), store)

    def paper_page(
        self, project_id: int | None, q: str | None, limit: int, cursor: str | None, include_duplicates: bool
    ) -> PaperPage:
        return self._papers().list(
            project_id, q=q, limit=limit, cursor=cursor, include_duplicates=include_duplicates
        )

    def paper_detail(self, paper_id: int) -> PaperDetail:
        return self._papers().detail(paper_id)

    def import_file(self, project_id: int, path: Path, fmt: str | None) -> tuple[ImportFileResult, list[str]]:
        return self._papers(files=True).import_file(project_id, path, fmt), []

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
        runs = RunService.of(self._checked())
        return runs.start(
            project_id, query, sources=sources, limit=limit, steps=steps, params=params, actor=CLI_ACTOR
        )

    def run_get(self, run_id: int) -> PipelineRun:
        return RunService.of(self.tasks).get(run_id)

    def run_cancel(self, run_id: int) -> PipelineRun:
        return RunService.of(self.tasks).cancel(run_id, actor=CLI_ACTOR)

    def changes(self, project_id: int | None, task_id: int | None) -> Callable[[], StreamFeed] | None:
        return None  # no one notifies this process: the live views read the store each tick


def server_of(db: str | None, server: str | None, token: str | None) -> str | None:
    """The server to talk to, or ``None`` for the database: ``--server``, else ``TASKAPI_SERVER``
    unless ``--db`` names a database. ``--server`` with ``--db`` is a usage error, and so is
    ``--token`` without a server (it would be ignored in silence)."""
    if server is not None and db is not None:
        fail("give --db (a database) or --server (a Task API server), not both", EXIT_USAGE)
    chosen = server if server is not None else None if db is not None else os.environ.get(SERVER_ENV) or None
    if chosen is None and token is not None:
        fail("--token is for a server: give --server URL (or TASKAPI_SERVER) too", EXIT_USAGE)
    return chosen


@contextmanager
def open_backend(
    db: str | None, server: str | None, token: str | None, *, data_dir: Path | None = None
) -> Iterator[Backend]:
    """The backend for one command, with every failure mapped to its exit code."""
    remote = server_of(db, server, token)
    if remote is not None:
        if data_dir is not None:
            fail("--data-dir is the database's file store: not with --server", EXIT_USAGE)
        from taskapi.cli.remote import connect

        with exit_codes(), connect(remote, token) as backend:
            yield backend
        return
    from taskapi.wiring import open_migrated_store

    settings = settings_of(db, data_dir=data_dir)
    with exit_codes(), ExitStack() as stack:
        with opening(settings.database_url):
            store = open_migrated_store(settings)
        stack.callback(store.close)
        yield LocalBackend(store, settings)
