"""``taskapi pipeline``: start a pipeline run and follow its steps live, show a run, cancel a run.

Written once against a ``Backend`` like the task commands (``RunService`` on the store, or a server
with ``--server``). ``run`` starts the run
and follows it until it ends, reading the run (one statement) every ``--interval``: on a terminal a Rich
bar per step; in a pipe one line per change; with ``--json`` one JSON object per change (NDJSON:
``started`` with the run, ``step`` for each change of a step, ``ended`` with the run). Exit codes:
0 the run completed, 1 it failed or was cancelled (``show``/``cancel``: no such run, or not
cancellable), 2 bad input, 3 store unavailable, 130 Ctrl-C. Ctrl-C stops following, not the run: the
chain is in the store, and the run goes on (``taskapi pipeline cancel ID`` stops it).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Protocol

import typer
from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Task as ProgressTask
from rich.table import Table
from rich.text import Text

from taskapi.cli import rendering as out
from taskapi.cli.backend import Backend, open_backend
from taskapi.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, until_the_reader_leaves
from taskapi.cli.options import DbOption, JsonOption, ServerOption, TokenOption
from taskapi.cli.watch import ticks
from taskapi.run_records import PipelineRun, RunStatus, RunStep
from taskapi.runs import STEP_ORDER

STEP_STYLES = {
    "waiting": "dim",
    "pending": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "dim",
    "skipped": "dim",
    "pruned": "dim",
}
ACTIVE = frozenset({"waiting", "pending", "running"})
RAN = frozenset({"running", "completed", "failed"})
RUN_STYLES = {"running": "cyan", "completed": "green", "failed": "red", "cancelled": "yellow"}

pipeline_app = typer.Typer(
    help="Pipeline runs: a project's steps (search, dedup, crawl, ocr, index, keyword_expand) as tasks, "
    "each created when the one before completes.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RunIdArgument = Annotated[int, typer.Argument(metavar="ID", help="Pipeline run ID.", show_default=False)]


def _names(values: list[str] | None) -> list[str] | None:
    """A repeatable option that also takes comma-separated values."""
    if values is None:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def run_data(run: PipelineRun) -> dict[str, Any]:
    """The run as the API's data (``GET /api/v1/pipelines/{id}``)."""
    from taskapi.api.schemas_pipelines import run_row

    return run_row(run)


# -- following a run --------------------------------------------------------------------------------


class View(Protocol):
    """How a followed run is shown: once at the start, after each reading, once at the end."""

    def start(self, run: PipelineRun) -> None: ...

    def update(self, run: PipelineRun) -> None: ...

    def end(self, run: PipelineRun) -> None: ...


StepState = tuple[int | None, str, int, int]


def _state(step: RunStep) -> StepState:
    return step.task_id, step.status, step.progress, step.total


class Changes:
    """The steps whose task, status or progress changed since the last reading."""

    def __init__(self) -> None:
        self._seen: dict[int, StepState] = {}

    def of(self, run: PipelineRun) -> list[RunStep]:
        changed = [step for step in run.steps if self._seen.get(step.position) != _state(step)]
        self._seen.update({step.position: _state(step) for step in changed})
        return changed


def _ending(run: PipelineRun) -> str:
    """``completed``, ``failed at crawl: <error>``, ``cancelled: cancelled by cli``."""
    if run.status is RunStatus.FAILED:
        return f"failed at {run.failed_step}: {run.error}"
    if run.error:
        return f"{run.status.value}: {run.error}"
    return run.status.value


class Lines:
    """A pipe: one line per change of a step, and the outcome."""

    def __init__(self) -> None:
        self.changes = Changes()

    def start(self, run: PipelineRun) -> None:
        plan = " -> ".join(step.task_type for step in run.steps)
        typer.echo(f"run {run.id} started: {plan} (project {run.project_id})")
        self.update(run)

    def update(self, run: PipelineRun) -> None:
        for step in self.changes.of(run):
            typer.echo(line_of(run, step))

    def end(self, run: PipelineRun) -> None:
        typer.echo(f"run {run.id} {_ending(run)}")


def line_of(run: PipelineRun, step: RunStep) -> str:
    """``run 7 step 2/6 dedup task 13 running 5/10 50%``."""
    words = [f"run {run.id}", f"step {step.position + 1}/{len(run.steps)}", step.task_type]
    if step.task_id is not None:
        words += [f"task {step.task_id}", step.status, f"{step.progress}/{step.total}"]
        if step.total > 0:
            words.append(f"{step.progress * 100 // step.total}%")
    else:
        words.append(step.status)
    return " ".join(words)


class JsonLines:
    """``--json``: one object per change (NDJSON), for scripts."""

    def __init__(self) -> None:
        self.changes = Changes()

    def start(self, run: PipelineRun) -> None:
        self._emit({"event": "started", **run_data(run)})
        self.update(run)

    def update(self, run: PipelineRun) -> None:
        for step in self.changes.of(run):
            self._emit(
                {
                    "event": "step",
                    "run_id": run.id,
                    "position": step.position,
                    "task_type": step.task_type,
                    "task_id": step.task_id,
                    "status": step.status,
                    "progress": step.progress,
                    "total": step.total,
                }
            )

    def end(self, run: PipelineRun) -> None:
        self._emit({"event": "ended", **run_data(run)})

    @staticmethod
    def _emit(data: dict[str, Any]) -> None:
        typer.echo(json.dumps(data, ensure_ascii=False))


class StepStatusColumn(ProgressColumn):
    """A step's status, styled (a failed step's error is in the summary below the bars)."""

    def render(self, task: ProgressTask) -> Text:
        status = str(task.fields["status"])
        return Text(status, style=STEP_STYLES.get(status, ""))


