"""The ``taskapi`` command: serve the API, run a worker, migrate the store, and manage tasks.

The task commands (``submit``, ``list``, ``show``, ``cancel``) are a thin layer over ``TaskService``
that talks to the store directly, no HTTP. Their ``--json`` output is built from the API's own schemas,
so a script sees the same field names and time rendering as over HTTP. Exit codes scripts rely on:
0 ok, 1 task not found or not cancellable, 2 bad usage (bad values, bad database URL), 3 store
unavailable; every failure is one line on stderr, never a traceback. ``watch`` follows tasks live
(``taskapi.cli_watch``) and answers with their outcome: 0 all completed, 1 any failed or cancelled,
2 no such task; the live views end with 130 on Ctrl-C.

The API's schemas are imported where output is written: ``taskapi.api`` imports FastAPI (most of a
second), which ``--help``, ``migrate`` and every error path do not need.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn, cast
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from taskapi.cli_options import DbOption, JsonOption
from taskapi.cli_papers import papers_app
from taskapi.cli_pipeline import pipeline_app
from taskapi.domain import (
    CANCELLABLE_STATUSES,
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    Cursor,
    InvalidInput,
    StoreUnavailable,
    Task,
    TaskNotCancellable,
    TaskNotFound,
    TaskStatus,
    TaskType,
    decode_cursor,
    encode_cursor,
)
from taskapi.service import TaskService, next_cursor
from taskapi.settings import Settings
from taskapi.store import open_store
from taskapi.store.base import ListedTask

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
WATCH_INTERVAL = 0.5  # seconds between two readings of a live view: quick to see, cheap to read
CLI_ACTOR = "cli"  # who the timeline says created or cancelled a task from here

_TYPES = ", ".join(t.value for t in TaskType)
_STATUSES = ", ".join(s.value for s in TaskStatus)
_STATUS_STYLES = {
    TaskStatus.PENDING: "yellow",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CANCELLED: "dim",
}
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}

app = typer.Typer(
    help="taskapi: background tasks of the literature-research pipeline.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(papers_app, name="papers")
app.add_typer(pipeline_app, name="pipeline")

TaskIdArgument = Annotated[int, typer.Argument(metavar="ID", help="Task ID.", show_default=False)]
IntervalOption = Annotated[
    float, typer.Option(min=0.05, max=3600, help="Seconds between two readings of the store.")
]


# -- failures and exit codes ------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr and the exit code, so that scripts can branch without parsing tracebacks."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _exit_codes() -> Iterator[None]:
    """Turn the service's errors into the documented exit codes (bugs still surface as tracebacks)."""
    try:
        yield
    except (TaskNotFound, TaskNotCancellable) as exc:
        _fail(str(exc), EXIT_FAILED)
    except InvalidInput as exc:
        _fail(str(exc), EXIT_USAGE)
    except StoreUnavailable as exc:
        _fail(f"task store unavailable: {exc}", EXIT_UNAVAILABLE)


@contextmanager
def _until_the_reader_leaves() -> Iterator[None]:
    """A live view whose reader went away (``watch --json | head -1``) ends quietly with 141, as if
    killed by SIGPIPE. (Ctrl-C needs nothing here: Typer exits 130 on KeyboardInterrupt, and the
    ``with`` blocks on the way out close the bars and the store.)"""
    try:
        yield
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_BROKEN_PIPE) from None


def _redact(url: str) -> str:
    """The URL without its password: messages and logs must not leak credentials."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def _opening(url: str) -> Iterator[None]:
    """Errors of opening a store: a bad URL is the caller's mistake (2), an unreachable store is not (3)."""
    try:
        yield
    except ValueError as exc:
        _fail(str(exc).replace(url, _redact(url)), EXIT_USAGE)
    except ImportError as exc:
        _fail(f"no store driver for {_redact(url)!r} in this installation ({exc})", EXIT_USAGE)
    except OSError as exc:
        _fail(f"task store unavailable: cannot open {_redact(url)!r}: {exc}", EXIT_UNAVAILABLE)


# -- settings and the service -----------------------------------------------------------------------


def _settings(db: str | None, **overrides: object) -> Settings:
    """Flags over the environment; a bad value from either is a usage error, not a traceback."""
    values = {key: value for key, value in overrides.items() if value is not None}
    if db is not None:
        values["database_url"] = db
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid settings: {problems}", EXIT_USAGE)


