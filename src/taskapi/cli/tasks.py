"""The task commands: ``submit``, ``list``, ``show``, ``cancel``, ``events`` and ``watch``, written once
against a ``Backend`` (a database, or a server with ``--server``). Their ``--json`` output is the API's
own ``data``; every failure is one line on stderr and a documented exit code (``taskapi.cli.exits``).
``watch`` and ``list --watch`` read the tasks each ``--interval`` on a database, and follow the live
stream against a server (``taskapi.cli.stream``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Annotated, Any, cast

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from taskapi.cli import rendering as out
from taskapi.cli import watch as live
from taskapi.cli.backend import Backend, open_backend
from taskapi.cli.exits import EXIT_FAILED, EXIT_USAGE, fail, until_the_reader_leaves
from taskapi.cli.options import DbOption, JsonOption, ServerOption, TokenOption
from taskapi.domain import (
    CANCELLABLE_STATUSES,
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    ListedTask,
    TaskNotFound,
    TaskStatus,
    TaskType,
)

Fetch = Callable[[], Sequence[dict[str, Any]]]
"""A live list's reading: its rows, as ``--json`` would print them."""
WATCH_INTERVAL = 0.5  # seconds between two readings of a live view: quick to see, cheap to read

_TYPES = ", ".join(t.value for t in TaskType)
_STATUSES = ", ".join(s.value for s in TaskStatus)

TaskIdArgument = Annotated[int, typer.Argument(metavar="ID", help="Task ID.", show_default=False)]
IntervalOption = Annotated[
    float,
    typer.Option(
        min=0.05,
        max=3600,
        help="Seconds between two readings of the store (with --server: at most one per interval).",
    ),
]


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
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a task; it waits as pending until a worker claims it."""
    values = out.parse_params(params)
    with open_backend(db, server, token) as backend:
        task = backend.create(project, task_type, values)
    out.print_detail(task, as_json, title=f"Task {task.id} created")


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
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Redraw the list every --interval seconds (with --server: as the tasks change) "
            "until Ctrl-C.",
        ),
    ] = False,
    interval: IntervalOption = WATCH_INTERVAL,
) -> None:
    """List tasks, newest first; when more follow, the next page's --cursor is printed on stderr."""
    after = out.check_cursor(cursor)
    since = out.parse_time("--created-after", created_after)
    until = out.parse_time("--created-before", created_before)
    if watch and as_json:
        fail("--watch redraws a table; for JSON as tasks change use 'taskapi watch --json'", EXIT_USAGE)
    with until_the_reader_leaves(), open_backend(db, server, token) as backend:

        def read() -> tuple[list[ListedTask], str | None]:
            page = backend.task_page(
                project_id=project,
                status=status,
                task_type=task_type,
                created_after=since,
                created_before=until,
                after=after,
                limit=limit,
            )
            return page.items, page.next_cursor

        if watch:
            _watch_list(backend, project, lambda: out.list_rows(read()[0]), interval)  # until Ctrl-C
        items, following = read()
    out.print_list(items, as_json)
    if following is not None:
        typer.echo(f"next page: --cursor {following}", err=True)


def _watch_list(backend: Backend, project: int | None, fetch: Fetch, interval: float) -> None:
    """The list redrawn until Ctrl-C: each tick on a database, on the stream's changes on a server."""
    opener = backend.changes(project, None)
    if opener is None:
        live_rows(out.console(), fetch, out.list_view, interval)
        return
    from taskapi.cli.stream import beats

    with closing(opener()) as feed:
        live_rows(out.console(), fetch, out.list_view, interval, beats(feed, interval))


def live_rows(
    console: Console,
    fetch: Fetch,
    render: Callable[[Sequence[dict[str, Any]]], RenderableType],
    interval: float,
    beat: Iterator[None] | None = None,
) -> None:
    """Re-read and redraw on each ``beat`` (default: every ``interval`` seconds; against a server,
    when the stream says something changed) until interrupted: in place on a terminal (Rich
    ``Live``), else the whole view again each time it changes (a pipe cannot redraw)."""

    def view(rows: Sequence[dict[str, Any]]) -> RenderableType:
        moment = time.strftime("%H:%M:%S", time.gmtime())
        header = Text(f"{moment} UTC, every {interval:g} s (Ctrl-C to stop)", style="dim")
        return Group(header, render(rows))

    beat = live.ticks(interval) if beat is None else beat
    next(beat)
    rows = fetch()
    if console.is_terminal:
        with Live(view(rows), console=console, auto_refresh=False) as screen:
            for _ in beat:
                screen.update(view(fetch()), refresh=True)
        return
    console.print(view(rows))
    for _ in beat:
        fresh = fetch()
        if fresh != rows:
            rows = fresh
            console.print(view(rows))