class Bars:
    """A terminal: a live bar per step (its progress, elapsed time and status), then the outcome."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            StepStatusColumn(),
            console=console,
        )
        self._bars: dict[int, TaskID] = {}
        self._started: set[int] = set()
        self._stopped: set[int] = set()

    def start(self, run: PipelineRun) -> None:
        title = f"Pipeline run {run.id} (project {run.project_id})"
        self.console.print(Text(title + (f": {run.query}" if run.query else ""), style="bold"))
        width = max(len(step.task_type) for step in run.steps)
        for step in run.steps:
            label = f"{step.position + 1}/{len(run.steps)} {step.task_type:<{width}}"
            self._bars[step.position] = self.progress.add_task(label, total=None, start=False, status="")
        self.progress.start()
        self.update(run)

    def update(self, run: PipelineRun) -> None:
        for step in run.steps:
            bar = self._bars[step.position]
            if step.status in RAN and step.position not in self._started:
                self.progress.start_task(bar)  # its clock runs from the first reading that saw it run
                self._started.add(step.position)
            total = step.total if step.total > 0 else None
            self.progress.update(bar, total=total, completed=step.progress, status=step.status)
            if step.status not in ACTIVE and step.position in self._started - self._stopped:
                self.progress.stop_task(bar)  # once: each call would move its end
                self._stopped.add(step.position)

    def end(self, run: PipelineRun) -> None:
        self.progress.stop()
        style = RUN_STYLES.get(run.status.value, "")
        self.console.print(Text(f"Pipeline run {run.id} {_ending(run)}", style=style))

    def close(self) -> None:
        self.progress.stop()


def follow_run(runs: Backend, run: PipelineRun, view: View, interval: float) -> PipelineRun:
    """Read the run every ``interval`` seconds and show what changed, until it ends; answer it then."""
    view.start(run)
    for _ in ticks(interval):
        run = runs.run_get(run.id)
        view.update(run)
        if run.status.is_final:
            break
    view.end(run)
    return run


# -- commands ---------------------------------------------------------------------------------------


@pipeline_app.command("run")
def run_pipeline(
    project: Annotated[int, typer.Option("--project", "-p", help="Project ID.", show_default=False)],
    query: Annotated[
        str | None,
        typer.Option("--query", "-q", help="What to search for (needed by search and keyword_expand)."),
    ] = None,
    steps: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Steps to run, in this order (repeatable or comma-separated): {', '.join(STEP_ORDER)}."
        ),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option(help="Sources for search (repeatable or comma-separated; default: all four)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Records per source for search (default 100).")] = None,
    params: Annotated[
        str | None,
        typer.Option(help='Params by step as a JSON object, e.g. \'{"crawl": {"max_papers": 200}}\'.'),
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.05, max=3600, help="Seconds between two readings of the run.")
    ] = 0.5,
    db: DbOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per change (NDJSON) instead of bars.")
    ] = False,
) -> None:
    """Start a pipeline run and follow its steps live until it ends: exit 0 if it completed, 1 if it
    failed or was cancelled (2 bad input, 3 store unavailable). Ctrl-C (130) stops following, not
    the run."""
    step_params = None if params is None else out.parse_params(params)
    console = out.console()
    with until_the_reader_leaves(), open_backend(db, server, token) as runs:
        run = runs.run_start(
            project, query, sources=_names(sources), limit=limit, steps=_names(steps), params=step_params
        )
        view: View = JsonLines() if as_json else Bars(console) if console.is_terminal else Lines()
        try:
            run = follow_run(runs, run, view, interval)
        except KeyboardInterrupt:
            if isinstance(view, Bars):
                view.close()
            typer.echo(
                f"Stopped following pipeline run {run.id}; the run goes on"
                f" (taskapi pipeline cancel {run.id} stops it).",
                err=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if run.status is not RunStatus.COMPLETED:
        raise typer.Exit(EXIT_FAILED)


def _steps_table(run: PipelineRun) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for header in ("Step", "Type", "Task", "Status", "Progress"):
        table.add_column(header, justify="right" if header in ("Step", "Task", "Progress") else "left")
    for step in run.steps:
        table.add_row(
            f"{step.position + 1}/{len(run.steps)}",
            step.task_type,
            "-" if step.task_id is None else str(step.task_id),
            Text(step.status, style=STEP_STYLES.get(step.status, "")),
            f"{step.progress}/{step.total}" if step.task_id is not None else "-",
        )
    return table


def _print_run(run: PipelineRun, as_json: bool) -> None:
    data = run_data(run)
    if as_json:
        out.print_json(data)
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column()
    for name in ("status", "project_id", "query", "failed_step", "error", "created_at", "ended_at"):
        value = data[name]
        style = RUN_STYLES.get(value, "") if name == "status" else ""
        head.add_row(name, Text("-", style="dim") if value is None else Text(str(value), style=style))
    head.add_row("steps", _steps_table(run))
    out.console().print(Panel(head, title=f"Pipeline run {run.id}", title_align="left", expand=False))


@pipeline_app.command()
def show(
    run_id: RunIdArgument,
    db: DbOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a pipeline run: its status and each step's task (exit 1 if there is no such run)."""
    with open_backend(db, server, token) as runs:
        run = runs.run_get(run_id)
    _print_run(run, as_json)


@pipeline_app.command()
def cancel(
    run_id: RunIdArgument,
    db: DbOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a running pipeline run: its step in flight is cancelled and no later step is created
    (exit 1 if there is no such run, or it already ended)."""
    with open_backend(db, server, token) as runs:
        run = runs.run_cancel(run_id)
    if as_json:
        out.print_json(run_data(run))
        return
    stopped = run.steps[run.current_step]
    typer.echo(f"Pipeline run {run.id} cancelled (step {stopped.task_type}, task {stopped.task_id}, stopped)")