@contextmanager
def _service(db: str | None, *, validating: bool = False) -> Iterator[TaskService]:
    """The migrated service for one command, with every failure mapped to its exit code; ``validating``
    checks new tasks' params with the configured handlers' rules, as the API does."""
    from taskapi.wiring import open_migrated_store, params_validators_for

    settings = _settings(db)
    url = settings.database_url
    with _exit_codes(), ExitStack() as stack:
        with _opening(url):
            store = open_migrated_store(settings)
        stack.callback(store.close)
        yield TaskService(store, validators=params_validators_for(settings) if validating else None)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _check_store_url(url: str) -> None:
    """Open and close the store once, so a long-running command fails fast (and cleanly) on a bad URL."""
    with _opening(url):
        open_store(url).close()


# -- parsing what the API would parse ---------------------------------------------------------------


def _parse_params(text: str) -> dict[str, Any]:
    """``--params`` must be a JSON object; checked here because the service takes a falsy value as {}."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"--params: not valid JSON: {exc}", EXIT_USAGE)
    if not isinstance(value, dict):
        _fail(f"--params: must be a JSON object, got {_JSON_TYPES.get(type(value), 'number')}", EXIT_USAGE)
    return value


def _parse_time(option: str, text: str | None) -> datetime | None:
    """An ISO 8601 time; without an offset it is UTC, as every time the API shows."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option}: not an ISO 8601 time (e.g. 2025-03-12T10:00:00), got {text!r}", EXIT_USAGE)


def _parse_cursor(token: str | None) -> Cursor | None:
    """The cursor a previous ``list`` printed; the domain's message speaks of HTTP headers, ours not."""
    if token is None:
        return None
    try:
        return decode_cursor(token)
    except InvalidInput:
        _fail("--cursor: not a cursor this command printed (copy it from the 'next page' line)", EXIT_USAGE)


# -- output -----------------------------------------------------------------------------------------


def _console() -> Console:
    """A console on the current stdout (tests swap it), without guessing colours for numbers."""
    return Console(highlight=False)