def show(
    task_id: TaskIdArgument,
    db: DbOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one task in full: params, result, error message and times."""
    with open_backend(db, server, token) as backend:
        task = backend.get(task_id)
    out.print_detail(task, as_json, title=f"Task {task.id}")


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
        fail("not confirmed: nothing cancelled (pass --yes to skip the question)", EXIT_FAILED)


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
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a pending or running task (exit 1 if it is already completed, failed or cancelled), or
    with --project all those of a project, after a confirmation; prints how many."""
    from taskapi.api.schemas import ApiResponse, BulkCancelledSchema

    if project is None:
        if task_id is None or status is not None or task_type is not None or yes:
            fail("give a task ID, or --project (with --status, --type, --yes) to cancel many", EXIT_USAGE)
        with open_backend(db, server, token) as backend:
            backend.cancel(task_id)
        if as_json:
            out.print_json(
                ApiResponse[None](code=200, message="Task cancelled", data=None).model_dump(mode="json")
            )
        else:
            typer.echo(f"Task {task_id} cancelled")
        return
    if task_id is not None:
        fail("give a task ID or --project, not both", EXIT_USAGE)
    with open_backend(db, server, token) as backend:
        backend.task_page(project_id=project, status=status, task_type=task_type, limit=1)  # checks the input
        if status is not None and TaskStatus(status) not in CANCELLABLE_STATUSES:
            fail(f"--status: must be pending or running, got {status!r}", EXIT_USAGE)
        if not yes:
            _confirm_bulk_cancel(project, status, task_type)
        count = backend.cancel_many(project, status, task_type)
    if as_json:
        answer = ApiResponse[BulkCancelledSchema](
            code=200, message=f"{count} tasks cancelled", data=BulkCancelledSchema(cancelled=count)
        )
        out.print_json(answer.model_dump(mode="json"))
    else:
        typer.echo(f"{count} task{'' if count == 1 else 's'} of project {project} cancelled")


def events(
    task_id: TaskIdArgument,
    db: DbOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a task's timeline, oldest first: each change of its state, when, on which attempt and
    by whom (exit 1 if there is no such task, or it was pruned)."""
    with open_backend(db, server, token) as backend:
        timeline = backend.events(task_id)
    out.print_events(timeline, as_json)


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
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per change (NDJSON) instead of bars.")
    ] = False,
) -> None:
    """Follow a task, or a project's tasks, live until they end: exit 0 if all completed, 1 if any
    failed or was cancelled (2 bad input or no such task, 3 store unavailable, 130 Ctrl-C; with
    --server the live stream, and 4, 5, 6 as every command)."""
    if (task_id is None) == (project is None):
        fail("give a task ID or --project, not both and not neither", EXIT_USAGE)
    console = out.console()
    with until_the_reader_leaves(), open_backend(db, server, token) as backend:
        source: live.Source
        if task_id is not None:
            try:
                backend.get(task_id)
            except TaskNotFound as exc:  # here a mistake in the command line, not an outcome
                fail(str(exc), EXIT_USAGE)
            source = live.OneTask(backend, task_id)
        else:
            source = live.ProjectTasks(backend, cast(int, project))
        draw = not as_json and console.is_terminal  # bars draw themselves; else a line per change
        follower = live.Follower(live.bars(console) if draw else live.hidden_bars())
        render = live.json_line if as_json else live.line_of
        emit = None if draw else lambda change: typer.echo(render(change))
        board = None
        if draw and project is not None:
            board = live.Board(follower, f"project {project}", lambda: console.size.height)
        opener = backend.changes(project, task_id)
        if opener is None:
            readings = live.polled(source, interval)
        else:
            from taskapi.cli.stream import streamed

            readings = streamed(source, opener)
        with live.displayed(follower.progress, show=draw), closing(readings):
            live.follow(source, readings, follower, emit, board)
    outcomes = follower.outcomes()
    if not outcomes:
        typer.echo(f"Project {project} has no pending or running task.", err=True)
    elif not as_json:
        console.print(live.summary(outcomes))
    code = live.exit_code(outcomes)
    if code:
        raise typer.Exit(code)