def _print_json(data: object) -> None:
    """Machine-clean JSON: the only thing a ``--json`` command writes to stdout."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _status_text(status: str) -> Text:
    return Text(status, style=_STATUS_STYLES.get(TaskStatus(status), ""))


def _progress_text(progress: int, total: int) -> Text:
    """``30/100 30%``; a total of 0 means the handler has not said, so no percentage."""
    if total <= 0:
        return Text(f"{progress}/{total}")
    return Text(f"{progress}/{total} {progress * 100 // total:>3}%")


def _detail_cell(name: str, value: Any, data: dict[str, Any]) -> Text | JSON:
    """One detail value for people: JSON pretty-printed, absent values dimmed, user text never markup."""
    if name in ("params", "result") and value is not None:
        return JSON.from_data(value, indent=2)
    if name == "status":
        return _status_text(value)
    if name == "progress":
        return _progress_text(value, data["total"])
    if value is None or value == "":
        return Text("-", style="dim")
    return Text(str(value))


def _detail_panel(data: dict[str, Any], title: str) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in data.items():
        table.add_row(name, _detail_cell(name, value, data))
    return Panel(table, title=title, title_align="left", expand=False)


def _print_detail(task: Task, as_json: bool, title: str) -> None:
    from taskapi.api.schemas import TaskDetailSchema

    data = TaskDetailSchema.of(task).model_dump(mode="json")
    if as_json:
        _print_json(data)
    else:
        _console().print(_detail_panel(data, title))


def _list_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for header in ("ID", "Project", "Type", "Status", "Progress", "Created (UTC)"):
        right = header in ("ID", "Project", "Progress")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["project_id"]),
            row["task_type"],
            _status_text(row["status"]),
            _progress_text(row["progress"], row["total"]),
            row["created_at"],
        )
    return table


def _list_rows(page: Sequence[ListedTask]) -> list[dict[str, Any]]:
    from taskapi.api.schemas import TaskSchema

    return [TaskSchema.of(task).model_dump(mode="json") for task in page]


def _list_view(rows: Sequence[dict[str, Any]]) -> Table | Text:
    return _list_table(rows) if rows else Text("No tasks.")


def _print_list(page: Sequence[ListedTask], as_json: bool) -> None:
    rows = _list_rows(page)
    if as_json:
        _print_json(rows)
    else:
        _console().print(_list_view(rows))


# -- commands ---------------------------------------------------------------------------------------


HandlersOption = Annotated[
    list[str] | None,
    typer.Option(
        "--handlers",
        help="Handler module (repeatable; comma-separated also works), overriding the built-in ones; "
        "env TASKAPI_HANDLERS.",
    ),
]
ConcurrencyOption = Annotated[
    int | None, typer.Option(min=1, help="Tasks run at once; env TASKAPI_CONCURRENCY.")
]
GraceOption = Annotated[
    float | None,
    typer.Option(min=0, help="Seconds a cancelled sync handler may take before its process is killed (5)."),
]
ShutdownOption = Annotated[
    float | None,
    typer.Option(min=0, help="Seconds running tasks may take to finish on SIGTERM before hand-back (30)."),
]


def _worker_settings(db: str | None, handlers: list[str] | None, **overrides: object) -> Settings:
    """Settings for a command that runs a worker; handler modules that do not import are usage errors."""
    from taskapi.worker import load_handlers

    modules = None if handlers is None else [m.strip() for h in handlers for m in h.split(",") if m.strip()]
    settings = _settings(db, handlers=modules, **overrides)
    _check_store_url(settings.database_url)
    try:
        loaded = load_handlers(settings.handlers, builtin=settings.builtin_handlers)
    except ImportError as exc:
        _fail(f"--handlers: cannot import handler modules: {exc}", EXIT_USAGE)
    if not loaded:
        _fail("no handlers: TASKAPI_BUILTIN_HANDLERS is false and no --handlers module was given", EXIT_USAGE)
    return settings


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8000).")] = None,
    handlers: HandlersOption = None,
    concurrency: ConcurrencyOption = None,
    cancel_grace: GraceOption = None,
    shutdown_timeout: ShutdownOption = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only (other processes run the tasks).")
    ] = False,
    allow_unauthenticated: Annotated[
        bool,
        typer.Option(
            "--allow-unauthenticated",
            help="Serve a non-loopback --host without API tokens (logged as a warning); "
            "env TASKAPI_ALLOW_UNAUTHENTICATED.",
        ),
    ] = False,
) -> None:
    """Migrate the store and serve the HTTP API, with an embedded worker unless --no-worker."""
    from taskapi.app import serve as run

    settings = _worker_settings(
        db,
        handlers,
        host=host,
        port=port,
        concurrency=concurrency,
        cancel_grace=cancel_grace,
        shutdown_timeout=shutdown_timeout,
        run_worker=False if no_worker else None,
        allow_unauthenticated=True if allow_unauthenticated else None,
    )
    _configure_logging(settings)
    with _exit_codes():
        run(settings)


@app.command()
def worker(
    db: DbOption = None,
    handlers: HandlersOption = None,
    concurrency: ConcurrencyOption = None,
    cancel_grace: GraceOption = None,
    shutdown_timeout: ShutdownOption = None,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once no task is left to run.")] = False,
) -> None:
    """Run a worker without the HTTP API until SIGTERM or Ctrl-C (twice: hand tasks back at once)."""
    from taskapi.app import run_worker

    settings = _worker_settings(
        db, handlers, concurrency=concurrency, cancel_grace=cancel_grace, shutdown_timeout=shutdown_timeout
    )
    _configure_logging(settings)
    with _exit_codes():
        run_worker(settings, burst=burst)


@app.command()
def migrate(db: DbOption = None) -> None:
    """Apply the pending migrations to the store and say which (the service also does at start)."""
    from taskapi.wiring import PIPELINE_COMPONENTS

    url = _settings(db).database_url
    with _exit_codes():
        with _opening(url):
            store = open_store(url)
        try:
            applied = store.migrate(PIPELINE_COMPONENTS)
        finally:
            store.close()
    if applied:
        typer.echo(f"Applied migrations {', '.join(applied)} to {_redact(url)}")
    else:
        typer.echo(f"Store {_redact(url)} is up to date: no migration to apply")


@app.command()
def submit(
    task_type: Annotated[
        str, typer.Argument(metavar="TYPE", help=f"Task type: {_TYPES}.", show_default=False)
    ],
    project: Annotated[
        int, typer.Option("--project", "-p", help="Project ID of the task.", show_default=False)
    ],
    params: Annotated[
        str, typer.Option(help='Task parameters as a JSON object, e.g. \'{"query": "graphene"}\'.')
    ] = "{}",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a task; it waits as pending until a worker claims it."""
    values = _parse_params(params)
    with _service(db, validating=True) as service:
        task = service.create(project, task_type, values, actor=CLI_ACTOR)
    _print_detail(task, as_json, title=f"Task {task.id} created")


@app.command("list")
def list_tasks(
    project: Annotated[
        int | None, typer.Option("--project", "-p", help="Only tasks of this project ID.")
    ] = None,
    status: Annotated[str | None, typer.Option(help=f"Only tasks in this status: {_STATUSES}.")] = None,
    task_type: Annotated[
        str | None, typer.Option("--type", help=f"Only tasks of this type: {_TYPES}.")
    ] = None,
    limit: Annotated[
        int, typer.Option(help=f"Maximum number of tasks, 1..{MAX_LIST_LIMIT}.")
    ] = DEFAULT_LIST_LIMIT,
    created_after: Annotated[
        str | None, typer.Option(help="Only tasks created after this ISO 8601 time (UTC unless an offset).")
    ] = None,
    created_before: Annotated[
        str | None, typer.Option(help="Only tasks created before this ISO 8601 time (UTC unless an offset).")
    ] = None,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after the page that printed this cursor (on stderr).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Redraw the list every --interval seconds until Ctrl-C.")
    ] = False,
    interval: IntervalOption = WATCH_INTERVAL,
) -> None:
    """List tasks, newest first; when more follow, the next page's --cursor is printed on stderr."""
    after = _parse_cursor(cursor)
    since = _parse_time("--created-after", created_after)
    until = _parse_time("--created-before", created_before)
    if watch and as_json:
        _fail("--watch redraws a table; for JSON as tasks change use 'taskapi watch --json'", EXIT_USAGE)
    with _until_the_reader_leaves(), _service(db) as service:

        def read() -> list[ListedTask]:
            return service.list(
                project_id=project,
                status=status,
                task_type=task_type,
                created_after=since,
                created_before=until,
                after=after,
                limit=limit,
            )

        if watch:
            from taskapi.cli_watch import live_rows

            live_rows(_console(), lambda: _list_rows(read()), _list_view, interval)  # until Ctrl-C
        page = read()
    _print_list(page, as_json)
    following = next_cursor(page, limit)
    if following is not None:
        typer.echo(f"next page: --cursor {encode_cursor(following)}", err=True)


@app.command()
def show(task_id: TaskIdArgument, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show one task in full: params, result, error message and times."""
    with _service(db) as service:
        task = service.get(task_id)
    _print_detail(task, as_json, title=f"Task {task.id}")


def _confirm_bulk_cancel(project: int, status: str | None, task_type: str | None) -> None:
    """Ask on the terminal before cancelling many tasks; no answer (no terminal) is a no."""
    which = f"{status} " if status else "pending and running "
    kind = f"{task_type} " if task_type else ""
    try:
        confirmed = typer.confirm(f"Cancel every {which}{kind}task of project {project}?", err=True)
    except typer.Abort:  # end of input: the question stays unanswered
        typer.echo(err=True)
        confirmed = False
    if not confirmed:
        _fail("not confirmed: nothing cancelled (pass --yes to skip the question)", EXIT_FAILED)


@app.command()
def cancel(
    task_id: Annotated[
        int | None, typer.Argument(metavar="ID", help="Task ID (or --project).", show_default=False)
    ] = None,
    project: Annotated[
        int | None,
        typer.Option("--project", "-p", help="Cancel every pending and running task of this project."),
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="With --project: only tasks in this status (pending or running).")
    ] = None,
    task_type: Annotated[
        str | None, typer.Option("--type", help=f"With --project: only tasks of this type: {_TYPES}.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --project: cancel without asking first.")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a pending or running task (exit 1 if it is already completed, failed or cancelled), or
    with --project all those of a project, after a confirmation; prints how many."""
    from taskapi.api.schemas import ApiResponse, BulkCancelledSchema

    if project is None:
        if task_id is None or status is not None or task_type is not None or yes:
            _fail("give a task ID, or --project (with --status, --type, --yes) to cancel many", EXIT_USAGE)
        with _service(db) as service:
            service.cancel(task_id, actor=CLI_ACTOR)
        if as_json:
            _print_json(
                ApiResponse[None](code=200, message="Task cancelled", data=None).model_dump(mode="json")
            )
        else:
            typer.echo(f"Task {task_id} cancelled")
        return
    if task_id is not None:
        _fail("give a task ID or --project, not both", EXIT_USAGE)
    with _service(db) as service:
        service.list(project_id=project, status=status, task_type=task_type, limit=1)  # checks the input
        if status is not None and TaskStatus(status) not in CANCELLABLE_STATUSES:
            _fail(f"--status: must be pending or running, got {status!r}", EXIT_USAGE)
        if not yes:
            _confirm_bulk_cancel(project, status, task_type)
        count = service.cancel_many(project, status=status, task_type=task_type, actor=CLI_ACTOR)
    if as_json:
        answer = ApiResponse[BulkCancelledSchema](
            code=200, message=f"{count} tasks cancelled", data=BulkCancelledSchema(cancelled=count)
        )
        _print_json(answer.model_dump(mode="json"))
    else:
        typer.echo(f"{count} task{'' if count == 1 else 's'} of project {project} cancelled")


_EVENT_STYLES = {
    "created": "yellow",
    "claimed": "cyan",
    "completed": "green",
    "cancelled": "dim",
    "released": "yellow",
    "rescued": "yellow",
}


def _events_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for header in ("At (UTC)", "Event", "Attempt", "Actor", "Detail"):
        table.add_column(
            header, justify="right" if header == "Attempt" else "left", no_wrap=header != "Detail"
        )
    for row in rows:
        table.add_row(
            row["at"],
            Text(row["kind"], style=_EVENT_STYLES.get(row["kind"], "red")),
            str(row["attempt"]),
            Text(row["actor"]),
            Text(row["detail"]) if row["detail"] else Text("-", style="dim"),
        )
    return table


@app.command()
def events(task_id: TaskIdArgument, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show a task's timeline, oldest first: each change of its state, when, on which attempt and
    by whom (exit 1 if there is no such task, or it was pruned)."""
    from taskapi.api.schemas import TaskEventSchema

    with _service(db) as service:
        timeline = service.events(task_id)
    rows = [TaskEventSchema.of(event).model_dump(mode="json") for event in timeline]
    if as_json:
        _print_json(rows)
    else:
        _console().print(_events_table(rows))


@app.command()
def watch(
    task_id: Annotated[
        int | None,
        typer.Argument(metavar="ID", help="Task ID to follow (or --project).", show_default=False),
    ] = None,
    project: Annotated[
        int | None,
        typer.Option(
            "--project", "-p", help="Follow the pending and running tasks of this project, and new ones."
        ),
    ] = None,
    interval: IntervalOption = WATCH_INTERVAL,
    db: DbOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per change (NDJSON) instead of bars.")
    ] = False,
) -> None:
    """Follow a task, or a project's tasks, live until they end: exit 0 if all completed, 1 if any
    failed or was cancelled (2 bad input or no such task, 3 store unavailable, 130 Ctrl-C)."""
    if (task_id is None) == (project is None):
        _fail("give a task ID or --project, not both and not neither", EXIT_USAGE)
    from taskapi import cli_watch as live

    console = _console()
    with _until_the_reader_leaves(), _service(db) as service:
        source: live.Source
        if task_id is not None:
            try:
                service.get(task_id)
            except TaskNotFound as exc:  # here a mistake in the command line, not an outcome
                _fail(str(exc), EXIT_USAGE)
            source = live.OneTask(service, task_id)
        else:
            source = live.ProjectTasks(service, cast(int, project))
        draw = not as_json and console.is_terminal  # bars draw themselves; else a line per change
        follower = live.Follower(live.bars(console) if draw else live.hidden_bars())
        render = live.json_line if as_json else live.line_of
        emit = None if draw else lambda change: typer.echo(render(change))
        board = None
        if draw and project is not None:
            board = live.Board(follower, f"project {project}", lambda: console.size.height)
        with live.displayed(follower.progress, show=draw):
            live.follow(source, follower, emit, interval, board)
    outcomes = follower.outcomes()
    if not outcomes:
        typer.echo(f"Project {project} has no pending or running task.", err=True)
    elif not as_json:
        console.print(live.summary(outcomes))
    code = live.exit_code(outcomes)
    if code:
        raise typer.Exit(code)


def main() -> None:
    """The console script ``taskapi``; ``python -m taskapi`` names itself the same in its help."""
    app(prog_name="taskapi")
